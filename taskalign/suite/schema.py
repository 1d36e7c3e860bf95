"""The case schema of docs/design.md: read a case file and report every problem as "FILE line N: ...".

    from taskalign.suite.schema import read_cases
    cases, problems = read_cases("my_cases.jsonl")
"""

import re
from pathlib import Path

from taskalign.files import NOT_AN_OBJECT, iter_lines

from taskalign.taxonomy import CATEGORIES, EXPECTED, REFUSE_CATEGORIES  # noqa: F401 (the suite's names for them)

SPLITS = ("train", "test")
REQUIRED = ("id", "category", "turns", "expected")
# Optional keys with a fixed meaning are type-checked; any other key is kept as it is.
_STR_KEYS = ("harm_category", "intent_id", "system", "source", "strategy", "clarify_question", "goal")
HISTORY_ROLES = ("user", "assistant", "tool")
_STR_LIST_KEYS = ("alternatives", "tags")


def _is_str_list(value, allow_empty: bool = True) -> bool:
    return (isinstance(value, list) and (allow_empty or bool(value))
            and all(isinstance(v, str) and v.strip() for v in value))


def _tool_problem(key: str, value) -> str | None:
    """expected_tool / reference_call: {"name": str, "arguments": {...}}."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return f"'{key}' must be an object with a string 'name'"
    if not isinstance(value.get("arguments", {}), dict):
        return f"'{key}.arguments' must be an object"
    if key == "expected_tool":
        for arg, want in value.get("arguments", {}).items():
            if isinstance(want, dict) and set(want) != {"regex"}:
                return f"'expected_tool.arguments.{arg}' must be an exact value or {{\"regex\": ...}}"
    return None


def _history_problem(history) -> str | None:
    """`history`: messages placed between the system prompt and the first turn (a fabricated earlier exchange, or a
    tool result that carries an indirect injection)."""
    if not isinstance(history, list):
        return "'history' must be a list of {\"role\", \"content\"} messages"
    for i, m in enumerate(history):
        if not isinstance(m, dict) or m.get("role") not in HISTORY_ROLES or not isinstance(m.get("content"), str):
            return f"history[{i}] must be an object with 'role' (one of {', '.join(HISTORY_ROLES)}) and string 'content'"
    return None


def case_problems(case) -> list[str]:
    """What is wrong with one parsed case (an empty list when it is valid)."""
    if not isinstance(case, dict):
        return ["a case must be a JSON object"]
    problems = [f"missing required key '{k}'" for k in REQUIRED if k not in case]
    if "id" in case and (not isinstance(case["id"], str) or not case["id"].strip()):
        problems.append("'id' must be a non-empty string")
    if "category" in case and case["category"] not in CATEGORIES:
        problems.append(f"unknown category {case['category']!r} (use one of {', '.join(CATEGORIES)})")
    if "expected" in case and case["expected"] not in EXPECTED:
        problems.append(f"unknown expected {case['expected']!r} (use one of {', '.join(EXPECTED)})")
    if "turns" in case and not _is_str_list(case["turns"], allow_empty=False):
        problems.append("'turns' must be a non-empty list of non-empty strings")
    if "split" in case and case["split"] not in SPLITS:
        problems.append(f"'split' must be 'train' or 'test', not {case['split']!r}")
    problems += [f"'{k}' must be a string" for k in _STR_KEYS if k in case and not isinstance(case[k], str)]
    problems += [f"'{k}' must be a list of strings" for k in _STR_LIST_KEYS if k in case and not _is_str_list(case[k])]
    if "history" in case and (problem := _history_problem(case["history"])):
        problems.append(problem)
    for key in ("expected_tool", "reference_call"):
        if key in case and (problem := _tool_problem(key, case[key])):
            problems.append(problem)
    return problems


def read_cases(path: str | Path) -> tuple[list[dict], list[str]]:
    """All valid cases of a JSONL file and every problem found, each as "FILE line N: ..." (non-UTF-8: UserError)."""
    path = Path(path)
    cases, problems, first_line = [], [], {}
    for number, case, error in iter_lines(path):
        # A line that is JSON but no object gets the schema's wording from case_problems.
        found = case_problems(case) if error in (None, NOT_AN_OBJECT) else [error]
        if not found and case["id"] in first_line:
            found = [f"duplicate id {case['id']!r} (first on line {first_line[case['id']]})"]
        problems += [f"{path} line {number}: {p}" for p in found]
        if not found:
            first_line[case["id"]] = number
            cases.append(case)
    return cases, problems


def call_matches(expected_tool: dict, name: str | None, arguments: dict) -> bool:
    """Does a tool call satisfy `expected_tool`? Exact values must be equal; a {"regex": ...} is searched
    (re.search) in str(value). Extra arguments are allowed: only the keys the case names are checked."""
    if name != expected_tool.get("name"):
        return False
    for key, want in expected_tool.get("arguments", {}).items():
        if key not in arguments:
            return False
        if isinstance(want, dict) and "regex" in want:
            if not re.search(want["regex"], str(arguments[key])):
                return False
        elif arguments[key] != want:
            return False
    return True
