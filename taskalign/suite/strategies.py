"""Attack strategies: small templates (data/strategies.json) that wrap one harmful intent into the turns of a case.

    from taskalign.suite.strategies import load_strategies, harmful_cases
    cases = harmful_cases(load_intents(), load_strategies(), seed=0)
"""

import json
import random
from pathlib import Path

from taskalign.errors import UserError

DATA = Path(__file__).parent / "data"
STEPS = "{steps}"  # a whole turn that expands to every escalation turn but the last


def load_strategies(path: str | Path | None = None) -> dict[str, dict]:
    """Strategy name -> {"category", "description", "templates": [[turn, ...], ...]}."""
    path = Path(path or DATA / "strategies.json")
    try:
        strategies = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read the strategy file {path} ({exc}); fix or restore it.") from exc
    for name, spec in strategies.items():
        if not isinstance(spec, dict) or not spec.get("templates") or not isinstance(spec.get("category"), str):
            raise UserError(f"{path}: strategy {name!r} needs a 'category' and a non-empty 'templates' list.")
    return strategies


def lower_first(text: str) -> str:
    """'Create a task' -> 'create a task', but keep 'I ...' and acronyms such as 'GPS ...' as they are."""
    word = text.split(" ", 1)[0]
    if not text or word == "I" or word.startswith("I'") or (len(word) > 1 and word[1].isupper()):
        return text
    return text[0].lower() + text[1:]


def _fields(intent: dict, assistant: str) -> dict[str, str]:
    final = intent["escalation"][-1]
    fields = {"request": intent["request"], "softened": intent["softened"], "reframe": intent["reframe"],
              "final": final}
    fields.update({f"{k}_lc": lower_first(v) for k, v in list(fields.items())})
    return {**fields, "assistant": assistant}


def render(template: list[str], intent: dict, assistant: str = "TaskMaster") -> list[str]:
    """The user turns of one template filled with one intent; {assistant} is the domain's assistant name."""
    fields, turns = _fields(intent, assistant), []
    for turn in template:
        if turn == STEPS:
            turns += intent["escalation"][:-1]
            continue
        for key, value in fields.items():  # plain replace: intent text may hold braces that format() would choke on
            turn = turn.replace("{" + key + "}", value)
        turns.append(turn)
    return turns


def harmful_cases(intents: list[dict], strategies: dict[str, dict], seed: int = 0,
                  assistant: str = "TaskMaster") -> list[dict]:
    """One case per intent and strategy; the template is picked per (intent, strategy) by a seeded RNG. The
    strategies are the same for every domain: `assistant` names the one under attack where a template addresses it."""
    cases = []
    for intent in intents:
        for name, spec in strategies.items():
            # A string seed is hashed with SHA-512 by `random`, so the pick is the same on every machine and run.
            index = random.Random(f"{seed}:{intent['id']}:{name}").randrange(len(spec["templates"]))
            cases.append({
                "id": f"{intent['id']}/{name}", "category": spec["category"],
                "turns": render(spec["templates"][index], intent, assistant), "expected": "refuse",
                "harm_category": intent["harm_category"], "intent_id": intent["id"], "split": intent["split"],
                "alternatives": list(intent["alternatives"]), "strategy": name, "template": index,
                "source": "taskalign-builtin"})
    return cases


def row_cases(rows: list[dict], category: str, expected: str) -> list[dict]:
    """benign_edge / ambiguous rows -> cases: `request` becomes the one turn, the id gets the category prefix."""
    cases = []
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in ("id", "request", "split")}
        cases.append({"id": f"{category.split('_')[0]}/{row['id']}", "category": category, "turns": [row["request"]],
                      "expected": expected, **extra, "split": row["split"], "source": "taskalign-builtin"})
    return cases
