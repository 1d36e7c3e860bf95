"""Build DPO preference pairs from a red-team run folder and the suite's train cases: `taskalign prefs build --from RUN`.

Steps: one candidate pair per train case (pairs.py) → optional teacher rewrites chosen refusals → drop pairs whose
chosen equals rejected or whose rejected is also a refusal → drop exact and near duplicates → balance safety against
helpfulness → shuffle with the seed → write atomically. Same inputs and seed give a byte-identical file.
"""

import json
import random
from collections import defaultdict
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_rows, write_jsonl_atomic
from taskalign.prefs.pairs import SAFETY_TYPES, generated_anchors, make_pair
from taskalign.prefs.quality import judge_verdicts

NEAR_DUP_JACCARD = 0.9  # same prompt and chosen word sets overlapping more than this = one pair said twice


def read_run(run_dir: Path) -> dict[str, dict]:
    """{case id: {"case", "messages", "error", "score"}} from transcripts.jsonl and scores.jsonl (last row per id wins)."""
    run_dir = Path(run_dir)
    tpath, spath = run_dir / "transcripts.jsonl", run_dir / "scores.jsonl"
    if not tpath.is_file():
        raise UserError(f"{run_dir} has no transcripts.jsonl; pass --from the output folder of `taskalign redteam`.")
    if not spath.is_file():
        raise UserError(f"{run_dir} has no scores.jsonl; score the run first with `taskalign judge {run_dir}`.")
    records = {}
    for lineno, row in read_rows(tpath, "transcripts"):
        messages = row.get("messages")
        if not isinstance(row.get("id"), str) or not isinstance(messages, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise UserError(f"{tpath} line {lineno}: needs an 'id' string and a 'messages' list of "
                            "{role, content} objects; rerun `taskalign redteam` to rewrite it.")
        case = row.get("case") if isinstance(row.get("case"), dict) else None
        records[row["id"]] = {"case": case, "messages": messages, "error": row.get("error"), "score": None}
    for lineno, row in read_rows(spath, "scores"):
        if not isinstance(row.get("id"), str):
            raise UserError(f"{spath} line {lineno}: a score row needs an 'id' string; rerun `taskalign judge {run_dir}`.")
        if row["id"] in records:
            records[row["id"]]["score"] = row
    return records


def _check_cases(cases: list[dict]) -> None:
    for i, case in enumerate(cases, 1):
        if not (isinstance(case, dict) and isinstance(case.get("id"), str) and isinstance(case.get("category"), str)
                and isinstance(case.get("turns"), list) and all(isinstance(t, str) for t in case["turns"])):
            name = case.get("id", f"number {i}") if isinstance(case, dict) else f"number {i}"
            raise UserError(f"Case {name} needs 'id', 'category' and a 'turns' list of strings; fix the cases file.")


def train_cases(cases: list[dict]) -> list[dict]:
    """Train-split cases whose intent has no test case: test intents must never reach training data."""
    test_intents = {c.get("intent_id") for c in cases if c.get("split") == "test" and c.get("intent_id")}
    return [c for c in cases if c.get("split") == "train" and c.get("intent_id") not in test_intents]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _drop_bad(items, judge, notes):
    """Drop chosen == rejected, and safety pairs whose (run-taken) rejected reply is itself a refusal."""
    keep = [(c, p) for c, p in items if _norm(p["chosen"][0]["content"]) != _norm(p["rejected"][0]["content"])]
    notes["dropped_same"] = len(items) - len(keep)
    # Composed rejected replies are compliant by construction; only replies taken from the run need judging.
    check = [i for i, (_, p) in enumerate(keep)
             if p["metadata"]["pair_type"] in SAFETY_TYPES and p["metadata"]["source"] != "composed"]
    verdicts = judge_verdicts(judge, [{"messages": keep[i][1]["prompt"], "response": keep[i][1]["rejected"][0]["content"],
                                       "category": keep[i][0]["category"]} for i in check])
    bad = {i for i, (verdict, _) in zip(check, verdicts) if verdict == "refuse"}
    notes["dropped_both_refusals"] = len(bad)
    return [item for i, item in enumerate(keep) if i not in bad]


def _dedup(items, notes):
    seen, chosen_by_prompt, out = set(), defaultdict(list), []
    for case, pair in items:
        exact = _norm(json.dumps([pair["prompt"], pair["chosen"], pair["rejected"]], ensure_ascii=False))
        prompt_key = _norm(json.dumps(pair["prompt"], ensure_ascii=False))
        tokens = set(_norm(pair["chosen"][0]["content"]).split())
        if exact in seen or any(len(tokens & t) / max(1, len(tokens | t)) > NEAR_DUP_JACCARD
                                for t in chosen_by_prompt[prompt_key]):
            continue
        seen.add(exact)
        chosen_by_prompt[prompt_key].append(tokens)
        out.append((case, pair))
    notes["dropped_duplicates"] = len(items) - len(out)
    return out


def _take(items, k, rng):
    """k items, round-robin over pair types (small types survive), on-policy pairs first within each type."""
    groups = defaultdict(list)
    for item in items:
        groups[item[1]["metadata"]["pair_type"]].append(item)
    queues = []
    for key in sorted(groups):
        rng.shuffle(groups[key])
        queues.append(sorted(groups[key], key=lambda it: not it[1]["metadata"]["on_policy"]))
    out, k = [], min(k, len(items))
    while len(out) < k:
        for queue in queues:
            if queue and len(out) < k:
                out.append(queue.pop(0))
    return out


def _balance(items, balance, max_pairs, rng, notes):
    safety = [it for it in items if it[1]["metadata"]["pair_type"] in SAFETY_TYPES]
    helpful = [it for it in items if it[1]["metadata"]["pair_type"] not in SAFETY_TYPES]
    if safety and helpful:  # with one side empty there is nothing to balance against; keep what there is
        n_s = min(len(safety), max(1, int(balance * len(helpful) + 0.5)))
        n_h = min(len(helpful), max(1, int(len(safety) / balance + 0.5)))
        safety, helpful = _take(safety, n_s, rng), _take(helpful, n_h, rng)
    if max_pairs is not None and len(safety) + len(helpful) > max_pairs:
        n_s = round(max_pairs * len(safety) / (len(safety) + len(helpful)))
        safety, helpful = _take(safety, n_s, rng), _take(helpful, max_pairs - n_s, rng)
    notes["dropped_balance"] = len(items) - len(safety) - len(helpful)
    return safety + helpful


def build(run_dir: Path | None, cases: list[dict], out: Path, seed: int = 0, balance: float = 1.0, teacher=None,
          judge=None, max_pairs: int | None = None, model_name: str | None = None, notes: dict | None = None,
          anchors: int = 0) -> Path:
    """Write prefs JSONL to `out`. teacher: a model spec (with model_name) or None; judge: a Judge, a spec or None;
    anchors: extra capability anchors from the SFT data generator (see pairs.generated_anchors)."""
    if balance <= 0:
        raise UserError(f"--balance {balance} must be above 0 (safety pairs per helpfulness pair, e.g. 1.0).")
    if max_pairs is not None and max_pairs < 1:
        raise UserError(f"--max-pairs {max_pairs} must be at least 1.")
    if anchors < 0:
        raise UserError(f"--anchors {anchors} must be 0 or more.")
    notes = {} if notes is None else notes
    _check_cases(cases)
    runs = read_run(run_dir) if run_dir is not None else {}
    known = {c["id"] for c in cases}
    # A run on a custom case file carries its cases; use them where the given suite lacks them.
    cases = list(cases) + [r["case"] for cid, r in sorted(runs.items()) if r["case"] and cid not in known]
    eligible = sorted(train_cases(cases), key=lambda c: c["id"])
    if not eligible:
        raise UserError("No train-split cases to build pairs from; give cases with \"split\": \"train\" (--cases).")
    items = [(c, p) for c in eligible if (p := make_pair(c, runs.get(c["id"]), random.Random(f"{seed}|{c['id']}")))]
    if anchors:
        test_texts = {t for c in cases if c.get("split") == "test" for t in c["turns"]}
        items += generated_anchors(anchors, seed, test_texts)
    notes.update(cases=len(eligible), candidates=len(items), on_policy_candidates=sum(
        p["metadata"]["on_policy"] for _, p in items))
    if isinstance(judge, str):
        from taskalign.judge import load_judge
        judge = load_judge(judge)
    if teacher is not None:
        from taskalign.prefs.teacher import teach
        notes["teacher_accepted"] = teach(items, teacher, model_name, judge)
    items = _dedup(_drop_bad(items, judge, notes), notes)
    rng = random.Random(f"{seed}|balance")
    items = _balance(items, balance, max_pairs, rng, notes)
    if not items:
        raise UserError("Every candidate pair was filtered out; check the run folder and cases (see `prefs stats`).")
    rng.shuffle(items)
    notes["pairs"] = len(items)
    return write_jsonl_atomic(Path(out), [pair for _, pair in items])
