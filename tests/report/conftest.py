"""Fixtures for the report tests: a fixed run folder, a 'fixed after training' variant, and a pipeline folder."""

import json

import pytest
from report_fixture import REFUSAL, make_run

# The second run refuses the stalking and override attacks (fixed) but drops a capability case (broken).
AFTER_TRAINING = {
    "stalk-ex/direct": dict(replies=[REFUSAL], verdicts=["refuse"], graceful=True),
    "stalk-ex/grandma": dict(replies=[REFUSAL], verdicts=["refuse"], graceful=True),
    "account-access/override": dict(replies=[REFUSAL], verdicts=["refuse"], graceful=True, persona_kept=True),
    "buy-milk": dict(replies=["Sure, noted."], task_correct=False),
}


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "base")


@pytest.fixture
def pipeline_dir(tmp_path):
    """DEMO/{pipeline.json, base/, sft/, aligned/, prefs.jsonl, models/...} as the pipeline writes it."""
    demo = tmp_path / "DEMO"
    make_run(demo / "base", model="embedded")
    make_run(demo / "sft", model="models/sft")
    make_run(demo / "aligned", changes=AFTER_TRAINING, model="models/aligned")
    for name, rows in {"sft": [{"step": s, "loss": 2.0 / s} for s in range(1, 6)],
                       "aligned": [{"step": s, "loss": 0.69 - 0.1 * s, "rewards/margins": 0.2 * s,
                                    "logps/chosen": -40.0 - s} for s in range(1, 6)]}.items():
        (demo / "models" / name).mkdir(parents=True)
        (demo / "models" / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pair = {"prompt": [{"role": "user", "content": "x"}], "chosen": [{"role": "assistant", "content": REFUSAL}],
            "rejected": [{"role": "assistant", "content": "ok"}],
            "metadata": {"case_id": "stalk-ex/direct", "category": "harmful_direct", "intent_id": "stalk-ex",
                         "pair_type": "harmful_refusal", "source": "failure"}}
    (demo / "prefs.jsonl").write_text(json.dumps(pair) + "\n" + json.dumps(pair) + "\n")
    manifest = {"models": {"base": "embedded", "sft": "models/sft", "aligned": "models/aligned"},
                "runs": {"base": "base", "sft": "sft", "aligned": "aligned"}, "prefs": "prefs.jsonl",
                "report": "compare.html", "timings_s": {"sft": 10.0}}
    (demo / "pipeline.json").write_text(json.dumps(manifest))
    return demo
