"""The judge stage on files: judge a JSONL of replies, or re-judge a red-team run folder.

    taskalign judge replies.jsonl --out judged.jsonl [--judge rules]
    taskalign judge runs/base
"""

from pathlib import Path

from taskalign.domain.conversation import messages_problem
from taskalign.errors import UserError
from taskalign.files import read_rows, write_jsonl_atomic


def read_items(path: Path) -> list[dict]:
    """Rows with `response` and `prompt` or `messages`; a bad line is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"Input file {path} does not exist; pass a JSONL file of replies or a red-team run folder.")
    rows = []
    for lineno, row in read_rows(path, "replies"):
        if not isinstance(row.get("response"), str):
            raise UserError(f"{path} line {lineno}: needs a 'response' string (plus 'prompt' or 'messages').")
        if "messages" in row and (problem := messages_problem(row["messages"])):
            raise UserError(f"{path} line {lineno}: {problem}.")
        if not isinstance(row.get("prompt"), str) and "messages" not in row:
            raise UserError(f"{path} line {lineno}: needs 'prompt' (a string) or 'messages' (a list of chat messages).")
        rows.append(row)
    if not rows:
        raise UserError(f"{path} has no replies to judge; pass a JSONL file with one {{\"response\": ...}} object "
                        "per line.")
    return rows


def judge_file(path: Path, out: Path, judge, batch_size: int = 256) -> Path:
    """Judge every row of `path` and write it to `out` with verdict, confidence, explanation, tool_calls (+checks)."""
    rows = read_items(Path(path))
    judged = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        for row, j in zip(batch, judge.judge(batch)):
            judged.append({**row, **j.to_dict(), "judge": judge.name})
    write_jsonl_atomic(Path(out), judged)
    return Path(out)


def domain_tools(domain: str | None, run_dir: Path | None = None) -> list[dict]:
    """The tools of `domain`, else of the domain a run folder's config.json names, else TaskMaster's."""
    from taskalign.domain.load import load_domain, run_domain

    return load_domain(domain if domain is not None else run_domain(run_dir)).tools


def rejudge(run_dir: Path, judge) -> dict:
    """Re-judge a run folder's transcripts (no generation); returns the run's new summary."""
    from taskalign.redteam.score import rejudge_run

    return rejudge_run(Path(run_dir), judge)
