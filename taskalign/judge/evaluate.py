"""Judge accuracy against human labels: `taskalign judge eval LABELLED.jsonl [--json OUT]`.

Labels may be ours (comply | refuse | partial | clarify), PyRIT-style (`label`/`score_value` true = refused), or
full_compliance / full_refusal / partial_refusal (any prefix such as "1_"). Binary accuracy counts refuse and partial as
refusal, comply and clarify as not; clarify is not a refusal because the assistant keeps helping.
"""

import re
from pathlib import Path

from taskalign.domain.conversation import messages_problem
from taskalign.errors import UserError
from taskalign.files import read_rows
from taskalign.judge.base import VERDICTS

_LABEL_KEYS = ("label", "final_label", "human_label", "gold", "verdict_label", "score_value", "is_refusal", "refusal")
_RESPONSE_KEYS = ("response", "completion", "output", "assistant_response", "reply", "answer")
_PROMPT_KEYS = ("prompt", "question", "objective", "user_message", "request")


def normalize_label(value) -> str | None:
    """One of VERDICTS for anything a labeller might write, or None when unrecognised."""
    if isinstance(value, bool):
        return "refuse" if value else "comply"
    if isinstance(value, (int, float)):
        return "refuse" if value else "comply"
    text = re.sub(r"^\d+[_.\s-]*", "", str(value).strip().lower()).replace("-", "_").replace(" ", "_")
    table = {"comply": "comply", "compliance": "comply", "full_compliance": "comply", "complied": "comply",
             "refuse": "refuse", "refusal": "refuse", "full_refusal": "refuse", "refused": "refuse",
             "partial": "partial", "partial_refusal": "partial", "partial_compliance": "partial",
             "clarify": "clarify", "clarification": "clarify", "true": "refuse", "false": "comply",
             "yes": "refuse", "no": "comply"}
    return table.get(text)


def to_item(row: dict, where: str) -> tuple[dict, str]:
    """(judge item, gold label) from one labelled row in any supported layout."""
    label_key = next((k for k in _LABEL_KEYS if k in row), None)
    label = normalize_label(row[label_key]) if label_key else None
    if label is None:
        raise UserError(f"{where}: needs a label (one of {', '.join(VERDICTS)}, full_compliance/full_refusal/"
                        f"partial_refusal, or true/false) in one of the keys {', '.join(_LABEL_KEYS[:3])}.")
    response_key = next((k for k in _RESPONSE_KEYS if isinstance(row.get(k), str)), None)
    if response_key is None:
        raise UserError(f"{where}: needs the reply text in 'response' (or completion/output).")
    if "messages" in row and (problem := messages_problem(row["messages"])):
        raise UserError(f"{where}: {problem}.")
    item = dict(row, response=row[response_key])
    if "messages" not in row and not isinstance(row.get("prompt"), str):
        item["prompt"] = next((str(row[k]) for k in _PROMPT_KEYS if isinstance(row.get(k), str)), "")
    return item, label


def _binary(label: str) -> int:
    return int(label in ("refuse", "partial"))


def metrics(gold: list[str], pred: list[str]) -> dict:
    """Binary and 4-class accuracy, per-class precision/recall/F1 and the confusion matrix (rows gold, cols pred)."""
    n = len(gold)
    confusion = {g: {p: 0 for p in VERDICTS} for g in VERDICTS}
    for g, p in zip(gold, pred):
        confusion[g][p if p in VERDICTS else "comply"] += 1
    per_class = {}
    for c in VERDICTS:
        tp = confusion[c][c]
        predicted = sum(confusion[g][c] for g in VERDICTS)
        actual = sum(confusion[c].values())
        precision = tp / predicted if predicted else None
        recall = tp / actual if actual else None
        f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (0.0 if actual else None)
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    correct_bin = sum(_binary(g) == _binary(p) for g, p in zip(gold, pred))
    return {"n": n, "binary_accuracy": correct_bin / n if n else None,
            "accuracy": sum(g == p for g, p in zip(gold, pred)) / n if n else None,
            "per_class": per_class, "confusion": confusion}


def read_labelled(path: Path) -> tuple[list[dict], list[str]]:
    if not path.is_file():
        raise UserError(f"Labelled file {path} does not exist; pass a JSONL file with 'response' and 'label' per row.")
    items, gold = [], []
    for lineno, row in read_rows(path, "labelled"):
        item, label = to_item(row, f"{path} line {lineno}")
        items.append(item)
        gold.append(label)
    if not items:
        raise UserError(f"{path} has no labelled rows.")
    return items, gold


def evaluate(path: Path, judge) -> dict:
    items, gold = read_labelled(Path(path))
    pred = [j.verdict for j in judge.judge(items)]
    return {"judge": judge.name, "file": str(path), **metrics(gold, pred)}


def format_report(result: dict) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"judge {result['judge']} on {result['file']} (n={result['n']})",
             f"binary accuracy (refuse|partial vs comply|clarify): {fmt(result['binary_accuracy'])}",
             f"4-class accuracy: {fmt(result['accuracy'])}", "",
             f"{'class':<9}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for c, m in result["per_class"].items():
        lines.append(f"{c:<9}{fmt(m['precision']):>10}{fmt(m['recall']):>8}{fmt(m['f1']):>8}{m['support']:>9}")
    lines += ["", "confusion (rows gold, columns predicted):", f"{'':<9}" + "".join(f"{p:>9}" for p in VERDICTS)]
    for g, row in result["confusion"].items():
        lines.append(f"{g:<9}" + "".join(f"{row[p]:>9}" for p in VERDICTS))
    return "\n".join(lines)
