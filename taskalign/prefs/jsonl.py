"""JSONL reading with line numbers (so every complaint can name its line) and atomic writing (temp file + rename)."""

import json
import os
import tempfile
from pathlib import Path

from taskalign.errors import UserError


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
                yield lineno, None, f"not valid JSON ({exc.msg})"
                continue
            yield lineno, row, None if isinstance(row, dict) else "expected a JSON object"


def read_rows(path: Path, what: str) -> list[tuple[int, dict]]:
    """Every row of a JSONL file; a bad line is a UserError naming the file and line."""
    rows = []
    for lineno, row, error in iter_lines(path):
        if error:
            raise UserError(f"{path} line {lineno}: {error}; each line of a {what} file must be one JSON object.")
        rows.append((lineno, row))
    return rows


def write_atomic(path: Path, rows: list[dict]) -> Path:
    """Write rows as JSONL through a temp file in the same folder, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
