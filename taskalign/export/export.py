"""Export a model as a folder ready for the Hugging Face Hub: merged safetensors weights, tokenizer with its chat
template, the TaskMaster system prompt, and a model card built from its red-team runs; optionally its preference
pairs as a dataset folder. Nothing is uploaded.

    taskalign export runs/pipeline --out export/taskmaster --prefs          # a pipeline's final aligned model
    taskalign export models/aligned --runs runs/sft --runs runs/aligned --out export/taskmaster
    hf upload USER/taskmaster export/taskmaster --exclude "dataset/*"       # the next step, by hand
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from taskalign.errors import UserError
from taskalign.export import card, source
from taskalign.files import read_json, write_jsonl_atomic, write_text_atomic


@dataclass(frozen=True)
class ExportConfig:
    source: str                         # model folder, adapter folder, run folder, pipeline folder, embedded or hub id
    out: str
    runs: tuple[str, ...] = ()          # red-team run folders for the card (a bare model only)
    prefs: bool = False                 # also write the preference pairs as a dataset folder
    prefs_file: str | None = None       # the pairs; default: the pipeline's, or the file `train dpo` read
    prefs_out: str | None = None        # default: OUT/dataset
    license: str | None = None          # default: the base model's where known, else "other"
    base_model: str | None = None       # the base's Hub id, when taskalign cannot tell it
    repo: str | None = None             # USER/NAME the folder will be uploaded to (names the model and its dataset)
    force: bool = False


@dataclass(frozen=True)
class Exported:
    out: Path
    dataset: Path | None
    info: dict


def run(config: ExportConfig) -> Exported:
    """Check every input, then write OUT (and the dataset folder) through temporary siblings renamed at the end."""
    if config.repo is not None and (config.repo.count("/") != 1 or not all(config.repo.split("/"))):
        raise UserError(f"--repo {config.repo!r} must be USER/NAME, the Hub repository you will upload to.")
    src = source.resolve(config.source, list(config.runs), config.prefs_file)
    out = Path(config.out)
    dataset = Path(config.prefs_out) if config.prefs_out else out / "dataset"
    if config.prefs and not src.prefs:
        raise UserError(f"--prefs: no preference pairs are known for {config.source}; pass --prefs-file FILE.")
    _check_out(out, src, config.force)
    if config.prefs and config.prefs_out:
        _check_out(dataset, src, config.force)
    info = _info(src, config, out)
    model, tokenizer = _load(src.spec)
    _write_atomically(out, config.force, lambda tmp: _write_model(tmp, model, tokenizer, info, src,
                                                                  config.prefs and not config.prefs_out))
    if config.prefs and config.prefs_out:
        _write_atomically(dataset, config.force, lambda tmp: _write_dataset(tmp, info, src))
    return Exported(out, dataset if config.prefs else None, info)


def _check_out(out: Path, src: source.Source, force: bool) -> None:
    """Refuse to overwrite a non-empty folder without --force, and never let --force delete the input itself."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder path.")
    inputs = [Path(p).resolve() for p in (src.spec, src.pipeline, *src.runs.values(), *(f for _, f in src.prefs))
              if p and Path(p).exists()]
    target = out.resolve()
    if any(target == p or target in p.parents for p in inputs):
        raise UserError(f"--out {out} holds the model, runs or pairs being exported; pass a new folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"--out {out} exists and is not empty; pass a new folder, or --force to replace it.")


def _info(src: source.Source, config: ExportConfig, out: Path) -> dict:
    """Everything the cards say, read before the model loads so a bad run or pairs file fails fast."""
    from taskalign.prefs import stats

    chain = source.lineage(src.spec)
    base = source.base_model(chain, config.base_model)
    licence, known = source.base_license(base, config.license)
    name = config.repo.split("/")[1] if config.repo else out.resolve().name
    prefs = [(c, stats(f)) for c, f in src.prefs]
    dataset_id = None
    if config.prefs:
        dataset_id = f"{config.repo}-prefs" if config.repo else f"{name}-prefs"
    return {"name": name, "base_model": base, "license": licence, "license_known": known, "chain": chain,
            "runs": {label: read_json(run / "summary.json", dict) for label, run in src.runs.items()},
            "own_run": src.own_run, "prefs": prefs, "dataset_id": dataset_id, "settings": src.settings,
            "pipeline": src.pipeline is not None, "label": src.label, "repo": config.repo}


def _load(spec: str):
    """The model with any adapter merged in (train.common.load_for_training, as `train merge` does)."""
    from taskalign.train.common import load_for_training

    try:
        model, tokenizer = load_for_training(spec)
    except (ValueError, KeyError) as exc:  # a config.json transformers does not know
        raise UserError(f"{spec} is not a model transformers can load ({str(exc).splitlines()[0][:160]}); pass a "
                        "model folder, an adapter folder or a pipeline folder.") from None
    if not tokenizer.chat_template:
        raise UserError(f"{spec}: the tokenizer has no chat template, so the export could not be chatted with; add "
                        "one (tokenizer.chat_template) and save the model again.")
    return model, tokenizer


def _write_atomically(final: Path, force: bool, write) -> None:
    """write(tmp) into a hidden sibling folder, then swap it in: a crash leaves no half-written folder under `final`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        write(tmp)
        if final.exists():
            if any(final.iterdir()) and not force:  # filled while we were writing
                raise UserError(f"--out {final} was filled while exporting; pass --force to replace it.")
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final.chmod(0o755)  # mkdtemp makes owner-only folders; an export is meant to be shared


def _write_model(tmp: Path, model, tokenizer, info: dict, src: source.Source, with_dataset: bool) -> None:
    from taskalign.domain import system_prompt
    from taskalign.train.common import write_json

    model.save_pretrained(tmp)  # safetensors
    tokenizer.save_pretrained(tmp)  # with its chat template (chat_template.jinja)
    write_text_atomic(tmp / "system_prompt.txt", system_prompt() + "\n")
    # No local paths: the folder is meant for the Hub.
    write_json(tmp / "taskalign_model.json", {"base": info["base_model"], "kind": "export", "merged": True,
                                              "adapter": None, "exported": info["label"],
                                              "lineage": [{k: m.get(k) for k in ("name", "kind", "steps")}
                                                          for m in info["chain"]]})
    write_text_atomic(tmp / "README.md", card.model_card(info))
    for path in filter(Path.is_file, tmp.iterdir()):
        path.chmod(0o644)  # the weights are written owner-only; an export is meant to be shared
    if with_dataset:
        _write_dataset(tmp / "dataset", info, src)


def _write_dataset(folder: Path, info: dict, src: source.Source) -> None:
    """data/train.jsonl (the default config) and data/<config>/train.jsonl per round, plus the dataset card."""
    from taskalign.files import read_jsonl

    files = []
    for config, path in src.prefs:
        rel = "data/train.jsonl" if config == "default" else f"data/{config}/train.jsonl"
        write_jsonl_atomic(folder / rel, read_jsonl(path))
        files.append((config, rel))
    write_text_atomic(folder / "README.md", card.dataset_card(info, files))


def upload_commands(result: Exported, repo: str | None) -> list[str]:
    """The commands that publish the export (taskalign itself uploads nothing)."""
    target = repo or "USER/" + result.info["name"]
    inside = result.dataset is not None and result.out in result.dataset.parents
    model = f'hf upload {target} {result.out}' + (f' --exclude "{result.dataset.name}/*"' if inside else "")
    lines = [model]
    if result.dataset is not None:
        lines.append(f"hf upload {target}-prefs {result.dataset} --repo-type dataset")
    return lines
