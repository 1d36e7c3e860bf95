"""Print an attack run's headline: ASR@budget with its CI, ASR at smaller budgets, and the strongest operators."""

from pathlib import Path

from rich.console import Console
from rich.table import Table

from taskalign.files import read_json


def print_attack(run_dir: Path) -> None:
    adaptive = read_json(Path(run_dir) / "summary.json", dict)["adaptive"]
    console = Console()
    asr = adaptive["asr"]
    console.print(f"[bold]ASR@{adaptive['budget']}[/bold] {asr['value']:.3f} (95% CI {asr['ci95'][0]:.3f}-"
                  f"{asr['ci95'][1]:.3f}, n={asr['n']} intents, {adaptive['queries_mean']} attempts per intent)")
    console.print("ASR at smaller budgets: " + ", ".join(f"@{k} {v:.3f}" for k, v in adaptive["asr_at"].items()))
    table = Table("operator", "family", "attempts", "successes", "rate")
    ranked = sorted(adaptive["by_operator"].items(), key=lambda kv: (-kv[1]["successes"], kv[0]))
    for name, stats in ranked[:12]:
        table.add_row(name, stats["family"], str(stats["attempts"]), str(stats["successes"]),
                      f"{stats['success_rate']:.3f}")
    console.print(table)
    console.print(f"attempts: {Path(run_dir) / 'attempts.jsonl'}  successful attacks: {Path(run_dir) / 'attacks.jsonl'}"
                  f"  report: {Path(run_dir) / 'report.html'}")
