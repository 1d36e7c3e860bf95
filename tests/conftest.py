"""Shared fixtures: a tiny random Llama with a small BPE tokenizer trained on the spot (no downloads), headless
Chromium driven by Playwright (Debian's browser, never a download), and the CLI runner."""

import json
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _corpus() -> list[str]:
    from taskalign.domain import load_tools, system_prompt

    lines = [system_prompt(), json.dumps(load_tools()), "I can't help with that, but I can create a task for you.",
             '<tool_call>{"name": "create_task", "arguments": {"title": "Buy milk", "priority": "high"}}</tool_call>']
    return lines * 20


def make_tiny_model(path: Path, seed: int = 0) -> Path:
    """A ~1 MB Llama-architecture causal LM with a ChatML template; tokens are random but the plumbing is real."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
    raw.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<unk>")
    tok.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def write_jsonl(tmp_path):
    def write(name: str, rows: list) -> Path:
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
        return path

    return write


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `taskalign ARGS` in-process through its real entry point (a UserError becomes one line and exit code 2);
    returns code, out and err."""
    from taskalign.cli import main

    def run(*args) -> SimpleNamespace:
        monkeypatch.setattr(sys, "argv", ["taskalign", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        captured = capsys.readouterr()
        return SimpleNamespace(code=code, out=captured.out, err=captured.err)

    return run


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


def _cannot_run_browser(why: str):
    """Skip locally; under CI (CI=true) a browser test that cannot run fails, so the check is never lost silently."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{why}; CI must run the browser tests (scripts/install.sh --dev installs both)", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module; each test opens its own context. Not per session: while Playwright's
    sync API is open its event loop runs in this thread, and asyncio.run() in later tests would refuse to start."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _cannot_run_browser("chromium is not installed (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _cannot_run_browser("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=executable, args=BROWSER_ARGS, headless=True)
        except Error as exc:
            _cannot_run_browser(f"{executable} does not start under Playwright: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()
