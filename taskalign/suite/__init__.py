"""The red-team suite: the case schema, the built-in TaskMaster cases (data/cases.jsonl) and case selection.

    from taskalign.suite import load_cases, filter_cases
    cases = filter_cases(load_cases(), split="test", limit=50)      # built-in suite, stratified sample
Rebuild the built-in cases with `python -m dev.suite.build --seed 0`; inspect them with `taskalign cases list`.
"""

import hashlib
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_rows
from taskalign.suite.schema import CATEGORIES, EXPECTED, REFUSE_CATEGORIES, SPLITS, read_cases
from taskalign.suite.select import filter_cases, stratified_sample

DATA = Path(__file__).parent / "data"
BASE_VERSION = "2026.11.1"
INTENT_KEYS = ("id", "harm_category", "split", "request", "softened", "reframe", "escalation", "alternatives")

__all__ = ["CATEGORIES", "REFUSE_CATEGORIES", "EXPECTED", "SPLITS", "SUITE_VERSION", "builtin_cases_path",
           "load_cases", "validate_cases", "filter_cases", "stratified_sample", "load_intents"]


def builtin_cases_path() -> Path:
    return DATA / "cases.jsonl"


def _suite_version() -> str:
    """BASE_VERSION plus a short hash of cases.jsonl, so results name the exact cases they were measured on."""
    path = builtin_cases_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8] if path.exists() else "unbuilt"
    return f"{BASE_VERSION}+{digest}"


SUITE_VERSION = _suite_version()


def _read(path: str | Path | None) -> tuple[list[dict], list[str]]:
    path = Path(path) if path is not None else builtin_cases_path()
    if not path.is_file():
        raise UserError(f"case file {path} does not exist; check the path.")
    cases, problems = read_cases(path)
    if not cases and not problems:
        problems = [f"{path}: holds no cases (add one JSON object per line)"]
    return cases, problems


def validate_cases(path: str | Path | None) -> list[str]:
    """Every problem in a case file, each as "FILE line N: ..." (an empty list when the file is valid)."""
    return _read(path)[1]


def load_cases(path: str | Path | None = None) -> list[dict]:
    """All cases of a JSONL file (None = the built-in suite), validated before anything is returned."""
    cases, problems = _read(path)
    if problems:
        more = f" ({len(problems) - 1} more; list them with `taskalign cases validate`)" if len(problems) > 1 else ""
        raise UserError(f"{problems[0]}{more}; fix the case file.")
    return cases


def load_intents(path: str | Path | None = None) -> list[dict]:
    """The harmful intents the built-in cases are made from (id, harm_category, split, request, softened, reframe,
    escalation, alternatives); preference-pair building uses their alternatives."""
    path = Path(path or DATA / "intents.jsonl")
    intents = []
    for number, intent in read_rows(path, "suite intents"):
        missing = [k for k in INTENT_KEYS if k not in intent]
        if missing:
            raise UserError(f"{path} line {number}: missing {', '.join(missing)}; every intent needs {INTENT_KEYS}.")
        intents.append(intent)
    return intents
