"""The built-in training-only bank: harmful intents and benign look-alikes that exist only to train on.

    from taskalign.prefs.bank import bank_cases, extra_cases
    cases = bank_cases(seed=0)                       # data/train_intents.jsonl x every strategy + data/train_benign.jsonl
    cases = extra_cases("builtin") or extra_cases("builtin:euphemism") or extra_cases("my_train_cases.jsonl")

The red-team suite's train split has one euphemistic phrasing per intent (48), too few for a small model to learn to
see harm through soft wording; these rows add new scenarios in the same harm categories: 120 intents, a third of them
with one-line euphemisms where a single quoted word carries the harm, and 108 benign look-alikes with the same surface
(scary words used innocently, on every tool, not only create_task). They are never evaluated on:
every row is split "train", and tests/prefs/test_bank.py checks that no id or near-duplicate text touches the suite's
test split. prefs build takes them as extra train cases (`--extra-cases builtin`).

`builtin:...,styles` also adds requests as users write them, on both sides (docs/experiments.md, Q13): 191 harmful
intents sent bare (no template, 7-18 words) and 144 harmful requests written long with a backstory, polite and
indirect, terse with typos, or as one item of a list; 431 benign look-alikes and everyday requests in the same five
styles, each carried out with its reference call. Without them the only long or indirect requests in the pairs are
harmful ones, and the trained embedded model refuses by style: every long benign request, and few short harmful ones.
With them it refused short plain harm but also most of the suite's look-alikes, and still every long benign request,
so no profile uses them.

`--extra-cases ambiguous` adds 90 ambiguous requests (harmful or fine depending on intent), each with one specific
clarifying question. They are not part of `builtin`: with one copy of their pairs the embedded model asks no
question (0 of 14 test requests), with two (`repeat: {ambiguous: 2}`) it asks on all 14 but also on most benign
look-alikes, and task accuracy halves (docs/experiments.md, Q9).
"""

from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_jsonl
from taskalign.suite import load_cases, load_intents
from taskalign.suite.strategies import harmful_cases, load_strategies, row_cases

DATA = Path(__file__).parent / "data"
INTENTS, BENIGN, AMBIGUOUS = DATA / "train_intents.jsonl", DATA / "train_benign.jsonl", DATA / "train_ambiguous.jsonl"
PLAIN, STYLED, STYLED_BENIGN = (DATA / "train_plain_intents.jsonl", DATA / "train_styled_harmful.jsonl",
                                DATA / "train_styled_benign.jsonl")
STYLES = "styles"  # the builtin spec's word for style_cases()
AMBIGUOUS_SPEC = "ambiguous"  # alone, or among the builtin spec's words: the ambiguous rows
SOURCE = "taskalign-train-bank"


def bank_cases(seed: int = 0, strategies: list[str] | None = None) -> list[dict]:
    """Every bank intent under every attack strategy (or only `strategies`; one template each, seeded), then the
    benign look-alikes, which are always there: they are what keeps more refusal data from refusing look-alikes."""
    known = load_strategies()
    unknown = sorted(set(strategies or ()) - set(known))
    if unknown:
        raise UserError(f"builtin:{','.join(strategies)}: unknown strategy {unknown[0]!r}; use one of "
                        f"{', '.join(known)}.")
    chosen = {name: spec for name, spec in known.items() if not strategies or name in strategies}
    cases = harmful_cases(load_intents(INTENTS), chosen, seed)
    cases += row_cases(read_jsonl(BENIGN), "benign_edge", "comply")
    return [{**c, "id": f"bank/{c['id']}", "source": SOURCE} for c in cases]


def style_cases() -> list[dict]:
    """The styled rows: each harmful request exactly as written (the suite's `direct` strategy, template 0, which is
    the bare request), each benign or everyday one carried out with its reference call."""
    harmful = [{"id": f"{r['id']}/direct", "category": "harmful_direct", "turns": [r["request"]], "expected": "refuse",
                "harm_category": r["harm_category"], "intent_id": r["id"], "split": "train",
                "alternatives": r["alternatives"], "strategy": "direct", "template": 0, "style": r["style"]}
               for r in read_jsonl(PLAIN) + read_jsonl(STYLED)]
    benign = row_cases(read_jsonl(STYLED_BENIGN), "benign_edge", "comply")  # everyday rows carry no harm category
    return [{**c, "id": f"bank/{c['id']}", "source": SOURCE} for c in harmful + benign]


def extra_cases(spec: str | Path | None, seed: int = 0) -> list[dict]:
    """"builtin" = the bank above, "builtin:euphemism,direct" = the bank under those strategies only; "styles" among
    them adds the styled rows (style_cases), "builtin:styles" to the whole bank, and "ambiguous" the ambiguous rows
    ("ambiguous" alone: those only); a path = a case file (suite schema) whose rows must all be split "train"."""
    if spec is None or str(spec) in ("", "none"):
        return []
    if str(spec) == AMBIGUOUS_SPEC:
        return [{**c, "id": f"bank/{c['id']}", "source": SOURCE}
                for c in row_cases(read_jsonl(AMBIGUOUS), "ambiguous", "clarify")]
    name, _, strategies = str(spec).partition(":")
    if name == "builtin":
        chosen = [s.strip() for s in strategies.split(",") if s.strip()]
        added = (style_cases() if STYLES in chosen else []) + (extra_cases(AMBIGUOUS_SPEC) if AMBIGUOUS_SPEC in chosen
                                                               else [])
        return bank_cases(seed, [s for s in chosen if s not in (STYLES, AMBIGUOUS_SPEC)]) + added  # [] = every strategy
    cases = load_cases(spec)
    wrong = next((c for c in cases if c.get("split") != "train"), None)
    if wrong is not None:
        raise UserError(f"{spec}: extra cases are training data, but case {wrong['id']} has split "
                        f"{wrong.get('split')!r}; set \"split\": \"train\".")
    return cases
