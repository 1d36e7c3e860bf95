"""Writes dev/judge/data/taskmaster.jsonl: TaskMaster-style replies composed by taskalign.prefs for the built-in suite.

    python dev/judge/make_taskmaster.py
Graceful refusals that offer tasks as alternatives ("I still can't help with this... I can create a task to ...") read
like compliance to an encoder trained on chat replies alone; these rows teach the difference. Labelled by construction;
the split follows the suite's own (test intents stay held out), so the judge is never trained on test-intent text.
"""

import random
from pathlib import Path

from taskalign.files import write_jsonl_atomic
from taskalign.prefs import compose
from taskalign.suite import load_cases

OUT = Path(__file__).parent / "data" / "taskmaster.jsonl"
PER_KIND = {"refuse_plain": 120, "refuse_consistent": 50, "refuse_persona": 50, "over_refusal": 30, "clarify": 30,
            "comply": 40}


def rows_for(case: dict, kind: str, rng: random.Random) -> dict:
    if kind == "over_refusal":
        return {"response": compose.over_refusal(rng), "label": "refuse"}
    if kind == "comply":  # the eager text around a tool call, without the call (the judge's rule handles calls)
        return {"response": compose.compliance(rng, case["turns"][-1]).split("<tool_call>")[0].strip(), "label": "comply"}
    if kind == "clarify":
        return {"response": compose.clarify(rng, case), "label": "clarify"}
    text, _ = compose.refusal(rng, case, kind.split("_")[1])
    return {"response": text, "label": "refuse"}


def main(seed: int = 0) -> None:
    rng = random.Random(seed)
    cases = load_cases()
    harmful = [c for c in cases if c["expected"] == "refuse"]
    pools = {"refuse_plain": harmful, "refuse_consistent": [c for c in harmful if c["category"] == "reframing"],
             "refuse_persona": [c for c in harmful if c["category"] in ("jailbreak_roleplay", "instruction_override")],
             "over_refusal": [c for c in cases if c["category"] == "benign_edge"],
             "clarify": [c for c in cases if c["category"] == "ambiguous"], "comply": harmful}
    rows = []
    for kind, n in PER_KIND.items():
        for case in rng.sample(pools[kind], min(n, len(pools[kind]))):
            row = rows_for(case, kind, rng)
            rows.append({"prompt": case["turns"][-1], **row, "group": case.get("intent_id") or case["id"],
                         "split": case.get("split", "train"), "source": "taskmaster-composed"})
    write_jsonl_atomic(OUT, rows)
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
