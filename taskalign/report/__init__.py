"""Human-readable reports of red-team runs: one self-contained HTML page (+ markdown) per run, and a side-by-side compare.

    taskalign report runs/base [--redact]          -> runs/base/report.html, runs/base/report.md
    taskalign compare runs/base runs/sft runs/aligned --out compare.html   (+ compare.md, compare.json)
"""

from pathlib import Path


def write_report(run_dir, redact: bool = False, domain=None) -> Path:
    """Write run_dir/report.html and run_dir/report.md from the run folder files; returns the HTML path."""
    from taskalign.report.page import write_report as _write

    return _write(run_dir, redact=redact, domain=domain)


def compare(run_dirs: list, out: Path, labels: list[str] | None = None, domain=None) -> Path:
    """Compare 2-4 runs: writes `out` (HTML) plus the .md and .json beside it; labels default to the folder names.
    The runs must share one domain (`domain` when given)."""
    from taskalign.report.compare_runs import compare as _compare

    return _compare(run_dirs, out, labels=labels, domain=domain)


__all__ = ["write_report", "compare"]
