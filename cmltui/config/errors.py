"""A pydantic validation error of the config as one plain sentence naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

#: What a setting must be, by pydantic error type: the end of "KEY must be ...".
_EXPECTED_BY_ERROR_TYPE: dict[str, str] = {
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text in quotes",
    "list_type": 'a list, like ["a", "b"]',
    "dict_type": 'a table, like { key = "value" }',
    "model_type": "a table (a [section] of keys)",
    "model_attributes_type": "a table (a [section] of keys)",
    "time_parsing": 'a time like "08:30"',
    "time_type": 'a time like "08:30"',
    "date_parsing": 'a date like "2026-12-25"',
    "date_from_datetime_parsing": 'a date like "2026-12-25"',
    "date_type": 'a date like "2026-12-25"',
}
#: Bounds, by pydantic error type: (words, context key).
_BOUND_BY_ERROR_TYPE: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}
#: How long a wrong value may be when it is quoted back.
_GOT_MAX_CHARS = 60


def _toml_text(value: Any) -> str:
    """A value as it is written in TOML (``true``, ``'abc'``, ``[1, 2]``), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_text(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _key_text(loc: tuple[int | str, ...]) -> str:
    """``("cost", "hourly_usd", "x")`` -> ``cost.hourly_usd.x``; list items as ``regions[0]``."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else part
    return key


def _problem_text(error: Any) -> str:
    """One pydantic error as "KEY must be WHAT (got VALUE)" (no file name)."""
    key = _key_text(tuple(error["loc"]))
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown key '{key}' (see config.example.toml for the keys)"
    if kind == "missing":
        return f"{key} is missing"
    if kind in _EXPECTED_BY_ERROR_TYPE:
        rule = f"must be {_EXPECTED_BY_ERROR_TYPE[kind]}"
    elif kind in _BOUND_BY_ERROR_TYPE:
        words, bound = _BOUND_BY_ERROR_TYPE[kind]
        rule = f"must be {words} {_toml_text(context.get(bound))}"
    elif kind in ("literal_error", "enum"):
        rule = f"must be one of {context.get('expected', '')}"
    elif kind == "too_short":
        rule = f"must have at least {context.get('min_length')} entries"
    elif kind == "too_long":
        rule = f"must have at most {context.get('max_length')} entries"
    elif kind == "value_error":  # our validators word their ValueError to follow "must"
        rule = "must " + str(context.get("error", error["msg"]))
    else:
        text = str(error["msg"])
        rule = "is wrong: " + text[:1].lower() + text[1:]
    got = error.get("input")
    if kind in ("model_type", "dict_type") or not isinstance(got, dict):
        got_text = _toml_text(got)
        if len(got_text) > _GOT_MAX_CHARS:
            got_text = got_text[: _GOT_MAX_CHARS - 1] + "…"
        return f"{key} {rule} (got {got_text})"
    return f"{key} {rule}"


def describe_config_error(path: Path | str, err: ValidationError) -> str:
    """One line: the file, the first bad key, what it must be and what it is."""
    return f"{path}: {_problem_text(err.errors()[0])}"
