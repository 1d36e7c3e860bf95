"""JSONL/JSON files: reading with line numbers (so every complaint names its line), atomic rewrites (temp file +
rename) and per-record appends that survive kill -9."""

import json
import os
import tempfile
from pathlib import Path

from taskalign.errors import UserError


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: Path, rows) -> Path:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; outputs are meant to be shared and opened
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def iter_lines(path: Path):
    """(line number, parsed object or None, error or None) for every non-blank line; never raises on bad content."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield lineno, None, f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
                continue
            yield lineno, row, None if isinstance(row, dict) else "expected a JSON object"


def read_rows(path: Path, what: str) -> list[tuple[int, dict]]:
    """(line number, row) for every row of a JSONL file; a bad line is a UserError naming the file and line."""
    rows = []
    for lineno, row, error in iter_lines(path):
        if error:
            raise UserError(f"{path} line {lineno}: {error}; each line of a {what} file must be one JSON object.")
        rows.append((lineno, row))
    return rows


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file this program wrote itself (no user-facing checks)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def repair_tail(path: Path) -> None:
    """Drop a half-written last line (a run killed mid-write) so appends start on a clean line."""
    path = Path(path)
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class Appender:
    """Append one JSON record per line, flushed and fsynced, so a killed run loses at most the record in flight."""

    def __init__(self, path: Path):
        repair_tail(path)
        self.f = open(path, "a")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()
