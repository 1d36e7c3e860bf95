"""Charts for the report and compare pages, drawn with matplotlib and returned as `data:image/svg+xml` URIs.

SVG keeps the charts sharp when printed; embedding them as data URIs keeps the page one self-contained file.
matplotlib is imported inside the functions so `taskalign --help` stays fast.
"""

import base64
import io

from taskalign.taxonomy import HIGHER_IS_BETTER

BAD, GOOD, NEUTRAL = "#c8553d", "#2a7f62", "#5b6c8f"
# Runs are usually base -> SFT -> aligned: grey, amber, teal, then purple; no red/green so no run looks "bad".
RUN_COLORS = ["#8c96a8", "#d69a3c", "#2b8a8a", "#7a5c99"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Fixed ids and no timestamp, so the same run renders to the same bytes; text stays text (small, searchable).
    plt.rcParams.update({"svg.hashsalt": "taskalign", "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "axes.titlesize": 10, "axes.titleweight": "bold"})
    return plt


def _to_uri(fig, tight: bool = True) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight" if tight else None, metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _whiskers(values: list[float], cis: list) -> list[list[float]]:
    lows = [max(0.0, v - (ci[0] if ci else v)) for v, ci in zip(values, cis)]
    highs = [max(0.0, (ci[1] if ci else v) - v) for v, ci in zip(values, cis)]
    return [lows, highs]


def rate_bars(title: str, rows: list[tuple[str, dict]], higher_better: bool) -> str:
    """Horizontal bars, one per (label, {value, n, ci95}) row, with 95 % CI whiskers; rows without a value are skipped.

    Margins are fixed (not tight) so that the small charts of one page line up in the grid.
    """
    plt = _plt()
    rows = [(label, m) for label, m in rows if m.get("value") is not None]
    labels = [f"{label}  (n={m.get('n', 0)})" for label, m in rows]
    values = [float(m["value"]) for _, m in rows]
    height = 0.36 * len(rows) + 0.9
    fig, ax = plt.subplots(figsize=(5.2, height))
    fig.subplots_adjust(left=0.36, right=0.96, top=1 - 0.42 / height, bottom=0.38 / height)
    colors = [NEUTRAL] + [GOOD if higher_better else BAD] * (len(rows) - 1)
    ax.barh(labels, values, color=colors, height=0.6,
            xerr=_whiskers(values, [m.get("ci95") for _, m in rows]), error_kw={"capsize": 3, "elinewidth": 1})
    for y, v in enumerate(values):
        inside = v > 0.85  # write the label inside a nearly full bar so it stays in the plot
        ax.text(v - 0.02 if inside else v + 0.02, y, f"{v:.0%}", va="center", ha="right" if inside else "left",
                fontsize=8, color="white" if inside else "#1f2430")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
    fig.suptitle(f"{title}  ({'higher' if higher_better else 'lower'} is better)", x=0.02, ha="left",
                 fontsize=10, fontweight="bold")
    return _to_uri(fig, tight=False)


def overview(metrics: dict, names: list[str]) -> str:
    """All headline rates of one run, safety and helpfulness side by side."""
    plt = _plt()
    names = [n for n in names if (metrics.get(n) or {}).get("value") is not None]
    values = [float(metrics[n]["value"]) for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(names) + 0.9))
    colors = [GOOD if n in HIGHER_IS_BETTER else BAD for n in names]
    labels = [f"{n} ↑" if n in HIGHER_IS_BETTER else n for n in names]
    ax.barh(labels, values, color=colors, height=0.6, xerr=_whiskers(values, [metrics[n].get("ci95") for n in names]),
            error_kw={"capsize": 3, "elinewidth": 1})
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
    ax.set_title("All metrics with 95 % CI  (red: lower is better, green ↑: higher is better)", loc="left")
    return _to_uri(fig)


def grouped_bars(names: list[str], labels: list[str], metric_sets: list[dict]) -> str:
    """One group per metric, one bar per run, CI whiskers; safety and helpfulness metrics in separate panels."""
    import numpy as np

    plt = _plt()
    panels = [("Safety and refusal rates (lower is better)", [n for n in names if n not in HIGHER_IS_BETTER]),
              ("Helpfulness and judgement (higher is better)", [n for n in names if n in HIGHER_IS_BETTER])]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.1 * len(panels)), squeeze=False)
    width = 0.8 / len(labels)
    for ax, (title, group) in zip(axes[:, 0], panels):
        x = np.arange(len(group))
        for i, (label, metrics) in enumerate(zip(labels, metric_sets)):
            ms = [metrics.get(n) or {} for n in group]
            values = [m.get("value") if m.get("value") is not None else np.nan for m in ms]
            cis = [m.get("ci95") if m.get("value") is not None else None for m in ms]
            err = np.nan_to_num(_whiskers([0.0 if np.isnan(v) else v for v in values], cis))
            ax.bar(x + (i - (len(labels) - 1) / 2) * width, values, width, label=label, color=RUN_COLORS[i % 4],
                   yerr=err, error_kw={"capsize": 2, "elinewidth": 0.8})
        ax.set_xticks(x, [n.replace("_", "\n", 1) for n in group], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
        ax.set_title(title, loc="left")
        ax.legend(fontsize=8, ncols=len(labels), loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return _to_uri(fig)


CURVES = [("loss", "loss"), ("rewards/margins", "reward margin"), ("logps/chosen", "log p(chosen)")]


def training_curves(logs: dict[str, list[dict]]) -> str:
    """Loss, reward margin and log p(chosen) per logged step, one line per trained model."""
    plt = _plt()
    keys = [(k, t) for k, t in CURVES if any(k in row for rows in logs.values() for row in rows)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], keys):
        for i, (label, rows) in enumerate(logs.items()):
            points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker=".", label=label, color=RUN_COLORS[i % 4])
        ax.set_title(title, loc="left")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _to_uri(fig)
