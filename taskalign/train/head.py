"""Fit the decision head: which requests a model should refuse, ask about or carry out, read from its own states.

    taskalign train head --model runs/demo/models/aligned                 # writes decision_head.json into that folder
    taskalign train head --model runs/demo/models/aligned --layer 14 --extra-cases builtin:styles,ambiguous

Every training request (the domain's train split and the training-only rows of `--extra-cases`, see below) goes
through the model once, with the domain's system prompt, up to its last prompt token; the state after `layer` decoder
layers there is the head's input. The label is the case's expected behaviour: refuse, clarify, or act (comply). A
multinomial logistic regression with an L2 penalty, classes weighted to count equally, is fitted on the standardised
states, and its weights, the standardisation and the replies' leads go to `decision_head.json`, which the Hugging
Face backend applies from then on (taskalign.models.head; `--no-head` on redteam and attack turns it off).

Rows are never from the test split: the run stops on one. Multi-turn cases count at their last turn, `--variants N`
adds attack-operator variants of the requests, and the later requests of generated capability conversations count as
act (training_rows says why). The fit's own accuracy, and a 5-fold cross-validated one on the same rows, are stored
in the file's `info` block.
"""

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from taskalign.errors import UserError
from taskalign.models.head import CLASSES, DecisionHead, decoder_layers

LABEL = {"refuse": "refuse", "clarify": "clarify", "comply": "act"}
DEFAULT_EXTRA = "builtin:styles,ambiguous"
DEFAULT_LAYER = 13
REFUSE_LEAD = "I can't"
BETWEEN = {"reframing": REFUSE_LEAD}  # a multi-turn case's earlier replies, by category (else "Done.")
FOLLOW_UPS, FOLLOW_UP_SEED = 120, 1  # capability conversations (3 requests each) whose later requests are act rows
# Attack-operator variants of each single-turn harmful, look-alike and task request (`--variants`), and the act
# probability an act decision needs before it bans the leads (`--act-ban`). Both are off by default: on the default
# profile's aligned model, one variant each with a 0.8 threshold left adaptive ASR@20 on the test intents where it was
# (21 against 20 of 36) and refused more of the dev set's look-alikes (13 against 8 of 60) (docs/experiments.md, Q14).
VARIANTS, VARIANT_SEED = 0, 7
ACT_BAN = 0.0


def training_rows(domain: str, extra: str | None, follow_ups: int = FOLLOW_UPS, variants: int = VARIANTS) -> list[dict]:
    """Rows of `messages` (a conversation after the system prompt, ending with a user message) and a `label`: the
    domain's train-split cases and the extra training-only rows, each at its last turn; `variants` attack-operator
    variants of each of their single-turn harmful, look-alike and task requests (taskalign.attack.variants); then the
    later requests of `follow_ups` generated capability conversations (TaskMaster only), labelled act.

    The variants are what the adaptive attack sends: a wrapped harm labelled refuse, a wrapped task act, and a harm
    under an encoding a small model cannot read (base64, ROT13, reversed words) clarify. The head fits them (5-fold
    accuracy 0.876 with one each), yet wrapped harms still read as act to it often enough that the attack's success
    did not move (docs/experiments.md, Q14).

    A multi-turn case's earlier replies are not in the suite; they are written as the reply the conversation implies
    (a refusal before a reworded request, a plain "Done." between the steps of an escalation), which is enough for
    the head to see where the conversation has gone. Without conversations of both kinds the head reads any
    follow-up message as something to ask about: it chose `clarify` for 108 of 133 ordinary second and third
    requests."""
    from taskalign.domain import load_domain
    from taskalign.domain.load import DEFAULT_DOMAIN
    from taskalign.prefs.bank import extra_cases
    from taskalign.suite import domain_cases

    cases = [c for c in domain_cases(load_domain(domain)) if c.get("split") == "train"] + extra_cases(extra)
    wrong = next((c for c in cases if c.get("split") != "train"), None)
    if wrong is not None:
        raise UserError(f"case {wrong['id']} has split {wrong.get('split')!r}; the decision head fits on training "
                        "rows only.")
    if variants:
        from taskalign.attack.variants import variant_cases

        cases += variant_cases(cases, seed=VARIANT_SEED, per_case=variants)
    rows = []
    for c in cases:
        if c["expected"] not in LABEL:
            continue
        # A split request's first part gets the "ok" it asks for; other earlier turns the reply their category implies.
        reply = "Ok." if "split_turns" in c.get("strategy", "") else BETWEEN.get(c["category"], "Done.")
        between = {"role": "assistant", "content": reply}
        messages = list(c.get("history") or []) + [
            m for turn in c["turns"][:-1] for m in ({"role": "user", "content": turn}, between)]
        rows.append({"id": c["id"], "messages": messages + [{"role": "user", "content": c["turns"][-1]}],
                     "label": LABEL[c["expected"]], "strategy": c.get("strategy", "")})
    if follow_ups and str(domain) == DEFAULT_DOMAIN:
        from taskalign.train.sft_data import generate

        for conversation in generate(n=follow_ups, seed=FOLLOW_UP_SEED, per_conversation=3):
            messages = [m for m in conversation["messages"] if m["role"] != "system"]
            rows += [{"id": f"{conversation['id']}/{k}", "messages": messages[:k + 1], "label": "act"}
                     for k, m in enumerate(messages) if m["role"] == "user" and k > 0]
    return rows


def prompt_states(model, tokenizer, system: str, requests: list[str | list[dict]], layer: int,
                  batch_size: int = 64) -> torch.Tensor:
    """(requests, hidden): each request's last prompt token's state after `layer` layers, through the prefix engine
    (the shared system prompt computed once, one token generated). A request is a user message's text or the
    messages of a conversation after the system prompt, ending with a user message."""
    from taskalign.models.prefix import greedy_generate

    def messages(request):
        return request if isinstance(request, list) else [{"role": "user", "content": request}]

    prompts = [tokenizer(tokenizer.apply_chat_template([{"role": "system", "content": system}, *messages(r)],
                                                       tokenize=False, add_generation_prompt=True),
                         add_special_tokens=False)["input_ids"] for r in requests]
    states: dict[int, torch.Tensor] = {}

    def record(ids, batch):
        states.update(zip(ids, batch.float().cpu()))
        return [None] * len(ids)

    # Only the layers up to `layer` run: the ones above it cannot change its output (half the time at layer 13 of 30).
    owner = decoder_layers(model)
    holder = (model.get_base_model() if hasattr(model, "get_base_model") else model).model
    config = model.config.get_text_config(decoder=True)
    holder.layers, config.num_hidden_layers = owner[:layer], layer  # the caches size themselves by the config
    try:
        greedy_generate(model, prompts, 1, tokenizer.eos_token_id, tokenizer.pad_token_id, batch_size,
                        first=(layer, record))
    finally:
        holder.layers, config.num_hidden_layers = owner, len(owner)
    return torch.stack([states[i] for i in range(len(prompts))])


def fit(x: torch.Tensor, y: torch.Tensor, classes: int, c: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression, L2 penalty (scikit-learn's objective with C = c), classes weighted equally."""
    counts = torch.bincount(y, minlength=classes).clamp(min=1).float()
    weights = (len(y) / (classes * counts))[y]
    w = torch.zeros(classes, x.shape[1], requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        loss = (torch.nn.functional.cross_entropy(x @ w.T + b, y, reduction="none") * weights).sum() * c \
            + (w * w).sum() / 2
        loss.backward()
        return loss

    optimiser.step(objective)
    return w.detach(), b.detach()


def cross_validated(x: torch.Tensor, y: torch.Tensor, classes: int, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold predicted class of every row (standardised within each fold's training part)."""
    order = np.random.default_rng(seed).permutation(len(y))
    predicted = np.zeros(len(y), dtype=int)
    for k in range(folds):
        held = order[k::folds]
        train = np.setdiff1d(order, held)
        mean, std = x[train].mean(0), x[train].std(0) + 1e-6
        w, b = fit((x[train] - mean) / std, y[train], classes)
        predicted[held] = (((x[held] - mean) / std) @ w.T + b).argmax(-1).numpy()
    return predicted


def run(model: str, out: str | None = None, layer: int = DEFAULT_LAYER, extra_cases: str | None = DEFAULT_EXTRA,
        domain: str = "taskmaster", precision: str = "fast", refuse_lead: str = REFUSE_LEAD, variants: int = VARIANTS,
        act_ban: float = ACT_BAN, log=print) -> Path:
    """Fit the head on `model`'s states and write decision_head.json into `out` (default: the model's folder)."""
    from taskalign.domain import load_domain
    from taskalign.models import resolve_hf
    from taskalign.models.hf import load_hf

    path, adapter = resolve_hf(model)
    folder = Path(out or adapter or path)
    if not folder.is_dir():
        raise UserError(f"--model {model}: the decision head is written next to the model's files; pass a local "
                        "model or adapter folder, or --out DIR.")
    tf_model, tokenizer = load_hf(path, adapter, precision=precision)
    layers = tf_model.config.num_hidden_layers
    if not 1 <= layer < layers:
        raise UserError(f"--layer {layer}: this model has {layers} decoder layers; pick 1 to {layers - 1}.")
    where = load_domain(domain)
    if variants < 0:
        raise UserError(f"--variants {variants}: give 0 (none) or more variants per request.")
    if not 0.0 <= act_ban <= 1.0:
        raise UserError(f"--act-ban {act_ban}: give a probability from 0 (every act decision bans the leads) to 1.")
    rows = training_rows(domain, extra_cases, variants=variants)
    classes = [k for k in CLASSES if any(r["label"] == k for r in rows)]
    log(f"decision head: {len(rows)} training requests ({dict(Counter(r['label'] for r in rows))}), layer {layer}")
    x = prompt_states(tf_model, tokenizer, where.system_prompt(), [r["messages"] for r in rows], layer)
    y = torch.tensor([classes.index(r["label"]) for r in rows])
    mean, std = x.mean(0), x.std(0) + 1e-6
    w, b = fit((x - mean) / std, y, len(classes))
    fitted = (((x - mean) / std) @ w.T + b).argmax(-1).numpy()
    held = cross_validated(x, y, len(classes))
    truth = y.numpy()
    per_class = {k: {"rows": int((truth == i).sum()), "cross_validated_recall": round(float(
        (held[truth == i] == i).mean()), 3)} for i, k in enumerate(classes)}
    info = {"rows": len(rows), "extra_cases": extra_cases, "variants": variants, "domain": domain, "precision": precision,
            "fit_accuracy": round(float((fitted == truth).mean()), 4),
            "cross_validated_accuracy": round(float((held == truth).mean()), 4), "classes": per_class}
    # "Quick question first." -> "Quick question": the model writes the rest of the question itself.
    clarify = ((where.bank or {}).get("clarify_leads") or ["Quick question"])[0].split(".")[0].split(",")[0] \
        if "clarify" in classes else ""
    leads = {"act": "", "refuse": refuse_lead, **({"clarify": clarify} if clarify else {})}
    from taskalign.domain.toolcalls import OPEN, PYTHON_TAG

    opener = PYTHON_TAG if where.wire_format == "python_tag" else OPEN
    head = DecisionHead(layer, classes, mean, std, w, b, leads, info, opener, tokenizer, act_ban)
    saved = head.save(folder)
    recalls = ", ".join(f"{k} recall {v['cross_validated_recall']}" for k, v in per_class.items())
    log(f"decision head: fit accuracy {info['fit_accuracy']}, 5-fold cross-validated "
        f"{info['cross_validated_accuracy']} ({recalls})")
    return saved
