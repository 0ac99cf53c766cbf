"""The pipeline's Prometheus metrics, in one list: what each service counts, served on its ``METRICS_PORT``.

In the process's default registry (``infra.metrics_server`` serves it), one process per service. The ingress
and the operator API keep their own registries on their own ``/metrics`` (webhook outcomes, duplicates,
publish latency; projection lag); the LLM adapter its own (answers, fallbacks by reason, tokens). The
ingress's and the adapter's are served on their ``METRICS_PORT`` too (``infra.metrics_server.include``).
A step's histogram count is its throughput.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

STEP_SECONDS = Histogram(
    "conectapro_step_seconds",
    "Time one step took (orchestrator: inbound, command; sender: send; projections: project, one batch of one"
    " projection; closer: timer_index, timer_tick); its count is the throughput",
    ["step"],
    buckets=_STEP_BUCKETS,
)
INBOUND_HANDLED = Counter(
    "conectapro_inbound_handled_total",
    "Inbound updates the orchestrator handled, by kind and outcome (duplicate: decided before, nothing written)",
    ["kind", "outcome"],
)
TEXTS_CUT = Counter(
    "conectapro_texts_cut_total",
    "Inbound texts recorded cut at WhatsApp's limit (MessageReceived.text_truncated_from holds the length)",
)
REDELIVERIES = Counter(
    "conectapro_redeliveries_total",
    "Messages handled again: a failure was retried, or a consumer died holding them",
    ["stream"],
)
RETRIES = Counter("conectapro_retries_total", "Handling failures put back for a retry with backoff", ["stream"])
DEAD_LETTERS = Counter(
    "conectapro_dead_letters_total", "Messages parked in the dead-letter stream (unparseable or failing)", ["stream"]
)
CONSUMER_PENDING = Gauge(
    "conectapro_consumer_pending",
    "Messages stored for a consumer (of a partition, or \"all\") and not yet delivered to it",
    ["stream", "partition"],
)
REPLIES = Counter("conectapro_replies_total", "Replies the sender recorded, by outcome (sent, failed)", ["outcome"])
REPLY_FAILURES = Counter(
    "conectapro_reply_failures_total",
    "Replies WhatsApp refused or that could not be sent, by WhatsApp error code and permanence",
    ["code", "permanent"],
)
PROJECTED_EVENTS = Counter(
    "conectapro_projected_events_total", "Events a projection applied (its throughput)", ["projection"]
)
TIMER_COMMANDS = Counter(
    "conectapro_timer_commands_total",
    "Timer commands the closer published, by outcome (published, duplicate, failed: retried next tick)",
    ["outcome"],
)
LLM_REQUESTS = Counter(
    "conectapro_llm_requests_total",
    "The orchestrator's requests to the LLM adapter, by task and outcome (ok, or why the rules answered alone)",
    ["task", "outcome"],
)
PRIVACY_REQUESTS = Counter(
    "conectapro_privacy_requests_total",
    "Personal-data requests recorded on privacy-requests (the projections count them as they read them, so"
    " every process that answers one is counted): kind (erasure, export), who asked (admin, cli, whatsapp,"
    " retention) and outcome",
    ["kind", "requested_by", "outcome"],
)
