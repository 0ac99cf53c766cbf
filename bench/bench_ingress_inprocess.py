"""Ingress CPU per webhook, in-process: one signed webhook at a time through the ASGI app (no HTTP server,
no load generator in the way), against a real JetStream (sync_interval: always), with logging configured
as the service does (lines to /dev/null). The mix is the full path's: per customer message one message
webhook and three status webhooks (sent, delivered, read).

Also the cost of each step alone, without I/O: signature, parse + normalise, person token, envelope dump,
the request's log line. ``python -m bench.bench_ingress_inprocess``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog

from bench.graph_standin import status_webhook
from infra import event_loop
from infra.embedded import EmbeddedNats
from infra.jetstream import connect, ensure_topology
from infra.logging import configure_logging
from ingress.app import IngressConfig, create_app
from ingress.publisher import InboundPublisher
from ingress.signature import check_signature, sign
from privacy.person_tokens import PersonTokens
from tests.whatsapp_builders import text_message

SECRET = "bench-app-secret-0123456789abcdef"
TOKENS = PersonTokens(b"bench-subject-key-0123456789abcd")
PHONE_NUMBER_ID = "106540352242922"
CUSTOMER_MESSAGES = int(os.environ.get("CUSTOMER_MESSAGES", "1500"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def _bodies(count: int, tag: str) -> list[bytes]:
    """``count`` customer messages, each followed by its reply's three statuses."""
    now = int(time.time())
    bodies = []
    for n in range(count):
        phone = f"5699{n % 1000:07d}"
        message = text_message(f"wamid.{tag}.{n}", phone, "se me cortó la luz en Ñuñoa", timestamp=now)
        bodies.append(orjson.dumps(message))
        for status in ("sent", "delivered", "read"):
            bodies.append(status_webhook(f"wamid.out.{tag}.{n}", status, phone, PHONE_NUMBER_ID, f"cb-{n}"))
    return bodies


def _scope(body: bytes) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-hub-signature-256", sign(body, SECRET).encode()),
    ]
    return {"type": "http", "method": "POST", "path": "/webhook", "headers": headers, "query_string": b""}


async def _through_app(app: Any, bodies: list[bytes]) -> tuple[float, float, dict[int, int]]:
    requests = [(_scope(body), body) for body in bodies]
    statuses: dict[int, int] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    cpu, wall = time.process_time(), time.perf_counter()
    for scope, body in requests:

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, receive, send)
    return time.process_time() - cpu, time.perf_counter() - wall, statuses


async def _bare_publishes(js: Any, bodies: list[bytes]) -> float:
    """CPU per bare JetStream publish and wait for its ack (nats-py's publish_async), same sizes, same server."""
    cpu = time.process_time()
    for n, body in enumerate(bodies):
        subject = f"conectapro.inbound.p0.bare.{n}.{cpu}"
        await (await js.publish_async(subject, body, headers={"Nats-Msg-Id": subject}))
    return time.process_time() - cpu


def _per_call_us(function: Callable[[], object], number: int = 3000) -> float:
    return min(timeit.repeat(function, number=number, repeat=3)) / number * 1e6


def _steps(bodies: list[bytes]) -> None:
    from contracts.inbound import dump_envelope, normalize
    from contracts.whatsapp import WebhookPayload

    message, status = bodies[0], bodies[1]
    signature = sign(status, SECRET)
    log = structlog.get_logger("ingress")
    envelope = normalize(WebhookPayload.model_validate_json(message))[0]
    steps = {
        "signature check": lambda: check_signature(status, signature, SECRET),
        "parse + normalise (message)": lambda: normalize(WebhookPayload.model_validate(orjson.loads(message))),
        "parse + normalise (status)": lambda: normalize(WebhookPayload.model_validate(orjson.loads(status))),
        "person token": lambda: TOKENS("56990000001"),
        "envelope dump (message)": lambda: dump_envelope(envelope),
        "log line": lambda: log.info(
            "webhook_request", outcome="accepted", status=200, latency_ms=1.23, updates=1, published=1,
            duplicates=0, ids=["wamid.out.x.1:sent"],
        ),
    }  # fmt: skip
    for name, step in steps.items():
        print(f"  {name:30s} {_per_call_us(step):7.1f} µs")


async def main() -> None:
    configure_logging("INFO", "json")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the whole run's stderr
    real_stderr, sys.stderr = sys.stderr, devnull
    server = EmbeddedNats(Path(tempfile.mkdtemp(prefix="bench-ingress-")))
    server.start()
    try:
        nc = await connect(server.url, "bench")
        js = nc.jetstream()
        await ensure_topology(js)
        publisher = InboundPublisher(nc, js, partitions=4, person_token=TOKENS)
        app = create_app(IngressConfig(app_secret=SECRET, verify_token="v"), publisher)
        await _through_app(app, _bodies(200, "warm"))
        results = [await _through_app(app, _bodies(CUSTOMER_MESSAGES, f"r{r}")) for r in range(ROUNDS)]
        bare = min([await _bare_publishes(js, _bodies(CUSTOMER_MESSAGES, f"b{r}")) for r in range(ROUNDS)])
        await nc.close()
    finally:
        server.stop()
        sys.stderr = real_stderr
    webhooks = CUSTOMER_MESSAGES * 4
    print(f"== ingress in-process: {webhooks} webhooks per round (1 message + 3 statuses per customer message) ==")
    for cpu, wall, statuses in results:
        print(
            f"  CPU {cpu / webhooks * 1e6:6.1f} µs per webhook ({cpu / CUSTOMER_MESSAGES * 1e3:5.3f} ms per customer"
            f" message), wall {wall / webhooks * 1e6:6.1f} µs, statuses {statuses}"
        )
    best = min(cpu for cpu, _, _ in results)
    print(f"  best round: {best / webhooks * 1e6:6.1f} µs CPU per webhook (ingress process only; nats-server apart)")
    print(f"  bare publish_async + ack of the same bodies: {bare / webhooks * 1e6:6.1f} µs CPU each (best round)")
    sys.stderr = devnull
    print("== steps alone (best of 3) ==")
    _steps(_bodies(1, "steps"))
    sys.stderr = real_stderr


if __name__ == "__main__":
    event_loop.run(main())
