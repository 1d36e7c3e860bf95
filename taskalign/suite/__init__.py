"""The red-team suite: the case schema, a domain's cases (the built-in TaskMaster suite by default) and case selection.

    from taskalign.suite import load_cases, filter_cases
    cases = filter_cases(load_cases(), split="test", limit=50)      # built-in suite, stratified sample
    cases = load_cases(domain="path/to/my_domain")                   # a domain's suite (built from its files)
Rebuild the built-in cases with `python -m dev.suite.build --seed 0`; inspect them with `taskalign cases list`.
"""

import hashlib
from functools import lru_cache
from pathlib import Path

from taskalign.domain.load import load_domain
from taskalign.errors import UserError
from taskalign.files import read_rows
from taskalign.suite.schema import CATEGORIES, EXPECTED, REFUSE_CATEGORIES, SPLITS, read_cases
from taskalign.suite.select import filter_cases, stratified_sample

BASE_VERSION = "2026.11.1"
INTENT_KEYS = ("id", "harm_category", "split", "request", "softened", "reframe", "escalation", "alternatives")

__all__ = ["CATEGORIES", "REFUSE_CATEGORIES", "EXPECTED", "SPLITS", "SUITE_VERSION", "builtin_cases_path",
           "suite_version", "domain_cases", "load_cases", "validate_cases", "filter_cases", "stratified_sample", "load_intents"]


def builtin_cases_path() -> Path:
    """The default domain's built suite file."""
    return load_domain().path("cases")


def suite_version(domain=None) -> str:
    """BASE_VERSION plus a short hash of the domain's cases (its cases file, else the cases built from its data), so
    results name the exact cases they were measured on; a domain other than the default also names itself."""
    domain = load_domain(domain)
    path = domain.cases_path
    data = path.read_bytes() if path is not None else _built_bytes(domain.root)
    prefix = BASE_VERSION if domain.root == load_domain().root else f"{domain.name}-{BASE_VERSION}"
    return f"{prefix}+{hashlib.sha256(data).hexdigest()[:8]}"


SUITE_VERSION = suite_version()


@lru_cache(maxsize=4)
def _built_bytes(root: Path) -> bytes:
    from taskalign.files import dumps
    from taskalign.suite.build import build_cases

    return "".join(dumps(c) + "\n" for c in build_cases(load_domain(root))).encode()


def domain_cases(domain=None) -> list[dict]:
    """A domain's suite: its cases file when it names one, else the cases built from its data files (seed 0)."""
    domain = load_domain(domain)
    if domain.cases_path is not None:
        return load_cases(domain.cases_path)
    from taskalign.suite.build import build_cases

    return build_cases(domain)


def _read(path: str | Path | None) -> tuple[list[dict], list[str]]:
    path = Path(path) if path is not None else builtin_cases_path()
    if not path.is_file():
        raise UserError(f"case file {path} does not exist; check the path.")
    cases, problems = read_cases(path)
    if not cases and not problems:
        problems = [f"{path}: holds no cases (add one JSON object per line)"]
    return cases, problems


def validate_cases(path: str | Path | None, domain=None) -> list[str]:
    """Every problem in a case file, each as "FILE line N: ..." (an empty list when the file is valid); with a domain,
    also every reference_call that is no valid call of the domain's tools."""
    cases, problems = _read(path)
    if domain is not None:
        from taskalign.domain.toolcalls import schemas_by_name, validate_call
        from taskalign.files import iter_lines

        schemas, where = schemas_by_name(load_domain(domain).tools), {}
        for number, row, error in iter_lines(Path(path)):
            if error is None and isinstance(row.get("id"), str):
                where.setdefault(row["id"], number)
        for case in cases:
            call = case.get("reference_call")
            valid, why = validate_call(call["name"], call.get("arguments", {}), schemas) if call else (True, None)
            if not valid:
                problems.append(f"{path} line {where[case['id']]}: reference_call: {why} of domain "
                                f"{load_domain(domain).name}")
    return problems


def load_cases(path: str | Path | None = None) -> list[dict]:
    """All cases of a JSONL file (None = the built-in suite), validated before anything is returned."""
    cases, problems = _read(path)
    if problems:
        more = f" ({len(problems) - 1} more; list them with `taskalign cases validate`)" if len(problems) > 1 else ""
        raise UserError(f"{problems[0]}{more}; fix the case file.")
    return cases


def load_intents(path: str | Path | None = None, domain=None) -> list[dict]:
    """The harmful intents a suite is made from (id, harm_category, split, request, softened, reframe, escalation,
    alternatives): a file's, else the domain's (default TaskMaster); preference-pair building uses their alternatives."""
    path = Path(path) if path else load_domain(domain).path("intents")
    if path is None:
        return []
    intents = []
    for number, intent in read_rows(path, "suite intents"):
        missing = [k for k in INTENT_KEYS if k not in intent]
        if missing:
            raise UserError(f"{path} line {number}: missing {', '.join(missing)}; every intent needs {INTENT_KEYS}.")
        intents.append(intent)
    return intents
