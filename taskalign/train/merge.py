"""Merge a PEFT adapter into its base model and save a full model folder (weights + tokenizer).

    taskalign train merge --model embedded --adapter models/aligned/adapter --out models/aligned-merged

The result loads with `--model OUT` anywhere a Hugging Face folder is accepted (vLLM, transformers, taskalign).
"""

from pathlib import Path

from taskalign.errors import UserError
from taskalign.train import common


def run(model: str, adapter: str | None, out: str | Path) -> Path:
    """Merge `adapter` (or the adapter `model` itself names) into its base; return the output folder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise UserError(f"--out {out} exists and is not a model folder; pass a new or empty folder.")
    if adapter and not (Path(adapter) / "adapter_config.json").is_file():
        raise UserError(f"--adapter {adapter}: no adapter_config.json there; pass a folder saved by PEFT.")
    merged, tokenizer = common.load_for_training(model, adapter)  # load_for_training merges the adapter in
    tmp = out.with_name(out.name + ".partial")
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    common.write_json(tmp / "taskalign_model.json", {"base": common.base_record(model), "kind": "merged",
                                                     "merged": True, "adapter": None,
                                                     "merged_from": str(Path(adapter).resolve()) if adapter else None})
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)  # a crash mid-save leaves no half-written model folder under the final name
    return out
