"""Settings values checked against their declared types, so a bad YAML value or flag is one sentence naming it before
any work starts. Used for the training settings (taskalign/train/common.py) and the pipeline's sections.

    check_type("beta", float, "abc", "dpo.yaml")     # UserError: dpo.yaml: beta must be a number, not 'abc'.
    typed_values({"limit": "4"}, {"limit": int | None}, "p.yaml, section eval")
"""

import contextlib
import math
import types
import typing
from pathlib import Path

from taskalign.errors import UserError


def did_you_mean(key, known) -> str:
    """" (did you mean 'x'?)" for the closest known name, or ""."""
    import difflib

    close = difflib.get_close_matches(str(key), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def typed_values(values: dict, hints: dict, where: str) -> dict:
    """`values` checked against {name: type} (see check_type); an unknown name is a UserError listing the known ones."""
    for key in values:
        if key not in hints:
            raise UserError(f"{where}: unknown setting {key!r}{did_you_mean(key, hints)}; use one of "
                            f"{', '.join(hints)}.")
    return {key: check_type(key, hints[key], value, where) for key, value in values.items()}


def check_type(name: str, kind, value, where: str):
    """`value` as type `kind`: a class, `X | None`, tuple[X, ...], list[X] or dict[K, V]. Whole numbers and YAML 1.1's
    '2e-4' strings become floats (finite ones only), a list becomes a tuple where one is wanted; other mismatches are
    a UserError "WHERE: NAME must be ..., not VALUE."."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if value is None and type(None) in options:
        return None
    for option in options:
        ok, converted = _convert(option, value)
        if ok:
            return converted
    wanted = " or ".join(_describe(o) for o in options)
    raise UserError(f"{where}: {name} must be {wanted}, not {value!r}.")


def _convert(kind, value) -> tuple[bool, object]:
    origin, args = typing.get_origin(kind) or kind, typing.get_args(kind)
    if isinstance(value, bool):
        return origin is bool, value
    if origin is float and isinstance(value, (int, float, str)):
        with contextlib.suppress(ValueError):
            number = float(value)
            return math.isfinite(number), number
        return False, None
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        items = [_convert(args[0], v) if args else (True, v) for v in value]
        return all(ok for ok, _ in items), origin(v for _, v in items)
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        items = {k: _convert(args[1], v) for k, v in value.items()}
        return (all(isinstance(k, str) for k in value) and all(ok for ok, _ in items.values()),
                {k: v for k, (_, v) in items.items()})
    if origin is Path:
        return isinstance(value, str), value
    return origin is not type(None) and isinstance(value, origin), value


NAMES = {float: "a number", int: "a whole number", bool: "true or false", str: "a string", dict: "a mapping",
         Path: "a path", type(None): "null"}


def _describe(kind) -> str:
    origin, args = typing.get_origin(kind) or kind, typing.get_args(kind)
    plural = lambda item: _describe(item).removeprefix("a ") + "s"  # noqa: E731
    if origin in (list, tuple):
        return f"a list of {plural(args[0])}" if args else "a list"
    if origin is dict and len(args) == 2:
        return f"a mapping of {plural(args[0])} to {plural(args[1])}"
    return NAMES.get(origin, origin.__name__)
