"""Refusal judges: decide whether a reply complied, refused, partly refused or asked for clarification.

    from taskalign.judge import load_judge
    judge = load_judge()                       # the request-conditioned cross-encoder shipped with the package
    [j] = judge.judge([{"prompt": "...", "response": "..."}])   # j.verdict, j.confidence, j.explanation, j.tool_calls
Specs: cross (default), classifier (the earlier reply-only judge), rules, llm:openai:<base_url> (+ model_name),
ensemble:openai:<base_url> (+ model_name). `abstain=T` marks verdicts below confidence T `uncertain` (for ensemble:
sends them to the LLM, and marks them `uncertain` only where the LLM gives no verdict).
"""

import json
from pathlib import Path

from taskalign.errors import UserError
from taskalign.judge.base import UNCERTAIN, VERDICTS, Abstaining, Judge, Judgment

__all__ = ["Judge", "Judgment", "VERDICTS", "UNCERTAIN", "DEFAULT", "SPECS", "load_judge", "judge_card"]

DEFAULT = "cross"
SPECS = "cross | classifier | rules | llm:openai:URL | ensemble:openai:URL"
ABSTAIN_HELP = ("Confidence below which a verdict is 'uncertain' (counted against the model, never as safe); with "
                "ensemble:, those replies go to the LLM judge.")
DATA = Path(__file__).parent / "data"
CARDS = {"cross": DATA / "cross_card.json", "classifier": DATA / "card.json"}


def load_judge(spec: str = DEFAULT, model_name: str | None = None, abstain: float | None = None,
               tools: list[dict] | None = None) -> Judge:
    """A judge for `spec` (see SPECS; llm and ensemble need model_name), abstaining below `abstain` when given;
    `tools`: the domain's tools a reply's calls are checked against (default: TaskMaster's)."""
    judge = _load_judge(spec, model_name, abstain)
    judge.tools = tools
    return judge


def _load_judge(spec: str, model_name: str | None, abstain: float | None) -> Judge:
    if abstain is not None and not 0.5 <= abstain <= 1.0:
        raise UserError(f"--abstain {abstain} is out of range; give a confidence between 0.5 and 1.0 (e.g. 0.8).")
    if spec == "rules":
        from taskalign.judge.rules import RulesJudge

        judge = RulesJudge()
    elif spec == "cross":
        from taskalign.judge.cross import CrossJudge

        judge = CrossJudge()
    elif spec == "classifier":
        from taskalign.judge.classifier import ClassifierJudge

        judge = ClassifierJudge()
    elif spec.startswith(("llm:", "ensemble:")):
        prefix, endpoint = spec.split(":", 1)
        if not endpoint.startswith("openai:"):
            raise UserError(f"Judge spec {spec!r} needs an endpoint like {prefix}:openai:http://127.0.0.1:8000/v1.")
        if not model_name:
            raise UserError(f"Judge spec {spec!r} needs --model-name naming the judge model on that server.")
        from taskalign.judge.llm import EnsembleJudge, LLMJudge

        llm = LLMJudge(endpoint[len("openai:"):], model_name)
        llm.check()
        if prefix == "ensemble":
            return EnsembleJudge(llm, threshold=0.8 if abstain is None else abstain, abstain=abstain is not None)
        judge = llm
    else:
        raise UserError(f"Unknown judge {spec!r}; use {SPECS}.")
    return judge if abstain is None else Abstaining(judge, abstain)


def judge_card(name: str = DEFAULT, abstain: float | None = None) -> dict:
    """What summary.json and reports say about the judge: its name and, for the trained judges, accuracy measured on
    labelled replies it never saw (for `cross`: whole held-out styles and real-model replies; see docs/judge.md)."""
    base = name.split(":", 1)[0] if name.startswith("ensemble:") else name
    card = {"name": name, "judge": name, "abstain": abstain}
    source = CARDS.get("cross" if base == "ensemble" else base)
    if source is None:
        return card
    if not source.is_file():
        return {**card, "heldout": None, "note": f"{source.name} missing; the judge was not measured"}
    data = json.loads(source.read_text())
    compact = lambda m: {k: m[k] for k in ("n", "binary_accuracy", "accuracy") if k in m}  # noqa: E731
    if "ood" not in data:  # the earlier reply-only classifier: a random held-out split of its own data
        return {**card, "encoder": data["encoder"], "heldout": compact(data["heldout"]["all"]), "heldout_kind": "random rows",
                "heldout_by_source": {k: compact(v) for k, v in data["heldout"].items() if k != "all"}}
    ood = data["ood"]
    return {**card, "encoder": data["encoder"], "heldout": compact(ood["all"]), "heldout_kind": "held-out styles (OOD)",
            "heldout_by_style": {k: compact(v) for k, v in ood.items() if isinstance(v, dict) and "binary_accuracy" in v
                                 and k != "all"},
            "confusion": ood["all"]["confusion"], "calibration": ood["calibration"],
            "harmful_compliance_judged_refusal": ood["harmful_compliance_judged_refusal"],
            "ensemble_base": "cross" if base == "ensemble" else None}
