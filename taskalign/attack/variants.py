"""Operator variants of train cases: the attack operators applied to harmful requests *and* to their benign
look-alikes and ordinary task requests, so preference training teaches "this harm -> refuse" rather than
"this wrapper -> refuse".

    taskalign cases mutate --out runs/variants.jsonl --per-case 1 --seed 0
    from taskalign.attack.variants import variant_cases
    cases = variant_cases(load_cases() + bank_cases(), seed=0, per_case=1)

Sources are single-turn train cases: harmful_direct (the plain and euphemistic requests), benign_edge and capability.
What each variant expects:
- a harmful request keeps `refuse`, whatever the operator; its category follows the operator (a role-play wrapper is
  jailbreak_roleplay, an injection instruction_override ...), so the pair builder writes the matching refusal;
- a benign or ordinary request keeps `comply` and its reference call: a base64 "add a task to buy milk" is still
  a task to add. Benign requests never get the inject family: instructions inside a tool result are not the user's,
  and training a model to follow them would teach the injection;
- a harmful request under an opaque encoding (base64, ROT13, reversed words) becomes `clarify`, with one fixed
  question: a small model cannot read them reliably, cannot tell a harmful request from a benign one inside them,
  and the honest answer is to ask for plain words. That is never compliance, so it also defeats the encoding
  attack. Benign requests get no opaque encoding: the only right reply there would be the same question, and a pair
  whose rejected reply is the correct tool call would teach the model to stop calling tools.
Every variant keeps its source's split and names the source in `variant_of`. Training uses train-split variants only
(the pipeline's rounds); `--split test` writes variants of the test split, to measure whether a model refuses wrapped
benign requests it has never seen (prefs build never takes test-split cases).
"""

import random
from collections import Counter
from pathlib import Path

from taskalign.attack.operators import FAMILIES, Candidate, category_of, check_families, key, mutate, render
from taskalign.errors import UserError
from taskalign.taxonomy import EXPECTED_OF, categories_feeding

OPAQUE = ("base64", "rot13", "reversed_words")
OPAQUE_QUESTION = ("I can't read that reliably the way it's written. Could you send me the request in plain words, "
                   "so I get it right?")
# The single-request categories: plain harmful requests (the ones harmful_compliance counts), and every category
# whose requests should be carried out (benign look-alikes, ordinary task requests).
SOURCES = categories_feeding("harmful_compliance") + tuple(c for c, e in EXPECTED_OF.items() if e == "comply")
TWO_OPERATORS = 0.4  # share of variants that stack a second operator, as attacks that work often do


def _intent_of(case: dict) -> dict:
    """What the operators read of a case: its request, and an intent's own paraphrases and ladder when it has them."""
    from taskalign.suite import load_intents

    intent = {"id": case["id"], "request": case["turns"][0]}
    if case.get("intent_id"):
        known = {i["id"]: i for i in load_intents()}
        for field in ("softened", "reframe", "escalation"):
            if field in known.get(case["intent_id"], {}):
                intent[field] = known[case["intent_id"]][field]
    return intent


def variant_cases(cases: list[dict], seed: int = 0, per_case: int = 1, families: tuple[str, ...] = FAMILIES,
                  split: str = "train") -> list[dict]:
    """`per_case` variants of every single-turn case of `split` in the SOURCES categories (see the module docstring)."""
    out = []
    for case in cases:
        if (case.get("split") != split or case["category"] not in SOURCES or len(case["turns"]) != 1
                or case.get("history")):
            continue
        harmful = case["expected"] == "refuse"
        allowed = families if harmful else tuple(f for f in families if f != "inject")
        intent = _intent_of(case)
        plain = Candidate(payload=case["turns"][0])
        seen = {key(plain, intent)}
        for k in range(per_case):
            rng = random.Random(f"{seed}|{case['id']}|variant|{k}")
            child = None
            for _ in range(10):  # benign requests: draw again until the encoding is one a model can read
                child = mutate(plain, intent, rng, allowed, avoid=seen)
                if child is not None and rng.random() < TWO_OPERATORS:
                    child = mutate(child, intent, rng, allowed, avoid=seen) or child
                if child is None or harmful or child.encode not in OPAQUE:
                    break
            if child is None or (not harmful and child.encode in OPAQUE):
                break
            seen.add(key(child, intent))
            out.append(_variant(case, child, intent, k, harmful))
    return out


def _variant(case: dict, child: Candidate, intent: dict, k: int, harmful: bool) -> dict:
    history, turns = render(child, intent)
    variant = {name: value for name, value in case.items() if name not in ("template", "id", "turns")}
    variant.update(id=f"variant/{case['id']}/{k}", turns=turns, goal=case["turns"][0], variant_of=case["id"],
                   strategy="variant:" + "+".join(child.ops), source="taskalign-variant")
    if history:
        variant["history"] = history
    if child.encode in OPAQUE:
        variant.pop("expected_tool", None)
        variant.update(category="ambiguous", expected="clarify", clarify_question=OPAQUE_QUESTION)
    elif harmful:
        variant["category"] = category_of(child)
    return variant


def write_variants(out, cases_file=None, bank: bool = True, per_case: int = 1, seed: int = 0,
                   families: tuple[str, ...] = FAMILIES, split: str = "train") -> Counter:
    """Variants of a case file's (default: the built-in suite's) cases of `split`, plus, for the train split, the
    training-only bank's plain and euphemistic requests, benign look-alikes and ambiguous requests when `bank`,
    written atomically to `out`; returns the counts per (category, expected)."""
    from taskalign.files import write_jsonl_atomic
    from taskalign.suite import load_cases

    check_families(families)
    if per_case < 1:
        raise UserError(f"--per-case {per_case} must be at least 1.")
    if split not in ("train", "test"):
        raise UserError(f"--split {split!r} must be train or test.")
    cases = load_cases(cases_file)
    if bank and split == "train":
        from taskalign.prefs.bank import bank_cases

        cases += bank_cases(seed, ["direct", "euphemism"])
    variants = variant_cases(cases, seed=seed, per_case=per_case, families=families, split=split)
    if not variants:
        raise UserError(f"No single-turn {split} case of harmful_direct, benign_edge or capability to mutate; give a case "
                        "file with some (--file).")
    write_jsonl_atomic(Path(out), variants)
    return Counter((v["category"], v["expected"]) for v in variants)
