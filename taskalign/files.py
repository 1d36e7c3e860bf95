"""The file layer every stage uses: JSONL read with line numbers, atomic rewrites (temp file + rename) and
per-record appends that survive kill -9.

    for lineno, row in read_rows(path, "case"): ...               # a user's file: UserError naming FILE line N
    rows = read_jsonl(run / "transcripts.jsonl", partial_tail=True)  # our own file; skip a record cut by a kill
    with Appender(run / "transcripts.jsonl") as out: out.write(row)
    write_jsonl_atomic(run / "scores.jsonl", rows)

Lines end at "\\n" only: JSON written with ensure_ascii=False keeps U+2028, U+2029 and U+0085 raw inside strings, and
str.splitlines() would cut a record there. Bytes are decoded line by line, so a non-UTF-8 file is one UserError that
names the file and line, never a UnicodeDecodeError.
"""

import json
import os
import tempfile
from pathlib import Path

from taskalign.errors import UserError

NOT_AN_OBJECT = "expected a JSON object"


def write_text_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; outputs are meant to be shared and opened
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_json_atomic(path: Path, obj, default=None) -> Path:
    """`default` turns values JSON lacks (paths, enums) into JSON, as in json.dumps."""
    return write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=default) + "\n")


def write_jsonl_atomic(path: Path, rows) -> Path:
    return write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _raw_lines(path: Path):
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    with path.open("rb") as fh:
        yield from enumerate(fh, 1)  # binary lines end at b"\n" only


def _decode(path: Path, lineno: int, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} line {lineno} is not UTF-8 text ({exc.reason}); save the file as UTF-8.") from None
    return text.removeprefix("\ufeff") if lineno == 1 else text  # a byte-order mark some editors put first


def text_lines(path: Path):
    """(line number, line without its line end) for every line of a UTF-8 text file."""
    path = Path(path)
    for lineno, raw in _raw_lines(path):
        yield lineno, _decode(path, lineno, raw).rstrip("\r\n")


def _parse(text: str):
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    return row, None if isinstance(row, dict) else NOT_AN_OBJECT


def iter_lines(path: Path, partial_tail: bool = False):
    """(line number, parsed value, error or None) for every non-blank line; a line that is not a JSON object comes
    back with its error (NOT_AN_OBJECT with the value, or "not valid JSON ..." with None) instead of raising.

    partial_tail=True drops a broken last line that lacks its newline: the record a killed run was appending. Only
    a missing or non-UTF-8 file raises (UserError)."""
    path = Path(path)
    for lineno, raw in _raw_lines(path):
        cut = partial_tail and not raw.endswith(b"\n")  # only the last line can lack its newline
        try:
            text = _decode(path, lineno, raw)
        except UserError:
            if cut:  # the kill split a multi-byte character
                return
            raise
        if not text.strip():
            continue
        row, error = _parse(text)
        if error and cut:
            return
        yield lineno, row, error


def _rows(path: Path, partial_tail: bool, advice: str) -> list[tuple[int, dict]]:
    rows = []
    for lineno, row, error in iter_lines(path, partial_tail):
        if error:
            raise UserError(f"{path} line {lineno}: {error}; {advice}.")
        rows.append((lineno, row))
    return rows


def read_rows(path: Path, what: str, partial_tail: bool = False) -> list[tuple[int, dict]]:
    """(line number, row) for every row of a user's JSONL file; the first bad line is a UserError naming it."""
    return _rows(path, partial_tail, f"each line of a {what} file must be one JSON object")


def read_jsonl(path: Path, partial_tail: bool = False) -> list[dict]:
    """Rows of a JSONL file this program wrote; pass partial_tail=True for a file it appends to."""
    return [row for _, row in _rows(path, partial_tail, "fix or delete that line, or regenerate the file")]


def read_json(path: Path):
    """One JSON document; invalid JSON or non-UTF-8 bytes are a UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); save the file as UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno}); fix or regenerate it.") from None


def repair_tail(path: Path) -> None:
    """Drop a half-written last line (a run killed mid-write) so appends start on a clean line."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return  # the usual case, found without reading the whole file
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)


class Appender:
    """Append one JSON record per line, flushed and fsynced, so a killed run loses at most the record in flight."""

    def __init__(self, path: Path):
        repair_tail(path)
        self.f = open(path, "a", encoding="utf-8", newline="\n")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
