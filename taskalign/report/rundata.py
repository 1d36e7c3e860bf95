"""Read a red-team run folder (summary.json, config.json, scores.jsonl, transcripts.jsonl) for the report and compare.

Also finds what lies around a run: the pipeline folder it belongs to (pipeline.json), the preference pairs built from
its failures, and the training log (metrics.jsonl) of the model it evaluated. `load_run("runs/base")` is the entry.
"""

import typing
from dataclasses import dataclass, field
from pathlib import Path

from taskalign.domain.conversation import messages_problem
from taskalign.errors import UserError
from taskalign.files import read_json, read_jsonl, read_rows
from taskalign.suite.schema import case_problems
from taskalign.taxonomy import METRIC_ORDER


@dataclass
class Run:
    path: Path
    summary: dict
    config: dict
    scores: list[dict]
    transcripts: dict[str, dict]
    pipeline_dir: Path | None = None      # the pipeline folder this run sits in, if any
    label: str | None = None              # its name in pipeline.json `runs` (base, sft, aligned)
    pairs: dict[str, list[dict]] = field(default_factory=dict)   # case id -> pairs built from it
    pairs_path: Path | None = None
    model_dir: Path | None = None         # the trained model folder this run evaluated, if any

    @property
    def metrics(self) -> dict:
        return self.summary.get("metrics", {})

    @property
    def trained(self) -> bool:
        """True when the evaluated model came out of our own training (its folder has a training log)."""
        return self.model_dir is not None and (self.model_dir / "metrics.jsonl").is_file()


def load_run(run_dir) -> Run:
    path = Path(run_dir)
    if not (path / "summary.json").is_file():
        raise UserError(f"{path} has no summary.json; pass a red-team run folder (taskalign redteam ... --out DIR).")
    summary = read_summary(path / "summary.json")
    config = read_json(path / "config.json", dict) if (path / "config.json").is_file() else {}
    scores = read_checked(path / "scores.jsonl", score_problem) if (path / "scores.jsonl").is_file() else []
    transcripts = {}
    if (path / "transcripts.jsonl").is_file():
        transcripts = {t["id"]: t for t in read_checked(path / "transcripts.jsonl", transcript_problem, True)}
    run = Run(path=path, summary=summary, config=config, scores=scores, transcripts=transcripts)
    _attach_pipeline(run)
    _attach_pairs(run)
    run.model_dir = run.model_dir or _folder_spec(config.get("model"), path)
    return run


# The fields of a scores.jsonl row the report reads, and the types each may have (docs/run-folder.md).
SCORE_TYPES = {"id": str, "category": str, "expected": str, "verdict": str, "failed": bool | None,
               "confidence": int | float | None, "tool_calls": list, "turn_verdicts": list, "response": str | None,
               "explanation": str | None, "failure_mode": str | None}


def _type_problem(row: dict, types: dict) -> str | None:
    for key, kind in types.items():
        value, allowed = row.get(key), typing.get_args(kind) or (kind,)
        if key in row and (not isinstance(value, kind) or (isinstance(value, bool) and bool not in allowed)):
            return f"'{key}' has the wrong type ({value!r:.40})"
    return None


def score_problem(row: dict) -> str | None:
    """What is wrong with one scores.jsonl row, or None."""
    return _type_problem(row, SCORE_TYPES) if isinstance(row.get("id"), str) else "'id' must be a string"


def transcript_problem(row: dict) -> str | None:
    """What is wrong with one transcripts.jsonl row (id, case, messages, replies, error), or None."""
    if not isinstance(row.get("id"), str):
        return "'id' must be a string"
    if case_problem := (case_problems(row.get("case")) or [None])[0]:
        return f"'case' is not a valid case ({case_problem})"
    if problem := messages_problem(row.get("messages")):
        return problem
    if not isinstance(row.get("replies", []), list) or not all(isinstance(r, dict) for r in row.get("replies", [])):
        return "'replies' must be a list of objects"
    return None if isinstance(row.get("error"), str | None) else "'error' must be a string or null"


def read_checked(path: Path, problem_of, partial_tail: bool = False) -> list[dict]:
    """The rows of a run file (partial_tail: of an appended one, see files.iter_lines); a row `problem_of` finds
    wrong is a UserError naming it."""
    rows = []
    for lineno, row in read_rows(path, path.stem, partial_tail=partial_tail, strict=False):
        if problem := problem_of(row):
            raise UserError(f"{path} line {lineno}: {problem}; regenerate the run (taskalign redteam) or delete it.")
        rows.append(row)
    return rows


def read_summary(path: Path) -> dict:
    """summary.json: an object whose `metrics` (and each by_* group's) map metric names to {value, n, ci95}."""
    summary = read_json(path, dict)
    groups = [summary] + [part for key, value in summary.items() if key.startswith("by_")
                          for part in (value.values() if isinstance(value, dict) else [value])]
    if not all(_metrics_ok(group) for group in groups):
        raise UserError(f"{path}: metrics must map names to {{\"value\": number or null, ...}}; regenerate it with "
                        "`taskalign judge RUN_DIR`.")
    return summary


def _metrics_ok(group) -> bool:
    metrics = group.get("metrics") or {} if isinstance(group, dict) else None
    return isinstance(metrics, dict) and all(isinstance(m, dict) and isinstance(m.get("value"), int | float | None)
                                             for m in metrics.values())


def _folder_spec(spec, *bases: Path) -> Path | None:
    """The folder a model spec names, if it is one (tried as given, then relative to each base)."""
    if not isinstance(spec, str) or spec == "embedded" or ":" in spec.split("/")[0]:
        return None
    for candidate in [Path(spec), *(b / spec for b in bases)]:
        if candidate.is_dir():
            return candidate
    return None


def _attach_pipeline(run: Run) -> None:
    """If the run sits in a pipeline folder, learn its label, its model folder and where its pairs are."""
    for parent in [run.path.parent, run.path.parent.parent]:
        manifest = parent / "pipeline.json"
        if not manifest.is_file():
            continue
        pipe = read_json(manifest, dict)
        runs = pipe.get("runs") if isinstance(pipe.get("runs"), dict) else {}
        for label, rel in runs.items():
            if (parent / rel).resolve() == run.path.resolve():
                run.pipeline_dir, run.label = parent, label
                run.model_dir = _folder_spec((pipe.get("models") or {}).get(label), parent)
                if pipe.get("prefs"):
                    run.pairs_path = parent / pipe["prefs"]
                return


def _attach_pairs(run: Run) -> None:
    path = run.pairs_path or run.path / "prefs.jsonl"
    if not path.is_file():
        return
    run.pairs_path = path
    for pair in read_jsonl(path):
        case_id = (pair.get("metadata") or {}).get("case_id")
        if case_id is not None:
            run.pairs.setdefault(str(case_id), []).append(pair)


def training_log(model_dir: Path | None) -> list[dict]:
    """TRL's log history (one dict per logged step) saved beside a trained model, or [] when there is none."""
    if model_dir is None or not (model_dir / "metrics.jsonl").is_file():
        return []
    return [row for row in read_jsonl(model_dir / "metrics.jsonl", partial_tail=True) if "step" in row]


def ordered_metrics(*metric_dicts: dict) -> list[str]:
    """Metric names present in any of the dicts: the docs/design.md order first, then any extra names alphabetically."""
    names = set().union(*(d.keys() for d in metric_dicts))
    return [m for m in METRIC_ORDER if m in names] + sorted(names - set(METRIC_ORDER))
