"""`taskalign serve keys add|list|revoke` and the serve stage's config checks, through the real CLI app."""

import pytest
from typer.testing import CliRunner

from taskalign.cli import app
from taskalign.errors import UserError
from taskalign.serve import ServeConfig, build_app
from taskalign.serve.store import Store
from tests.serve.conftest import mock_file

runner = CliRunner()


def test_keys_add_list_revoke(tmp_path):
    db = str(tmp_path / "tasks.sqlite")
    added = runner.invoke(app, ["serve", "keys", "add", "alice", "--db", db])
    assert added.exit_code == 0, added.output
    key = added.output.strip()
    assert key.startswith("ta-") and Store(db).owner_for_key(key) == "alice"
    listed = runner.invoke(app, ["serve", "keys", "list", "--db", db])
    assert "alice" in listed.output and key not in listed.output and "active" in listed.output
    revoked = runner.invoke(app, ["serve", "keys", "revoke", "--owner", "alice", "--db", db])
    assert revoked.output.strip() == "revoked 1 key(s)"
    assert Store(db).owner_for_key(key) is None
    again = runner.invoke(app, ["serve", "keys", "revoke", "--owner", "alice", "--db", db])
    assert isinstance(again.exception, UserError)


def test_serve_needs_a_model_and_a_valid_mode(tmp_path):
    result = runner.invoke(app, ["serve", "--db", str(tmp_path / "t.sqlite")])
    assert isinstance(result.exception, UserError) and "--model" in str(result.exception)
    mock = mock_file(tmp_path / "m.jsonl", [{"reply": "hi"}])
    with pytest.raises(UserError, match="--mode"):
        build_app(ServeConfig(model=f"mock:{mock}", db=str(tmp_path / "t.sqlite"), mode="chaos"))
    with pytest.raises(UserError, match="does not exist"):
        build_app(ServeConfig(model=f"mock:{mock}", db=str(tmp_path / "missing" / "t.sqlite")))
    served = build_app(ServeConfig(model=f"mock:{mock}", db=str(tmp_path / "t.sqlite"), mode="plain"))
    assert served.state.serve.mode == "plain"


def test_each_serve_flag_sets_its_own_setting(monkeypatch):
    import taskalign.serve

    started = []
    monkeypatch.setattr(taskalign.serve, "run", started.append)
    flags = {"model": "mock:m.jsonl", "db": "d.sqlite", "model_name": "remote-id", "adapter": "adapter-dir",
             "host": "0.0.0.0", "port": 9123, "mode": "plain", "judge": "rules", "served_name": "tm-test"}
    args = [arg for name, value in flags.items() for arg in (f"--{name.replace('_', '-')}", str(value))]
    result = runner.invoke(app, ["serve", *args, "--guard"])
    assert result.exit_code == 0, result.output
    assert started == [ServeConfig(**flags, guard=True)]
    with pytest.raises(TypeError):
        ServeConfig("mock:m.jsonl", "d.sqlite")  # positional arguments could be swapped unnoticed
