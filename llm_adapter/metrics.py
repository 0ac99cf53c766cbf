"""The adapter's Prometheus metrics, in a registry of its own (served when LLM_METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

ANSWERS = Counter(
    "llm_answers_total",
    "Answers given, by task and outcome (ok or the no-result reason)",
    ["task", "outcome"],
    registry=REGISTRY,
)
TOKENS = Counter("llm_tokens_total", "Tokens the provider reported, by kind", ["kind"], registry=REGISTRY)
RULES_ONLY = Counter(
    "llm_rules_only_total",
    "Calls not made because a cost limit was reached: the rules answer alone",
    ["reason"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "llm_answer_seconds",
    "Time to answer one request, retries included",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
    registry=REGISTRY,
)
