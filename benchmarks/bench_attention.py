"""The `prefix` engine's attention and kept states, arm against arm, in whole red-team generation on the built-in
test split:

- `scores`: every attention call by explicit scores (`_attend_scores`);
- `previous`: decoding steps through PyTorch's fused CPU kernel, prefills by explicit scores, and every finished
  row's keys and values copied out (the engine before prefills went through the kernel too);
- `current`: the engine as it is (`_attend_fused` for steps and prefills; a conversation's last reply keeps nothing).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_attention.py --precision fp32 --limit 240
    .venv/bin/python benchmarks/bench_attention.py --model runs/demo/models/sft --limit 240 --arms scores,current

All arms run the runner's own `generate_chunk` on the same cases at the same batch size, in one process, arm after
arm, `--rounds` times with the order reversed every other round, so machine load hits them alike. Prints seconds per
arm, each arm's speed-up over the first, and how many replies came out identical to the first arm's: all compute the
same softmax in fp32, so a differing reply is a near-tie that rounding tipped the other way.
"""

import argparse
import json
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", help="model spec (e.g. a pipeline's runs/demo/models/sft)")
    parser.add_argument("--limit", type=int, default=240, help="a stratified sample of this many test cases")
    parser.add_argument("--precision", choices=["fp32", "fast"], default="fast")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=2, help="each arm runs this many times")
    parser.add_argument("--arms", default="previous,current", help="comma-separated: scores, previous, current")
    args = parser.parse_args(argv)

    from taskalign.models import GenerationConfig, load_model
    from taskalign.models import prefix as engine
    from taskalign.redteam.runner import generate_chunk
    from taskalign.suite import filter_cases, load_cases

    cases = filter_cases(load_cases(), split="test", limit=args.limit)
    cases.sort(key=lambda c: (len(c["turns"]), len(" ".join(c["turns"]))))  # the runner's order
    model = load_model(args.model, precision=args.precision, engine="prefix")
    gen = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    fused, init = engine._attend_fused, engine._Decoder.__init__

    def step_only(query, *rest):
        return fused(query, *rest) if query.shape[2] == 1 else engine._attend_scores(query, *rest)

    def keep_all(self, *rest):  # every finished row's states copied out, as when a last reply was not known
        *rest, wanted = rest
        init(self, *rest, None if wanted is None else (lambda i: True))

    setups = {"scores": (engine._attend_scores, keep_all), "previous": (step_only, keep_all), "current": (fused, init)}
    names = [name.strip() for name in args.arms.split(",") if name.strip()]
    unknown = [name for name in names if name not in setups]
    if unknown:
        raise SystemExit(f"--arms: unknown arm {unknown[0]!r}; use scores, previous or current.")
    seconds, replies = dict.fromkeys(names, 0.0), {}
    generate_chunk(model, cases[:8], gen)  # warm-up: first-call allocations count for no arm
    try:
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                engine._attend_fused, engine._Decoder.__init__ = setups[name]
                began = time.perf_counter()
                transcripts = generate_chunk(model, cases, gen)
                seconds[name] += time.perf_counter() - began
                replies[name] = [reply["text"] for t in transcripts for reply in t["replies"]]
    finally:
        engine._attend_fused, engine._Decoder.__init__ = fused, init
    first = names[0]
    print(json.dumps({"model": args.model, "precision": args.precision, "cases": len(cases), "rounds": args.rounds,
                      "batch_size": args.batch_size, "seconds": {k: round(v, 1) for k, v in seconds.items()},
                      "cases_per_s": {k: round(len(cases) * args.rounds / v, 3) for k, v in seconds.items()},
                      "speedup_over_" + first: {k: round(seconds[first] / v, 3) for k, v in seconds.items()},
                      "identical_replies_to_" + first: {
                          k: f"{sum(a == b for a, b in zip(replies[first], replies[k]))}/{len(replies[k])}"
                          for k in names}}, indent=1))


if __name__ == "__main__":
    main()
