"""Fixtures for the report tests: a fixed run folder and a pipeline folder (base, sft, aligned, pairs, training logs)."""

import pytest
from report_fixture import make_pipeline, make_run


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "base")


@pytest.fixture
def pipeline_dir(tmp_path):
    return make_pipeline(tmp_path / "DEMO")
