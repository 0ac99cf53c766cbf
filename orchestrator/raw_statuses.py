"""The raw webhook of a delivery status whose recipient the system no longer knows: deleted from ``INBOUND``.

Statuses of the goodbye of an erasure asked on WhatsApp (delivered, read) come after the erasure, and the
ingress stores each with the recipient's phone in clear, for the stream's 14 days. Once the status is
recorded (on the deliveries of nobody: it holds no personal data), its stored copy has served its purpose:
the orchestrator deletes it from its subject, which the ingress made from Meta's wamid (kept in ``raw``;
the orchestrator reads the wamids' pseudonyms) and the recipient's person token. A retry of it later is
published again and the orchestrator's inbox makes it a duplicate; its raw copy goes the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.js import JetStreamContext

from contracts.inbound import InboundStatus
from contracts.subjects import INBOUND_STREAM, inbound_subject
from privacy.jetstream_erasure import delete_stored


class RawStatuses:
    def __init__(self, js: JetStreamContext, partitions: int, person_token: Callable[[str], str]) -> None:
        self._js = js
        self._partitions = partitions
        self._person_token = person_token

    async def delete(self, status: InboundStatus) -> int:
        """Delete the stored copy of ``status`` (as the ingress published it); how many were found."""
        as_published = status.model_copy(update={"wamid": str(status.raw.get("id") or status.wamid)})
        sender = as_published.sender_key
        subject = inbound_subject(sender, as_published.dedupe_key, self._partitions, self._person_token(sender))
        return await delete_stored(self._js, INBOUND_STREAM, subject)
