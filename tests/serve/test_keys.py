"""`taskalign serve keys revoke` says what it revokes: `--id N` one key, `--owner NAME` every key of an owner."""

import pytest
from typer.testing import CliRunner

from taskalign.cli import app
from taskalign.errors import UserError
from taskalign.serve.store import Store

runner = CliRunner()


@pytest.fixture
def keys(tmp_path):
    """alice holds key id 1 and 3; an owner literally named "1" holds key id 2."""
    db = str(tmp_path / "tasks.sqlite")
    store = Store(db)
    return db, store, {"alice": store.add_key("alice"), "one": store.add_key("1"), "alice2": store.add_key("alice")}


def _revoke(db, *args):
    return runner.invoke(app, ["serve", "keys", "revoke", *args, "--db", db])


def _active(store, keys):
    return sorted(name for name, key in keys.items() if store.owner_for_key(key))


def test_revoke_by_id_touches_only_that_key_even_when_an_owner_has_that_name(keys):
    db, store, issued = keys
    result = _revoke(db, "--id", "1")
    assert result.exit_code == 0 and result.output.strip() == "revoked 1 key(s)"
    assert _active(store, issued) == ["alice2", "one"]


def test_revoke_by_owner_named_like_an_id_revokes_that_owners_keys(keys):
    db, store, issued = keys
    assert _revoke(db, "--owner", "1").output.strip() == "revoked 1 key(s)"
    assert _active(store, issued) == ["alice", "alice2"]
    assert _revoke(db, "--owner", "alice").output.strip() == "revoked 2 key(s)"
    assert _active(store, issued) == []


@pytest.mark.parametrize("args", [["1"], ["alice"], [], ["--id", "1", "--owner", "alice"], ["1", "--id", "1"]])
def test_a_bare_name_or_no_choice_is_an_error_that_names_both_flags(keys, args):
    db, store, issued = keys
    result = _revoke(db, *args)
    assert isinstance(result.exception, UserError)
    assert "exactly one of --id N or --owner NAME" in str(result.exception)
    assert _active(store, issued) == ["alice", "alice2", "one"]


def test_revoking_nothing_is_an_error(keys):
    db, _, _ = keys
    for args, what in ((["--id", "99"], "id 99"), (["--owner", "carol"], "owner 'carol'")):
        result = _revoke(db, *args)
        assert isinstance(result.exception, UserError) and f"No active key with {what}" in str(result.exception)


def test_the_store_takes_exactly_one_of_id_and_owner(keys):
    _, store, _ = keys
    for kwargs in ({}, {"key_id": 1, "owner": "alice"}):
        with pytest.raises(ValueError, match="exactly one"):
            store.revoke_keys(**kwargs)
