"""Scale a trained model's update: θ = θ_ref + alpha (θ_model − θ_ref) (a diagnostic, not a stage).

    .venv/bin/python dev/extrapolate_update.py runs/demo/models/sft runs/demo/models/aligned 1.3 runs/x13/model
    .venv/bin/taskalign redteam --model runs/x13/model --split test --limit 240 --max-new-tokens 80 --out runs/x13/aligned

alpha 1 gives the model back, 0 the reference, above 1 goes further along the direction preference training took
(model extrapolation, "ExPO": Zheng et al. 2024, arXiv:2404.16792). Sweeping alpha and red-teaming each result shows
the order in which cases flip from tool call to refusal along that one direction: if benign look-alikes flip before
a harmful case does, no amount of the same training separates them (docs/experiments.md). Both folders
must be merged models of the same architecture (`taskalign train dpo` writes one); the output is a merged model
folder that `--model` takes as it is.
"""

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", type=Path, help="the model training started from (merged folder)")
    parser.add_argument("model", type=Path, help="the trained model (merged folder)")
    parser.add_argument("alpha", type=float, help="how far along the update: 1 = the model itself")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    for folder in (args.reference, args.model):
        if not (folder / WEIGHTS).is_file():
            raise SystemExit(f"{folder}: no {WEIGHTS}; pass a merged model folder (train dpo writes one).")
    model, reference = load_file(args.model / WEIGHTS), load_file(args.reference / WEIGHTS)
    if model.keys() != reference.keys():
        raise SystemExit(f"{args.model} and {args.reference} have different tensors; they must share an architecture.")
    changed = 0
    for name, tensor in model.items():
        delta = tensor.float() - reference[name].float()
        changed += bool(delta.abs().max() > 0)
        model[name] = (reference[name].float() + args.alpha * delta).to(tensor.dtype)
    # Built beside OUT and renamed into place, so a crash never leaves a half-written model where --model would find it.
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # The trained folder's tokenizer and config; not its adapter, which no longer matches these weights.
    shutil.copytree(args.model, tmp, ignore=shutil.ignore_patterns("adapter", WEIGHTS))
    save_file(model, tmp / WEIGHTS, metadata={"format": "pt"})
    note_path = tmp / "taskalign_model.json"
    note = json.loads(note_path.read_text()) if note_path.is_file() else {}
    note.update(kind="extrapolated", merged=True, adapter=None, base=str(args.reference),
                extrapolated_from=str(args.model), alpha=args.alpha)
    note_path.write_text(json.dumps(note, indent=2) + "\n")
    shutil.rmtree(args.out, ignore_errors=True)
    tmp.rename(args.out)
    print(f"{args.out}: {changed} of {len(model)} tensors moved, alpha {args.alpha}")


if __name__ == "__main__":
    main()
