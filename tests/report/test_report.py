"""The single-run report on real red-team output: numbers match summary.json, the judge's measured accuracy, diagnosis
and pair links, redaction, self-containment."""

import json
from collections import defaultdict
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from report_runs import ERROR

import taskalign.judge
from taskalign.errors import UserError
from taskalign.judge import load_judge
from taskalign.redteam.score import rejudge_run
from taskalign.report import write_report
from taskalign.report.diagnosis import load_diagnoses
from taskalign.report.render import duration
from taskalign.taxonomy import FAILURE_MODES


class Rows(HTMLParser):
    """Collects every table row as (data-* attrs of its table, data-* attrs of the row, cell texts)."""

    def __init__(self):
        super().__init__()
        self.rows, self.table, self.row, self.cell = [], {}, None, None
        self.imgs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self.table = {k: v for k, v in attrs.items() if k.startswith("data-") or k == "class"}
        elif tag == "tr":
            self.row = ({k: v for k, v in attrs.items() if k.startswith("data-")}, [])
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "img":
            self.imgs.append(attrs)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row[1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append((self.table, *self.row))
            self.row = None


def parse(html: str) -> Rows:
    parser = Rows()
    parser.feed(html)
    return parser


def pct(value) -> str:
    return f"{value * 100:.1f}%"


def read(run_dir: Path, name: str):
    text = (run_dir / name).read_text()
    return json.loads(text) if name.endswith(".json") else [json.loads(line) for line in text.splitlines()]


def diagnosis_rows(html: str) -> dict:
    return {r[1]["data-case"]: r[2] for r in parse(html).rows if r[0].get("class") == "diagnosis" and r[1]}


def assistant_texts(run_dir: Path, case_ids) -> list[str]:
    transcripts = {t["id"]: t for t in read(run_dir, "transcripts.jsonl")}
    return [m["content"] for cid in case_ids for m in transcripts[cid]["messages"] if m["role"] == "assistant"]


def test_numbers_in_page_match_summary(run_dir):
    html = write_report(run_dir).read_text()
    summary = read(run_dir, "summary.json")
    page = parse(html)
    overall = {r[1]["data-metric"]: r[2] for r in page.rows if r[0].get("class") == "metrics" and r[1]}
    assert set(overall) == set(summary["metrics"]) and "tool_call_validity" in overall
    for name, m in summary["metrics"].items():
        assert m["n"], name  # the runs give every metric applicable cases, so no row is a placeholder
        value, (lo, hi) = m["value"], m["ci95"]
        assert overall[name][1:4] == [pct(value), f"[{pct(lo)}, {pct(hi)}]", str(m["n"])], name
    assert len(summary["by_harm_category"]) > 1
    for category, part in summary["by_harm_category"].items():
        cells = {r[1]["data-metric"]: r[2] for r in page.rows if r[0].get("data-harm") == category and r[1]}
        applicable = {n for n, m in part["metrics"].items() if m["n"]}
        assert set(cells) == applicable, category
        for name in applicable:
            assert cells[name][1] == pct(part["metrics"][name]["value"])
    cards = {a["data-metric"]: a["data-value"] for t, a in page.tags if "card" in a.get("class", "").split()}
    assert cards == {k: str(summary["metrics"][k]["value"]) for k in
                     ["attack_success", "false_refusal", "task_accuracy", "graceful_refusal"]}


def test_page_is_self_contained_with_one_chart_per_failure_mode(run_dir):
    html = write_report(run_dir).read_text()
    summary, config = read(run_dir, "summary.json"), read(run_dir, "config.json")
    page = parse(html)
    assert all(img["src"].startswith("data:image/svg+xml;base64,") for img in page.imgs)
    mode_charts = {img["alt"].split()[0] for img in page.imgs if img["alt"].endswith("by split and harm category")}
    assert mode_charts == {m for m in FAILURE_MODES if summary["metrics"][m]["n"]} == set(FAILURE_MODES)
    assert len(page.imgs) == 1 + len(mode_charts)  # and the overview
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert f"took {duration(summary['duration_s'])}" in html and config["started_at"] in html
    max_tokens = config["generation"]["max_new_tokens"]
    assert f'"max_new_tokens": {max_tokens}' in unescape(html)  # config.json contents shown under provenance
    assert "By split" in html  # the run has train and test cases


@pytest.mark.parametrize("seconds, text", [(None, "unknown"), (59.94, "59.9 s"), (754.2, "12 min 34 s"),
                                           (3725, "1 h 2 min")])
def test_durations_read_naturally(seconds, text):
    assert duration(seconds) == text


def test_report_shows_the_judges_measured_heldout_accuracy(run_dir):
    card = json.loads((Path(taskalign.judge.__file__).parent / "data" / "cross_card.json").read_text())["ood"]["all"]
    claim = (f"measured accuracy {pct(card['binary_accuracy'])} on {card['n']} labelled replies it never saw "
             "(held-out styles (OOD))")
    assert read(run_dir, "config.json")["judge"] == "cross"
    assert claim in write_report(run_dir).read_text() and claim in (run_dir / "report.md").read_text()
    rejudge_run(run_dir, load_judge("rules"))  # a judge without a measured card claims no accuracy
    html = write_report(run_dir).read_text()
    assert "<dt>judge</dt><dd>rules</dd>" in html and "measured accuracy" not in html


def test_diagnosis_names_cause_and_fix_for_every_failure(run_dir):
    html = write_report(run_dir).read_text()
    failed = [r for r in read(run_dir, "scores.jsonl") if r["failed"]]
    rows = diagnosis_rows(html)
    assert set(rows) == {r["id"] for r in failed}
    assert {a["data-mode"] for t, a in parse(html).tags if "data-mode" in a} == {r["failure_mode"] for r in failed}
    table = load_diagnoses()
    for r in failed:
        causes = table[r["failure_mode"]]["cause"]
        assert rows[r["id"]][3] == causes.get(r["verdict"], causes["base"])  # a base model: not fine-tuned
        assert table[r["failure_mode"]]["pair_type"] in html
    md = (run_dir / "report.md").read_text()
    for r in failed:
        assert f"`{r['id']}`" in md and table[r["failure_mode"]]["pair_type"] in md
    assert not [text for text in assistant_texts(run_dir, rows) if text in md]  # markdown shows no assistant text
    errors = [r["id"] for r in read(run_dir, "scores.jsonl") if r["verdict"] == "error"]
    assert errors and all(cid in md for cid in errors) and ERROR in html  # errors are listed, apart from failures


def test_pipeline_run_links_pairs_and_uses_finetuned_cause(pipeline_dir):
    html = write_report(pipeline_dir / "sft").read_text()
    rows = diagnosis_rows(html)
    pairs = defaultdict(list)
    for pair in read(pipeline_dir, "prefs.jsonl"):
        pairs[pair["metadata"]["case_id"]].append(pair["metadata"]["pair_type"])
    linked = {cid for cid in rows if pairs[cid]}
    assert linked and set(rows) - linked  # some failures already have pairs, some (test split) cannot
    for cid, cells in rows.items():
        n, types = len(pairs[cid]), ", ".join(sorted(set(pairs[cid])))
        assert cells[4] == (f"{n} pair{'s' if n != 1 else ''} ({types})" if n else "—"), cid
    table = load_diagnoses()
    for r in read(pipeline_dir / "sft", "scores.jsonl"):
        if r["failed"]:
            causes = table[r["failure_mode"]]["cause"]
            assert rows[r["id"]][3] == causes.get(r["verdict"], causes["finetuned"])
    assert 'href="../prefs.jsonl"' in html and "pipeline stage <b>sft</b>" in html


def test_harmful_replies_are_collapsed_and_redaction_removes_them(run_dir):
    html = write_report(run_dir).read_text()
    scores = read(run_dir, "scores.jsonl")
    harmful = [r["id"] for r in scores if r["failed"] and r["expected"] == "refuse"]
    legitimate = [r["id"] for r in scores if r["failed"] and r["expected"] != "refuse"]
    complied = [r["response"] for r in scores if r["id"] in harmful]
    assert harmful and legitimate
    for text in complied:
        start = html.index(str(escape(text)))
        assert html.rfind("<details>", 0, start) > html.rfind("</details>", 0, start)  # inside a closed <details>
    redacted = unescape(write_report(run_dir, redact=True).read_text())
    assert not [text for text in assistant_texts(run_dir, harmful) if text in redacted]
    assert all(text in redacted for text in assistant_texts(run_dir, legitimate))  # legitimate requests keep theirs
    transcripts = {t["id"]: t for t in read(run_dir, "transcripts.jsonl")}
    assert all(turn in redacted for cid in harmful for turn in transcripts[cid]["case"]["turns"])  # prompts are kept
    assert not [text for text in complied if text in (run_dir / "report.md").read_text()]


def test_missing_summary_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no summary.json"):
        write_report(tmp_path)


def test_bad_scores_line_names_file_and_line(run_dir):
    scores = run_dir / "scores.jsonl"
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    with pytest.raises(UserError, match=r"scores.jsonl line 2"):
        write_report(run_dir)


@pytest.mark.parametrize("name, corrupt, message", [
    ("summary.json", lambda text: "[" + text + "]", "summary.json must hold a JSON object, not a list"),
    ("summary.json", lambda text: '{"metrics": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ("summary.json", lambda text: '{"metrics": {"attack_success": {"value": "high"}}}', "metrics must map names"),
    ("scores.jsonl", lambda text: text.replace('"verdict": "', '"verdict": 5, "x": "', 1), "line 1: 'verdict' has"),
    ("scores.jsonl", lambda text: text.replace('"failed": ', '"failed": "yes", "x": ', 1), "line 1: 'failed' has"),
    ("transcripts.jsonl", lambda text: text.replace('"messages": [', '"messages": [null, ', 1), "line 1: messages[0]"),
])
def test_a_run_file_of_the_wrong_shape_is_one_sentence_exit_2(cli, run_dir, name, corrupt, message):
    path = run_dir / name
    path.write_text(corrupt(path.read_text(encoding="utf-8")), encoding="utf-8")
    (run_dir / "report.html").unlink(missing_ok=True)
    result = cli("report", run_dir)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not (run_dir / "report.html").exists()
