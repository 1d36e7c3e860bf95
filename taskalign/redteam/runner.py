"""Red-team runner: send every case to the model (multi-turn cases keep the model's own earlier replies), append one
transcript per finished case, then judge and summarise. Killed at any point, the same command resumes; by default the
resume also generates again the cases whose reply was an error (the endpoint may be back).

    taskalign redteam --model embedded --out runs/base
    taskalign redteam --domain path/to/my_domain --system-prompt none --model openai:URL --model-name M --out runs/x
    python -c "from taskalign.redteam.runner import RedteamConfig, run; run(RedteamConfig(model='embedded', out='runs/base'))"
"""

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from taskalign import __version__
from taskalign.domain import DEFAULT_DOMAIN, conversation, load_domain
from taskalign.domain.toolcalls import parse_tool_calls
from taskalign.errors import UserError
from taskalign.files import Appender, read_json, read_jsonl, repair_tail, write_json_atomic, write_jsonl_atomic
from taskalign.models import head_setting
from taskalign.models.base import GenerationConfig

TIMING = "timing.jsonl"  # one row per generated chunk: {"attempt": start time, "cases", "generation_s"}


@dataclass(frozen=True)
class RedteamConfig:
    model: str
    out: str
    model_name: str | None = None
    adapter: str | None = None
    cases: str | None = None            # None: the built-in suite
    categories: tuple[str, ...] | None = None
    split: str | None = None
    limit: int | None = None
    max_new_tokens: int = 96
    batch_size: int = 32
    concurrency: int = 8
    precision: str = "fast"             # Hugging Face backend: see taskalign.models.hf.PRECISIONS
    engine: str = "auto"                # Hugging Face backend, greedy replies: see taskalign.models.hf.ENGINES
    head: bool = True                   # apply the model folder's decision head, if any (taskalign.models.head)
    temperature: float = 0.0
    seed: int = 0
    judge: str = "cross"
    judge_model_name: str | None = None
    abstain: float | None = None        # verdicts below this confidence are `uncertain` (never in the model's favour)
    report: bool = True
    retry_errors: bool = True           # on resume, generate again the cases whose transcript holds an error
    domain: str = DEFAULT_DOMAIN        # a built-in domain name or a domain folder: persona, tools, suite
    system_prompt: str | None = None    # None: the domain's prompt; "none": no system message; else a file's text
    extra: dict = field(default_factory=dict)


def _identity(config: RedteamConfig, suite_version: str) -> dict:
    """The settings that decide what a run generates: resuming with different ones would mix two runs. The domain and
    system prompt (and the engine) are named only when they are not the defaults, so folders written before they existed
    resume."""
    other = {} if config.domain == DEFAULT_DOMAIN else {"domain_dir": str(load_domain(config.domain).root)}
    engine = {} if config.engine == "auto" else {"engine": config.engine}
    engine.update(head_setting(config.model, config.adapter, config.head))
    if config.system_prompt is not None:
        other["system_prompt"] = config.system_prompt if config.system_prompt == "none" else str(
            Path(config.system_prompt).resolve())
    return {**other, "model": config.model, "model_name": config.model_name, "adapter": config.adapter,
            "cases": str(Path(config.cases).resolve()) if config.cases else "builtin", "suite_version": suite_version,
            "filters": {"categories": list(config.categories) if config.categories else None, "split": config.split,
                        "limit": config.limit},
            "generation": {"max_new_tokens": config.max_new_tokens, "temperature": config.temperature, "seed": config.seed,
                           "precision": config.precision, **engine}}


def _prepare(config: RedteamConfig, out: Path) -> tuple[list[dict], dict]:
    from taskalign.suite import domain_cases, filter_cases, load_cases, suite_version

    domain = load_domain(config.domain)
    conversation.system_for(config.system_prompt, domain)  # a missing prompt file fails before anything is written
    cases = load_cases(config.cases) if config.cases else domain_cases(domain)
    cases = filter_cases(cases, categories=config.categories, split=config.split, limit=config.limit)
    if not cases:
        raise UserError("No case matches --categories/--split/--limit; widen the filters.")
    identity = _identity(config, suite_version(domain) if not config.cases else None)
    saved_path = out / "config.json"
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text())
        if {k: saved.get(k) for k in identity} != identity:
            raise UserError(f"{out} holds a run with different settings; use another --out or delete it to start over.")
        return cases, saved
    saved = {**identity, "domain": domain.name, "system_prompt": config.system_prompt or "domain",
             "judge": config.judge, "batch_size": config.batch_size, "concurrency": config.concurrency,
             "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "taskalign_version": __version__}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(saved_path, saved)
    return cases, saved


def generate_chunk(model, cases: list[dict], gen: GenerationConfig, system: str | None = None,
                   tools: list[dict] | None = None) -> list[dict]:
    """Run all turns of these cases (the model's `converse`, batched across the chunk), stopping a case at its first
    error. `system`: the system prompt ("" for none; None for TaskMaster's); `tools`: what a reply's calls are checked
    against (None: TaskMaster's)."""
    convs = [conversation.for_case(c, system) for c in cases]
    replies = model.converse(convs, [c["turns"] for c in cases], gen, keys=[c["id"] for c in cases])
    transcripts = []
    for c, messages, case_replies in zip(cases, convs, replies):
        if tools is not None:
            for reply in case_replies:
                reply.tool_calls = parse_tool_calls(reply.text, tools)
        transcripts.append({"id": c["id"], "case": c, "messages": messages,
                            "replies": [r.to_dict() for r in case_replies],
                            "error": case_replies[-1].error if case_replies else None})
    return transcripts


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn())


LOCAL_CHUNK_BATCHES = 4  # a local model's chunk holds this many batches (see chunk_size)


def chunk_size(model: str, batch_size: int, concurrency: int) -> int:
    """Cases per chunk, the unit that is generated (all turns) and then appended to the transcripts. An endpoint gets
    two requests per parallel connection. A local model gets several batches: the `prefix` engine keeps its batch
    full from the waiting prompts, which needs more prompts than one batch holds, above all in the later turns of
    multi-turn cases; a killed run loses at most one chunk (docs/performance.md)."""
    return concurrency * 2 if model.startswith("openai:") else batch_size * LOCAL_CHUNK_BATCHES


def _generate_all(config: RedteamConfig, todo: list[dict], out: Path, model=None) -> None:
    """Generate the unfinished cases in chunks; each finished case is appended (and fsynced) before the next chunk,
    and so is the chunk's time (timing.jsonl), so the time of an attempt that gets killed still counts."""
    from taskalign.models import load_model

    own, domain = model is None, load_domain(config.domain)
    model = model or load_model(config.model, model_name=config.model_name, adapter=config.adapter,
                                concurrency=config.concurrency, precision=config.precision, engine=config.engine,
                                tools=domain.tools, head=config.head)
    system = conversation.system_for(config.system_prompt, domain)
    gen = GenerationConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=config.seed,
                           batch_size=config.batch_size)
    chunk = chunk_size(config.model, config.batch_size, config.concurrency)
    # Cases with similar turn counts and lengths share a chunk, so batches waste little on padding.
    todo = sorted(todo, key=lambda c: (len(c["turns"]), len(" ".join(c["turns"]))))
    attempt = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    transcripts, timing, last = Appender(out / "transcripts.jsonl"), Appender(out / TIMING), time.perf_counter()
    try:
        with _progress() as bar:
            task = bar.add_task(f"red-team {config.model}", total=len(todo))
            for i in range(0, len(todo), chunk):
                batch = todo[i:i + chunk]
                finished, now = generate_chunk(model, batch, gen, system, domain.tools), time.perf_counter()
                # The time first: a kill between the two writes still counts the time the chunk took.
                timing.write({"attempt": attempt, "cases": len(batch), "generation_s": round(now - last, 3)})
                for transcript in finished:
                    transcripts.write(transcript)
                last = now
                bar.advance(task, len(batch))
    finally:
        transcripts.close()
        timing.close()
        if own:
            model.close()


def _carry_old_duration(out: Path) -> None:
    """A folder written before timing.jsonl existed kept its generation time only in summary.json: carry it over."""
    summary = out / "summary.json"
    if not (out / TIMING).exists() and summary.is_file():
        seconds = read_json(summary).get("duration_s")
        if seconds:
            with Appender(out / TIMING) as timing:
                timing.write({"attempt": None, "cases": None, "generation_s": seconds})


def _generation_seconds(out: Path) -> float:
    """Generation time summed over every attempt, the killed ones included."""
    path = out / TIMING
    return sum(row.get("generation_s") or 0.0 for row in read_jsonl(path, partial_tail=True)) if path.is_file() else 0.0


def _one_per_case(path: Path, wanted: set[str]) -> list[dict]:
    """The run's transcripts, the last one of each case; rewrites the file atomically when a retry left an older one."""
    from taskalign.redteam.score import last_per_case

    rows = read_jsonl(path, partial_tail=True) if path.is_file() else []
    latest = last_per_case(rows)
    if len(latest) < len(rows):
        write_jsonl_atomic(path, latest)
    return [t for t in latest if t["id"] in wanted]


def _fail_if_all_errors(transcripts: list[dict]) -> None:
    errors = [t["error"] for t in transcripts if t.get("error")]
    if transcripts and len(errors) == len(transcripts):
        first = " ".join(str(errors[0]).split())[:200]
        raise UserError(f"Every one of the {len(errors)} cases failed with an error (first: {first}); check --model "
                        "and that the server answers, then rerun the same command: the run folder is kept and "
                        "errored cases are generated again.")


def run(config: RedteamConfig, model=None) -> Path:
    """Generate (resuming), judge, summarise and report; returns the run folder. Raises UserError, after writing
    everything, when every case ended in an error."""
    from taskalign.judge import load_judge
    from taskalign.redteam.score import last_per_case

    from taskalign.models.hf import ENGINE_HELP, ENGINES, PRECISION_HELP, PRECISIONS

    # Before the folder is written: a typo must not leave settings a corrected rerun is refused against.
    if config.precision not in PRECISIONS:
        raise UserError(f"precision {config.precision!r} is not one of {', '.join(PRECISIONS)} ({PRECISION_HELP}).")
    if config.engine not in ENGINES:
        raise UserError(f"engine {config.engine!r} is not one of {', '.join(ENGINES)} ({ENGINE_HELP}).")
    out = Path(config.out)
    cases, saved = _prepare(config, out)
    judge = load_judge(config.judge, model_name=config.judge_model_name, abstain=config.abstain,
                       tools=load_domain(config.domain).tools)  # before generating: a bad spec fails fast
    path = out / "transcripts.jsonl"
    repair_tail(path)
    _carry_old_duration(out)
    kept = last_per_case(read_jsonl(path)) if path.is_file() else []
    done = {t["id"] for t in kept if not (config.retry_errors and t.get("error"))}
    todo = [c for c in cases if c["id"] not in done]
    if todo:
        _generate_all(config, todo, out, model)
    transcripts = _one_per_case(path, {c["id"] for c in cases})
    _score(out, transcripts, judge, saved, round(_generation_seconds(out), 2))
    if config.report:
        from taskalign.report import write_report

        write_report(out)
    _fail_if_all_errors(transcripts)
    return out


def _score(out: Path, transcripts, judge, saved: dict, duration: float) -> dict:
    from taskalign.redteam.score import write_scores

    return write_scores(out, transcripts, judge, started_at=saved.get("started_at"), duration_s=duration,
                        cases_per_s=round(len(transcripts) / duration, 3) if duration else None)
