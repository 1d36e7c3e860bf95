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
    assert runner.invoke(app, ["serve", "keys", "revoke", "alice", "--db", db]).output.strip() == "revoked 1 key(s)"
    assert Store(db).owner_for_key(key) is None
    again = runner.invoke(app, ["serve", "keys", "revoke", "alice", "--db", db])
    assert isinstance(again.exception, UserError)


def test_serve_needs_a_model_and_a_valid_mode(tmp_path):
    result = runner.invoke(app, ["serve", "--db", str(tmp_path / "t.sqlite")])
    assert isinstance(result.exception, UserError) and "--model" in str(result.exception)
    mock = mock_file(tmp_path / "m.jsonl", [{"reply": "hi"}])
    with pytest.raises(UserError, match="--mode"):
        build_app(ServeConfig(f"mock:{mock}", str(tmp_path / "t.sqlite"), mode="chaos"))
    with pytest.raises(UserError, match="does not exist"):
        build_app(ServeConfig(f"mock:{mock}", str(tmp_path / "missing" / "t.sqlite")))
    served = build_app(ServeConfig(f"mock:{mock}", str(tmp_path / "t.sqlite"), mode="plain"))
    assert served.state.serve.mode == "plain"
