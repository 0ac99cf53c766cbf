"""A failure is described by facts of the code (class, where, fields, positions), never by its message,
which may quote what a customer wrote."""

from __future__ import annotations

import json

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from infra.failure_facts import describe_failure

pytestmark = pytest.mark.unit

WRITTEN = "soy Camila, +56 9 8765 4321, Irarrázaval 1234"


class _Message(BaseModel):
    text: str
    stars: int


class _DatabaseError(Exception):
    sqlstate = "22P05"


def _raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_a_validation_error_names_fields_and_error_types_not_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        _Message.model_validate({"text": 5, "stars": WRITTEN, WRITTEN: 1})
    described = describe_failure(caught.value)
    assert described == "ValidationError (text: string_type; stars: int_parsing)"


def test_a_dict_key_that_came_with_the_input_is_not_shown() -> None:
    class Scores(BaseModel):
        scores: dict[str, int]

    with pytest.raises(ValidationError) as caught:
        Scores.model_validate({"scores": {WRITTEN: "x", "ok": "y"}})
    assert describe_failure(caught.value) == "ValidationError (scores.?: int_parsing; scores.ok: int_parsing)"


@pytest.mark.parametrize("loads", [orjson.loads, json.loads])
def test_a_json_error_gives_its_position(loads: object) -> None:
    with pytest.raises(ValueError) as caught:
        loads(f'{{"text": "{WRITTEN}" oops}}'.encode())  # type: ignore[operator]
    described = describe_failure(caught.value)
    assert described.startswith("JSONDecodeError (line 1 column ")
    assert "Camila" not in described


def test_any_other_error_gives_its_class_sqlstate_and_where_it_was_raised() -> None:
    described = describe_failure(_raised(_DatabaseError(f"invalid input: JSON data, line 1: {WRITTEN}")))
    assert described.startswith("_DatabaseError (SQLSTATE 22P05) at tests.unit.test_failure_facts._raised:")
    generic = describe_failure(_raised(ValueError(WRITTEN)))
    assert generic.startswith("ValueError at tests.unit.test_failure_facts._raised:")
    for part in ("Camila", "8765", "Irarr"):
        assert part not in described + generic
