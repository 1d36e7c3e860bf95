"""Red-teaming: the runner (resumable, batched), TaskMaster scoring and metrics. See runner.py for how to run it."""
