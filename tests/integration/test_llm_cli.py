"""`conectapro nlu --llm` and `conectapro llm eval` against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from conectapro.cli import app
from conectapro.llm_cli import SHIPPED_CORPUS, register
from tests.openai_stub import OpenAIStubServer, completion, intent_json, stub_in_thread

pytestmark = pytest.mark.integration

register(app)
runner = CliRunner()


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStubServer]:
    with stub_in_thread() as server:
        yield server


@pytest.fixture
def configured(server: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIStubServer:
    server.stub.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "stub-model")
    return server


def test_nlu_with_the_llm_shows_rules_model_and_merge(configured: OpenAIStubServer) -> None:
    configured.stub.then(completion(intent_json(0.93, service="Electricidad", comuna="Las Condes")))

    result = runner.invoke(app, ["nlu", "--llm", "la wea del living no prende nada, estoy en la florida"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["rules"]["service"] is None and shown["rules"]["comuna"] == "La Florida"
    assert shown["llm"]["proposed"]["comuna"] == "Las Condes" and shown["llm"]["accepted"] == ["service"]
    assert shown["merged"]["service"] == "Electricidad" and shown["merged"]["comuna"] == "La Florida"
    assert shown["source"] == "llm"


def test_a_message_the_rules_understand_is_not_sent(configured: OpenAIStubServer) -> None:
    result = runner.invoke(app, ["nlu", "--llm", "necesito un gasfiter hoy en Ñuñoa, se rompió la cañería"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["llm"] == "not asked: the rules were enough"
    assert configured.stub.requests == []


def test_eval_reports_accuracy_and_counts_what_the_model_invented(configured: OpenAIStubServer) -> None:
    # A model that puts every customer in Las Condes, urgently: grounding keeps it out of the result.
    configured.stub.default = lambda _: completion(intent_json(0.97, comuna="Las Condes", urgency="hoy"))

    result = runner.invoke(app, ["llm", "eval", str(SHIPPED_CORPUS)])

    assert result.exit_code == 0, result.output
    out = result.stdout
    asked = int(re.search(r"the LLM was asked about (\d+)", out).group(1))  # type: ignore[union-attr]
    assert 0 < asked < 169
    rules, merged, invented, nulls = re.search(r"comuna +([\d.]+)% +([\d.]+)% +(\d+)/(\d+)", out).groups()  # type: ignore[union-attr]
    assert float(merged) >= float(rules)  # an invented comuna never reached the result
    assert 0 < int(invented) <= int(nulls)
    assert "[0.95, 1.00]:" in out and "per call:" in out
