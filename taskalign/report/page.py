"""The single-run report: `write_report(run_dir)` writes run_dir/report.html and run_dir/report.md.

Run it with `taskalign report RUN_DIR [--redact]`; the red-team runner also calls it at the end of every run.
Everything shown comes from the run folder files (docs/run-folder.md), so a report can be rebuilt at any time.
"""

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from taskalign.files import write_text_atomic
from taskalign.report import charts
from taskalign.report.diagnosis import diagnose
from taskalign.report.render import anchor, render
from taskalign.report.rundata import Run, load_run, ordered_metrics
from taskalign.taxonomy import FAILURE_MODES, HIGHER_IS_BETTER

HEADLINE = [("attack_success", "Attack success", "harmful requests the model carried out"),
            ("false_refusal", "False refusal", "legitimate requests it refused"),
            ("task_accuracy", "Task accuracy", "right tool and required arguments"),
            ("graceful_refusal", "Graceful refusal", "refusals that explain and offer an alternative")]
CI_METHOD = "percentile bootstrap over cases, 1,000 resamples, fixed seed"
EXAMPLES_PER_MODE = 25
REDACTED = "[redacted: the assistant's reply to a harmful request is withheld from this report]"


def write_report(run_dir, redact: bool = False, domain=None) -> Path:
    """Write report.html and report.md into the run folder; returns the HTML path. domain: whose assistant the
    transcripts name (default: the run's domain, else TaskMaster)."""
    from taskalign.domain.load import load_domain, run_domain

    run = load_run(run_dir)
    context = build_context(run, redact)
    assistant = load_domain(domain if domain is not None else run_domain(run_dir))
    context = {**context, "assistant": assistant.assistant, "run": {**context["run"], "domain": assistant.name}}
    write_text_atomic(run.path / "report.md", render("report.md.j2", **context))
    return write_text_atomic(run.path / "report.html", render("report.html.j2", **context))


def build_context(run: Run, redact: bool) -> dict:
    metrics = run.metrics
    names = ordered_metrics(metrics)
    groups = diagnose(run)
    return {"title": f"Red-team report: {run.summary.get('model') or run.config.get('model') or run.path.name}",
            "run": _run_facts(run), "redact": redact, "names": names, "metrics": metrics,
            "higher_better": HIGHER_IS_BETTER,
            "headline": [{"key": k, "title": t, "what": w, "m": metrics.get(k) or {}, "up": k in HIGHER_IS_BETTER}
                         for k, t, w in HEADLINE],
            "overview_chart": charts.overview(metrics, names) if names else None,
            "mode_charts": _mode_charts(run.summary),
            "harm_tables": _harm_tables(run.summary),
            "split_tables": _split_tables(run.summary),
            "diagnosis": groups, "examples": _examples(run, groups, redact), "errors": _errors(run),
            "adaptive": _adaptive(run.summary), "methodology": _methodology(run), "config_json": json.dumps(run.config, indent=2, ensure_ascii=False),
            "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _run_facts(run: Run) -> dict:
    s, c = run.summary, run.config
    return {"path": str(run.path), "model": s.get("model") or c.get("model"), "model_name": c.get("model_name"),
            "adapter": c.get("adapter"), "suite_version": s.get("suite_version") or c.get("suite_version"),
            "started_at": s.get("started_at") or c.get("started_at"), "duration_s": s.get("duration_s"),
            "cases_per_s": s.get("cases_per_s"), "n_cases": s.get("n_cases", len(run.scores)),
            "n_errors": s.get("n_errors", 0), "n_uncertain": s.get("n_uncertain", 0), "version": c.get("taskalign_version"), "label": run.label,
            "n_failed": sum(1 for r in run.scores if r.get("failed") is True),
            "pairs_path": _relative(run.pairs_path, run.path) if run.pairs else None}


def _relative(target: Path | None, start: Path) -> str | None:
    import os

    return None if target is None else os.path.relpath(target, start)


def _mode_charts(summary: dict) -> list[dict]:
    """One chart per failure mode: all cases, then each split and harm category where the metric applies."""
    out = []
    for mode in FAILURE_MODES:
        overall = (summary.get("metrics") or {}).get(mode) or {}
        if overall.get("value") is None:
            continue
        rows = [("all cases", overall)]
        splits = summary.get("by_split") or {}
        if len(splits) > 1:  # with a single split its bar would repeat "all cases"
            rows += [(f"split: {name}", (part.get("metrics") or {}).get(mode) or {}) for name, part in sorted(splits.items())]
        rows += [(name, (part.get("metrics") or {}).get(mode) or {})
                 for name, part in sorted((summary.get("by_harm_category") or {}).items())]
        out.append({"mode": mode, "chart": charts.rate_bars(mode, rows, mode in HIGHER_IS_BETTER)})
    return out


def _metric_rows(part: dict) -> list[dict]:
    metrics = part.get("metrics") or {}
    return [{"name": n, "m": metrics[n]} for n in ordered_metrics(metrics) if (metrics[n] or {}).get("n")]


def _harm_tables(summary: dict) -> list[dict]:
    tables = [{"name": name, "rows": _metric_rows(part)}
              for name, part in sorted((summary.get("by_harm_category") or {}).items())]
    return [t for t in tables if t["rows"]]


def _split_tables(summary: dict) -> list[dict]:
    tables = [{"name": name, "rows": _metric_rows(part)} for name, part in sorted((summary.get("by_split") or {}).items())]
    return [t for t in tables if t["rows"]]


def _adaptive(summary: dict) -> dict | None:
    """An attack run's search results (summary `adaptive`): ASR at each budget, per family, the strongest operators."""
    adaptive = summary.get("adaptive")
    if not isinstance(adaptive, dict) or not isinstance(adaptive.get("asr"), dict):
        return None
    operators = sorted((adaptive.get("by_operator") or {}).items(), key=lambda kv: (-kv[1]["successes"], kv[0]))
    return {"budget": adaptive.get("budget"), "asr": adaptive["asr"], "asr_at": adaptive.get("asr_at") or {},
            "queries_mean": adaptive.get("queries_mean"), "families": sorted((adaptive.get("by_family") or {}).items()),
            "operators": operators[:12], "by_harm": sorted((adaptive.get("by_harm_category") or {}).items())}


def _judge(card) -> dict:
    """The judge's name and, for the trained judges, its binary accuracy on labelled replies it never saw (and what
    kind of held-out set that was), from the card in summary.json."""
    card = card if isinstance(card, dict) else {"name": card}
    heldout = card.get("heldout") if isinstance(card.get("heldout"), dict) else {}
    return {"name": card.get("name"), "accuracy": heldout.get("binary_accuracy"), "n": heldout.get("n"),
            "kind": card.get("heldout_kind") or "held-out", "abstain": card.get("abstain")}


def _methodology(run: Run) -> dict:
    split = (run.config.get("filters") or {}).get("split")
    return {"suite_version": _run_facts(run)["suite_version"],
            "strategies": Counter(r.get("strategy") or "none" for r in run.scores).most_common(),
            "categories": Counter(r.get("category") or "?" for r in run.scores).most_common(),
            "splits": Counter(r.get("split") or "unspecified" for r in run.scores).most_common(),
            "split_filter": split or "all", "judge": _judge(run.summary.get("judge") or run.config.get("judge")),
            "ci_method": CI_METHOD, "cases_source": run.config.get("cases"), "generation": run.config.get("generation")}


def _errors(run: Run) -> list[dict]:
    return [{"id": str(r["id"]), "category": r.get("category"), "error": r.get("error")}
            for r in run.scores if r.get("verdict") == "error" or r.get("failed") is None and r.get("error")]


def _messages(run: Run, row: dict, redact: bool) -> list[dict]:
    """The conversation of one case; assistant replies to harmful requests are collapsed, or withheld when redacting."""
    harmful = row.get("expected") == "refuse"
    transcript = run.transcripts.get(str(row["id"])) or {}
    messages = transcript.get("messages") or [{"role": "assistant", "content": row.get("response") or ""}]
    turn_verdicts = list(row.get("turn_verdicts") or [row.get("verdict")])
    out, turn = [], 0
    for msg in messages:
        if msg.get("role") == "system":
            continue
        item = {"role": msg.get("role"), "content": msg.get("content") or "", "collapsed": False, "verdict": None}
        if item["role"] == "assistant":
            item["verdict"] = turn_verdicts[turn] if turn < len(turn_verdicts) else None
            turn += 1
            if harmful and redact:
                item["content"] = REDACTED
            elif harmful and item["verdict"] not in ("refuse", "clarify"):
                item["collapsed"] = True
        out.append(item)
    return out


def _examples(run: Run, groups: list[dict], redact: bool) -> list[dict]:
    rows = {str(r["id"]): r for r in run.scores}
    out = []
    for group in groups:
        shown = [dict(case, messages=_messages(run, rows[case["id"]], redact), anchor=anchor(case["id"]))
                 for case in group["cases"][:EXAMPLES_PER_MODE]]
        out.append({"mode": group["mode"], "title": group["title"], "cases": shown,
                    "more": len(group["cases"]) - len(shown)})
    return out
