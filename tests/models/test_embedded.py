"""The embedded model: cache location, unwritable cache errors, and (slow) the real SmolLM2 end to end."""

import os

import pytest

from taskalign.errors import UserError
from taskalign.models import embedded


def test_cache_root_honours_taskalign_home_then_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("TASKALIGN_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_root() == tmp_path / "xdg" / "taskalign"
    monkeypatch.setenv("TASKALIGN_HOME", str(tmp_path / "home"))
    assert embedded.embedded_dir() == tmp_path / "home" / "models" / "SmolLM2-135M-Instruct"


def test_cached_folder_is_used_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("TASKALIGN_HOME", str(tmp_path))
    target = embedded.embedded_dir()
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    (target / "model.safetensors").write_bytes(b"x")
    monkeypatch.setattr(embedded, "_from_hub", lambda log: pytest.fail("must not look at the hub when cached"))
    assert embedded.resolve() == target and embedded.describe()["cached"] is True


def _unwritable(tmp_path):
    if os.geteuid() == 0:  # root ignores permission bits: a regular file where a folder must go fails for everyone
        (tmp_path / "file").write_text("")
        return tmp_path / "file" / "cache"
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return locked


def test_unwritable_cache_is_a_one_sentence_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TASKALIGN_HOME", str(_unwritable(tmp_path)))
    with pytest.raises(UserError) as info:
        embedded.resolve(log=lambda *_: None)
    message = str(info.value)
    assert "Cannot write the model cache" in message and "TASKALIGN_HOME" in message
    assert "\n" not in message and message.count(". ") == 0


@pytest.mark.slow
def test_real_embedded_model_gives_a_non_empty_reply():
    """Uses the normal user cache (on a clean machine this converts the GGUF once, about a minute)."""
    from taskalign.domain import system_prompt
    from taskalign.models import GenerationConfig, load_model

    model = load_model("embedded")
    conv = [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": "Create a task for my morning routine"}]
    [reply] = model.generate([conv], GenerationConfig(max_new_tokens=48))
    assert reply.error is None and reply.text.strip()
    assert reply.prompt_tokens > 100 and 0 < reply.completion_tokens <= 48
