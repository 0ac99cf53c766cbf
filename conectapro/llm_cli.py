"""`conectapro nlu --llm TEXT` and `conectapro llm eval FILE.jsonl`: the configured model, seen from the CLI.

Both call the adapter's code in-process against OPENAI_BASE_URL / OPENAI_MODEL (no NATS, no database),
through exactly the orchestrator's understanding step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from conectapro.command_support import load_settings
from conectapro.llm_adapter_service import adapter_config
from conectapro.llm_eval import InProcessLanguageModel, evaluate, load_corpus
from contracts.inbound import InboundMessage
from llm_adapter.service import build_gateway
from orchestrator.language_model import understand_message

app = typer.Typer(help="The optional LLM: check a model before turning it on.", no_args_is_help=True)

#: The corpus shipped with the code: realistic Chilean messages, labelled.
SHIPPED_CORPUS = Path(__file__).resolve().parents[1] / "llm_adapter" / "eval" / "corpus.jsonl"


def in_process_model() -> tuple[InProcessLanguageModel, Any]:
    settings = load_settings()
    gateway = build_gateway(adapter_config(settings))
    return InProcessLanguageModel(gateway, settings.llm_timeout_seconds), gateway


def nlu_with_llm(text: str, expecting: str | None) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        model, gateway = in_process_model()
        try:
            message = InboundMessage(wamid="nlu", type="text", text=text, raw={})
            understood = await understand_message(message, expecting, model, customer_ref="nlu")
        finally:
            await gateway.client.close()
        trace = understood.llm
        return {
            "rules": (trace.rules if trace and trace.rules else understood.intent).model_dump(mode="json"),
            "llm": trace.model_dump(mode="json", exclude={"rules"}) if trace else "not asked: the rules were enough",
            "merged": understood.intent.model_dump(mode="json"),
            "source": understood.source.value,
            "detour": understood.detour.value if understood.detour else None,
        }

    return asyncio.run(run())


@app.command("eval")
def eval_corpus(
    corpus: Annotated[Path, typer.Argument(help="A JSONL corpus (default: the shipped one)")] = SHIPPED_CORPUS,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Requests in flight")] = 8,
) -> None:
    """Run a labelled corpus: per field, accuracy with rules alone and with rules + LLM, invented values."""
    cases = load_corpus(corpus)

    async def run() -> str:
        model, gateway = in_process_model()
        try:
            return (await evaluate(cases, model, concurrency)).render()
        finally:
            await gateway.client.close()

    typer.echo(asyncio.run(run()))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="llm")
