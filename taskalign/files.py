"""The file layer every stage uses: JSONL and YAML read with line numbers, atomic rewrites (temp file + rename) and
per-record appends that survive kill -9.

    for lineno, row in read_rows(path, "case"): ...               # a user's file: UserError naming FILE line N
    rows = read_jsonl(run / "transcripts.jsonl", partial_tail=True)  # our own file; skip a record cut by a kill
    values = read_yaml(path, "Config")                            # a mapping; a syntax error names its line
    with Appender(run / "transcripts.jsonl") as out: out.write(row)
    write_jsonl_atomic(run / "scores.jsonl", rows)

Lines end at "\\n" only: JSON written with ensure_ascii=False keeps U+2028, U+2029 and U+0085 raw inside strings, and
str.splitlines() would cut a record there. Bytes are decoded line by line, so a non-UTF-8 file is one UserError that
names the file and line, never a UnicodeDecodeError. A byte-order mark before the first line is skipped.

What a user's file may hold (read_rows, iter_lines): JSON only. NaN and Infinity are not JSON, and an escaped lone
surrogate ("\\ud800") is not a character and cannot be written as UTF-8, so both are rejected with their line. Files
this program writes (read_jsonl, read_json) may hold both: a model's reply can carry a lone surrogate and a metric can
be NaN. The JSON writers escape such a record (ensure_ascii) so it stays one valid line. Nesting deeper than Python's
recursion limit is an error naming the line, never a RecursionError.
"""

import json
import os
import re
import tempfile
from pathlib import Path

from taskalign.errors import UserError

NOT_AN_OBJECT = "expected a JSON object"
TOO_DEEP = "nested too deeply"
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def dumps(obj, **kwargs) -> str:
    """JSON text that is always valid UTF-8: characters stay raw, unless a lone surrogate forces escapes."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return json.dumps(obj, **kwargs) if _SURROGATE.search(text) else text


def write_text_atomic(path: Path, text: str) -> Path:
    """Write through a temp file and rename; a lone surrogate in the text is written as its escape (\\ud800)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; outputs are meant to be shared and opened
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_json_atomic(path: Path, obj, default=None) -> Path:
    """`default` turns values JSON lacks (paths, enums) into JSON, as in json.dumps."""
    return write_text_atomic(path, dumps(obj, indent=2, default=default) + "\n")


def write_jsonl_atomic(path: Path, rows) -> Path:
    return write_text_atomic(path, "".join(dumps(r) + "\n" for r in rows))


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


class _NotJSON(ValueError):
    """A value JSON does not have (NaN, Infinity) or a lone surrogate, found while parsing strictly."""


def _reject_constant(name: str):
    raise _NotJSON(f"holds {name}, which is not JSON (write a number or null)")


def _strings(value):
    """Every key and string inside a parsed value, walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _loads(text: str, strict: bool):
    """json.loads; strict rejects NaN/Infinity and escaped lone surrogates. Raises JSONDecodeError, _NotJSON or
    RecursionError."""
    if not strict:
        return json.loads(text)
    value = json.loads(text, parse_constant=_reject_constant)
    if _SURROGATE_ESCAPE.search(text) and any(_SURROGATE.search(s) for s in _strings(value)):
        raise _NotJSON("holds an escaped lone surrogate (such as \\ud800), which is not a character")
    return value


def _parse(text: str, strict: bool):
    try:
        row = _loads(text, strict)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg}; column {exc.colno})"
    except _NotJSON as exc:
        return None, str(exc)
    except RecursionError:
        return None, TOO_DEEP
    return row, None if isinstance(row, dict) else NOT_AN_OBJECT


def iter_lines(path: Path, partial_tail: bool = False, strict: bool = True):
    """(line number, parsed value, error or None) for every non-blank line; a line that is not a JSON object comes
    back with its error (NOT_AN_OBJECT with the value, or "not valid JSON ..." with None) instead of raising.

    partial_tail=True drops a broken last line that lacks its newline: the record a killed run was appending.
    strict=False accepts NaN, Infinity and escaped lone surrogates (files this program wrote). Only a missing or
    non-UTF-8 file raises (UserError)."""
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
        row, error = _parse(text, strict)
        if error and cut:
            return
        yield lineno, row, error


def _rows(path: Path, partial_tail: bool, advice: str, strict: bool) -> list[tuple[int, dict]]:
    rows = []
    for lineno, row, error in iter_lines(path, partial_tail, strict):
        if error:
            raise UserError(f"{path} line {lineno}: {error}; {advice}.")
        rows.append((lineno, row))
    return rows


def read_rows(path: Path, what: str, partial_tail: bool = False, strict: bool = True) -> list[tuple[int, dict]]:
    """(line number, row) for every row of a user's JSONL file; the first bad line is a UserError naming it.
    strict=False for a file this program wrote (see the module docstring)."""
    return _rows(path, partial_tail, f"each line of a {what} file must be one JSON object", strict)


def read_jsonl(path: Path, partial_tail: bool = False) -> list[dict]:
    """Rows of a JSONL file this program wrote; pass partial_tail=True for a file it appends to."""
    return [row for _, row in _rows(path, partial_tail, "fix or delete that line, or regenerate the file", False)]


def read_json(path: Path, what: type | None = None):
    """One JSON document (NaN allowed: this program's own files); invalid JSON, non-UTF-8 bytes or a top level that
    is not `what` (dict or list, when given) is a UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    try:
        value = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); save the file as UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno}); fix or regenerate it.") from None
    except RecursionError:
        raise UserError(f"{path} is {TOO_DEEP} to read; fix or regenerate it.") from None
    if what is not None and not isinstance(value, what):
        kind = "a JSON object" if what is dict else f"a JSON {what.__name__}"
        raise UserError(f"{path} must hold {kind}, not a {type(value).__name__}; fix or regenerate it.")
    return value


def read_yaml(path: Path, what: str = "YAML") -> dict:
    """A YAML file whose top level is a mapping ({} when empty). Non-UTF-8 bytes, a syntax error (with the line the
    parser stopped at), nesting too deep or another top level is a UserError naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist; check the path.")
    text = "\n".join(line for _, line in text_lines(path))
    try:
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise UserError(_yaml_problem(path, exc)) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML ({' '.join(str(exc).split())}); fix the file.") from None
    except RecursionError:
        raise UserError(f"{path} is {TOO_DEEP} to read as YAML; fix the file.") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{path} must be a YAML mapping (key: value lines), not a {type(value).__name__}.")
    return value


def _yaml_problem(path: Path, exc) -> str:
    """"FILE line N: problem (context from line M)" from the parser's marks (lines counted from 1)."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{path} line {mark.line + 1}" if mark else str(path)
    problem = exc.problem or exc.context or "not valid YAML"
    context = ""
    if exc.context and exc.problem:
        start = f" that starts on line {exc.context_mark.line + 1}" if exc.context_mark else ""
        context = f" ({exc.context}{start})"
    return f"{where}: {problem}{context}; fix the YAML syntax."


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
        self.f.write(dumps(row) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
