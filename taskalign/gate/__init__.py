"""Gate a build on red-team results: `taskalign gate RUN --max attack_success=0.05 --min task_accuracy=0.8`.

    from taskalign.gate import check, parse_bound
    result = check(["runs/aligned"], [parse_bound("attack_success=0.05", "max")], baseline="runs/main")
    result.passed, [c.message for c in result.checks]
"""

from taskalign.gate.gate import (Bound, Check, GateResult, RunResult, check, format_check, higher_is_better,
                                 junit_xml, parse_bound, parse_expression, require_known, summary_line, write_junit)

__all__ = ["Bound", "Check", "GateResult", "RunResult", "check", "format_check", "higher_is_better", "junit_xml",
           "parse_bound", "parse_expression", "require_known", "summary_line", "write_junit"]
