"""Greedy decoding that computes a shared prompt prefix once: the `prefix` engine of the Hugging Face backend.

Every red-team prompt starts with the same long system prompt (about 160 of its ~190 tokens). Plain `generate` runs
that prefix again for every row of every batch. Here its keys and values are computed once, copied across the batch,
and only each row's own suffix and reply run through the model; a row leaves the batch as soon as it emits EOS, so
rows with long replies do not make the finished ones keep computing padding.

    from taskalign.models.prefix import greedy_generate
    outputs = greedy_generate(model, [ids_a, ids_b], max_new_tokens=80, eos_id=2, pad_id=2, batch_size=32)

The maths is that of plain greedy generation; only the order of floating-point sums differs (the prefix runs at
batch 1 and without padding), so in bf16 a near-tie may go the other way, as it already does between batch sizes.
"""

import inspect
import time
from dataclasses import dataclass

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

ATTENTION = "taskalign_shared_prefix"


@dataclass
class Output:
    tokens: list[int]          # generated ids, up to and including EOS when the row stopped
    stopped: bool              # emitted EOS (else it ran to max_new_tokens)
    seconds: float             # time of its batch divided by the rows in it
    error: str | None = None


def shared_prefix_length(prompts: list[list[int]]) -> int:
    """Length of the token prefix all `prompts` share, leaving each at least one token of its own: the last prompt
    token must run with the row's suffix, since its logits choose the first reply token."""
    first, length = prompts[0], min(len(p) for p in prompts) - 1
    for prompt in prompts[1:]:
        same = 0
        while same < length and prompt[same] == first[same]:
            same += 1
        length = same
    return max(0, length)


def greedy_generate(model, prompts: list[list[int]], max_new_tokens: int, eos_id: int, pad_id: int,
                    batch_size: int) -> list[Output]:
    """One Output per prompt, in order. Prompts are token ids (chat template applied); every prompt sharing a prefix
    with the others is what makes this fast, but any mix of prompts gives the same greedy replies."""
    _use_shared_prefix_attention(model)
    outputs: list[Output | None] = [None] * len(prompts)
    with torch.inference_mode():
        prefix_len = shared_prefix_length(prompts)
        prefix_kv = _prefix_states(model, prompts[0][:prefix_len])
        # Similar suffix lengths in one batch: less padding to compute.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        for start in range(0, len(order), max(1, batch_size)):
            idx = order[start:start + max(1, batch_size)]
            began = time.perf_counter()
            try:
                rows = _decode_batch(model, prefix_kv, prefix_len, [prompts[i][prefix_len:] for i in idx],
                                     max_new_tokens, eos_id, pad_id)
            except RuntimeError as exc:  # e.g. out of memory: every reply of the batch is an error, not a refusal
                for i in idx:
                    outputs[i] = Output([], False, 0.0, f"generation failed: {str(exc)[:200]}")
                continue
            seconds = (time.perf_counter() - began) / len(idx)
            for i, tokens in zip(idx, rows):
                outputs[i] = Output(tokens, bool(tokens) and tokens[-1] == eos_id, seconds)
    return outputs


def supported(model) -> bool:
    """Whether `model` runs its attention through transformers' AttentionInterface from SDPA, which this needs."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT model wraps the real one
    return bool(getattr(base, "_supports_attention_backend", False)) and \
        base.config._attn_implementation in ("sdpa", ATTENTION)


def _use_shared_prefix_attention(model) -> None:
    """Route the model's attention through `_attention`, which is plain SDPA unless a shared prefix is passed."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if base.config._attn_implementation != ATTENTION:
        AttentionInterface.register(ATTENTION, _attention)
        AttentionMaskInterface.register(ATTENTION, sdpa_mask)  # the same boolean masks as SDPA gets
        base.set_attn_implementation(ATTENTION)


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, shared_prefix=None, **kwargs):
    """Attention over [shared prefix | this row's own keys], reading the prefix once for the whole batch.

    query: (rows, heads, q, dim); key, value: (rows, kv_heads, own, dim), the row's own positions only;
    shared_prefix[layer]: (1, kv_heads, prefix, dim). The prefix precedes every query, so it is never masked; the
    mask's last `own` columns mask the own part. Returns (rows, q, heads, dim) like transformers' attention functions.
    Scores, softmax and sums are fp32 whatever the model's dtype, as SDPA's CPU kernel accumulates them (rounding
    bf16 scores before the softmax would add error that plain generation does not have).
    """
    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    prefix_keys, prefix_values = shared_prefix[module.layer_idx]
    rows, heads, q_len, dim = query.shape
    kv_heads, own, prefix = key.shape[1], key.shape[2], prefix_keys.shape[2]
    group = heads // kv_heads
    scaling = scaling if scaling is not None else dim ** -0.5
    # The query heads that share a key/value head (grouped-query attention) become rows of one matrix.
    q = query.float().reshape(rows, kv_heads, group * q_len, dim)
    # Against the prefix, the batch folds into the rows too: one matmul per key/value head reads the prefix once.
    folded = q.transpose(0, 1).reshape(kv_heads, rows * group * q_len, dim)
    prefix_scores = torch.matmul(folded, prefix_keys[0].transpose(1, 2)) * scaling
    prefix_scores = prefix_scores.reshape(kv_heads, rows, group * q_len, prefix).transpose(0, 1)
    own_scores = torch.matmul(q, key.transpose(2, 3)) * scaling
    own_scores = own_scores.reshape(rows, kv_heads, group, q_len, own)
    if attention_mask is not None:
        visible = attention_mask[:, :, None, :, -own:]  # (rows, 1, 1, q, own) broadcast over heads and groups
        own_scores = own_scores.masked_fill(~visible, float("-inf")) if visible.dtype == torch.bool \
            else own_scores + visible
    elif q_len > 1:  # no mask given: plain causal order within the own part
        causal = torch.ones(q_len, own, dtype=torch.bool, device=query.device).tril(own - q_len)
        own_scores = own_scores.masked_fill(~causal, float("-inf"))
    scores = torch.cat([prefix_scores, own_scores.reshape(rows, kv_heads, group * q_len, own)], dim=-1)
    weights = torch.softmax(scores, dim=-1)
    if prefix == 0:  # a padding query then sees no key at all: zeros, not NaN that would reach the others via values
        weights = weights.nan_to_num(0.0)
    prefix_weights = weights[..., :prefix].transpose(0, 1).reshape(kv_heads, rows * group * q_len, prefix)
    out = torch.matmul(prefix_weights, prefix_values[0]).reshape(kv_heads, rows, group * q_len, dim).transpose(0, 1)
    out = out + torch.matmul(weights[..., prefix:], value)
    return out.reshape(rows, heads, q_len, dim).transpose(1, 2).to(query.dtype).contiguous(), None


def _cache_argument(model) -> str:
    """The forward keyword that takes the KV cache: `cache` in newer transformers 5.x, `past_key_values` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT model passes it through
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def _prefix_states(model, prefix: list[int]) -> list[tuple]:
    """Per-layer fp32 (keys, values) of the prefix at batch 1; zero positions long for an empty prefix."""
    if not prefix:
        layers, kv_heads, head_dim = _kv_shape(model)
        empty = torch.zeros((1, kv_heads, 0, head_dim), device=model.device)
        return [(empty, empty)] * layers
    cache = DynamicCache(config=model.config)
    ids = torch.tensor([prefix], device=model.device)
    model(input_ids=ids, use_cache=True, logits_to_keep=1, **{_cache_argument(model): cache})
    return [(layer.keys.float(), layer.values.float()) for layer in cache.layers]


def _kv_shape(model) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of a decoder."""
    config = model.config.get_text_config(decoder=True)
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_hidden_layers, kv_heads, head_dim


def _decode_batch(model, prefix_kv, prefix_len: int, suffixes: list[list[int]], max_new_tokens: int, eos_id: int,
                  pad_id: int) -> list[list[int]]:
    device, rows, width = model.device, len(suffixes), max(len(s) for s in suffixes)
    # Padding goes between the prefix and each suffix, so every row's last prompt token is in the last column.
    ids = torch.full((rows, width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((rows, prefix_len + width), dtype=torch.long, device=device)
    mask[:, :prefix_len] = 1
    for r, suffix in enumerate(suffixes):
        ids[r, width - len(suffix):] = torch.tensor(suffix, device=device)
        mask[r, prefix_len + width - len(suffix):] = 1
    # Positions count real tokens only, as transformers' generate derives them from the attention mask.
    positions = (mask.cumsum(-1) - 1)[:, prefix_len:].clamp(min=0)
    cache = _OwnCache(model, rows, prefix_len, width + max_new_tokens)
    cache_arg = {_cache_argument(model): cache, "shared_prefix": prefix_kv}
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
                   **cache_arg).logits[:, -1]
    next_position = positions[:, -1] + 1
    live = list(range(rows))  # batch row -> suffix index, for the rows still generating
    tokens: list[list[int]] = [[] for _ in suffixes]
    for step in range(max_new_tokens):
        chosen = logits.float().argmax(-1)  # as generate does; argmax runs about twice as fast on fp32 as on bf16
        keep = []
        for r, token in enumerate(chosen.tolist()):
            tokens[live[r]].append(token)
            if token != eos_id:
                keep.append(r)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(live):  # finished rows leave the batch (and the cache) instead of computing padding
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, chosen, next_position = mask[index], chosen[index], next_position[index]
            live = [live[r] for r in keep]
        mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
        logits = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_position[:, None],
                       use_cache=True, **cache_arg).logits[:, -1]
        next_position = next_position + 1
    return tokens


class _OwnCache(Cache):
    """Each row's own keys and values (after the shared prefix), in room set aside for `capacity` positions.

    The shared prefix is not copied in: `_attention` reads it from the `shared_prefix` argument, once per batch.
    Lengths count the prefix too, so transformers builds masks and positions for the whole sequence. Writing into
    preallocated room also avoids DynamicCache's concatenation of every layer's whole cache at every step."""

    def __init__(self, model, rows: int, prefix_len: int, capacity: int):
        layers, kv_heads, head_dim = _kv_shape(model)
        # fp32 room: `_attention` computes in fp32, and a bf16 key is stored exactly.
        super().__init__(layers=[_OwnLayer(rows, kv_heads, capacity, head_dim, prefix_len, torch.float32, model.device)
                                 for _ in range(layers)])


class _OwnLayer(DynamicLayer):
    def __init__(self, rows, kv_heads, capacity, head_dim, prefix_len, dtype, device):
        super().__init__()
        self.room_keys = torch.empty((rows, kv_heads, capacity, head_dim), dtype=dtype, device=device)
        self.room_values = torch.empty_like(self.room_keys)
        self.prefix_len, self.length = prefix_len, 0
        self.device, self.is_initialized = device, True
        self._views()

    def _views(self):
        self.keys = self.room_keys[:, :, :self.length]
        self.values = self.room_values[:, :, :self.length]

    def update(self, key_states, value_states, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        self.room_keys[:, :, self.length:end] = key_states
        self.room_values[:, :, self.length:end] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.prefix_len + self.length

    def batch_select_indices(self, indices) -> None:
        self.room_keys, self.room_values = self.room_keys[indices], self.room_values[indices]
        self._views()
