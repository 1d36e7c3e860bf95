"""Red-team throughput: the batched runner vs generating one case at a time, same model, same cases, same run.

    .venv/bin/python benchmarks/bench_redteam.py [--model embedded] [--cases 16] [--max-new-tokens 64]

Prints cases/s for both and their ratio (the machine is shared and noisy, so only the ratio is meaningful).
"""

import argparse
import tempfile
import time

from taskalign.models import load_model
from taskalign.redteam.runner import RedteamConfig, run


def timed_run(model, spec: str, n: int, batch_size: int, max_new_tokens: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = RedteamConfig(model=spec, out=tmp, split="test", limit=n, batch_size=batch_size,
                               max_new_tokens=max_new_tokens, judge="rules", report=False)
        start = time.perf_counter()
        run(config, model=model)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    model = load_model(args.model)
    one = timed_run(model, args.model, args.cases, 1, args.max_new_tokens)
    batched = timed_run(model, args.model, args.cases, 16, args.max_new_tokens)
    print(f"one at a time: {args.cases / one:.3f} cases/s ({one:.1f} s)")
    print(f"batched (16):  {args.cases / batched:.3f} cases/s ({batched:.1f} s)")
    print(f"speed-up: {one / batched:.2f}x")


if __name__ == "__main__":
    main()
