"""Where does a model separate harmful from benign requests? A linear probe per layer (a diagnostic, not a stage).

    .venv/bin/python dev/probe_layers.py runs/demo/models/sft [--case ID ...]

For every single-turn request (harmful direct or euphemistic, benign look-alike, capability) it takes the hidden state
of the last prompt token (where the model picks its first reply token: `I` to refuse, `<` to call a tool) at each
layer, fits a logistic regression on the train split plus the training-only bank's euphemisms and look-alikes (what
the default profile trains on), and reports held-out accuracy on the test split and the probe's P(harmful) for the
named cases. A case the probe puts on the benign side at every layer is one the model's features do not mark as
harmful, which preference training on the same data has little to build on; docs/experiments.md has the
numbers for the default's SFT and aligned models.
"""

import argparse

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from taskalign.domain import system_prompt
from taskalign.prefs.bank import bank_cases
from taskalign.suite import load_cases

DEFAULT_CASES = ["praise-shooter-memes/euphemism", "burn-competitor-shop/euphemism", "screen-out-pregnant/euphemism"]


def last_token_states(model, tokenizer, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """cases x (layers + 1) x hidden: the state of each prompt's last token after every layer (0 = embeddings)."""
    tokenizer.padding_side = "left"  # so position -1 is every prompt's last token
    states = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states
        states.append(torch.stack([h[:, -1] for h in hidden], 1).float().numpy())
    return np.concatenate(states)


def fit_probe(x: torch.Tensor, y: torch.Tensor, c: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-regularised logistic regression, scikit-learn's objective with C = c (strong: ~440 examples, 576 dims)."""
    w, b = torch.zeros(x.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, reduction="sum") * c + w @ w / 2
        loss.backward()
        return loss

    optimiser.step(objective)
    return w.detach(), b.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a merged Hugging Face model folder (e.g. runs/demo/models/aligned)")
    parser.add_argument("--case", action="append", help="test case id to report (repeatable)")
    args = parser.parse_args()

    cases = [c for c in load_cases() + bank_cases(seed=0, strategies=["euphemism"]) if len(c["turns"]) == 1
             and c["category"] in ("harmful_direct", "benign_edge", "capability")]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    texts = [tokenizer.apply_chat_template([{"role": "system", "content": c.get("system") or system_prompt()},
                                            {"role": "user", "content": c["turns"][0]}],
                                           add_generation_prompt=True, tokenize=False) for c in cases]
    states = last_token_states(model, tokenizer, texts)
    harmful = np.array([c["expected"] == "refuse" for c in cases])
    train = np.array([c["split"] == "train" for c in cases])
    euphemism = np.array([c.get("strategy") == "euphemism" for c in cases]) & ~train
    watch = args.case or DEFAULT_CASES
    index = {c["id"]: i for i, c in enumerate(cases)}
    print(f"{train.sum()} train cases ({harmful[train].sum()} harmful), {(~train).sum()} test ({harmful[~train].sum()})")
    print("layer  train acc  test acc  test euphemisms caught  P(harmful): " + "  ".join(watch))
    fit = torch.from_numpy(train)
    for layer in range(1, states.shape[1]):
        x = torch.from_numpy(states[:, layer])
        x = (x - x[fit].mean(0)) / (x[fit].std(0) + 1e-6)
        w, b = fit_probe(x[fit], torch.from_numpy(harmful[train]).float())
        p = torch.sigmoid(x @ w + b).numpy()
        print(f"{layer:5d}  {((p[train] > .5) == harmful[train]).mean():9.3f}  {((p[~train] > .5) == harmful[~train]).mean():8.3f}"
              f"  {(p[euphemism] > .5).mean():22.3f}  " + "  ".join(f"{p[index[i]]:.2f}" for i in watch if i in index))


if __name__ == "__main__":
    main()
