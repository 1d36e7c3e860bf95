"""Model-test fixtures: variants of the tiny random Llama whose greedy output varies with the prompt, or stops at EOS,
and a LoRA adapter for it whose weights change its output.

The shared `tiny_model_dir` is initialised with std 0.02, so greedy decoding repeats one token for every prompt; that
cannot tell batch rows apart. `lively_model_dir` re-draws its weights larger; `stopping_model_dir` also rigs the
(untied) output row of EOS so one known conversation stops early while others run to max_new_tokens.
"""

import pytest

CONVERSATIONS = [[{"role": "system", "content": "You are TaskMaster."}, {"role": "user", "content": text}]
                 for text in ("hi", "create a task to buy milk " * 4, "list my tasks", "delete task t1 " * 9, "x", "ok")]


@pytest.fixture
def conversations() -> list[list[dict]]:
    return [list(c) for c in CONVERSATIONS]


@pytest.fixture(scope="session")
def lively_model_dir(tiny_model_dir, tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("lively-llama")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return path


def greedy_ids(model_dir, max_new_tokens: int = 16) -> list[list[int]]:
    """Greedy continuations of CONVERSATIONS, one at a time (no padding), straight from transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir)
    out = []
    for conv in CONVERSATIONS:
        ids = tok.apply_chat_template(conv, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            gen = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        out.append(gen[0, ids.shape[1]:].tolist())
    return out


@pytest.fixture(scope="session")
def stopping_model_dir(lively_model_dir, tmp_path_factory):
    """A model that emits EOS about where the lively model emits one chosen token: some conversations stop early."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gens = greedy_ids(lively_model_dir)
    stop_conv, k = next((i, k) for i, g in enumerate(gens) for k in range(2, 8)
                        if g[k] not in g[:k] and any(g[k] not in other for other in gens))
    token = gens[stop_conv][k]
    model = AutoModelForCausalLM.from_pretrained(lively_model_dir)
    tok = AutoTokenizer.from_pretrained(lively_model_dir)
    model.config.tie_word_embeddings = False
    with torch.no_grad():
        head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=False)
        head.weight.copy_(model.get_input_embeddings().weight)
        head.weight[tok.eos_token_id] = head.weight[token] * 1.5  # wins where `token` would have won (or nearly)
        model.lm_head = head
    path = tmp_path_factory.mktemp("stopping-llama")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def reference():
    """What plain transformers produces one conversation at a time: [(text, completion tokens, stopped)]."""
    from transformers import AutoTokenizer

    def run(model_dir, max_new_tokens: int) -> list[tuple[str, int, bool]]:
        tok, out = AutoTokenizer.from_pretrained(model_dir), []
        for ids in greedy_ids(model_dir, max_new_tokens):
            n = ids.index(tok.eos_token_id) + 1 if tok.eos_token_id in ids else len(ids)
            out.append((tok.decode(ids[:n], skip_special_tokens=True).strip(), n, tok.eos_token_id in ids))
        return out

    return run


@pytest.fixture(scope="session")
def lora_dir(lively_model_dir, tmp_path_factory):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(lively_model_dir)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))  # random B: the adapter changes the output
    path = tmp_path_factory.mktemp("lora")
    peft.save_pretrained(path)
    return path
