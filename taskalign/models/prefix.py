"""Greedy decoding that computes a shared prompt prefix once and keeps its batch full: the `prefix` engine of the
Hugging Face backend.

Every red-team prompt starts with the same long system prompt (about 160 of its ~190 tokens). Plain `generate` runs
that prefix again for every row of every batch. Here its keys and values are computed once, and only each row's own
suffix and reply run through the model, attending to the one copy of the prefix. Decoding is continuous: a row that
emits EOS stops counting at once, and when a quarter of the batch has finished, the finished rows are dropped and
the next waiting prompts are prefilled and merged into the running batch, so decoding steps keep `batch_size` rows
busy instead of running out a batch with a few long replies. Asked to (`keep`), it also returns each row's own keys
and values; given back with the conversation's next turn (`earlier`), which repeats that prompt and reply, only the
new message's tokens are computed. Given `follow`, a conversation's next turn joins the running batch as soon as its
own reply is done, so the turns of multi-turn conversations overlap with everyone else's replies instead of waiting
for the slowest reply of each turn. Rows are kept longest first, and in a decoding step the shorter rows attend over
their own columns only, not over the padding the longest conversation puts before them.

    from taskalign.models.prefix import greedy_generate
    outputs = greedy_generate(model, [ids_a, ids_b], max_new_tokens=80, eos_id=2, pad_id=2, batch_size=32)

The maths is that of plain greedy generation; only the order of floating-point sums differs (the prefix runs at
batch 1, rows meet other rows and other padding), so in bf16 a near-tie may go the other way, as it already does
between batch sizes. In fp32 the replies are plain generation's (tests/models/test_prefix.py).
"""

import inspect
import time
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

from taskalign.models.head import Capture, apply_step

ATTENTION = "taskalign_shared_prefix"


@dataclass
class Kept:
    """What a finished row leaves for a later prompt that continues its conversation (the next turn repeats this
    prompt and reply, then adds a message): the tokens that ran through the model (the prompt, then the reply but its
    last token) and, per layer, the keys and values of those from position `start` on, (kv_heads, positions, dim)."""
    tokens: list[int]
    start: int
    states: list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Output:
    tokens: list[int]          # generated ids, up to and including EOS when the row stopped
    stopped: bool              # emitted EOS (else it ran to max_new_tokens)
    seconds: float             # its share of the time of the model calls it took part in
    error: str | None = None
    kept: Kept | None = None   # with keep=True


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
                    batch_size: int, earlier: list[Kept | None] | None = None, keep: bool = False,
                    follow: Callable[[int, Output], list[int] | None] | None = None,
                    priority: list[int] | None = None,
                    continues: Callable[[int], bool] | None = None,
                    first: tuple[int, Callable[[list[int], torch.Tensor], list]] | None = None) -> list[Output]:
    """One Output per prompt, in order. Prompts are token ids (chat template applied); every prompt sharing a prefix
    with the others is what makes this fast, but any mix of prompts gives the same greedy replies. Pass all prompts
    of a call at once: at most `batch_size` rows decode together, and waiting prompts fill the places of finished ones.
    keep: each Output also holds its row's keys and values (Kept); passed back in `earlier` (one per prompt, or None)
    with the next turn's prompts, the tokens a prompt shares with its Kept are not computed again.
    follow(i, output): called as soon as prompt i's reply is finished; it may return the conversation's next prompt
    (prompt i, its reply, a new message), which gets the next free index (the prompts so far plus the ones follow
    returned before it) and joins the running batch with row i's keys and values, so a multi-turn conversation moves
    on without waiting for the other rows' replies. Its Output comes in the returned list at that index.
    priority: one number per prompt, higher joins first (e.g. the turns a conversation has to go: its chain of replies
    then starts at once, and the single replies fill the batch around it instead of after it).
    continues(i): with `follow` and without `keep`, whether prompt i's conversation has a next turn; a row's keys and
    values are copied out for its follow-up only then (copying every finished row's took 6 % of a batch of
    single-turn requests). Default: always.
    first: (layer, plans) steers how replies begin (the decision head, taskalign.models.head): at each prefill,
    plans(prompt indices, their last prompt token's states after `layer` layers) gives one Plan or None per prompt,
    whose forced tokens open its reply and whose banned tokens cannot be its first."""
    _use_shared_prefix_attention(model)
    prompts, earlier = list(prompts), list(earlier or [None] * len(prompts))
    outputs: list[Output | None] = [None] * len(prompts)
    later: list[int] = []  # follow-up prompts that do not start with this call's shared prefix
    with torch.inference_mode():
        prefix_len = shared_prefix_length(prompts)
        prefix = prompts[0][:prefix_len]
        if keep or (follow is not None and continues is None):
            wanted = lambda i: True  # noqa: E731
        else:
            wanted = continues if follow is not None else None
        decoder = _Decoder(model, _prefix_states(model, prefix), prefix_len, max_new_tokens, eos_id, pad_id, prompts,
                           earlier, wanted, first)
        # Highest priority, then fewest tokens to prefill first (pop() takes from the end): rows that join together
        # have similar suffix lengths, so their prefill computes little padding. Follow-ups go to the end: the next
        # to join.
        order = priority or [0] * len(prompts)
        waiting = sorted(range(len(prompts)), key=lambda i: (order[i], decoder.reusable(i) - len(prompts[i])))
        size = max(1, batch_size)
        while waiting or decoder.ids:
            joining, running, began = [], decoder.live_ids(), time.perf_counter()
            try:
                if decoder.should_rebuild():
                    joining = [waiting.pop() for _ in range(min(len(waiting), size - decoder.live))]
                    decoder.rebuild(joining)
                else:
                    decoder.step()
            except RuntimeError as exc:  # e.g. out of memory: the replies being generated are errors, not refusals
                for i in running + joining:
                    outputs[i] = Output([], False, 0.0, f"generation failed: {str(exc)[:200]}")
                decoder.drop_all()
                continue
            decoder.charge(time.perf_counter() - began, running + joining)
            for i in decoder.pop_finished():
                tokens = decoder.tokens[i]
                outputs[i] = Output(tokens, bool(tokens) and tokens[-1] == eos_id, decoder.seconds[i],
                                    kept=decoder.kept.get(i) if keep else None)
                new = follow(i, outputs[i]) if follow is not None else None
                if new is not None:
                    j = len(prompts)
                    prompts.append(new)
                    earlier.append(decoder.kept.get(i))
                    outputs.append(None)
                    if len(new) > prefix_len and new[:prefix_len] == prefix:
                        waiting.append(j)
                    else:
                        later.append(j)
                if not keep:
                    decoder.kept.pop(i, None)  # held by the follow-up's `earlier` until its prefill, no longer
    if later:  # rare: the chat template rendered the conversation's start differently; a call of their own
        index = list(later)

        def follow_later(k: int, output: Output) -> list[int] | None:
            new = follow(index[k], output)
            if new is not None:
                index.append(len(prompts))
                prompts.append(new)
                outputs.append(None)
            return new

        for k, output in enumerate(greedy_generate(model, [prompts[j] for j in later], max_new_tokens, eos_id, pad_id,
                                                   batch_size, keep=keep, follow=follow_later,
                                                   first=first and (first[0], lambda ids, states: first[1](
                                                       [index[k] for k in ids], states)))):
            outputs[index[k]] = output
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
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    own = key.shape[2]
    visible = None
    if attention_mask is not None:
        visible = attention_mask[:, :, None, :, -own:]  # (rows, 1, 1, q, own) broadcast over heads and groups
    parts = _by_length(attention_mask, visible, own) if query.shape[2] == 1 and visible is not None and \
        visible.dtype == torch.bool else None
    if parts is None:
        return _attend(query, key, value, visible, prefix_keys, prefix_values, scaling), None
    # Rows are right-aligned and sorted longest first (_Decoder._merge), so the rows after the first few need only
    # the last columns: attending over the longest row's width would multiply mostly padding (a long conversation
    # among single-turn requests). Both parts are views: no keys are copied.
    (long_rows, _), (short_rows, width) = parts
    return torch.cat([_attend(query[long_rows], key[long_rows], value[long_rows], visible[long_rows], prefix_keys,
                              prefix_values, scaling),
                      _attend(query[short_rows], key[short_rows, :, own - width:], value[short_rows, :, own - width:],
                              visible[short_rows][..., own - width:], prefix_keys, prefix_values, scaling)]), None


_LAST_SPLIT: list = [None, None]  # (mask, parts) of the last decoding step: every layer of a step gets the same mask


def _by_length(mask, visible, own: int) -> list[tuple[slice, int]] | None:
    """For a decoding step whose rows are sorted by own length, longest first: [(the k longest rows, own), (the rest,
    the columns they need)], when that saves a quarter of the work or more; else None (all rows, every column)."""
    if _LAST_SPLIT[0] is mask:
        return _LAST_SPLIT[1]
    rows, parts = visible.shape[0], None
    if rows >= 8:
        needed = own - visible[:, 0, 0, -1].int().argmax(-1)  # columns from each row's first visible one
        if bool((needed[:-1] >= needed[1:]).all()):
            ks = torch.arange(1, rows)
            costs = ks * int(needed[0]) + (rows - ks) * needed[1:]
            k = int(costs.argmin()) + 1
            if int(costs[k - 1]) <= 0.75 * rows * own:
                parts = [(slice(0, k), own), (slice(k, rows), max(1, int(needed[k])))]
    _LAST_SPLIT[:] = [mask, parts]
    return parts


def _attend(query, key, value, visible, prefix_keys, prefix_values, scaling):
    """The attention of `_attention` for these rows: own keys, values and mask (or None) cut to the same columns."""
    if prefix_keys.shape[2] and visible is not None and visible.dtype == torch.bool and key.dtype == torch.float32:
        return _attend_fused(query, key, value, visible, prefix_keys, prefix_values, scaling)
    return _attend_scores(query, key, value, visible, prefix_keys, prefix_values, scaling)


def _attend_scores(query, key, value, visible, prefix_keys, prefix_values, scaling):
    """`_attend` by explicit scores: additive masks, no mask at all, and an empty prefix."""
    rows, heads, q_len, dim = query.shape
    kv_heads, own, prefix = key.shape[1], key.shape[2], prefix_keys.shape[2]
    group = heads // kv_heads
    # The query heads that share a key/value head (grouped-query attention) become rows of one matrix.
    q = query.float().reshape(rows, kv_heads, group * q_len, dim)
    # Against the prefix, the batch folds into the rows too: one matmul per key/value head reads the prefix once.
    folded = q.transpose(0, 1).reshape(kv_heads, rows * group * q_len, dim)
    prefix_scores = torch.matmul(folded, prefix_keys[0].transpose(1, 2)) * scaling
    prefix_scores = prefix_scores.reshape(kv_heads, rows, group * q_len, prefix).transpose(0, 1)
    own_scores = torch.matmul(q, key.transpose(2, 3)) * scaling
    own_scores = own_scores.reshape(rows, kv_heads, group, q_len, own)
    if visible is not None:
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
    return out.reshape(rows, heads, q_len, dim).transpose(1, 2).to(query.dtype).contiguous()


_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _attend_fused(query, key, value, visible, prefix_keys, prefix_values, scaling):
    """`_attend` through PyTorch's fused CPU attention kernel, once over the prefix and once over the own part, joined
    by their log-sum-exps: the softmax over [prefix | own] is the two partial softmaxes weighted by each part's share
    of the total. The kernel never writes the scores out: a quarter less attention time in a decoding step at 128
    rows, and no (rows, heads, queries, keys) score tensors to build, mask and copy in a prefill
    (docs/performance.md). It accumulates in fp32 as `_attend_scores` does. The prefix is never masked, so every
    query sees at least its keys; a padding query of a prefill sees none of its row's own keys, and its own part then
    weighs nothing. A decoding row always sees its own newest key."""
    rows, heads, q_len, dim = query.shape
    kv_heads, own = key.shape[1], key.shape[2]
    group = heads // kv_heads
    # The query heads that share a key/value head (grouped-query attention) become query rows of that head.
    q = query.float().reshape(rows, kv_heads, group * q_len, dim)
    # The batch as query rows of one matrix against the prefix: the prefix is read once.
    folded = q.transpose(0, 1).reshape(1, kv_heads, rows * group * q_len, dim)
    out_p, lse_p = _FLASH(folded, prefix_keys, prefix_values, scale=scaling)
    out_p = out_p.reshape(kv_heads, rows, group * q_len, dim).transpose(0, 1)
    lse_p = lse_p.reshape(kv_heads, rows, group * q_len).transpose(0, 1)
    # (rows, 1, group * q_len, own): one additive mask per row and query, broadcast over key/value heads
    hidden = ~visible.expand(rows, 1, group, q_len, own).reshape(rows, 1, group * q_len, own)
    mask = torch.zeros(hidden.shape, device=query.device).masked_fill(hidden, float("-inf"))
    out_o, lse_o = _FLASH(q, key, value, attn_mask=mask, scale=scaling)
    if q_len > 1:  # a query that sees no own key gets output 0 and log-sum-exp 0 from the kernel: it must weigh nothing
        lse_o = lse_o.masked_fill(hidden.all(-1), float("-inf"))
    top = torch.maximum(lse_p, lse_o)
    share_p, share_o = torch.exp(lse_p - top)[..., None], torch.exp(lse_o - top)[..., None]
    out = (out_p * share_p + out_o * share_o) / (share_p + share_o)
    return out.reshape(rows, heads, q_len, dim).transpose(1, 2).to(query.dtype).contiguous()


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


class _Decoder:
    """The running batch: one row per prompt being answered, plus finished rows not yet dropped.

    All rows are right-aligned: each row's own part (prompt suffix, then reply) ends in the last column of the own
    keys and values; padding sits before a row's suffix (and between its reused and newly computed positions), the
    attention mask hides it, and each row keeps its own position ids. Rows that started at different times therefore
    decode together, and merging two groups only needs the shorter one's own part left-padded to the longer one's
    length.
    A finished row stays (computing one wasted token per step) until a quarter of the rows have finished: dropping
    a row copies the whole cache, which costs more than a few idle rows."""

    def __init__(self, model, prefix_kv, prefix_len: int, max_new_tokens: int, eos_id: int, pad_id: int,
                 prompts: list[list[int]], earlier: list[Kept | None], wanted: Callable[[int], bool] | None,
                 first=None):
        self.model, self.prefix_kv, self.prefix_len = model, prefix_kv, prefix_len
        self.max_new_tokens, self.eos_id, self.pad_id = max_new_tokens, eos_id, pad_id
        self.prompts, self.earlier, self.wanted = prompts, earlier, wanted  # wanted(i): keep prompt i's states
        self.cache_arg = _cache_argument(model)
        self.tokens: dict[int, list[int]] = {}    # prompt index -> reply tokens so far
        self.seconds: dict[int, float] = {}       # prompt index -> its share of the time of the calls it took part in
        self.kept: dict[int, Kept] = {}           # prompt index -> its finished row's states, where wanted
        self.finished: list[int] = []             # prompts finished since pop_finished() was last called
        self.first, self.forced = first, {}  # forced: prompt index -> its lead's tokens still to come
        self.never: dict[int, list[int]] = {}  # prompt index -> tokens its reply may not contain (a Plan's `never`)
        self.drop_all()

    def drop_all(self) -> None:
        self.ids: list[int | None] = []           # batch row -> prompt index; None once the row finished
        self.cache = self.mask = self.position = self.last = None

    @property
    def live(self) -> int:
        return sum(i is not None for i in self.ids)

    def live_ids(self) -> list[int]:
        return [i for i in self.ids if i is not None]

    def pop_finished(self) -> list[int]:
        finished, self.finished = self.finished, []
        return finished

    def should_rebuild(self) -> bool:
        """Whether to drop the finished rows now (and let waiting prompts in): once a quarter of the rows finished."""
        return 4 * (len(self.ids) - self.live) >= len(self.ids)

    def reusable(self, i: int) -> int:
        """How many of prompt i's own positions (after the shared prefix) its Kept holds: the tokens both share, but
        the prompt's last, whose logits choose the first reply token."""
        kept, prompt = self.earlier[i], self.prompts[i]
        if kept is None or kept.start > self.prefix_len:  # the positions before `start` are not in it
            return 0
        same, limit = 0, min(len(prompt) - 1, len(kept.tokens))
        while same < limit and prompt[same] == kept.tokens[same]:
            same += 1
        return max(0, same - self.prefix_len)

    def charge(self, seconds: float, rows: list[int]) -> None:
        """Share the time of one step or rebuild among the rows it computed for."""
        for i in rows:
            self.seconds[i] = self.seconds.get(i, 0.0) + seconds / len(rows)

    def step(self) -> None:
        """One decoding step for every row, finished ones included (their token is ignored)."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.ids), 1))], dim=1)
        logits = self.model(input_ids=self.last[:, None], attention_mask=self.mask, position_ids=self.position[:, None],
                            use_cache=True, **{self.cache_arg: self.cache, "shared_prefix": self.prefix_kv}).logits
        self.position = self.position + 1
        self.last = self._choose(logits[:, -1], self.ids, self.mask[:, self.prefix_len:],
                                 [(layer.keys, layer.values) for layer in self.cache.layers])

    def rebuild(self, joining: list[int]) -> None:
        """Drop the finished rows, prefill the `joining` prompts' suffixes and merge them into the batch."""
        keep = [r for r, i in enumerate(self.ids) if i is not None]
        parts = []
        if keep:
            index = torch.tensor(keep, device=self.model.device)
            own = self.mask[index, self.prefix_len:]
            # Leading columns that no kept row sees (padding, or the tokens of rows that left) go.
            first = int(own.any(0).nonzero()[0])
            parts.append(([self.ids[r] for r in keep], [(layer.keys[index, :, first:], layer.values[index, :, first:])
                                                         for layer in self.cache.layers],
                          own[:, first:], self.position[index], self.last[index]))
        if joining:
            states, own, position, logits, last = self._prefill(joining)
            plans = self.first[1](list(joining), last) if self.first is not None else None
            if plans is not None:
                logits = apply_step(logits, plans)
            ids: list[int | None] = list(joining)
            last = self._choose(logits, ids, own, states)
            if plans is not None:  # the rest of each forced lead comes token by token in the next steps
                self.forced.update({i: p.forced[1:] for i, p in zip(joining, plans) if p is not None and p.forced[1:]})
                self.never.update({i: p.never for i, p in zip(joining, plans) if p is not None and p.never})
            rows = [r for r, i in enumerate(ids) if i is not None]
            if rows:
                index = torch.tensor(rows, device=self.model.device)
                parts.append(([ids[r] for r in rows], [(k[index], v[index]) for k, v in states], own[index],
                              position[index], last[index]))
        self._merge(parts)

    def _done(self, i: int) -> bool:
        tokens = self.tokens[i]
        return tokens[-1] == self.eos_id or len(tokens) >= self.max_new_tokens

    def _choose(self, logits, ids: list[int | None], own, states):
        """Greedy next tokens; appends each live row's token to its reply and marks finished rows (id None), keeping
        their states when asked to. own: the rows' own mask; states: per layer their own (keys, values)."""
        if self.never:
            rows = [r for r, i in enumerate(ids) if i in self.never]
            if rows:
                logits = logits.clone()
                for r in rows:
                    logits[r, self.never[ids[r]]] = float("-inf")
        chosen = logits.float().argmax(-1)  # as generate does; argmax runs about twice as fast on fp32 as on bf16
        for r, token in enumerate(chosen.tolist()):
            i = ids[r]
            if i is None:
                continue
            if self.forced.get(i):  # the rest of a lead the decision head chose
                token = self.forced[i].pop(0)
                chosen[r] = token
            self.tokens.setdefault(i, []).append(token)
            if self._done(i):
                ids[r] = None
                self.finished.append(i)
                if self.wanted is not None and self.wanted(i):
                    self._keep(i, own[r], [(keys[r], values[r]) for keys, values in states])
        return chosen

    def _keep(self, i: int, own, states) -> None:
        """Prompt i's Kept: its prompt and reply but the last token (never fed back), and the states of their own
        positions, the columns its mask shows (in order; padding may sit between reused and new ones)."""
        tokens = self.prompts[i] + self.tokens[i][:-1]
        columns = own.nonzero()[:, 0][:len(tokens) - self.prefix_len]
        dtype = self.model.dtype  # the model's own precision: a bf16 model's keys are bf16 numbers, kept exactly
        self.kept[i] = Kept(tokens, self.prefix_len, [(keys[:, columns].to(dtype), values[:, columns].to(dtype))
                                                      for keys, values in states])

    def _prefill(self, joining: list[int]):
        """Per-layer own (keys, values), own mask, next positions and last logits of these prompts after the shared
        prefix. Own columns: first the reused positions (from `earlier`), right-aligned, then the tokens to compute,
        right-aligned, with padding before each group that the mask hides."""
        device, prefix_len, rows = self.model.device, self.prefix_len, len(joining)
        reused = [self.reusable(i) for i in joining]
        suffixes = [self.prompts[i][prefix_len + a:] for i, a in zip(joining, reused)]
        before, width = max(reused), max(len(s) for s in suffixes)
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((rows, prefix_len + before + width), dtype=torch.long, device=device)
        mask[:, :prefix_len] = 1
        for r, (suffix, a) in enumerate(zip(suffixes, reused)):
            ids[r, width - len(suffix):] = torch.tensor(suffix, device=device)
            mask[r, prefix_len + before - a:prefix_len + before] = 1
            mask[r, prefix_len + before + width - len(suffix):] = 1
        # Positions count real tokens only, as transformers' generate derives them from the attention mask.
        positions = (mask.cumsum(-1) - 1)[:, prefix_len + before:].clamp(min=0)
        cache = _OwnCache(self.model, rows, prefix_len, before + width)
        if before:
            for layer in cache.layers:
                layer.write(0, rows, before, None, None)  # padding first; rows that reuse nothing keep it
            for r, (i, a) in enumerate(zip(joining, reused)):
                if a:
                    kept = self.earlier[i]
                    skip = prefix_len - kept.start  # kept positions that this call's (longer) shared prefix covers
                    for layer, (keys, values) in zip(cache.layers, kept.states):
                        layer.write(r, r + 1, before - a, keys[None, :, skip:skip + a], values[None, :, skip:skip + a])
            for layer in cache.layers:
                layer.fill(before)
            for i in joining:
                self.earlier[i] = None  # copied into the batch: a finished turn's states are not held any longer
        # The decision head reads the last prompt token's state (ids are right-aligned: column -1 in every row).
        with Capture(self.model, self.first[0]) if self.first else nullcontext() as capture:
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                logits_to_keep=1, **{self.cache_arg: cache, "shared_prefix": self.prefix_kv}).logits
        states = [(layer.keys, layer.values) for layer in cache.layers]
        return states, mask[:, prefix_len:], positions[:, -1] + 1, logits[:, -1], capture and capture.states

    def _merge(self, parts) -> None:
        """One batch from parts of (ids, per-layer own (keys, values), own mask, next positions, last tokens), each
        part's own columns right-aligned; the room allows every row its remaining reply tokens."""
        if not parts:
            self.drop_all()
            return
        length = max(own.shape[1] for _, _, own, _, _ in parts)
        rows = sum(len(ids) for ids, *_ in parts)
        self.cache = _OwnCache(self.model, rows, self.prefix_len, length + self.max_new_tokens)
        self.mask = torch.zeros((rows, self.prefix_len + length), dtype=torch.long, device=self.model.device)
        self.mask[:, :self.prefix_len] = 1
        start = 0
        for ids, states, own, _, _ in parts:
            end, pad = start + len(ids), length - own.shape[1]
            for layer, (keys, values) in zip(self.cache.layers, states):
                layer.write(start, end, pad, keys, values)
            self.mask[start:end, self.prefix_len + pad:] = own
            start = end
        for layer in self.cache.layers:
            layer.fill(length)
        self.ids = [i for ids, *_ in parts for i in ids]
        self.position = torch.cat([position for *_, position, _ in parts])
        self.last = torch.cat([last for *_, last in parts])
        # Longest own part first: every row grows by one token a step, so the order holds until the next merge, and
        # `_attention` lets the shorter rows skip the columns only the longer ones use.
        own = self.mask[:, self.prefix_len:]
        order = (own.shape[1] - own.int().argmax(-1)).argsort(descending=True, stable=True)
        if not bool((order == torch.arange(rows)).all()):
            self.ids = [self.ids[r] for r in order.tolist()]
            self.mask, self.position, self.last = self.mask[order], self.position[order], self.last[order]
            for layer in self.cache.layers:
                layer.room_keys, layer.room_values = layer.room_keys[order], layer.room_values[order]
                layer._views()


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

    def write(self, start: int, end: int, pad: int, keys, values) -> None:
        """Rows start:end get these own keys and values (None: none) after `pad` columns of zeros (masked, but they
        must be finite: a masked column's weight is 0, and 0 times a NaN left in empty room would still be NaN)."""
        self.room_keys[start:end, :, :pad] = 0
        self.room_values[start:end, :, :pad] = 0
        if keys is not None:  # None: padding only
            self.room_keys[start:end, :, pad:pad + keys.shape[2]] = keys
            self.room_values[start:end, :, pad:pad + values.shape[2]] = values

    def fill(self, length: int) -> None:
        """The rows written with `write` now hold `length` own positions."""
        self.length = length
        self._views()

    def get_seq_length(self) -> int:
        return self.prefix_len + self.length
