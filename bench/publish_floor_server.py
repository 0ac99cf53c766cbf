"""The least an HTTP ingress can do per request, for comparison with ours: read the body, publish it to
JetStream, wait for the acknowledgement, answer 200. No signature, parsing, dedupe, logging or metrics.

Run by ``bench.bench_ingress`` in a process of its own, on uvicorn and uvloop like the real service:
``python -m bench.publish_floor_server PORT NATS_URL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from typing import Any

import nats
import uvicorn

from infra import event_loop

SUBJECT = "benchfloor.p1"


async def main(port: int, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name="BENCHFLOOR", subjects=["benchfloor.>"], duplicate_window=600)

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
        msg_id = hashlib.blake2b(body, digest_size=16).hexdigest()
        ack = await js.publish_async(SUBJECT, body, headers={"Nats-Msg-Id": msg_id})
        _, pending = await asyncio.wait([ack], timeout=3)
        status = 503 if pending else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    config = uvicorn.Config(app, port=port, log_config=None, access_log=False, lifespan="off")
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    event_loop.run(main(int(sys.argv[1]), sys.argv[2]))
