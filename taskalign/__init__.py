"""taskalign: red-team, preference-train and re-evaluate a tool-calling assistant (default: TaskMaster).

Start with `taskalign --help`; the whole loop is `taskalign pipeline --out runs/demo`.
"""

__version__ = "0.1.0"
