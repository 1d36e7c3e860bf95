"""The `prefix` engine's decoding-step attention: PyTorch's fused CPU kernel (`_attend_step`) against explicit scores
(`_attend_scores`, what every step used before), in whole red-team generation on the built-in test split.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_attention.py --precision fp32 --limit 120
    .venv/bin/python benchmarks/bench_attention.py --model runs/demo/models/sft --limit 240 --rounds 1

Both arms run the runner's own `generate_chunk` on the same cases at the same batch size, in one process, arm after
arm, `--rounds` times in alternating order (scores, fused, fused, scores, ...), so machine load hits both alike.
Prints seconds per arm, the speed-up of the fused arm, and how many replies came out identical: both arms compute
the same softmax in fp32, so a differing reply is a near-tie that rounding tipped the other way.
"""

import argparse
import json
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", help="model spec (e.g. a pipeline's runs/demo/models/sft)")
    parser.add_argument("--limit", type=int, default=120, help="a stratified sample of this many test cases")
    parser.add_argument("--precision", choices=["fp32", "fast"], default="fast")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=2, help="each arm runs this many times")
    args = parser.parse_args(argv)

    from taskalign.models import GenerationConfig, load_model
    from taskalign.models import prefix as engine
    from taskalign.redteam.runner import generate_chunk
    from taskalign.suite import filter_cases, load_cases

    cases = filter_cases(load_cases(), split="test", limit=args.limit)
    cases.sort(key=lambda c: (len(c["turns"]), len(" ".join(c["turns"]))))  # the runner's order
    model = load_model(args.model, precision=args.precision, engine="prefix")
    gen = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    fused = engine._attend_step
    arms = {"scores": engine._attend_scores, "fused": fused}
    seconds, replies = {name: 0.0 for name in arms}, {}
    generate_chunk(model, cases[:8], gen)  # warm-up: first-call allocations count for neither arm
    try:
        for r in range(args.rounds):
            for name in (("scores", "fused") if r % 2 == 0 else ("fused", "scores")):
                engine._attend_step = arms[name]
                began = time.perf_counter()
                transcripts = generate_chunk(model, cases, gen)
                seconds[name] += time.perf_counter() - began
                replies[name] = [reply["text"] for t in transcripts for reply in t["replies"]]
    finally:
        engine._attend_step = fused
    same = sum(a == b for a, b in zip(replies["scores"], replies["fused"]))
    print(json.dumps({"model": args.model, "precision": args.precision, "cases": len(cases), "rounds": args.rounds,
                      "batch_size": args.batch_size, "seconds": {k: round(v, 1) for k, v in seconds.items()},
                      "cases_per_s": {k: round(len(cases) * args.rounds / v, 3) for k, v in seconds.items()},
                      "speedup": round(seconds["scores"] / seconds["fused"], 3),
                      "identical_replies": f"{same}/{len(replies['fused'])}"}, indent=1))


if __name__ == "__main__":
    main()
