"""Fixtures for the prefs tests; the data lives in prefs_fixtures.py so tests can import its constants."""

import pytest

from prefs_fixtures import make_cases, write_run


@pytest.fixture
def cases() -> list[dict]:
    return make_cases()


@pytest.fixture
def run_dir(tmp_path, cases):
    return write_run(tmp_path / "run", cases)
