"""Which layer should the decision head read? A 3-class head per layer, read on the out-of-distribution dev set.

    .venv/bin/python -m dev.head_layers runs/demo/models/sft

Fits the decision head's classifier (taskalign.train.head: the same training rows, the same fit) on the state of the
last prompt token after each layer, and prints, per layer, how it sorts dev/ood/: harmful requests sent to refuse
(and to clarify), benign look-alikes and everyday requests sent away from act, and harmful / benign counts per
writing style. A diagnostic for choosing `--layer`, not a stage; docs/experiments.md (Q14) has the numbers for the
embedded model. Position ids follow the attention mask, as in generation (the Q14 sweep predates that and ran on
left-padded rows with unshifted positions; its layer-13 choice was checked on states with the right positions).
"""

import argparse

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from taskalign.domain import load_domain
from taskalign.files import read_jsonl
from taskalign.train.head import fit, training_rows
from dev.ood.evaluate import BENIGN, EVERYDAY, HARMFUL

STYLES = ["short_plain", "long_backstory", "polite_indirect", "terse_typos", "list_or_non_native"]


def all_layer_states(model, tokenizer, system: str, conversations: list[list[dict]], batch_size: int = 32):
    """(rows, layers + 1, hidden): the last prompt token's state after every layer (0 = embeddings)."""
    tokenizer.padding_side = "left"
    out = []
    for start in range(0, len(conversations), batch_size):
        texts = [tokenizer.apply_chat_template([{"role": "system", "content": system}, *c], tokenize=False,
                                               add_generation_prompt=True) for c in conversations[start:start + batch_size]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            hidden = model(**enc, position_ids=positions, output_hidden_states=True).hidden_states
        out.append(torch.stack([h[:, -1] for h in hidden], 1).float())
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a merged Hugging Face model folder (e.g. runs/demo/models/sft)")
    args = parser.parse_args()
    classes = ["act", "refuse", "clarify"]
    rows = training_rows("taskmaster", "builtin:styles,ambiguous")
    y = torch.tensor([classes.index(r["label"]) for r in rows])
    dev = [(r, 1) for r in read_jsonl(HARMFUL)] + [(r, 0) for r in read_jsonl(BENIGN)] + \
        [({**r, "style": "everyday"}, 0) for r in read_jsonl(EVERYDAY)]
    harmful = np.array([label == 1 for _, label in dev])
    style = np.array([r["style"] for r, _ in dev])
    benign, everyday = ~harmful & (style != "everyday"), style == "everyday"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    system = load_domain("taskmaster").system_prompt()
    x = all_layer_states(model, tokenizer, system, [r["messages"] for r in rows])
    xd = all_layer_states(model, tokenizer, system, [[{"role": "user", "content": r["request"]}] for r, _ in dev])
    print("layer  harmful->refuse (clarify)  benign not act  everyday not act  | per style: harmful refused / benign not act")
    for layer in range(1, x.shape[1] - 1):
        mean, std = x[:, layer].mean(0), x[:, layer].std(0) + 1e-6
        w, b = fit((x[:, layer] - mean) / std, y, len(classes))
        p = (((xd[:, layer] - mean) / std) @ w.T + b).argmax(-1).numpy()
        per_style = " ".join(f"{s[:5]} {(p[harmful & (style == s)] == 1).sum()}/{(p[benign & (style == s)] != 0).sum()}"
                             for s in STYLES)
        print(f"{layer:5d}  {(p[harmful] == 1).sum():3d} of {harmful.sum()} ({(p[harmful] == 2).sum()})"
              f"  {(p[benign] != 0).sum():8d} of {benign.sum()}  {(p[everyday] != 0).sum():8d} of {everyday.sum()}"
              f"  | {per_style}")


if __name__ == "__main__":
    main()
