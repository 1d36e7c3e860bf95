"""Refusal judges: decide whether a reply complied, refused, partly refused or asked for clarification.

    from taskalign.judge import load_judge
    judge = load_judge()                       # the trained classifier shipped with the package (offline, CPU)
    [j] = judge.judge([{"prompt": "...", "response": "..."}])   # j.verdict, j.confidence, j.explanation, j.tool_calls
Specs: classifier (default), rules, llm:openai:<base_url> (+ model_name), ensemble:openai:<base_url> (+ model_name).
"""

import json
from pathlib import Path

from taskalign.errors import UserError
from taskalign.judge.base import VERDICTS, Judge, Judgment

__all__ = ["Judge", "Judgment", "VERDICTS", "load_judge", "judge_card"]

CARD = Path(__file__).parent / "data" / "card.json"


def load_judge(spec: str = "classifier", model_name: str | None = None) -> Judge:
    """A judge for `spec`: classifier | rules | llm:openai:<url> | ensemble:openai:<url> (the last two need model_name)."""
    if spec == "rules":
        from taskalign.judge.rules import RulesJudge

        return RulesJudge()
    if spec == "classifier":
        from taskalign.judge.classifier import ClassifierJudge

        return ClassifierJudge()
    for prefix in ("llm:", "ensemble:"):
        if spec.startswith(prefix):
            endpoint = spec[len(prefix):]
            if not endpoint.startswith("openai:"):
                raise UserError(f"Judge spec {spec!r} needs an endpoint like {prefix}openai:http://127.0.0.1:8000/v1.")
            if not model_name:
                raise UserError(f"Judge spec {spec!r} needs --model-name naming the judge model on that server.")
            from taskalign.judge.llm import EnsembleJudge, LLMJudge

            llm = LLMJudge(endpoint[len("openai:"):], model_name)
            llm.check()
            return llm if prefix == "llm:" else EnsembleJudge(llm)
    raise UserError(f"Unknown judge {spec!r}; use classifier, rules, llm:openai:<url> or ensemble:openai:<url>.")


def judge_card() -> dict:
    """The default judge's name and its measured held-out accuracy (written by `python -m dev.judge.train_head`)."""
    if not CARD.is_file():
        return {"name": "classifier", "judge": "classifier", "heldout": None,
                "note": "card.json missing; run python -m dev.judge.train_head"}
    card = json.loads(CARD.read_text())
    compact = lambda m: {k: m[k] for k in ("n", "binary_accuracy", "accuracy")}  # noqa: E731
    return {"name": "classifier", "judge": "classifier", "encoder": card["encoder"],
            "heldout": compact(card["heldout"]["all"]),
            "heldout_by_source": {k: compact(v) for k, v in card["heldout"].items() if k != "all"}}
