"""Side-by-side comparison of 2-4 red-team runs (e.g. base, SFT, aligned): metrics with deltas and CI overlap,
the cases whose verdict flipped, and training curves of the models that came out of training.

    taskalign compare runs/base runs/sft runs/aligned --out compare.html   # also writes compare.md and compare.json
"""

from datetime import datetime, timezone
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import write_json_atomic, write_text_atomic
from taskalign.report import charts
from taskalign.report.render import render
from taskalign.report.rundata import Run, load_run, ordered_metrics, training_log
from taskalign.taxonomy import HIGHER_IS_BETTER


def compare(run_dirs: list, out, labels: list[str] | None = None, domain=None) -> Path:
    """Write `out` (HTML) and the .md / .json beside it; returns the HTML path."""
    runs, labels = _load(run_dirs, labels)
    data = {**comparison(runs, labels), "domain": same_domain(run_dirs, domain)}
    out = Path(out)
    if out.suffix != ".html":
        out = out.with_suffix(".html")
    write_json_atomic(out.with_suffix(".json"), data)
    logs = {label: training_log(run.model_dir) for label, run in zip(labels, runs)}
    logs = {label: rows for label, rows in logs.items() if rows}
    context = {"title": "Comparison: " + " → ".join(labels), "data": data, "higher_better": HIGHER_IS_BETTER,
               "metrics_chart": charts.grouped_bars([r["metric"] for r in data["metrics"]], labels,
                                                    [run.metrics for run in runs]),
               "training_chart": charts.training_curves(logs) if logs else None,
               "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    write_text_atomic(out.with_suffix(".md"), render("compare.md.j2", **context))
    return write_text_atomic(out, render("compare.html.j2", **context))


def same_domain(run_dirs: list, domain=None) -> str:
    """The one domain every run was red-teamed on (and `domain`, when given); runs of two assistants ran two
    different suites, so their metrics do not compare."""
    from taskalign.domain.load import load_domain, run_domain

    names = {Path(d).name: load_domain(run_domain(d)).name for d in run_dirs}
    wanted = load_domain(domain).name if domain is not None else None
    found = sorted(set(names.values()) | ({wanted} if wanted else set()))
    if len(found) > 1:
        which = ", ".join(f"{run} ({name})" for run, name in names.items())
        raise UserError(f"the runs are of different domains: {which}" + (f", --domain {wanted}" if wanted else "") +
                        "; compare runs of one domain.")
    return found[0]


def _load(run_dirs: list, labels: list[str] | None) -> tuple[list[Run], list[str]]:
    if not 2 <= len(run_dirs) <= 4:
        raise UserError(f"compare takes 2 to 4 run folders, got {len(run_dirs)}; pass between two and four.")
    if labels is not None and len(labels) != len(run_dirs):
        raise UserError(f"--labels has {len(labels)} names for {len(run_dirs)} runs; give one label per run.")
    runs = [load_run(d) for d in run_dirs]
    labels = list(labels) if labels else [r.label or r.path.resolve().name for r in runs]
    if len(set(labels)) != len(labels):
        raise UserError(f"the run labels {labels} are not unique; pass distinct names with --labels a,b,c.")
    return runs, labels


def overlap(a: list | None, b: list | None) -> bool | None:
    """Whether two 95 % CIs overlap; None when either is missing."""
    if not a or not b:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def _delta(name: str, before: dict, after: dict) -> dict | None:
    if before.get("value") is None or after.get("value") is None:
        return None
    delta = round(after["value"] - before["value"], 4)
    outside = overlap(before.get("ci95"), after.get("ci95")) is False
    good = delta > 0 if name in HIGHER_IS_BETTER else delta < 0
    return {"delta": delta, "outside_ci": outside,
            "direction": "same" if delta == 0 else ("better" if good else "worse")}


def _steps(labels: list[str]) -> list[tuple[int, int]]:
    """The pairs of runs a delta is shown for: each run against the one before it, and last against first."""
    steps = [(i - 1, i) for i in range(1, len(labels))]
    return steps + [(0, len(labels) - 1)] if len(labels) > 2 else steps


def comparison(runs: list[Run], labels: list[str]) -> dict:
    """The comparison as plain data: the JSON file, and the context of the HTML and markdown pages."""
    names = ordered_metrics(*(r.metrics for r in runs))
    steps = _steps(labels)
    rows = []
    for name in names:
        per_run = [r.metrics.get(name) or {"value": None, "n": 0, "ci95": None} for r in runs]
        deltas = [dict(_delta(name, per_run[a], per_run[b]) or {"delta": None, "outside_ci": None, "direction": None},
                       before=labels[a], after=labels[b]) for a, b in steps]
        rows.append({"metric": name, "higher_is_better": name in HIGHER_IS_BETTER,
                     "runs": dict(zip(labels, per_run)), "deltas": deltas})
    return {"schema": "taskalign.compare/1", "labels": labels,
            "runs": [{"label": lab, "path": str(r.path), "model": r.summary.get("model") or r.config.get("model"),
                      "n_cases": r.summary.get("n_cases", len(r.scores)), "n_errors": r.summary.get("n_errors", 0),
                      "started_at": r.summary.get("started_at"), "duration_s": r.summary.get("duration_s"),
                      "suite_version": r.summary.get("suite_version"), "trained_model": str(r.model_dir or "") or None}
                     for lab, r in zip(labels, runs)],
            "steps": [{"before": labels[a], "after": labels[b]} for a, b in steps],
            "metrics": rows,
            "flips": [flips(runs[a], runs[b], labels[a], labels[b]) for a, b in steps[:len(labels) - 1]]}


def flips(before: Run, after: Run, label_a: str, label_b: str) -> dict:
    """Cases present in both runs whose outcome changed: fixed (failed -> passed) and broken (passed -> failed)."""
    old = {str(r["id"]): r for r in before.scores if r.get("failed") is not None}
    new = {str(r["id"]): r for r in after.scores if r.get("failed") is not None}
    common = sorted(old.keys() & new.keys())
    out = {"before": label_a, "after": label_b, "n_common": len(common), "fixed": [], "broken": []}
    for case_id in common:
        a, b = old[case_id], new[case_id]
        if a["failed"] == b["failed"]:
            continue
        entry = {"id": case_id, "category": b.get("category"), "harm_category": b.get("harm_category"),
                 "failure_mode": a.get("failure_mode") or b.get("failure_mode"),
                 "verdict_before": a.get("verdict"), "verdict_after": b.get("verdict")}
        out["fixed" if a["failed"] else "broken"].append(entry)
    return out
