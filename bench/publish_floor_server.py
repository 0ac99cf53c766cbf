"""The least an HTTP ingress can do per request, for comparison with ours: read the body, publish it to
JetStream, wait for the acknowledgement, answer 200. No parsing, dedupe store, logging or metrics.

Given the app secret it also checks Meta's signature (``X-Hub-Signature-256``) first, as the webhook of
``bench.bench_floor_path`` must; without it (``bench.bench_ingress``) it only publishes. The message id is a
hash of the body: Meta's retries repeat the body, so JetStream's duplicate window drops them as it would by
wamid, without parsing.

Run in a process of its own, on uvicorn and uvloop like the real service:
``python -m bench.publish_floor_server PORT NATS_URL [APP_SECRET]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from typing import Any

import nats
import uvicorn

from infra import event_loop
from ingress.signature import SIGNATURE_HEADER, SignatureCheck, check_signature

STREAM = "BENCHFLOOR"
SUBJECT = "benchfloor.p1"
_SIGNATURE = SIGNATURE_HEADER.encode()


async def main(port: int, nats_url: str, app_secret: str | None) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=STREAM, subjects=["benchfloor.>"], duplicate_window=600)

    async def answer(send: Any, status: int) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if app_secret is not None:
            header = next((value.decode() for name, value in scope["headers"] if name == _SIGNATURE), None)
            if check_signature(body, header, app_secret) is not SignatureCheck.VALID:
                await answer(send, 401)
                return
        msg_id = hashlib.blake2b(body, digest_size=16).hexdigest()
        ack = await js.publish_async(SUBJECT, body, headers={"Nats-Msg-Id": msg_id})
        _, pending = await asyncio.wait([ack], timeout=3)
        await answer(send, 503 if pending else 200)

    config = uvicorn.Config(app, port=port, log_config=None, access_log=False, lifespan="off")
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    event_loop.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
