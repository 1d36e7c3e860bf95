"""Two processes on one CPU: `accelerate launch --num_processes 2` runs `train sft` and `train dpo` on the tiny model.

DDP over gloo, the shipped FSDP config (which accelerate runs as DDP on a CPU, and the run says so) and the shipped
DeepSpeed ZeRO-3 config. Each run must use both processes (the optimizer steps consume two per-device batches),
log and save once, and leave a model that loads and generates.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from taskalign.models import load_model
from taskalign.models.base import GenerationConfig

from tests.train.test_training import pairs

ROOT = Path(__file__).resolve().parents[2]
ROWS, BATCH, STEPS = 16, 2, 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(launch_args: list[str], train_args: list[str], out: Path) -> subprocess.CompletedProcess:
    """`accelerate launch --num_processes 2 ... -m taskalign train ...`, as a user types it."""
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(free_port()), *launch_args,
               "-m", "taskalign", "train", *train_args, "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def sft_args(model) -> list[str]:
    return ["sft", "--model", str(model), "--n-generated", str(ROWS), "--max-steps", str(STEPS),
            "--batch-size", str(BATCH), "--lora-r", "4", "--learning-rate", "5e-2"]


def dpo_args(model, data) -> list[str]:
    return ["dpo", "--model", str(model), "--data", str(data), "--max-steps", "2", "--batch-size", str(BATCH),
            "--lora-r", "4", "--learning-rate", "5e-2"]


def check_run(out: Path, distributed: str, merged: bool) -> dict:
    note = json.loads((out / "taskalign_model.json").read_text())
    assert note["processes"] == 2 and note["distributed"] == distributed and note["merged"] is merged
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in steps if "loss" in r]
    # logged once (by the main process), one row per optimizer step
    assert [r["step"] for r in losses] == list(range(1, note["steps"] + 1))
    assert not (out / "dataset").exists() and not (out / "checkpoints").exists()
    reply = load_model(str(out)).generate([[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]],
                                          GenerationConfig(max_new_tokens=4))[0]
    assert reply.error is None and reply.text
    return {"note": note, "losses": losses}


def epoch_after(steps: int, rows: int) -> float:
    """Each optimizer step of two processes consumes two per-device batches."""
    return steps * BATCH * 2 / rows


@pytest.fixture(scope="module")
def prefs_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prefs") / "prefs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs(ROWS)))
    return path


@pytest.mark.slow
def test_ddp_sft_then_dpo_on_two_processes(tiny_model_dir, prefs_file, tmp_path):
    sft_out, dpo_out = tmp_path / "sft", tmp_path / "dpo"
    launch(["--multi_gpu"], sft_args(tiny_model_dir), sft_out)
    sft = check_run(sft_out, "MULTI_CPU", merged=True)
    assert sft["losses"][-1]["epoch"] == pytest.approx(epoch_after(STEPS, ROWS))  # 0.375 if one process had trained
    before, after = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(sft_out / "model.safetensors"))
    assert sum(not torch.equal(before[k], after[k]) for k in before) > 0  # the merged model carries the training

    launch(["--multi_gpu"], dpo_args(sft_out, prefs_file), dpo_out)
    dpo = check_run(dpo_out, "MULTI_CPU", merged=True)
    assert dpo["losses"][-1]["epoch"] == pytest.approx(epoch_after(2, ROWS))
    summary = json.loads((dpo_out / "train_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 2
    assert summary["shared_prefix_steps"] == 0  # the shared-prefix forward is single-process: TRL's own ran


@pytest.mark.slow
def test_shipped_fsdp_config_runs_and_says_it_is_data_parallel_on_a_cpu(tiny_model_dir, tmp_path):
    done = launch(["--config_file", "configs/accelerate/fsdp.yaml"], sft_args(tiny_model_dir), tmp_path / "sft")
    check_run(tmp_path / "sft", "MULTI_CPU", merged=True)
    assert "FSDP was asked for, but accelerate does not shard on this device" in done.stdout


def deepspeed_or_fail():
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        why = "deepspeed is not installed (scripts/install.sh --dev installs it)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{why}; CI must run the ZeRO-3 test", pytrace=False)
        pytest.skip(why)


@pytest.mark.slow
def test_shipped_zero3_config_trains_sft_and_dpo_and_saves_the_gathered_adapter(tiny_model_dir, prefs_file,
                                                                                 tmp_path):
    deepspeed_or_fail()
    zero3 = ["--config_file", "configs/accelerate/zero3.yaml"]
    sft_out, dpo_out = tmp_path / "sft", tmp_path / "dpo"
    launch(zero3, sft_args(tiny_model_dir), sft_out)
    sft = check_run(sft_out, "DEEPSPEED", merged=False)  # sharded weights: the adapter is saved, merge afterwards
    assert sft["losses"][-1]["epoch"] == pytest.approx(epoch_after(STEPS, ROWS))
    adapter = load_file(str(sft_out / "adapter_model.safetensors"))
    # gathered from both shards: full LoRA matrices, and B moved away from its zero start
    assert adapter and all(t.numel() > 0 for t in adapter.values())
    assert any(t.abs().sum() > 0 for k, t in adapter.items() if "lora_B" in k)

    launch(zero3, dpo_args(sft_out, prefs_file), dpo_out)
    check_run(dpo_out, "DEEPSPEED", merged=False)
