"""Read a red-team run folder (summary.json, config.json, scores.jsonl, transcripts.jsonl) for the report and compare.

Also finds what lies around a run: the pipeline folder it belongs to (pipeline.json), the preference pairs built from
its failures, and the training log (metrics.jsonl) of the model it evaluated. `load_run("runs/base")` is the entry.
"""

from dataclasses import dataclass, field
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_json, read_jsonl
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
    summary = read_json(path / "summary.json")
    config = read_json(path / "config.json") if (path / "config.json").is_file() else {}
    scores = read_jsonl(path / "scores.jsonl") if (path / "scores.jsonl").is_file() else []
    transcripts = {}
    if (path / "transcripts.jsonl").is_file():
        transcripts = {str(t.get("id")): t for t in read_jsonl(path / "transcripts.jsonl", partial_tail=True)}
    run = Run(path=path, summary=summary, config=config, scores=scores, transcripts=transcripts)
    _attach_pipeline(run)
    _attach_pairs(run)
    run.model_dir = run.model_dir or _folder_spec(config.get("model"), path)
    return run


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
        pipe = read_json(manifest)
        for label, rel in (pipe.get("runs") or {}).items():
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
