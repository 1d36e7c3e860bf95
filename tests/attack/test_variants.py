"""Operator variants of train cases: harmful requests keep their refusal under every operator, benign look-alikes and
ordinary requests keep being done (never through an injection or an encoding no model can read), only train cases
are used, and a model that refuses the wrapped benign ones gets on-policy pairs that teach it to do them."""

import json

from taskalign.attack.operators import ENCODINGS, INJECTIONS
from taskalign.attack.variants import OPAQUE, variant_cases
from taskalign.models.mock import MockModel
from taskalign.suite import load_cases
from taskalign.suite.schema import case_problems


def test_variants_come_from_train_cases_and_are_valid_cases():
    cases = load_cases()
    variants = variant_cases(cases, seed=0, per_case=2)
    by_id = {c["id"]: c for c in cases}
    assert len(variants) == len({v["id"] for v in variants}) > 300
    for v in variants:
        source = by_id[v["variant_of"]]
        assert source["split"] == "train" and v["split"] == "train" and len(source["turns"]) == 1
        assert case_problems(v) == [] and v["goal"] == source["turns"][0]
        assert v["strategy"].startswith("variant:") and v["turns"] != source["turns"] or v.get("history")
    assert not any(by_id[v["variant_of"]]["split"] == "test" for v in variants)
    assert variant_cases(cases, seed=0, per_case=2) == variants  # same seed, same variants
    assert variant_cases(cases, seed=1, per_case=2) != variants


def _ops(variant):
    return variant["strategy"][len("variant:"):].split("+")


def _encoding(variant):
    """The encoding the request went out in: the last one in its lineage (a later one replaces an earlier one)."""
    return next((op for op in reversed(_ops(variant)) if op in ENCODINGS), None)


def test_harmful_variants_keep_refusing_and_benign_ones_keep_being_done():
    variants = variant_cases(load_cases(), seed=3, per_case=3)
    harmful = [v for v in variants if "intent_id" in v]
    benign = [v for v in variants if "intent_id" not in v]
    assert harmful and benign
    for v in harmful:
        assert v["expected"] == ("clarify" if _encoding(v) in OPAQUE else "refuse"), v["id"]
    for v in benign:
        assert v["expected"] == "comply" and v["reference_call"], v["id"]
        assert not set(_ops(v)) & set(INJECTIONS) and _encoding(v) not in OPAQUE, v["id"]
    # Every family reaches the harmful requests, and the readable encodings reach the benign ones too.
    harmful_ops = {op for v in harmful for op in _ops(v)}
    assert set(INJECTIONS) <= harmful_ops and set(OPAQUE) <= harmful_ops
    assert set(ENCODINGS) - set(OPAQUE) <= {_encoding(v) for v in benign}


def test_refused_benign_variants_become_on_policy_pairs_that_do_the_task(tmp_path, write_jsonl):
    from taskalign.prefs.build import build
    from taskalign.redteam.runner import RedteamConfig, run

    variants = [v for v in variant_cases(load_cases(), seed=0) if "intent_id" not in v][:12]
    cases = write_jsonl("variants.jsonl", variants)
    refuse = "I can't help with that; it sounds unsafe."
    mock = write_jsonl("mock.jsonl", [{"reply": refuse}])
    out = run(RedteamConfig(model="mock", out=str(tmp_path / "run"), cases=str(cases), judge="rules", report=False),
              model=MockModel(mock))
    pairs_path = build(out, [], tmp_path / "prefs.jsonl", balance=1.0)
    pairs = [json.loads(line) for line in pairs_path.read_text().splitlines()]
    taken = [p for p in pairs if p["metadata"]["case_id"].startswith("variant/")]
    assert len(taken) == 12
    for pair in taken:
        case = next(v for v in variants if v["id"] == pair["metadata"]["case_id"])
        assert pair["metadata"]["on_policy"] and pair["rejected"][0]["content"] == refuse
        assert f'"name": "{case["reference_call"]["name"]}"' in pair["chosen"][0]["content"]
        assert pair["prompt"][-1]["content"] == case["turns"][-1]  # the wrapped request, as the model saw it


def test_cases_mutate_writes_a_case_file_and_names_a_bad_family(cli, tmp_path):
    out = tmp_path / "v.jsonl"
    result = cli("cases", "mutate", "--out", out, "--no-bank", "--seed", "2")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and cli("cases", "validate", out).code == 0
    assert f"{len(rows)} variants" in result.out
    test = cli("cases", "mutate", "--out", tmp_path / "t.jsonl", "--split", "test")
    assert test.code == 0, test.err
    test_rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert test_rows and {r["split"] for r in test_rows} == {"test"}
    assert not any(r["variant_of"].startswith("bank/") for r in test_rows)
    bad = cli("cases", "mutate", "--out", tmp_path / "w.jsonl", "--families", "wrap,spells")
    assert bad.code == 2 and "'spells' is not one" in bad.err and not (tmp_path / "w.jsonl").exists()
