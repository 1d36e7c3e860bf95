"""Gate a build on red-team results: bounds on metrics (safety and helpfulness at once) and regressions against a
baseline run, judged on the values and 95 % CIs in each run's summary.json. No Typer here; taskalign/gate/cli.py parses.

    from taskalign.gate import check, parse_bound
    result = check(["runs/aligned"], [parse_bound("attack_success=0.05", "max")], strict=True)
    result.passed                      # False when any bound or regression check failed
    write_junit("gate.xml", result)    # one testsuite per run, one testcase per check
"""

import difflib
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_json, write_text_atomic
from taskalign.report.compare_runs import overlap
from taskalign.report.rundata import ordered_metrics, read_summary
from taskalign.taxonomy import HIGHER_IS_BETTER, METRIC_ORDER

OPS = {"max": "<=", "min": ">="}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_EXPRESSION = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Bound:
    metric: str
    kind: str      # "max" (the metric must stay at or below limit) or "min" (at or above)
    limit: float

    def __str__(self) -> str:
        return f"{self.metric} {OPS[self.kind]} {self.limit:g}"


@dataclass
class Check:
    """One gate check on one run: a bound, or a regression against the baseline."""
    metric: str
    name: str                       # the testcase name: "attack_success <= 0.05" or "task_accuracy vs baseline"
    status: str                     # "pass", "fail" or "skip" (missing metric under --allow-missing)
    message: str                    # why, in one line
    value: float | None = None
    ci95: list | None = None
    n: int = 0

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class RunResult:
    given: str                      # the folder as passed
    path: Path                      # the red-team run gated (a pipeline's final run, or the folder itself)
    note: str | None = None         # how a pipeline folder was resolved
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(c.failed for c in self.checks)


@dataclass
class GateResult:
    runs: list[RunResult]
    strict: bool = False
    baseline: RunResult | None = None

    @property
    def checks(self) -> list[Check]:
        return [c for r in self.runs for c in r.checks]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.runs)


def higher_is_better(metric: str) -> bool:
    """Direction from the taxonomy; a metric it does not list (adaptive_attack_success) is a failure rate."""
    return metric in HIGHER_IS_BETTER


# -- parsing ---------------------------------------------------------------------------------------------------------

def _limit(text: str, where: str) -> float:
    if not _NUMBER.fullmatch(text.strip()):
        raise UserError(f"{where}: {text!r} is not a number; give a rate between 0 and 1 (e.g. 0.05).")
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{where}: {text} is outside [0, 1]; metrics are rates, so give a bound between 0 and 1.")
    return value


def parse_bound(text: str, kind: str) -> Bound:
    """`METRIC=VALUE` as given to --max or --min."""
    where = f"--{kind} {text}"
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UserError(f"{where} is not a bound; write --{kind} METRIC=VALUE (e.g. --{kind} "
                        f"{'attack_success=0.05' if kind == 'max' else 'task_accuracy=0.8'}).")
    return Bound(name.strip(), kind, _limit(value, where))


def parse_expression(text: str) -> Bound:
    """`METRIC<=VALUE` or `METRIC>=VALUE` as given to `redteam --gate`."""
    match = _EXPRESSION.match(text)
    if not match:
        raise UserError(f"--gate {text!r} is not a gate expression; write METRIC<=VALUE or METRIC>=VALUE "
                        "(e.g. --gate attack_success<=0.05 --gate task_accuracy>=0.8).")
    name, op, value = match.groups()
    return Bound(name, "max" if op == "<=" else "min", _limit(value, f"--gate {text}"))


def require_known(bounds: list[Bound]) -> None:
    """Before a red-team run: every bound must name a metric a run reports (so a typo fails before any model loads)."""
    for b in bounds:
        if b.metric not in METRIC_ORDER:
            hint = _did_you_mean(b.metric, METRIC_ORDER)
            raise UserError(f"--gate names {b.metric!r}, which a red-team run does not report{hint}; "
                            f"its metrics are {', '.join(METRIC_ORDER)}.")


def _did_you_mean(name: str, names) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# -- reading runs ----------------------------------------------------------------------------------------------------

def resolve_run(folder) -> tuple[Path, str | None]:
    """The red-team run folder to gate: the folder itself, or a pipeline folder's final run (the last in `runs`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; pass a red-team run folder (taskalign redteam ... --out DIR) "
                        "or a pipeline folder.")
    manifest = folder / "pipeline.json"
    if not manifest.is_file():
        return folder, None
    runs = read_json(manifest, dict).get("runs")
    if not isinstance(runs, dict) or not runs or not all(isinstance(v, str) for v in runs.values()):
        raise UserError(f"{manifest} lists no runs; finish the pipeline (taskalign pipeline --out {folder}) and retry.")
    label, rel = list(runs.items())[-1]    # the pipeline lists its runs in order; the last is the final aligned model
    return folder / rel, f"pipeline {folder}: gating its final run {label!r} ({folder / rel})"


def load_metrics(run: Path, given) -> dict:
    """{name: {value, n, ci95}} of a run's summary.json, with a NaN value or a malformed CI read as absent."""
    if not (run / "summary.json").is_file():
        where = f"{run} (the final run of pipeline {given})" if Path(given) != run else str(run)
        raise UserError(f"{where} has no summary.json; run `taskalign redteam ... --out {run}` first "
                        "(or finish the pipeline), then gate it.")
    return {name: _clean(m) for name, m in read_summary(run / "summary.json").get("metrics", {}).items()}


def _clean(m: dict) -> dict:
    value, ci = m.get("value"), m.get("ci95")
    if value is not None and not math.isfinite(value):
        value = None    # a rate with no counted rows can be written as NaN; it is no number to gate on
    ok_ci = isinstance(ci, list) and len(ci) == 2 and all(isinstance(x, int | float) and math.isfinite(x) for x in ci)
    n = m.get("n")
    return {"value": value, "n": n if isinstance(n, int) else 0, "ci95": ci if ok_ci else None}


# -- checks ----------------------------------------------------------------------------------------------------------

def _missing(metric: str, name: str, m: dict | None, allow_missing: bool, what: str = "the run") -> Check:
    why = f"{metric} is not in {what}'s summary.json" if m is None else f"{metric} has no value in {what} (n = 0)"
    if allow_missing:
        return Check(metric, name, "skip", why + "; skipped (--allow-missing)")
    return Check(metric, name, "fail", why + "; a gate cannot pass on a missing metric (--allow-missing skips it)")


def check_bound(metrics: dict, bound: Bound, strict: bool = False, allow_missing: bool = False) -> Check:
    """A bound against one run's metrics; --strict judges the CI's pessimistic end instead of the value."""
    m, name = metrics.get(bound.metric), str(bound)
    if m is None or m["value"] is None:
        return _missing(bound.metric, name, m, allow_missing)
    ci, judged = m["ci95"], m["value"]
    if strict:
        if not ci:
            return Check(bound.metric, name, "skip" if allow_missing else "fail",
                         f"{bound.metric} has no 95% CI to judge strictly", m["value"], None, m["n"])
        judged = ci[1] if bound.kind == "max" else ci[0]   # the end of the CI that is worst for this bound
    ok = judged <= bound.limit if bound.kind == "max" else judged >= bound.limit
    message = f"bound {OPS[bound.kind]} {bound.limit:g}"
    if strict:
        message += f" on the CI's {'upper' if bound.kind == 'max' else 'lower'} end {judged:.4f}"
    return Check(bound.metric, name, "pass" if ok else "fail", message, m["value"], ci, m["n"])


def check_regression(metrics: dict, base: dict, metric: str, allow_missing: bool = False) -> Check:
    """Fail when the run is worse than the baseline in the metric's bad direction AND the two 95 % CIs are apart."""
    name = f"{metric} vs baseline"
    m, b = metrics.get(metric), base.get(metric)
    if m is None or m["value"] is None:
        return _missing(metric, name, m, allow_missing)
    if b is None or b["value"] is None:
        return _missing(metric, name, b, allow_missing, "the baseline")
    delta = m["value"] - b["value"]
    worse = delta < 0 if higher_is_better(metric) else delta > 0
    apart = overlap(m["ci95"], b["ci95"]) is False
    verdict = ("worse, CIs apart" if apart else "worse, CIs overlap") if worse else ("same" if delta == 0 else "better")
    message = f"vs baseline {b['value']:.4f} CI {_ci(b['ci95'])}: {verdict}"
    return Check(metric, name, "fail" if worse and apart else "pass", message, m["value"], m["ci95"], m["n"])


def _ci(ci) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "[no CI]"


def _known(metric: str, run: RunResult, metrics: dict, others: list[dict]) -> None:
    """A name no run reports and the taxonomy does not list is a typo: say which names there are."""
    if metric in metrics or metric in METRIC_ORDER or any(metric in o for o in others):
        return
    raise UserError(f"{metric!r} is not a metric of {run.path}{_did_you_mean(metric, metrics)}; its metrics are "
                    f"{', '.join(ordered_metrics(metrics)) or 'none'}.")


def _regression_metrics(bounds, regressions, metrics: dict, base: dict) -> list[str]:
    names = list(dict.fromkeys([b.metric for b in bounds] + list(regressions)))
    if names:
        return names
    # No bounds and no --regression: every metric with a value in both runs.
    return [n for n in ordered_metrics(metrics, base)
            if (metrics.get(n) or {}).get("value") is not None and (base.get(n) or {}).get("value") is not None]


def check(runs: list, bounds: list[Bound] = (), strict: bool = False, baseline=None, regressions: list[str] = (),
          allow_missing: bool = False) -> GateResult:
    """Every bound (and, with a baseline, every regression check) on every run. Reads everything first, so a bad
    folder or an unknown metric is a UserError before any result exists."""
    if not bounds and baseline is None:
        raise UserError("nothing to gate on; give a bound (--max METRIC=VALUE, --min METRIC=VALUE) or --baseline RUN.")
    if regressions and baseline is None:
        raise UserError("--regression compares against a baseline; add --baseline RUN.")
    results = [RunResult(str(r), *resolve_run(r)) for r in runs]
    summaries = [load_metrics(r.path, r.given) for r in results]
    base_result, base = None, {}
    if baseline is not None:
        base_result = RunResult(str(baseline), *resolve_run(baseline))
        base = load_metrics(base_result.path, base_result.given)
    for result, metrics in zip(results, summaries):
        for metric in [b.metric for b in bounds] + list(regressions):
            _known(metric, result, metrics, summaries + [base])
    for result, metrics in zip(results, summaries):
        result.checks = [check_bound(metrics, b, strict, allow_missing) for b in bounds]
        if baseline is not None:
            result.checks += [check_regression(metrics, base, name, allow_missing)
                              for name in _regression_metrics(bounds, regressions, metrics, base)]
    return GateResult(results, strict, base_result)


# -- output ----------------------------------------------------------------------------------------------------------

def format_check(run: RunResult, c: Check) -> str:
    """One plain-text line: run, metric, value, CI, the bound or baseline comparison, PASS/FAIL/SKIP."""
    value = "no value" if c.value is None else f"{c.value:.4f}  CI {_ci(c.ci95)}  n={c.n}"
    return f"{c.status.upper():4}  {run.path}  {c.metric}  {value}  {c.message}"


def summary_line(result: GateResult) -> str:
    checks = result.checks
    failed = sum(c.failed for c in checks)
    skipped = sum(c.status == "skip" for c in checks)
    runs = f"{len(result.runs)} run{'s' if len(result.runs) != 1 else ''}"
    extra = f", {skipped} skipped" if skipped else ""
    mode = " (strict: judged on the CI's pessimistic end)" if result.strict else ""
    if failed:
        return f"gate FAILED: {failed} of {len(checks)} checks failed on {runs}{extra}{mode}"
    return f"gate passed: {len(checks) - skipped} of {len(checks)} checks passed on {runs}{extra}{mode}"


def junit_xml(result: GateResult) -> str:
    """JUnit XML: one testsuite per run, one testcase per check; a failed check carries a <failure message=...>."""
    root = ET.Element("testsuites", name="taskalign gate", tests=str(len(result.checks)),
                      failures=str(sum(c.failed for c in result.checks)))
    for run in result.runs:
        suite = ET.SubElement(root, "testsuite", name=str(run.path), tests=str(len(run.checks)),
                              failures=str(sum(c.failed for c in run.checks)),
                              skipped=str(sum(c.status == "skip" for c in run.checks)), errors="0")
        if run.note:
            ET.SubElement(ET.SubElement(suite, "properties"), "property", name="resolved", value=run.note)
        for c in run.checks:
            case = ET.SubElement(suite, "testcase", classname=f"taskalign.gate.{run.path}", name=c.name)
            if c.status != "pass":
                tag = "failure" if c.failed else "skipped"
                line = format_check(run, c)
                attrs = {"message": line.split("  ", 1)[1], **({"type": "gate"} if c.failed else {})}
                ET.SubElement(case, tag, attrs).text = line
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path, result: GateResult) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--junit {path} is a folder; pass a file path such as {path / 'gate.xml'}.")
    try:
        return write_text_atomic(path, junit_xml(result))
    except OSError as exc:
        raise UserError(f"cannot write --junit {path} ({exc.strerror or exc}); pass a writable file path.") from None
