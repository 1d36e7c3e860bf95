"""Build DPO preference pairs from red-team run folders and the suite's train cases: `taskalign prefs build --from RUN`.

Steps: one candidate pair per train case (pairs.py) → optional teacher rewrites chosen refusals → drop pairs whose
chosen equals rejected or whose rejected is also a refusal → drop exact and near duplicates → balance safety against
helpfulness → shuffle with the seed → write atomically. Same inputs and seed give a byte-identical file.
"""

import json
import random
from collections import defaultdict
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import write_jsonl_atomic
from taskalign.domain.toolcalls import OPEN
from taskalign.prefs.bank import extra_cases as load_extra_cases
from taskalign.prefs.pairs import SAFETY_TYPES, failing_reply, generated_anchors, make_pair
from taskalign.prefs.quality import judge_verdicts
from taskalign.report.rundata import read_checked, score_problem, transcript_problem
from taskalign.suite.schema import CATEGORIES
from taskalign.suite.strategies import load_strategies

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
    for row in read_checked(tpath, transcript_problem, partial_tail=True):  # appended: a kill may cut the last line
        records[row["id"]] = {"case": row["case"], "messages": row["messages"], "error": row.get("error"),
                              "score": None}
    for row in read_checked(spath, score_problem):
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


def compliance_style(runs: dict[str, dict]) -> bool:
    """True (composed compliant replies are a bare tool call) unless most of the run's own failing replies open with
    words: composed failures should fail the way the model does. No failures to go by: bare, the tool-calling format."""
    replies = [reply for run in runs.values()
               if ((run.get("score") or {}).get("verdict") == "comply" and (reply := failing_reply(run)))]
    return not replies or 2 * sum(r.lstrip().startswith(OPEN) for r in replies) >= len(replies)


def _take(items, k, rng, weights):
    """k items, round-robin over case categories (small ones survive), on-policy pairs first within each; a category
    with weight w gives w items per round (weights: {category: w}, default 1)."""
    groups = defaultdict(list)
    for item in items:
        groups[item[1]["metadata"]["category"]].append(item)
    queues = []
    for key in sorted(groups):
        rng.shuffle(groups[key])
        queues.append((weights.get(key, 1), sorted(groups[key], key=lambda it: not it[1]["metadata"]["on_policy"])))
    out, k = [], min(k, len(items))
    while len(out) < k:
        # Within a round, categories whose next pair is on-policy go first, then heavier ones: a cut-off round drops
        # composed pairs of light categories.
        for weight, queue in sorted(queues, key=lambda q: (not (q[1] and q[1][0][1]["metadata"]["on_policy"]), -q[0])):
            for _ in range(weight):
                if queue and len(out) < k:
                    out.append(queue.pop(0))
    return out


def _balance(items, balance, max_pairs, rng, notes, weights):
    safety = [it for it in items if it[1]["metadata"]["pair_type"] in SAFETY_TYPES]
    helpful = [it for it in items if it[1]["metadata"]["pair_type"] not in SAFETY_TYPES]
    if safety and helpful:  # with one side empty there is nothing to balance against; keep what there is
        n_s = min(len(safety), max(1, int(balance * len(helpful) + 0.5)))
        n_h = min(len(helpful), max(1, int(len(safety) / balance + 0.5)))
        safety, helpful = _take(safety, n_s, rng, weights), _take(helpful, n_h, rng, weights)
    if max_pairs is not None and len(safety) + len(helpful) > max_pairs:
        n_s = round(max_pairs * len(safety) / (len(safety) + len(helpful)))
        safety, helpful = _take(safety, n_s, rng, weights), _take(helpful, max_pairs - n_s, rng, weights)
    notes["dropped_balance"] = len(items) - len(safety) - len(helpful)
    return safety + helpful


def read_runs(run_dirs: Path | list[Path] | None) -> dict[str, dict]:
    """read_run over one folder or several (a train-split run, a run on the extra cases); a later folder wins an id."""
    dirs = [] if run_dirs is None else [run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs
    return {cid: record for run_dir in dirs for cid, record in read_run(run_dir).items()}


def _check_counts(counts: dict | None, setting: str, known: set[str], kind: str, unit: str) -> dict[str, int]:
    """{name: whole number >= 1} with every name in `known`; else one sentence naming the entry."""
    counts = dict(counts or {})
    for name, n in counts.items():
        if name not in known:
            raise UserError(f"{setting} {name}={n!r}: {name!r} is not {kind}; use one of {', '.join(sorted(known))}.")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise UserError(f"{setting} {name}={n!r} must be a whole number of at least 1 ({unit}).")
    return counts


def _repeated(items: list, repeat: dict[str, int]) -> list:
    """The extra copies: a pair whose case strategy or category has N copies comes back N - 1 more times, in file
    order, one round after another. Training samples at random, so where the copies sit does not matter."""
    copies = [max(repeat.get(case.get("strategy"), 1), repeat.get(case.get("category"), 1)) for case, _ in items]
    return [item for k in range(1, max(copies, default=1)) for item, n in zip(items, copies) if n > k]


def build(run_dir: Path | list[Path] | None, cases: list[dict], out: Path, seed: int = 0, balance: float = 1.0,
          teacher=None, judge=None, max_pairs: int | None = None, model_name: str | None = None,
          notes: dict | None = None, anchors: int = 0, extra_cases: str | Path | None = None,
          weights: dict[str, int] | None = None, repeat: dict[str, int] | None = None, domain=None,
          match_surface: bool = False) -> Path:
    """Write prefs JSONL to `out`. run_dir: one red-team run folder or several, whose failing replies become on-policy
    rejected replies (an extra case is on-policy only when some folder ran it); teacher: a model spec (with
    model_name) or None; judge: a Judge, a spec or None; anchors: extra capability anchors from the SFT data
    generator (see pairs.generated_anchors); extra_cases: "builtin" (the training-only bank, prefs/bank.py) or a
    train-split case file; weights: {case category: items per round} when balancing picks pairs (e.g.
    {"harmful_direct": 3}: the category the model finds hardest); repeat: {case strategy or category: copies} of the
    chosen pairs, appended after the shuffled file (e.g. {"euphemism": 2}: those pairs twice, which moved the embedded
    model's hardest euphemisms towards refusal, docs/experiments.md); domain: the domain (built-in name or folder,
    default TaskMaster) whose persona, tools and phrase bank composed prompts and replies use; match_surface: give
    helpful pairs the wrappers and decorations of the harmful ones, in the same mix (prefs/surface.py)."""
    from taskalign.prefs import compose

    with compose.for_domain(domain):
        return _build(run_dir, cases, out, seed, balance, teacher, judge, max_pairs, model_name, notes, anchors,
                      extra_cases, weights, repeat, match_surface)


def _build(run_dir, cases, out, seed, balance, teacher, judge, max_pairs, model_name, notes, anchors, extra_cases,
           weights, repeat, match_surface) -> Path:
    from taskalign.domain import DEFAULT_DOMAIN
    from taskalign.prefs import compose

    if balance <= 0:
        raise UserError(f"--balance {balance} must be above 0 (safety pairs per helpfulness pair, e.g. 1.0).")
    if max_pairs is not None and max_pairs < 1:
        raise UserError(f"--max-pairs {max_pairs} must be at least 1.")
    if anchors < 0:
        raise UserError(f"--anchors {anchors} must be 0 or more.")
    weights = _check_counts(weights, "weight", set(CATEGORIES), "a case category", "pairs per round")
    repeat = _check_counts(repeat, "repeat", set(CATEGORIES) | set(load_strategies()), "a case strategy or category",
                           "copies of each pair")
    notes = {} if notes is None else notes
    _check_cases(cases)
    runs = read_runs(run_dir)
    # A run on a custom case file carries its cases; use them, then the extra cases, where no earlier source has the id
    # (a run on the extra cases carries them too).
    cases, known = list(cases), {c["id"] for c in cases}
    if str(extra_cases or "").startswith("builtin") and compose.domain().name != DEFAULT_DOMAIN:
        notes["extra_cases"] = "none: the built-in training bank is TaskMaster's"  # pass a case file for another domain
        extra_cases = None
    for case in [r["case"] for _, r in sorted(runs.items()) if r["case"]] + load_extra_cases(extra_cases, seed):
        if case["id"] not in known:
            cases.append(case)
            known.add(case["id"])
    eligible = sorted(train_cases(cases), key=lambda c: c["id"])
    if not eligible:
        raise UserError("No train-split cases to build pairs from; give cases with \"split\": \"train\" (--cases).")
    bare = compliance_style(runs)
    items = [(c, p) for c in eligible
             if (p := make_pair(c, runs.get(c["id"]), random.Random(f"{seed}|{c['id']}"), bare))]
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
    items = _balance(items, balance, max_pairs, rng, notes, weights)
    if not items:
        raise UserError("Every candidate pair was filtered out; check the run folder and cases (see `prefs stats`).")
    if match_surface:
        from taskalign.prefs.surface import match_surfaces
        items = match_surfaces(items, random.Random(f"{seed}|surface"), compose.domain().assistant, notes=notes)
    rng.shuffle(items)
    items += _repeated(items, repeat)
    notes["pairs"] = len(items)
    return write_jsonl_atomic(Path(out), [pair for _, pair in items])
