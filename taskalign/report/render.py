"""Jinja2 environment for the report templates (package data in taskalign/report/templates) and number formatting.

HTML templates (*.html.j2) are autoescaped; markdown templates are not. The stylesheet is inlined into every page so a
report is one file that opens offline.
"""

from functools import lru_cache
from importlib import resources


def pct(value, digits: int = 1) -> str:
    """0.4286 -> '42.9%'; None -> '–' (a metric with no applicable cases)."""
    return "–" if value is None else f"{float(value) * 100:.{digits}f}%"


def ci(metric: dict | None) -> str:
    interval = (metric or {}).get("ci95")
    if (metric or {}).get("value") is None or not interval:
        return ""
    return f"[{pct(interval[0])}, {pct(interval[1])}]"


def duration(seconds) -> str:
    if seconds is None:
        return "unknown"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {sec} s"


def anchor(case_id) -> str:
    """An HTML id for a case id ("stalk-ex/direct" -> "case-stalk-ex-direct")."""
    return "case-" + "".join(ch if ch.isalnum() else "-" for ch in str(case_id))


def md_cell(text) -> str:
    """Make any value safe inside a markdown table cell."""
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("taskalign.report", "templates"),
                             autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(pct=pct, ci=ci, duration=duration, md=md_cell, anchor=anchor)
    env.globals["stylesheet"] = resources.files("taskalign.report").joinpath("templates/style.css").read_text()
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
