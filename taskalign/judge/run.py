"""The judge stage on files: judge a JSONL of replies, or re-judge a red-team run folder.

    taskalign judge replies.jsonl --out judged.jsonl [--judge rules]
    taskalign judge runs/base
"""

import json
import os
import tempfile
from pathlib import Path

from taskalign.errors import UserError


def read_items(path: Path) -> list[dict]:
    """Rows with `response` and `prompt` or `messages`; a bad line is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"Input file {path} does not exist; pass a JSONL file of replies or a red-team run folder.")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(f"{path} line {lineno}: not valid JSON; each line must be one JSON object.") from None
        if not isinstance(row, dict) or not isinstance(row.get("response"), str):
            raise UserError(f"{path} line {lineno}: needs a 'response' string (plus 'prompt' or 'messages').")
        if not isinstance(row.get("prompt"), str) and not isinstance(row.get("messages"), list):
            raise UserError(f"{path} line {lineno}: needs 'prompt' (a string) or 'messages' (a list of chat messages).")
        rows.append(row)
    return rows


def write_jsonl_atomic(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


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


def rejudge(run_dir: Path, judge) -> dict:
    """Re-judge a run folder's transcripts (no generation); returns the run's new summary."""
    if not (Path(run_dir) / "transcripts.jsonl").is_file():
        raise UserError(f"{run_dir} has no transcripts.jsonl; pass a red-team run folder (taskalign redteam --out DIR).")
    try:
        from taskalign.redteam.score import rejudge_run
    except ImportError:
        raise UserError("Re-judging a run needs the red-team stage (taskalign.redteam), which is not installed.") from None
    return rejudge_run(Path(run_dir), judge)
