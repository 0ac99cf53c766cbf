"""`conectapro llm eval FILE.jsonl`: a labelled corpus against the configured model, rules alone vs rules + LLM.

Each line: ``{"text": ..., "expecting": null | "comuna" | ..., "expected": {"intent", "service", "comuna",
"urgency", "address"}, "topic": null | "<off-flow topic>"}``. Every message goes through exactly the
orchestrator's understanding step (rules first, the LLM only when they fall short, every value checked),
with the adapter's code in-process. Printed, per field: accuracy with the rules alone and with rules + LLM;
the rate of invented values (the model proposed a value where the label is null); and, for the model's
answers, accuracy by confidence bucket — so an operator can judge a model and the 0.85 threshold.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.comunas import lookup_comuna, normalize_text
from contracts.inbound import InboundMessage
from contracts.intent import Intent, IntentName
from contracts.llm import (
    ClassifyTopicReply,
    ClassifyTopicRequest,
    LlmUsage,
    OffFlowTopic,
    UnderstandReply,
    UnderstandRequest,
)
from llm_adapter.gateway import Gateway
from llm_adapter.intent_parser import IntentParser
from llm_adapter.topic_classifier import TopicClassifier
from orchestrator.language_model import understand_message
from orchestrator.understanding import understand_text
from orchestrator.understanding.llm_merge import needs_llm

FIELDS = ("intent", "service", "comuna", "urgency", "address", "topic")
_PLACED_FIELDS = ("service", "comuna", "urgency", "address")
BUCKETS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 0.95), (0.95, 1.01))


class InProcessLanguageModel:
    """The adapter's tasks called directly (no NATS): the same code, for one-shot commands."""

    enabled = True

    def __init__(self, gateway: Gateway, budget_seconds: float) -> None:
        self._parser = IntentParser(gateway)
        self._classifier = TopicClassifier(gateway)
        self._budget_ms = int(budget_seconds * 1000)

    def budget_ms(self) -> int:
        return self._budget_ms

    async def understand(self, request: UnderstandRequest) -> UnderstandReply:
        return await self._parser.understand(request)

    async def classify_topic(self, request: ClassifyTopicRequest) -> ClassifyTopicReply:
        return await self._classifier.classify(request)


@dataclass(frozen=True)
class Case:
    text: str
    expecting: str | None
    expected: dict[str, str | None]


def load_corpus(path: Path) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        expected = {**row["expected"], "topic": row.get("topic")}
        # The labels must be values the schema allows (a typo in the corpus would read as a model error).
        Intent.model_validate({k: v for k, v in expected.items() if k not in ("topic",)})
        if expected["topic"] is not None:
            OffFlowTopic(expected["topic"])
        if expected.get("comuna") and lookup_comuna(str(expected["comuna"])) is None:
            raise ValueError(f"line {number}: {expected['comuna']!r} is not an official comuna")
        cases.append(Case(row["text"], row.get("expecting"), expected))
    return cases


def _values(intent: Intent, topic: OffFlowTopic | None) -> dict[str, str | None]:
    return {
        "intent": intent.intent.value,
        "service": intent.service.value if intent.service else None,
        "comuna": intent.comuna,
        "urgency": intent.urgency.value if intent.urgency else None,
        "address": intent.address,
        "topic": topic.value if topic is not None else None,
    }


def matches(name: str, got: str | None, label: str | None) -> bool:
    if name == "intent":  # an answer adding to a request reads as either: both mean "lead content"
        lead = {IntentName.CREATE_LEAD.value, IntentName.UPDATE_LEAD.value}
        return got == label or (got in lead and label in lead)
    if name == "topic":  # "other" has no text of its own: nothing recognised is the right answer
        label = None if label == OffFlowTopic.OTHER.value else label
        got = None if got == OffFlowTopic.OTHER.value else got
    if got is None or label is None:
        return got is None and label is None
    if name == "comuna":
        return lookup_comuna(got) == lookup_comuna(label)
    if name == "address":
        ours, theirs = set(normalize_text(got).split()), set(normalize_text(label).split())
        return ours <= theirs or theirs <= ours
    return got == label


@dataclass
class EvalReport:
    cases: int = 0
    asked: int = 0
    right_rules: Counter[str] = field(default_factory=Counter)
    right_merged: Counter[str] = field(default_factory=Counter)
    label_null: Counter[str] = field(default_factory=Counter)
    invented: Counter[str] = field(default_factory=Counter)
    bucket_total: Counter[int] = field(default_factory=Counter)
    bucket_right: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_chars: int = 0
    completion_chars: int = 0
    calls: int = 0

    def add_usage(self, usage: LlmUsage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.prompt_chars += usage.prompt_chars
        self.completion_chars += usage.completion_chars
        self.calls += usage.calls

    def render(self) -> str:
        n = max(self.cases, 1)
        lines = [
            f"messages: {self.cases}; the LLM was asked about {self.asked} ({100 * self.asked / n:.1f} %)",
            f"{'field':10} {'rules':>8} {'rules+LLM':>10} {'invented':>10}",
        ]
        for name in FIELDS:
            invented = f"{self.invented[name]}/{self.label_null[name]}" if name in _PLACED_FIELDS else "-"
            lines.append(
                f"{name:10} {100 * self.right_rules[name] / n:7.1f}% {100 * self.right_merged[name] / n:9.1f}% "
                f"{invented:>10}"
            )
        lines.append("the model's answers by confidence (right = every field it gave matches the label):")
        for index, (low, high) in enumerate(BUCKETS):
            total = self.bucket_total[index]
            share = f"{100 * self.bucket_right[index] / total:.0f}%" if total else "-"
            closing = "]" if high > 1 else ")"
            lines.append(f"  [{low:.2f}, {min(high, 1.0):.2f}{closing}: {total:4} answers, {share} right")
        lines.append("outcomes: " + (", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "none"))
        per_call = max(self.calls, 1)
        lines.append(
            f"per call: {self.prompt_tokens / per_call:.0f} prompt + {self.completion_tokens / per_call:.0f} "
            f"completion tokens; {self.prompt_chars / per_call:.0f} + {self.completion_chars / per_call:.0f} chars "
            f"({self.calls} calls)"
        )
        return "\n".join(lines)


async def evaluate(cases: list[Case], model: InProcessLanguageModel, concurrency: int = 8) -> EvalReport:
    report = EvalReport(cases=len(cases))
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, case: Case) -> None:
        rules = understand_text(case.text, case.expecting)
        message = InboundMessage(wamid=f"eval-{index}", type="text", text=case.text, raw={})
        async with gate:
            understood = await understand_message(message, case.expecting, model, customer_ref=f"eval-{index}")
        by_rules = await understand_message(message, case.expecting, None)
        _score(report, case, _values(rules, by_rules.detour), _values(understood.intent, understood.detour))
        if needs_llm(rules, case.expecting, case.text) and understood.llm is not None:
            report.asked += 1
            trace = understood.llm
            report.outcomes[trace.outcome] += 1
            report.add_usage(trace.usage)
            if trace.proposed is not None:
                _score_proposal(report, case, trace.proposed)

    await asyncio.gather(*(one(i, c) for i, c in enumerate(cases)))
    return report


def _score(report: EvalReport, case: Case, rules: dict[str, str | None], merged: dict[str, str | None]) -> None:
    for name in FIELDS:
        report.right_rules[name] += matches(name, rules[name], case.expected.get(name))
        report.right_merged[name] += matches(name, merged[name], case.expected.get(name))


def _score_proposal(report: EvalReport, case: Case, proposed: Intent) -> None:
    given = _values(proposed, None)
    for name in _PLACED_FIELDS:
        if case.expected.get(name) is None:
            report.label_null[name] += 1
            report.invented[name] += given[name] is not None
    bucket = next(i for i, (low, high) in enumerate(BUCKETS) if low <= proposed.confidence < high)
    report.bucket_total[bucket] += 1
    right = all(
        matches(name, given[name], case.expected.get(name))
        for name in _PLACED_FIELDS
        if given[name] is not None
    )
    report.bucket_right[bucket] += right


def report_as_json(report: EvalReport) -> dict[str, Any]:
    return {
        "cases": report.cases,
        "asked": report.asked,
        "accuracy_rules": {k: report.right_rules[k] / max(report.cases, 1) for k in FIELDS},
        "accuracy_rules_llm": {k: report.right_merged[k] / max(report.cases, 1) for k in FIELDS},
        "invented": dict(report.invented),
        "outcomes": dict(report.outcomes),
    }
