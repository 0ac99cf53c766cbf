"""Has this update been published before? Asked of the INBOUND stream itself.

JetStream's duplicate window is minutes long; Meta retries for up to 7 days. Each update is published
on a subject that ends with a token of its dedupe key (``contracts.subjects.inbound_subject``), and the
stream keeps messages for ``INBOUND_RETENTION_DAYS``: so the stream is the durable, expiring record of
published ids, and a lookup is JetStream's indexed "last message on this subject".

Why not a separate key-value bucket: that is one more fsync'd JetStream write per update, which cost
about a third of the ingress's time per request and of the server's; this record is written by the
publish itself, so it can never disagree with what was stored.

Updates published before subjects carried a person token (``contracts.subjects.LEGACY_INBOUND_FILTER``) are
not looked up under their old subject: a retry of one is published again, and the orchestrator's inbox
(the update's id is its inbox id) makes that copy a duplicate that decides nothing
(``tests/e2e/test_inbound_subject_upgrade.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.inbound import InboundEnvelope
from contracts.subjects import INBOUND_STREAM, inbound_subject


class SeenIds:
    def __init__(self, js: JetStreamContext, partitions: int, person_token: Callable[[str], str]) -> None:
        self._js = js
        self._partitions = partitions
        self._person_token = person_token

    def subject_of(self, envelope: InboundEnvelope) -> str:
        """Where ``envelope`` is published, and so where a copy of it would be found."""
        sender = envelope.sender_key
        return inbound_subject(sender, envelope.dedupe_key, self._partitions, self._person_token(sender))

    async def seen(self, envelope: InboundEnvelope) -> bool:
        subject = self.subject_of(envelope)
        try:
            await self._js.get_last_msg(INBOUND_STREAM, subject)
        except NotFoundError:
            return False
        return True

    async def seen_many(self, envelopes: Iterable[InboundEnvelope]) -> list[bool]:
        return list(await asyncio.gather(*(self.seen(envelope) for envelope in envelopes)))
