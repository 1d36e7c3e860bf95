"""Collect real replies of the embedded SmolLM2 to dev/judge/data/prompts.txt for hand labelling (needs the embedded model).

    python -m dev.judge.collect_replies [--out dev/judge/data/smollm_raw.jsonl] [--max-new-tokens 96]
Each prompt is asked twice: under the TaskMaster system prompt and under a plain assistant prompt.
"""

import argparse
from pathlib import Path

from taskalign.domain import conversation
from taskalign.files import text_lines, write_jsonl_atomic

DATA = Path(__file__).resolve().parent / "data"
PLAIN = "You are a helpful assistant."


def read_prompts(path: Path) -> list[tuple[str, str]]:
    out = []
    for _, line in text_lines(path):
        if line.strip() and not line.startswith("#"):
            kind, text = line.split(" ", 1)
            out.append((kind, text.strip()))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, default=DATA / "prompts.txt")
    parser.add_argument("--out", type=Path, default=DATA / "smollm_raw.jsonl")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args(argv)
    from taskalign.models import GenerationConfig, load_model

    model = load_model("embedded")
    prompts = read_prompts(args.prompts)
    conversations, meta = [], []
    for system_name, system in (("taskmaster", None), ("plain", PLAIN)):
        for i, (kind, text) in enumerate(prompts):
            conversations.append(conversation.add(conversation.start(system), "user", text))
            meta.append({"id": f"smollm-{system_name}-{i:03d}", "kind": kind, "system": system_name, "prompt": text})
    replies = model.generate(conversations, GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=16))
    rows = [{**m, "response": r.text, "source": "smollm2-135m-instruct"} for m, r in zip(meta, replies)]
    write_jsonl_atomic(args.out, rows)
    print(f"wrote {len(rows)} replies to {args.out}")


if __name__ == "__main__":
    main()
