"""The `prefix` engine of the Hugging Face backend (shared system prompt computed once, waiting prompts take the places
of finished rows) against transformers' own greedy generation (`plain`), on tiny random Llamas; and the CPU thread rule.

    .venv/bin/python -m pytest tests/models/test_prefix.py -q
"""

import os

import pytest

from taskalign.errors import UserError
from taskalign.models import GenerationConfig, load_model
from taskalign.models.prefix import shared_prefix_length

OWN_SYSTEM = [[{"role": "system", "content": "You are a pirate. Answer in rhymes."}, {"role": "user", "content": "hi"}],
              [{"role": "user", "content": "no system message at all"}]]


def _replies(model, conversations, **config):
    return [(r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason, r.error)
            for r in model.generate(conversations, GenerationConfig(**config))]


def _both_engines(model_dir, **kwargs):
    # fp32: the engines add the same numbers in a different order; in bf16 a near-tie may go either way.
    return (load_model(str(model_dir), precision="fp32", engine="prefix", **kwargs),
            load_model(str(model_dir), precision="fp32", engine="plain", **kwargs))


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_prefix_engine_gives_plain_greedy_replies_and_counts(stopping_model_dir, conversations, batch_size):
    prefix, plain = _both_engines(stopping_model_dir)
    mixed = conversations + OWN_SYSTEM  # two conversations that do not share the TaskMaster system prompt
    got = _replies(prefix, mixed, max_new_tokens=16, batch_size=batch_size)
    assert got == _replies(plain, mixed, max_new_tokens=16, batch_size=batch_size)
    assert {r[3] for r in got} == {"stop", "length"}, "the fixture must mix early stops and full-length replies"
    assert len({r[0] for r in got}) >= 5, "the fixture must answer different prompts differently"


def test_a_conversation_alone_in_its_group_still_works(lively_model_dir):
    prefix, plain = _both_engines(lively_model_dir)
    for conversation in OWN_SYSTEM:
        assert _replies(prefix, [conversation], max_new_tokens=12) == _replies(plain, [conversation], max_new_tokens=12)


def test_adapter_is_applied_by_the_prefix_engine(lively_model_dir, lora_dir, conversations):
    base = _replies(load_model(str(lively_model_dir), precision="fp32"), conversations, max_new_tokens=12)
    prefix, plain = _both_engines(lively_model_dir, adapter=str(lora_dir))
    adapted = _replies(prefix, conversations, max_new_tokens=12)
    assert adapted != base
    assert adapted == _replies(plain, conversations, max_new_tokens=12)


def _many_conversations() -> list[list[dict]]:
    """More conversations than a small batch holds, with prompts of very different lengths."""
    texts = ["hi", "x", "ok", "list my tasks", "what is due today?", "delete task t1 " * 9,
             "create a task to buy milk " * 4, "rename project alpha to beta", "remind me at 5", "show done tasks", "move t3 to friday " * 3, "help",
             "undo", "assign t9 to bob and t4 to alice", "archive everything older than a week " * 2, "thanks!"]
    return [[{"role": "system", "content": "You are TaskMaster."}, {"role": "user", "content": text}] for text in texts]


@pytest.mark.parametrize("batch_size", [2, 5])
def test_waiting_prompts_fill_finished_rows_with_plain_greedy_replies(stopping_model_dir, batch_size):
    """Rows join a running batch as others finish (prompts of other lengths, at other positions): every reply is
    still the one plain generation gives a prompt alone, without padding."""
    prefix, plain = _both_engines(stopping_model_dir)
    mixed = _many_conversations() + OWN_SYSTEM
    got = _replies(prefix, mixed, max_new_tokens=20, batch_size=batch_size)
    assert got == _replies(plain, mixed, max_new_tokens=20, batch_size=1)
    assert len({r[2] for r in got}) >= 4, "the fixture must give replies of many lengths, so rows finish apart"
    assert {r[3] for r in got} == {"stop", "length"}


@pytest.mark.parametrize("max_new_tokens", [1, 2])
def test_rows_that_finish_at_their_first_tokens(stopping_model_dir, max_new_tokens):
    prefix, plain = _both_engines(stopping_model_dir)
    conversations = _many_conversations()
    got = _replies(prefix, conversations, max_new_tokens=max_new_tokens, batch_size=3)
    assert got == _replies(plain, conversations, max_new_tokens=max_new_tokens, batch_size=3)
    assert {r[2] for r in got} == {max_new_tokens}


def test_shared_prefix_runs_once_and_the_batch_stays_full(stopping_model_dir):
    """What makes the engine fast, counted at the model's input: the prefix runs once, waiting prompts take the
    places of finished rows, and finished rows do not linger."""
    model = load_model(str(stopping_model_dir), precision="fp32")
    tok, conversations, batch_size = model.tokenizer, _many_conversations(), 6
    prompts = [tok.apply_chat_template(c, add_generation_prompt=True, return_dict=True)["input_ids"] for c in conversations]
    shared = shared_prefix_length(prompts)
    assert shared > 10  # the common system prompt and chat markup
    calls = []
    forward = model.model.forward
    # (rows, tokens) of each call, and whether it read the shared prefix (all but the call that computes it)
    model.model.forward = lambda *args, **kwargs: calls.append(
        (*kwargs["input_ids"].shape, "shared_prefix" in kwargs)) or forward(*args, **kwargs)
    replies = model.generate(conversations, GenerationConfig(max_new_tokens=32, batch_size=batch_size))
    assert calls[0] == (1, shared, False) and all(reads for *_, reads in calls[1:])  # the prefix once, first
    calls = [(rows, width) for rows, width, _ in calls]
    assert all(rows <= batch_size for rows, _ in calls[1:])
    prefills = [(rows, width) for rows, width in calls[1:] if width > 1]
    assert sum(rows for rows, _ in prefills) == len(conversations)  # each suffix runs once
    assert max(width for _, width in prefills) == max(len(p) for p in prompts) - shared
    # Each decoding step gives every live row a token (the first reply token comes from the prefill). A finished row
    # stays until a quarter of the rows have finished, so steps compute less than 4/3 of the tokens they give.
    decode_rows = [rows for rows, width in calls[1:] if width == 1]
    given = sum(r.completion_tokens for r in replies) - len(replies)
    assert given < sum(decode_rows) < given * 4 / 3
    # Batch after batch, each batch would decode until its longest reply ends; refilling needs fewer steps.
    lengths = [r.completion_tokens for _, r in sorted(zip(prompts, replies), key=lambda pr: len(pr[0]))]
    batch_by_batch = sum(max(lengths[i:i + batch_size]) - 1 for i in range(0, len(lengths), batch_size))
    assert len(decode_rows) < batch_by_batch


def _prefill_tokens(model) -> list[int]:
    """Records rows x width of each call that runs more than one token per row (prefills) on `model`."""
    calls, forward = [], model.model.forward
    model.model.forward = lambda *args, **kwargs: (kwargs["input_ids"].shape[1] > 1 and calls.append(
        kwargs["input_ids"].numel())) or forward(*args, **kwargs)
    return calls


def test_a_later_turn_computes_only_its_new_tokens_and_still_gives_plain_replies(stopping_model_dir):
    """Called with keys, the engine keeps each conversation's keys and values: the next turn (the same messages, the
    reply, a new message) prefills only what follows, and its replies are still plain generation's."""
    config = GenerationConfig(max_new_tokens=20, batch_size=5)
    keyed, unkeyed, plain = (load_model(str(stopping_model_dir), precision="fp32", engine=engine)
                             for engine in ("prefix", "prefix", "plain"))
    conversations = _many_conversations() + OWN_SYSTEM
    keys = [f"case-{i}" for i in range(len(conversations))]
    for turn, message in enumerate(["and then?", "undo that " * 3, "ok"]):
        keyed_calls, unkeyed_calls = _prefill_tokens(keyed), _prefill_tokens(unkeyed)
        got = keyed.generate(conversations, config, keys=keys)
        assert [r.text for r in got] == [r.text for r in unkeyed.generate(conversations, config)]
        assert [r.text for r in got] == [r.text for r in plain.generate(conversations, config)]
        if turn:  # the earlier turns were kept (a random model's replies re-tokenize only in part: not all of them)
            assert sum(keyed_calls) < sum(unkeyed_calls) * 3 / 4
        conversations = [c + [{"role": "assistant", "content": r.text}, {"role": "user", "content": message}]
                         for c, r in zip(conversations, got)]
    assert keyed._kept.keys() == set(keys)  # only the last call's conversations are kept


def test_shared_prefix_length_leaves_each_prompt_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5, 6]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2], [1, 2, 3, 4]]) == 1
    assert shared_prefix_length([[5, 1], [6, 1]]) == 0
    assert shared_prefix_length([[7, 8, 9]]) == 2


def test_unknown_engine_is_a_user_error(tiny_model_dir):
    with pytest.raises(UserError, match="engine 'turbo' is not one of auto, prefix, plain"):
        load_model(str(tiny_model_dir), engine="turbo")


def test_auto_engine_is_prefix_for_fp32_and_plain_for_bf16(tiny_model_dir):
    assert load_model(str(tiny_model_dir), precision="fp32").engine == "prefix"
    assert load_model(str(tiny_model_dir), precision="bf16").engine == "plain"


@pytest.fixture
def thread_env(monkeypatch):
    """No thread variables set; torch's thread count restored afterwards."""
    import torch

    for name in ("TASKALIGN_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, "1")  # recorded, so whatever a test sets (the CLI too) is undone afterwards
        monkeypatch.delenv(name)
    before = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(before)


def test_threads_default_to_all_cores_whatever_the_load(thread_env):
    import torch

    from taskalign.models.hf import set_threads, thread_count

    cores = len(os.sched_getaffinity(0))
    thread_env.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))  # a busy machine does not take threads away
    assert thread_count() == cores
    assert set_threads() == cores and torch.get_num_threads() == cores


def test_threads_follow_taskalign_threads_then_omp_num_threads(thread_env):
    import torch

    from taskalign.models.hf import set_threads, thread_count

    thread_env.setenv("OMP_NUM_THREADS", "3,1")  # OpenMP's nested form: the first level counts
    assert thread_count() == 3
    thread_env.setenv("TASKALIGN_THREADS", "1")
    assert thread_count() == 1
    assert set_threads() == 1 and torch.get_num_threads() == 1
    thread_env.setenv("TASKALIGN_THREADS", "two")
    with pytest.raises(UserError, match="TASKALIGN_THREADS='two' is not a positive whole number"):
        thread_count()
    thread_env.setenv("TASKALIGN_THREADS", "0")
    with pytest.raises(UserError, match="TASKALIGN_THREADS='0'"):
        thread_count()


def test_cli_threads_option_sets_taskalign_threads(thread_env, cli):
    from taskalign.models.hf import thread_count

    result = cli("--threads", "3", "models")
    assert result.code == 0, result.err
    assert os.environ["TASKALIGN_THREADS"] == "3" and thread_count() == 3
    assert cli("--threads", "0", "models").code != 0


def test_prompts_that_share_no_prefix(lively_model_dir):
    """Called directly with prompts that differ from their first token: no shared prefix, still plain greedy replies."""
    import torch

    from taskalign.models.prefix import greedy_generate

    model = load_model(str(lively_model_dir), precision="fp32", engine="plain")
    tok = model.tokenizer
    prompts = [tok("hello there", add_special_tokens=False)["input_ids"], tok("list my tasks", add_special_tokens=False)["input_ids"]]
    assert shared_prefix_length(prompts) == 0
    got = greedy_generate(model.model, prompts, 8, tok.eos_token_id, tok.pad_token_id, batch_size=2)
    for prompt, out in zip(prompts, got):
        with torch.no_grad():
            expected = model.model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        assert out.tokens == expected[0, len(prompt):].tolist() and out.error is None


def test_prefix_engine_falls_back_to_plain_where_attention_cannot_be_replaced(lively_model_dir, conversations):
    prefix, plain = _both_engines(lively_model_dir)
    for model in (prefix, plain):
        model.model.set_attn_implementation("eager")  # not SDPA: the shared-prefix attention does not apply
    assert _replies(prefix, conversations, max_new_tokens=12) == _replies(plain, conversations, max_new_tokens=12)
    assert prefix.model.config._attn_implementation == "eager"  # left as it was


def _dialogues():
    """Conversations with zero to three user messages each, and two of another system prompt (their own group)."""
    starts = _many_conversations() + OWN_SYSTEM
    messages = ["and then?", "undo that " * 3, "ok", "make it due friday", "list them"]
    turns = [[c[-1]["content"]] + messages[i % 3:i % 3 + i % 4] for i, c in enumerate(starts)]
    turns[1] = []  # nothing to send: no reply
    return [c[:-1] for c in starts], turns


@pytest.mark.parametrize("batch_size", [2, 5, 32])
def test_conversations_move_on_alone_and_get_the_turn_by_turn_replies(stopping_model_dir, batch_size):
    """`converse` with the prefix engine lets each conversation's next message join the running batch as soon as
    its own reply is done; the replies and the conversations are those of plain generation, turn by turn."""
    config = GenerationConfig(max_new_tokens=20, batch_size=batch_size)
    prefix, plain = _both_engines(stopping_model_dir)
    starts, turns = _dialogues()
    got_convs, want_convs = [list(c) for c in starts], [list(c) for c in starts]
    got = prefix.converse(got_convs, turns, config)
    want = plain.converse(want_convs, turns, config)
    assert [[(r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason) for r in rs] for rs in got] == \
        [[(r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason) for r in rs] for rs in want]
    assert [len(rs) for rs in got] == [len(t) for t in turns] and got[1] == []
    assert got_convs == want_convs and got_convs[1] == starts[1]


def test_later_turns_do_not_wait_for_the_other_conversations(stopping_model_dir):
    """Counted at the model's input: turn by turn, every turn waits for the slowest reply of the turn before;
    conversations moving on alone need fewer model calls for the same replies."""
    config = GenerationConfig(max_new_tokens=20, batch_size=32)
    starts, turns = _dialogues()
    calls = {}
    for name, converse in (("alone", None), ("turn by turn", "base")):
        model = load_model(str(stopping_model_dir), precision="fp32", engine="prefix")
        forward, calls[name] = model.model.forward, []
        model.model.forward = lambda *a, _calls=calls[name], _forward=forward, **k: _calls.append(1) or _forward(*a, **k)
        convs = [list(c) for c in starts]
        if converse == "base":  # the interface's own turn-by-turn loop, over the same engine
            from taskalign.models.base import ChatModel
            ChatModel.converse(model, convs, turns, config)
        else:
            model.converse(convs, turns, config)
    assert len(calls["alone"]) < len(calls["turn by turn"])


def test_a_follow_up_that_shares_no_prefix_is_still_answered(lively_model_dir):
    """greedy_generate's follow: a next prompt that does not start with the call's shared prefix (a template that
    renders the conversation's start differently) runs after the others, and gets plain greedy generation's reply."""
    import torch

    from taskalign.models.prefix import greedy_generate

    model = load_model(str(lively_model_dir), precision="fp32", engine="plain")
    tok = model.tokenizer
    ids = [tok.apply_chat_template(c, add_generation_prompt=True, return_dict=True)["input_ids"]
           for c in _many_conversations()[:3]]
    other = tok("something else entirely", add_special_tokens=False)["input_ids"]
    asked = []
    got = greedy_generate(model.model, ids, 8, tok.eos_token_id, tok.pad_token_id, batch_size=2,
                          follow=lambda i, out: asked.append(i) or (other if i == 0 else None))
    assert sorted(asked) == [0, 1, 2, 3] and len(got) == 4
    with torch.no_grad():
        expected = model.model.generate(torch.tensor([other]), max_new_tokens=8, do_sample=False,
                                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    assert got[3].tokens == expected[0, len(other):].tolist() and got[3].error is None


def test_short_rows_attend_only_over_their_own_columns(monkeypatch):
    """A decoding step with one long row among short ones: the short rows attend over their own width only (their
    padding cut), and the result is that of attending over the whole width."""
    import torch

    from taskalign.models import prefix as engine

    torch.manual_seed(0)
    rows, kv_heads, group, dim, own, shared = 12, 2, 3, 8, 40, 5
    lengths = [40, 33] + [4 + r for r in range(rows - 2)][::-1]  # own tokens per row, right-aligned, longest first
    visible = torch.zeros(rows, 1, 1, shared + own, dtype=torch.bool)
    visible[:, :, :, :shared] = True
    for r, n in enumerate(lengths):
        visible[r, :, :, shared + own - n:] = True
    query = torch.randn(rows, kv_heads * group, 1, dim)
    key, value = torch.randn(rows, kv_heads, own, dim), torch.randn(rows, kv_heads, own, dim)
    prefix = [(torch.randn(1, kv_heads, shared, dim), torch.randn(1, kv_heads, shared, dim))]
    module = type("Layer", (), {"layer_idx": 0})()
    parts = engine._by_length(visible, visible[:, :, None, :, -own:], own)
    assert parts == [(slice(0, 2), own), (slice(2, rows), 4 + rows - 3)]
    cut, _ = engine._attention(module, query, key, value, visible, shared_prefix=prefix)
    monkeypatch.setattr(engine, "_by_length", lambda mask, visible, own: None)
    whole, _ = engine._attention(module, query, key, value, visible, shared_prefix=prefix)
    assert torch.allclose(cut, whole, atol=1e-6)


@pytest.mark.parametrize("q_len", [1, 5])
def test_fused_attention_joins_prefix_and_own_parts_as_one_softmax(q_len):
    """The fused path attends over the prefix and over each row's own keys separately; joined by their log-sum-exps
    they must give what PyTorch's SDPA gives over [prefix | own] as one sequence, padding masked, key views included:
    a decoding step (one query per row) and a prefill (causal, left-padded rows whose padding queries see no own key)."""
    import torch
    import torch.nn.functional as F

    from taskalign.models import prefix as engine

    torch.manual_seed(1)
    rows, kv_heads, group, dim, own, shared = 6, 2, 3, 8, 20, 7
    query = torch.randn(rows, kv_heads * group, q_len, dim)
    room_k, room_v = torch.randn(rows, kv_heads, own + 4, dim), torch.randn(rows, kv_heads, own + 4, dim)
    key, value = room_k[:, :, 4:], room_v[:, :, 4:]  # views into room, as the cache hands them over
    visible = torch.zeros(rows, 1, 1, q_len, own, dtype=torch.bool)
    for r in range(rows):
        first = own - 1 - (3 if q_len == 1 else 2) * r  # the row's first real own column; padding before it
        for t in range(q_len):
            column = own - q_len + t
            if column >= first:  # a padding query (left of its row's first token) sees no own key at all
                visible[r, ..., t, first:column + 1] = True
    prefix_k, prefix_v = torch.randn(1, kv_heads, shared, dim), torch.randn(1, kv_heads, shared, dim)
    called = []
    fused = engine._attend_fused
    engine._attend_fused = lambda *a: called.append(1) or fused(*a)
    try:
        got = engine._attend(query, key, value, visible, prefix_k, prefix_v, dim ** -0.5)
    finally:
        engine._attend_fused = fused
    assert called and got.shape == (rows, q_len, kv_heads * group, dim)
    assert not got.isnan().any()
    whole_k = torch.cat([prefix_k.expand(rows, -1, -1, -1), key], 2).repeat_interleave(group, 1)
    whole_v = torch.cat([prefix_v.expand(rows, -1, -1, -1), value], 2).repeat_interleave(group, 1)
    mask = torch.cat([torch.ones(rows, 1, q_len, shared, dtype=torch.bool), visible.reshape(rows, 1, q_len, own)], -1)
    expected = F.scaled_dot_product_attention(query, whole_k, whole_v, attn_mask=mask).transpose(1, 2)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got, engine._attend_scores(query, key, value, visible, prefix_k, prefix_v, dim ** -0.5),
                          atol=1e-5)
    if q_len > 1:
        assert not visible[0, 0, 0, 0].any()  # the test has padding queries


def test_converse_keeps_keys_and_values_only_for_turns_that_continue(stopping_model_dir, monkeypatch):
    """Copying a finished row's keys and values out costs time; `converse` copies them for a reply that its
    conversation continues after, never for a conversation's last reply, and the continued turns still reuse them."""
    from taskalign.models import prefix as engine

    kept = []
    keep = engine._Decoder._keep
    monkeypatch.setattr(engine._Decoder, "_keep", lambda self, i, own, states: kept.append(i) or keep(self, i, own, states))
    model = load_model(str(stopping_model_dir), precision="fp32", engine="prefix")
    starts, turns = _dialogues()
    prefills = _prefill_tokens(model)
    model.converse([list(c) for c in starts], turns, GenerationConfig(max_new_tokens=20, batch_size=4))
    assert len(kept) == sum(len(t) - 1 for t in turns if t) > 0
    reprefilled = sum(prefills)
    kept.clear()
    monkeypatch.setattr(engine._Decoder, "reusable", lambda self, i: 0)  # as if nothing had been kept
    prefills = _prefill_tokens(model)
    model.converse([list(c) for c in starts], turns, GenerationConfig(max_new_tokens=20, batch_size=4))
    assert reprefilled < sum(prefills)
