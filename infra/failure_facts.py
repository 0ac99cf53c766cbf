"""What may be said of a failure where it is kept or shown (a dead letter's reason, the answer to Meta, a log
line, the ``MessageHandlingFailed`` event): facts of the code, never the input that made it fail.

An exception's message often quotes its input: pydantic's ``input_value=...``, PostgreSQL's "JSON data,
line 1: ..." context, a ``ValueError(f"... {text}")``. Parked messages hold a customer's text, phone and
name, so their reason says only the error's class, where it was raised (module, function, line), and,
for the kinds that have them, the fields and positions involved: pydantic's locations and error types, a
JSON error's line and column, PostgreSQL's SQLSTATE, an OS error's errno.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from json import JSONDecodeError

from pydantic import ValidationError
from pydantic_core import ErrorDetails

#: How many of a validation error's problems are listed.
LISTED_PROBLEMS = 5
#: A location part kept as it is: a field name (lowercase, as every field and alias of ours is) or an index.
#: Anything else — a dict key that came with the input — is shown as "?".
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")


def describe_failure(error: BaseException) -> str:
    """``ClassName (facts) at module.function:line``, without any part of the error's message."""
    facts = _facts(error)
    # A parser's failure is located by its facts; the frame would only name the parser.
    where = "" if isinstance(error, ValidationError | JSONDecodeError) else _raised_at(error)
    text = type(error).__name__
    if facts:
        text += f" ({facts})"
    if where:
        text += f" at {where}"
    return text


def describe_problems(problems: Sequence[ErrorDetails]) -> str:
    """What :func:`describe_failure` says of a validation error, for some of its problems only (those of
    one part of the input)."""
    return f"{ValidationError.__name__} ({_problem_facts(problems)})"


def _problem_facts(problems: Sequence[ErrorDetails]) -> str:
    listed = [f"{_location(item['loc'])}: {item['type']}" for item in problems[:LISTED_PROBLEMS]]
    more = len(problems) - len(listed)
    return "; ".join(listed) + (f"; {more} more" if more > 0 else "")


def _facts(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return _problem_facts(error.errors())
    if isinstance(error, JSONDecodeError):  # orjson's JSONDecodeError is one too
        return f"line {error.lineno} column {error.colno}"
    if isinstance(error, UnicodeDecodeError | UnicodeEncodeError):
        return f"position {error.start}"
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return f"SQLSTATE {sqlstate}"
    if isinstance(error, OSError) and error.errno is not None:
        return f"errno {error.errno}"
    return ""


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(part) if isinstance(part, int) or _FIELD_NAME.fullmatch(part) else "?" for part in loc]
    return ".".join(parts) or "(root)"


def _raised_at(error: BaseException) -> str:
    """Where the exception was raised: the innermost frame of its traceback."""
    tb = error.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "?")
    return f"{module}.{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}"
