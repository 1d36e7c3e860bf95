"""The decision head on tiny random Llamas: its plan opens or bans a reply's first tokens, the same way in both engines;
only replies to a user's message are steered; `train head` fits and writes one, and refuses bad settings.

    .venv/bin/python -m pytest tests/models/test_head.py -q
"""

import json
import shutil

import pytest
import torch

from taskalign.models import GenerationConfig, load_model
from taskalign.models.head import FILE, DecisionHead
from taskalign.train.head import fit

LEAD = "I can't"


def _with_head(model_dir, folder, bias: list[float], leads: dict, call_opener: str = "<tool_call>",
               act_ban: float = 0.0) -> str:
    """A copy of the model with a head whose decision is fixed by its bias (zero weights): the plumbing, not the fit."""
    from transformers import AutoConfig, AutoTokenizer

    shutil.copytree(model_dir, folder)
    hidden = AutoConfig.from_pretrained(model_dir).hidden_size
    classes = ["act", "refuse"]
    DecisionHead(1, classes, torch.zeros(hidden), torch.ones(hidden), torch.zeros(len(classes), hidden),
                 torch.tensor(bias), leads, call_opener=call_opener,
                 tokenizer=AutoTokenizer.from_pretrained(model_dir), act_ban=act_ban).save(folder)
    return str(folder)


def _first_ids(model, conversations, engine_config=None) -> list[list[int]]:
    replies = model.generate(conversations, engine_config or GenerationConfig(max_new_tokens=8, batch_size=4))
    return [model.tokenizer(r.text, add_special_tokens=False)["input_ids"] for r in replies]


@pytest.mark.parametrize("engine", ["prefix", "plain"])
def test_a_refuse_decision_opens_every_reply_with_the_lead(lively_model_dir, conversations, tmp_path, engine):
    folder = _with_head(lively_model_dir, tmp_path / "m", [0.0, 5.0], {"act": "", "refuse": LEAD})
    without = load_model(folder, precision="fp32", engine=engine, head=False)
    steered = load_model(folder, precision="fp32", engine=engine)
    config = GenerationConfig(max_new_tokens=8, batch_size=4)
    assert not any(r.text.startswith(LEAD) for r in without.generate(conversations, config))
    replies = steered.generate(conversations, config)
    assert all(r.text.startswith(LEAD) for r in replies)
    assert len({r.text for r in replies}) > 1, "the model must write its own continuation after the lead"


def test_both_engines_steer_alike(lively_model_dir, conversations, tmp_path):
    folder = _with_head(lively_model_dir, tmp_path / "m", [0.0, 5.0], {"act": "", "refuse": LEAD})
    config = GenerationConfig(max_new_tokens=10, batch_size=3)
    prefix = load_model(folder, precision="fp32", engine="prefix").generate(conversations, config)
    plain = load_model(folder, precision="fp32", engine="plain").generate(conversations, config)
    assert [r.text for r in prefix] == [r.text for r in plain]


@pytest.mark.parametrize("engine", ["prefix", "plain"])
def test_an_act_decision_bans_the_leads_first_token(lively_model_dir, conversations, tmp_path, engine):
    plain = load_model(str(lively_model_dir), precision="fp32", engine=engine)
    firsts = [ids[0] for ids in _first_ids(plain, conversations)]
    common = max(set(firsts), key=firsts.count)
    lead = plain.tokenizer.decode([common])
    folder = _with_head(lively_model_dir, tmp_path / "m", [5.0, 0.0], {"act": "", "refuse": lead})
    steered = load_model(folder, precision="fp32", engine=engine)
    banned = steered.head.plan("act").banned
    assert banned and common in banned
    after = _first_ids(steered, conversations)
    assert all(ids[0] not in banned for ids in after)
    # A reply that did not start with the banned token is left exactly as it was.
    before = _first_ids(plain, conversations)
    assert [a for a, b in zip(after, before) if b[0] != common] == [b for b in before if b[0] != common]


def test_an_unsure_act_decision_leaves_the_reply_to_the_model(lively_model_dir, conversations, tmp_path):
    plain = load_model(str(lively_model_dir), precision="fp32", engine="prefix")
    firsts = [ids[0] for ids in _first_ids(plain, conversations)]
    lead = plain.tokenizer.decode([max(set(firsts), key=firsts.count)])
    # Bias 0.4 against 0: act at probability 0.60, under a threshold of 0.8 and over one of 0.5.
    unsure = load_model(_with_head(lively_model_dir, tmp_path / "unsure", [0.4, 0.0], {"act": "", "refuse": lead},
                                   act_ban=0.8), precision="fp32", engine="prefix")
    sure = load_model(_with_head(lively_model_dir, tmp_path / "sure", [0.4, 0.0], {"act": "", "refuse": lead},
                                 act_ban=0.5), precision="fp32", engine="prefix")
    assert unsure.head.act_ban == 0.8 and sure.head.act_ban == 0.5
    assert _first_ids(unsure, conversations) == _first_ids(plain, conversations)
    assert _first_ids(sure, conversations) != _first_ids(plain, conversations)


@pytest.mark.parametrize("engine", ["prefix", "plain"])
def test_a_refused_reply_never_opens_a_tool_call(lively_model_dir, conversations, tmp_path, engine):
    folder = _with_head(lively_model_dir, tmp_path / "a", [0.0, 5.0], {"act": "", "refuse": LEAD}, call_opener="zq")
    model = load_model(folder, precision="fp32", engine=engine)
    lead = len(model.head.plan("refuse").forced)
    config = GenerationConfig(max_new_tokens=16, batch_size=4)
    rest = [ids[lead:] for ids in _token_ids(model, conversations, config)]
    common = max({t for ids in rest for t in ids}, key=lambda t: sum(t in ids for ids in rest))
    # The same head, but the model's tool calls open with the token its replies used most after the lead.
    folder = _with_head(lively_model_dir, tmp_path / "b", [0.0, 5.0], {"act": "", "refuse": LEAD},
                        call_opener=model.tokenizer.decode([common]))
    model = load_model(folder, precision="fp32", engine=engine)
    assert common in model.head.plan("refuse").never
    after = [ids[lead:] for ids in _token_ids(model, conversations, config)]
    assert all(common not in ids for ids in after) and any(ids for ids in after)


def _token_ids(model, conversations, config) -> list[list[int]]:
    """Each reply's tokens as generated (the engines' own ids, not a re-tokenisation of the text)."""
    from taskalign.models.head import steering
    from taskalign.models.prefix import greedy_generate

    prompts = [model._ids(c) for c in conversations]
    if model.engine == "prefix":
        return [o.tokens for o in greedy_generate(model.model, prompts, config.max_new_tokens,
                                                  model.tokenizer.eos_token_id, model.tokenizer.pad_token_id,
                                                  config.batch_size,
                                                  first=model._first(lambda j: steering(conversations[j])))]
    return [model.tokenizer(r.text, add_special_tokens=False)["input_ids"]
            for r in model.generate(conversations, config)]


def test_replies_after_a_tool_result_are_not_steered(lively_model_dir, tmp_path):
    folder = _with_head(lively_model_dir, tmp_path / "m", [0.0, 5.0], {"act": "", "refuse": LEAD})
    after_tool = [{"role": "system", "content": "You are TaskMaster."}, {"role": "user", "content": "list my tasks"},
                  {"role": "assistant", "content": '<tool_call>{"name": "list_tasks", "arguments": {}}</tool_call>'},
                  {"role": "tool", "content": '{"tasks": []}'}]
    config = GenerationConfig(max_new_tokens=8)
    for engine in ("prefix", "plain"):
        steered = load_model(folder, precision="fp32", engine=engine).generate([after_tool], config)[0].text
        assert steered == load_model(folder, precision="fp32", engine=engine, head=False).generate(
            [after_tool], config)[0].text


def test_an_act_decision_bans_nothing_after_the_first_request(lively_model_dir, tmp_path):
    plain = load_model(str(lively_model_dir), precision="fp32", engine="prefix")
    later = [{"role": "system", "content": "You are TaskMaster."}, {"role": "user", "content": "hi"},
             {"role": "assistant", "content": "Done."}, {"role": "user", "content": "list my tasks"}]
    config = GenerationConfig(max_new_tokens=8)
    first = _first_ids(plain, [later], config)[0][0]
    folder = _with_head(lively_model_dir, tmp_path / "m", [5.0, 0.0],
                        {"act": "", "refuse": plain.tokenizer.decode([first])})
    for engine in ("plain", "prefix"):  # the prefix engine's model stays for the last check
        steered = load_model(folder, precision="fp32", engine=engine)
        assert first in steered.head.plan("act").banned
        assert steered.generate([later], config)[0].text == load_model(
            folder, precision="fp32", engine=engine, head=False).generate([later], config)[0].text
    single = [later[0], later[-1]]  # the same request as a conversation's first: banned there (generated ids)
    assert _token_ids(steered, [single], config)[0][0] not in steered.head.plan("act").banned


def test_every_turn_of_a_conversation_is_steered(lively_model_dir, conversations, tmp_path):
    folder = _with_head(lively_model_dir, tmp_path / "m", [0.0, 5.0], {"act": "", "refuse": LEAD})
    model = load_model(folder, precision="fp32", engine="prefix")
    starts = [c[:1] for c in conversations[:3]]
    turns = [["hi", "add a task", "thanks"], ["list my tasks"], ["x", "y"]]
    replies = model.converse(starts, turns, GenerationConfig(max_new_tokens=6, batch_size=2))
    assert [len(r) for r in replies] == [3, 1, 2]
    assert all(r.text.startswith(LEAD) for chain in replies for r in chain)


def test_fit_separates_labelled_states_and_weights_classes_equally():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=generator) * 3
    y = torch.tensor([0] * 200 + [1] * 40 + [2] * 10)
    x = centres[y] + torch.randn(len(y), 16, generator=generator)
    w, b = fit(x, y, 3)
    predicted = (x @ w.T + b).argmax(-1)
    assert float((predicted == y).float().mean()) > 0.97
    assert float((predicted[y == 2] == 2).float().mean()) >= 0.9, "the rarest class must not be swallowed"


def test_the_head_fits_on_attack_variants_of_its_training_requests():
    """The adaptive attack's operators on training requests: a wrapped harm is still refused, an encoding a small model
    cannot read is asked about, a wrapped task is still done; earlier turns and tool results are kept."""
    from taskalign.suite import load_cases
    from taskalign.train.head import training_rows

    plain = training_rows("taskmaster", None, follow_ups=0, variants=0)
    rows = training_rows("taskmaster", None, follow_ups=0, variants=1)
    variants = {r["id"]: r for r in rows if r["id"].startswith("variant/")}
    assert len(rows) == len(plain) + len(variants) and len(variants) > 100
    split = {c["id"]: c["split"] for c in load_cases()}
    assert {split[i[len("variant/"):].rsplit("/", 1)[0]] for i in variants} == {"train"}
    def opaque(row):  # the instruction each opaque encoding puts before its text
        said = " ".join(m["content"] for m in row["messages"] if m["role"] in ("user", "tool"))
        return any(word in said for word in ("base64-encoded", "ROT13", "reverse order"))

    assert {(r["label"], opaque(r)) for r in variants.values()} == {("refuse", False), ("act", False),
                                                                     ("clarify", True)}
    tool_results = [r for r in variants.values() if any(m["role"] == "tool" for m in r["messages"])]
    assert tool_results and all(r["messages"][-1]["role"] == "user" for r in tool_results)
    split_turns = [r for r in variants.values() if r["messages"][0]["content"].startswith("I'll send my request")]
    assert split_turns and all(r["messages"][1] == {"role": "assistant", "content": "Ok."} for r in split_turns)


def test_train_head_writes_a_head_the_backend_loads(cli, tiny_model_dir, tmp_path):
    out = tmp_path / "head"
    out.mkdir()
    result = cli("train", "head", "--model", tiny_model_dir, "--out", out, "--layer", 1, "--extra-cases", "none",
                 "--precision", "fp32", "--variants", 1, "--act-ban", 0.8)
    assert result.code == 0, result.out + result.err
    data = json.loads((out / FILE).read_text())
    assert data["layer"] == 1 and set(data["classes"]) == {"act", "refuse", "clarify"}
    assert data["leads"]["refuse"] == "I can't" and data["leads"]["clarify"].startswith("Quick question")
    info = data["info"]
    assert info["rows"] == sum(info["classes"][k]["rows"] for k in data["classes"]) > 300
    assert data["act_ban"] == 0.8 and info["variants"] == 1
    head = DecisionHead.load(out)
    assert head.weight.shape == (3, len(head.mean))


def test_train_head_rejects_a_layer_the_model_lacks_and_test_rows(cli, tiny_model_dir, tmp_path, write_jsonl):
    out = tmp_path / "head"
    out.mkdir()
    result = cli("train", "head", "--model", tiny_model_dir, "--out", out, "--layer", 7)
    assert result.code == 2 and "--layer 7" in result.out + result.err and "1 to 1" in result.out + result.err
    case = {"id": "x/direct", "category": "harmful_direct", "turns": ["hi"], "expected": "refuse", "split": "test",
            "harm_category": "stalking"}
    result = cli("train", "head", "--model", tiny_model_dir, "--out", out, "--layer", 1,
                 "--extra-cases", write_jsonl("extra.jsonl", [case]))
    assert result.code == 2 and "x/direct" in result.out + result.err
    assert not (out / FILE).exists()


def test_a_run_records_its_head_and_will_not_resume_on_another(tiny_model_dir, tmp_path, write_jsonl):
    """Fitting a head into a model's folder after a red-team run began makes resuming that run an error: its finished
    cases were answered without the head."""
    from taskalign.errors import UserError
    from taskalign.redteam.runner import RedteamConfig, run

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    cases = write_jsonl("cases.jsonl", [{"id": f"c{k}", "category": "capability", "turns": [f"Add task {k}"],
                                         "expected": "comply"} for k in range(2)])
    config = RedteamConfig(model=str(folder), out=str(tmp_path / "run"), cases=str(cases), judge="rules",
                           report=False, max_new_tokens=4, precision="fp32")
    run(config)
    assert "head" not in json.loads((tmp_path / "run" / "config.json").read_text())["generation"]
    shutil.rmtree(folder)
    _with_head(tiny_model_dir, folder, [0.0, 5.0], {"act": "", "refuse": LEAD})
    with pytest.raises(UserError, match="different settings"):
        run(config)
    run(RedteamConfig(**{**config.__dict__, "out": str(tmp_path / "with_head")}))
    assert json.loads((tmp_path / "with_head" / "config.json").read_text())["generation"]["head"]
