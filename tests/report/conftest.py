"""Fixtures for the report tests: real red-team run folders (built once per session by the product's runner with the
mock backend and the default judge), copied per test so a test may write into or break its own copy."""

import shutil
from types import SimpleNamespace

import pytest
from report_runs import AFTER_TRAINING, REPLIES, make_pipeline, make_run


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-runs")
    base = make_run(root / "base", REPLIES, root / "inputs")
    after = make_run(root / "after", AFTER_TRAINING, root / "inputs")
    return SimpleNamespace(base=base, after=after, demo=make_pipeline(root / "DEMO", base, after))


@pytest.fixture
def run_dir(built, tmp_path):
    return shutil.copytree(built.base, tmp_path / "base")


@pytest.fixture
def after_dir(built, tmp_path):
    return shutil.copytree(built.after, tmp_path / "after")


@pytest.fixture
def pipeline_dir(built, tmp_path):
    return shutil.copytree(built.demo, tmp_path / "DEMO")
