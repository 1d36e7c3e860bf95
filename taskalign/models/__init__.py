"""Model specs → backends. `load_model(spec)` accepts exactly what `--model` accepts (see docs/design.md):

    embedded | ./folder | hub/id | ./adapter-folder (resolved to its base) | a red-team run folder (its model)
    | openai:<base_url> | mock:<file.jsonl>
"""

from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_json
from taskalign.models.base import ChatModel, GenerationConfig, Reply

__all__ = ["ChatModel", "GenerationConfig", "Reply", "head_digest", "head_setting", "load_model", "resolve_hf", "run_model"]


def resolve_hf(spec: str, adapter: str | None = None) -> tuple[str, str | None]:
    """(model folder or hub id, adapter folder or None) for a Hugging Face spec; embedded is converted on first use."""
    from taskalign.models import embedded
    from taskalign.models.hf import adapter_base

    if spec == "embedded":
        return str(embedded.resolve()), adapter
    path = Path(spec)
    if path.exists():
        if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
            if adapter:
                raise UserError(f"{spec} is itself an adapter folder; pass its base model with --model instead.")
            base = adapter_base(path)
            if not base:
                raise UserError(f"Adapter folder {spec} does not name its base model; pass --model BASE --adapter {spec}.")
            return resolve_hf(base)[0], str(path)
        if not (path / "config.json").is_file():
            raise UserError(f"{spec} has no config.json; pass a Hugging Face model folder, an adapter folder or 'embedded'.")
        if (path / "summary.json").is_file():
            return resolve_hf(run_model(path), adapter)
        return str(path), adapter
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise UserError(f"Model folder {spec} does not exist; check the path (or use 'embedded', 'openai:URL', 'mock:FILE').")
    return _hub_id(spec), adapter


def run_model(run_dir: Path) -> str:
    """A red-team run folder (e.g. runs/demo/aligned) stands for the Hugging Face model it evaluated."""
    model = read_json(run_dir / "config.json", dict).get("model")
    if not isinstance(model, str) or model.startswith(("openai:", "mock:")):
        raise UserError(f"{run_dir} is a red-team run of {model!r}, not of a local model; pass that model's spec instead.")
    return model


def _hub_id(spec: str) -> str:
    """The hub id itself when the hub answers, else its cached snapshot folder (transformers would retry for ~45 s)."""
    from taskalign.models.embedded import _hub_reachable

    if _hub_reachable():
        return spec
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(spec, local_files_only=True)
    except Exception:  # not cached (the hub library raises several kinds for that)
        raise UserError(f"{spec} is neither a local folder nor in the Hugging Face cache, and huggingface.co is "
                        "unreachable; pass a local model folder or 'embedded'.") from None


def head_digest(spec: str, adapter: str | None = None) -> str | None:
    """A short hash of the decision head a local model's folder holds (taskalign.models.head), None when it has none
    or the spec is not a local Hugging Face folder: run folders record it, so a head fitted into a model's folder
    after a run started makes resuming that run an error instead of mixing replies made with and without it."""
    import hashlib

    from taskalign.models.head import FILE

    if spec.startswith(("mock:", "openai:")) or not (Path(spec).exists() or spec == "embedded"):
        return None
    try:
        path, adapter = resolve_hf(spec, adapter)
    except UserError:
        return None
    head = Path(adapter or path) / FILE
    return hashlib.sha256(head.read_bytes()).hexdigest()[:16] if head.is_file() else None


def head_setting(spec: str, adapter: str | None, head: bool) -> dict:
    """A run's `generation` entry for the decision head: `{"head": False}` with --no-head, the head's hash when the
    model's folder has one, nothing otherwise (so runs made before heads existed resume)."""
    if not head:
        return {"head": False}
    digest = head_digest(spec, adapter)
    return {"head": digest} if digest else {}


def load_model(spec: str, model_name: str | None = None, adapter: str | None = None, concurrency: int = 8,
               timeout_s: float = 120.0, precision: str = "fast", engine: str = "auto",
               tools: list[dict] | None = None, head: bool = True) -> ChatModel:
    """The backend of a model spec; `tools` (default: TaskMaster's) are sent to an OpenAI-compatible server; `head`:
    apply the model folder's decision head, if it has one (taskalign.models.head)."""
    if spec.startswith("mock:"):
        from taskalign.models.mock import MockModel

        return MockModel(spec[len("mock:"):])
    if spec.startswith("openai:"):
        from taskalign.models.openai_compat import OpenAIModel

        model = OpenAIModel(spec[len("openai:"):], model_name, concurrency=concurrency, timeout_s=timeout_s, tools=tools)
        model.check()
        return model
    from taskalign.models.hf import HFModel

    path, adapter = resolve_hf(spec, adapter)
    return HFModel(path, adapter, spec=spec, precision=precision, engine=engine, head=head)
