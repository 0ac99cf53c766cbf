"""The sandbox's status webhooks: after accepting a message it tells the webhook what became of it, as Meta does.

Each status is its own signed ``POST`` (``X-Hub-Signature-256`` over the raw body with the app secret),
shaped like Meta's (``entry[].changes[].value.statuses[]``), and echoes the send's
``biz_opaque_callback_data`` when it had one. A refused or failed post is retried with backoff for a while,
as Meta retries a webhook that does not answer 200.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog

from ingress.signature import sign

log = structlog.get_logger("sandbox")

#: The business account id the sandbox reports its webhooks under.
SANDBOX_WABA_ID = "100000000000000"


@dataclass(frozen=True)
class StatusWebhook:
    """Where the sandbox posts statuses (the ingress's ``/webhook``) and the app secret it signs them with."""

    url: str
    app_secret: str
    #: The statuses reported for every accepted message, in order.
    statuses: tuple[str, ...] = ("sent", "delivered")
    #: Posts of one status before giving up on it.
    max_posts: int = 8


def status_payload(record: dict[str, Any], status: str, *, timestamp: int) -> dict[str, Any]:
    """The webhook body Meta sends for one status of the accepted message ``record``."""
    item: dict[str, Any] = {
        "id": record["wamid"],
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": record["wa_id"],
        "conversation": {"id": "sandbox-" + record["wa_id"], "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
    }
    callback_data = record["payload"].get("biz_opaque_callback_data")
    if isinstance(callback_data, str):
        item["biz_opaque_callback_data"] = callback_data
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": record["phone_number_id"]},
        "statuses": [item],
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": SANDBOX_WABA_ID, "changes": [{"field": "messages", "value": value}]}]}  # fmt: skip


class StatusPoster:
    """Posts the statuses of accepted messages in the background of the sandbox's event loop."""

    def __init__(self, webhook: StatusWebhook) -> None:
        self.webhook = webhook
        self._http = httpx.AsyncClient(timeout=5.0)
        self._tasks: set[asyncio.Task[None]] = set()

    def message_accepted(self, record: dict[str, Any]) -> None:
        task = asyncio.create_task(self._post_all(record), name="sandbox-statuses")
        self._tasks.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _post_all(self, record: dict[str, Any]) -> None:
        for status in self.webhook.statuses:
            body = orjson.dumps(status_payload(record, status, timestamp=int(time.time())))
            await self._post(body, status)

    async def _post(self, body: bytes, status: str) -> None:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, self.webhook.app_secret)}
        delay = 0.1
        for _ in range(self.webhook.max_posts):
            try:
                response = await self._http.post(self.webhook.url, content=body, headers=headers)
                if response.status_code == 200:
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.TransportError as error:
                reason = type(error).__name__
            log.info("sandbox_status_post_retry", status=status, reason=reason, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        log.warning("sandbox_status_post_gave_up", status=status)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()
