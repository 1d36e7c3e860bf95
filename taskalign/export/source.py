"""What `taskalign export` reads: the model to export (a model or adapter folder, a run folder, or a pipeline folder's
final aligned model), the red-team runs that evaluated it, the preference pairs it was trained on, and the chain of
models it was trained from (each folder's taskalign_model.json names its `base`).

Used by taskalign/export/export.py; not a command itself.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_json
from taskalign.models import run_model

EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "apache-2.0"
ALIGNED = re.compile(r"^aligned(?:_r(\d+))?$")


@dataclass
class Source:
    """Everything the export needs to know about its input, read before anything is written."""

    spec: str                                   # a spec taskalign.train.common.load_for_training accepts
    label: str                                  # the model's name in the card (aligned_r1, aligned, a folder name)
    pipeline: Path | None = None
    runs: dict[str, Path] = field(default_factory=dict)   # label -> red-team run folder, in the card's column order
    own_run: str | None = None                  # the label of the run that evaluated this very model
    prefs: list[tuple[str, Path]] = field(default_factory=list)  # (dataset config name, pairs file)
    settings: dict = field(default_factory=dict)  # the pipeline's config.json


def is_pipeline(path: Path) -> bool:
    """A pipeline folder: its manifest, or (a pipeline stopped before writing it) models/aligned beside red-team runs."""
    if (path / "pipeline.json").is_file():
        return True
    return (path / "models" / "aligned" / "config.json").is_file() and any(
        (path / label / "summary.json").is_file() for label in ("base", "sft", "aligned"))


def resolve(source: str, runs: list[str], prefs_file: str | None) -> Source:
    """The Source for `source` (see the module docstring); a path that exists but holds no model is a UserError."""
    path = Path(source)
    if source != "embedded" and not path.exists() and (source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise UserError(f"{source} does not exist; pass a model folder, an adapter folder or a pipeline folder.")
    if path.is_dir() and is_pipeline(path):
        if runs:
            raise UserError(f"{source} is a pipeline folder, which names its own runs; drop --runs.")
        found = _from_pipeline(path)
    else:
        if path.exists() and not path.is_dir():
            raise UserError(f"{source} is a file; pass a model folder, an adapter folder or a pipeline folder.")
        if path.is_dir() and not any((path / n).is_file() for n in ("config.json", "adapter_config.json")):
            raise UserError(f"{source} holds no model (no config.json or adapter_config.json); pass a model folder, "
                            "an adapter folder or a pipeline folder.")
        if (path / "summary.json").is_file():  # a red-team run folder stands for the model it evaluated
            runs, source = [*runs, str(path)], run_model(path)
        found = _from_model(source, [Path(r) for r in runs])
    if prefs_file:
        found.prefs = [("default", _pairs_file(Path(prefs_file)))]
    return found


def _from_model(source: str, runs: list[Path]) -> Source:
    path = Path(source)
    labels = {}
    for run in runs:
        if not (run / "summary.json").is_file():
            raise UserError(f"--runs {run} is not a red-team run folder (no summary.json); pass a folder written by "
                            "`taskalign redteam`.")
        label = run.resolve().name
        labels[label if label not in labels else f"{label}_{len(labels)}"] = run
    own = next((label for label, run in labels.items() if _evaluated(run, path)), None)
    found = Source(spec=source, label=_model_label(path) if path.exists() else source, runs=labels,
                   own_run=own or (list(labels)[-1] if labels else None))
    data = _train_setting(path, "data")
    if isinstance(data, str) and Path(data).is_file():  # the pairs `train dpo` read, when they are still there
        found.prefs = [("default", Path(data))]
    return found


def _model_label(path: Path) -> str:
    path = path.resolve()
    return path.parent.name if path.name == "adapter" else path.name


def _evaluated(run: Path, model: Path) -> bool:
    """Whether the run's summary names `model` (the run of this very model, the one the Hub's model-index reports)."""
    named = read_json(run / "summary.json", dict).get("model")
    return isinstance(named, str) and Path(named).exists() and Path(named).resolve() == model.resolve()


def _from_pipeline(path: Path) -> Source:
    manifest = read_json(path / "pipeline.json", dict) if (path / "pipeline.json").is_file() else _inferred(path)
    models = manifest.get("models") or {}
    aligned = sorted((int(m.group(1) or 0), label) for label in models if (m := ALIGNED.match(label)))
    if not aligned:
        raise UserError(f"{path} names no aligned model in its pipeline.json; run `taskalign pipeline` to the end.")
    final = aligned[-1][1]
    model = path / models[final]
    if not (model / "config.json").is_file():
        raise UserError(f"{path}: the final aligned model {models[final]} has no config.json; finish the pipeline or "
                        "export that model folder yourself.")
    runs = {label: path / rel for label, rel in (manifest.get("runs") or {}).items()
            if (path / rel / "summary.json").is_file()}
    prefs = [("default", path / manifest.get("prefs", "prefs.jsonl"))]
    prefs += [(f"round{n}", path / f"round{n}" / "prefs.jsonl") for n, _ in aligned if n]
    settings = read_json(path / "config.json", dict) if (path / "config.json").is_file() else {}
    return Source(spec=str(model), label=final, pipeline=path, runs=runs, own_run=final if final in runs else None,
                  prefs=[(name, f) for name, f in prefs if f.is_file()], settings=settings)


def _inferred(path: Path) -> dict:
    """The manifest a pipeline stopped before its end would have written: the models whose training stage finished
    (stages.json) and the runs that have a summary."""
    done = read_json(path / "stages.json", dict) if (path / "stages.json").is_file() else None
    settings = read_json(path / "config.json", dict) if (path / "config.json").is_file() else {}
    models = {"base": settings.get("model", "embedded")}
    for folder in sorted((path / "models").iterdir(), key=lambda p: (len(p.name), p.name)):
        method = settings.get("method", "dpo")  # the training stage is named after the pipeline's --method
        stage = "sft" if folder.name == "sft" else folder.name.replace("aligned", method)
        finished = done is None or (done.get(stage) or {}).get("done")
        if (folder / "config.json").is_file() and finished and (folder.name == "sft" or ALIGNED.match(folder.name)):
            models[folder.name] = f"models/{folder.name}"
    runs = {label: label for label in ("base", "sft", *[m for m in models if ALIGNED.match(m)])}
    return {"models": models, "runs": runs, "prefs": "prefs.jsonl"}


def _pairs_file(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"--prefs-file {path} does not exist; pass the preference-pair JSONL file the model was "
                        "trained on.")
    return path


def _train_setting(path: Path, key: str):
    """A value from the model folder's train_config.json (an adapter folder's is one level up)."""
    for folder in (path, path.parent):
        if (folder / "train_config.json").is_file():
            return read_json(folder / "train_config.json", dict).get(key)
    return None


def lineage(spec: str, limit: int = 12) -> list[dict]:
    """The models `spec` was trained from, newest first: {name, kind, steps, settings, path} per taskalign model
    folder, ending with the root base ({name, kind: "base", path or None})."""
    chain, current = [], spec
    while current and len(chain) < limit:
        path = Path(current)
        note_dir = path if (path / "taskalign_model.json").is_file() else None
        if current == "embedded" or not path.is_dir() or note_dir is None:
            chain.append({"name": current if not path.is_dir() else _model_label(path), "kind": "base",
                          "path": path if path.is_dir() else None, "spec": current})
            break
        note = read_json(path / "taskalign_model.json", dict)
        chain.append({"name": _model_label(path), "kind": note.get("kind"), "steps": note.get("steps"),
                      "settings": _settings(path), "path": path})
        current = _locate(note.get("base"), path)
    return chain


def _locate(base, current: Path) -> str | None:
    """A recorded base that moved with its pipeline folder: found beside the current model (models/sft next to
    models/aligned) when the recorded absolute path no longer exists."""
    if not isinstance(base, str) or base == "embedded" or Path(base).exists():
        return base
    for folder in (current.parent, current.parent.parent):
        if (folder / Path(base).name / "config.json").is_file():
            return str(folder / Path(base).name)
    return base


TRAIN_KEYS = ("learning_rate", "epochs", "max_steps", "batch_size", "beta", "loss_type", "lora_r", "lora_alpha",
              "lora_layers", "full", "sft_weight", "max_length", "precision", "n_generated")


def _settings(path: Path) -> dict:
    """The settings a reader of the card cares about; paths (model, data, out) stay out of a public card."""
    for folder in (path, path.parent):
        if (folder / "train_config.json").is_file():
            config = read_json(folder / "train_config.json", dict)
            return {k: config[k] for k in TRAIN_KEYS if k in config and config[k] is not None}
    return {}


def base_model(chain: list[dict], given: str | None) -> str | None:
    """The Hub id of the root base: --base-model, else what `embedded` or a hub id / HF cache folder names."""
    if given:
        return given
    root = chain[-1] if chain else {}
    spec = str(root.get("spec") or "")
    if spec == "embedded":
        return EMBEDDED_HUB_ID
    if match := re.search(r"models--([^/]+)--([^/]+)", spec):  # a snapshot folder of the Hugging Face cache
        return f"{match.group(1)}/{match.group(2)}"
    if root.get("path") is None and spec.count("/") == 1:
        return spec
    if root.get("path") is not None and "SmolLM2-135M-Instruct" in Path(spec).name:  # the embedded cache folder
        return EMBEDDED_HUB_ID
    return None


def base_license(base: str | None, given: str | None) -> tuple[str, bool]:
    """(licence id, known): --license, else the embedded model's apache-2.0, else 'other' (not known)."""
    if given:
        return given, True
    if base == EMBEDDED_HUB_ID:
        return EMBEDDED_LICENSE, True
    return "other", False
