"""`conectapro nlu` prints what the deterministic rules understand, as the intent JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from conectapro.cli import app

runner = CliRunner()


def test_nlu_prints_the_intent_json_of_a_message() -> None:
    result = runner.invoke(app, ["nlu", "necesito un gasfiter hoy en Ñuñoa, se rompió la cañería del baño"])

    assert result.exit_code == 0, result.output
    intent = json.loads(result.stdout)
    assert intent["intent"] == "create_lead"
    assert (intent["service"], intent["comuna"], intent["urgency"]) == ("Gasfiteria", "Ñuñoa", "hoy")
    assert set(intent) == {"intent", "service", "comuna", "problem_type", "urgency", "address", "consent", "confidence"}


def test_nlu_reads_a_bare_answer_in_the_context_of_the_pending_question() -> None:
    result = runner.invoke(app, ["nlu", "sí", "--state", "confirmation"])

    assert json.loads(result.stdout)["consent"] == "yes"


def test_nlu_refuses_an_unknown_state_with_a_clear_message() -> None:
    result = runner.invoke(app, ["nlu", "hola", "--state", "weather"])

    assert result.exit_code == 2
    assert "--state must be one of" in result.output
