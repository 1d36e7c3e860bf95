"""dev/extrapolate_update.py: θ_ref + alpha (θ_model − θ_ref), written as a merged folder taskalign loads."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.conftest import make_tiny_model

SCRIPT = Path(__file__).parents[2] / "dev" / "extrapolate_update.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_extrapolated_weights_lie_on_the_line_through_reference_and_model(tmp_path):
    ref, model = make_tiny_model(tmp_path / "ref", seed=0), make_tiny_model(tmp_path / "model", seed=1)
    (model / "adapter").mkdir()  # a trained folder's adapter no longer matches extrapolated weights: not copied
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "stale.bin").write_bytes(b"\0")  # an earlier OUT is replaced whole, not merged into
    done = _run(ref, model, 1.5, tmp_path / "x")
    assert done.returncode == 0, done.stderr
    r, m, x = (load_file(p / "model.safetensors") for p in (ref, model, tmp_path / "x"))
    for name in r:
        torch.testing.assert_close(x[name], r[name] + 1.5 * (m[name] - r[name]))
    assert not (tmp_path / "x" / "adapter").exists() and not (tmp_path / "x" / "stale.bin").exists()
    assert not (tmp_path / ".x.tmp").exists()
    note = json.loads((tmp_path / "x" / "taskalign_model.json").read_text())
    assert note["alpha"] == 1.5 and note["merged"] and note["adapter"] is None

    from taskalign.models import load_model
    from taskalign.models.base import GenerationConfig
    replies = load_model(str(tmp_path / "x")).generate([[{"role": "user", "content": "Add a task"}]],
                                                       GenerationConfig(max_new_tokens=4))
    assert len(replies) == 1 and isinstance(replies[0].text, str)


def test_a_folder_without_merged_weights_is_named_and_nothing_is_written(tmp_path):
    model = make_tiny_model(tmp_path / "model")
    done = _run(tmp_path, model, 1.3, tmp_path / "x")
    assert done.returncode != 0 and f"{tmp_path}: no model.safetensors" in done.stderr
    assert not (tmp_path / "x").exists()
