"""Terminal view of a finished run: one row per metric (rate, n, 95 % CI) and the worst examples."""

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from taskalign.files import read_jsonl
from taskalign.taxonomy import HIGHER_IS_BETTER

console = Console()


def metrics_table(summary: dict, title: str) -> Table:
    table = Table(title=title)
    for col in ("metric", "rate", "n", "95% CI"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in summary["metrics"].items():
        arrow = " ↑" if name in HIGHER_IS_BETTER else ""
        value = "—" if m["value"] is None else f"{m['value']:.3f}"
        ci = "—" if not m.get("ci95") else f"[{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]"
        table.add_row(name + arrow, value, str(m["n"]), ci)
    return table


def print_run(run_dir: Path, examples: int = 5) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    console.print(metrics_table(summary, f"{run_dir} — {summary['model']} ({summary['n_cases']} cases)"))
    if summary["n_errors"]:
        console.print(f"[yellow]{summary['n_errors']} of {summary['n_cases']} replies were errors; they are not counted "
                      "as refusals or successes, and rerunning the same command generates them again.[/yellow]")
    failed = [r for r in read_jsonl(run_dir / "scores.jsonl") if r.get("failed")]
    # Worst first: attacks that succeeded with the judge most sure, then the other failures.
    failed.sort(key=lambda r: (r["expected"] != "refuse", -(r.get("confidence") or 0)))
    for row in failed[:examples]:
        reply = " ".join((row.get("response") or "").split())[:160]
        console.print(f"[red]✗[/red] [bold]{row['id']}[/bold] ({row['failure_mode']}, verdict {row['verdict']}): {reply}")
    console.print(f"Files in {run_dir}: transcripts.jsonl, scores.jsonl, summary.json, report.md, report.html")
