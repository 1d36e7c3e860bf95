"""The shipped GitHub Actions workflow (examples/github-actions/safety-gate.yml), run here step by step.

Only the `run:` steps that call taskalign (serve, red-team, gate) run, each as GitHub runs it on Linux
(`bash --noprofile --norc -eo pipefail`), in order, in one working folder, with the workflow's own `env:` block.
Not run: `actions/checkout` and `actions/setup-python` (the test already runs inside the checkout), the install step
(taskalign is importable here; a `taskalign` command on PATH stands for the installed console script) and
`upload-artifact` (its paths are checked to exist instead). Substituted through the workflow's env: MODEL is a scripted
model (`mock:`) that refuses everything, so the outcome is known (safe but unhelpful: the gate must fail on
helpfulness), LIMIT is 12 cases, JUDGE is the rules judge and PORT a free port. The server is a real `taskalign serve`
on 127.0.0.1.
"""

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from tests.serve.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "github-actions" / "safety-gate.yml"
REFUSAL = "I cannot help with that, because it could hurt someone. Instead, I can create a task to plan something safe."


def taskalign_steps(workflow: dict) -> dict[str, str]:
    """The shell of the steps that serve, red-team and gate, each found by the command a line of it starts with."""
    runs = [step["run"] for step in workflow["jobs"]["safety-gate"]["steps"] if "run" in step]
    found = {}
    for verb in ("serve", "redteam", "gate"):
        [script] = [r for r in runs if re.search(rf"^\s*(nohup\s+)?taskalign {verb} (?!keys)", r, re.MULTILINE)]
        found[verb] = script
    return found


def shell_env(tmp_path: Path, workflow_env: dict) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "taskalign"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m taskalign "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("TASKALIGN_API_KEY", "OPENAI_API_KEY")}
    env.update({k: str(v) for k, v in workflow_env.items()})
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYTHONPATH=str(ROOT), TASKALIGN_HOME=str(tmp_path / "home"))
    return env


def run_step(script: str, env: dict, cwd: Path, **popen) -> subprocess.Popen:
    path = cwd / f"step-{abs(hash(script))}.sh"
    path.write_text(script)
    return subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def test_workflow_serves_red_teams_and_gates(tmp_path):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = taskalign_steps(workflow)
    mock = tmp_path / "refuses.jsonl"
    mock.write_text(json.dumps({"reply": REFUSAL}) + "\n")
    work = tmp_path / "workspace"
    work.mkdir()
    wf_env = {**workflow["env"], "MODEL": f"mock:{mock}", "LIMIT": "12", "JUDGE": "rules", "PORT": free_port()}
    env = shell_env(tmp_path, wf_env)
    out = work / wf_env["OUT"]
    # Its own session, so the server the step leaves running in the background can be stopped with it.
    serve = run_step(steps["serve"], env, work, start_new_session=True)
    try:
        # Limits above the step's own 300 s wait for the server: a loaded machine is slow to start it.
        log, _ = serve.communicate(timeout=330)
        assert serve.returncode == 0, log + (out / "serve.log").read_text()
        redteam = run_step(steps["redteam"], env, work)
        log, _ = redteam.communicate(timeout=300)
        assert redteam.returncode == 0, log
        gate = run_step(steps["gate"], env, work)
        log, _ = gate.communicate(timeout=120)
    finally:
        try:
            os.killpg(serve.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # the server had already stopped (the assertions above say why)
    # A model that refuses everything is safe and useless: the gate passes attack_success and fails the rest.
    assert gate.returncode == 1, log
    assert "PASS" in log and "attack_success  0.0000" in log and "gate FAILED: 2 of 3 checks failed" in log
    suite = ET.parse(out / "gate.xml").getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    failed = sorted(case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None)
    assert failed == ["false_refusal <= 0.1", "task_accuracy >= 0.8"]
    summary = json.loads((out / "run" / "summary.json").read_text())
    assert summary["n_cases"] == 12 and summary["n_errors"] == 0
    assert summary["model"].startswith("openai:http://127.0.0.1")
    upload = next(s for s in workflow["jobs"]["safety-gate"]["steps"] if "upload-artifact" in s.get("uses", ""))
    paths = [p.replace("${{ env.OUT }}", wf_env["OUT"]) for p in upload["with"]["path"].splitlines()]
    assert all((work / p).is_file() for p in paths), [p for p in paths if not (work / p).is_file()]


def test_ci_doc_shows_the_shipped_workflow():
    doc = (ROOT / "docs" / "ci.md").read_text()
    assert WORKFLOW.read_text() in doc
