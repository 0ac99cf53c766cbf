"""The dead-letter stream as operators read it: what was parked, from where, when and why.

``DEADLETTER`` holds authentic webhook payloads (or parts of one) the ingress could not parse and inbound
messages or timer commands the orchestrator could not handle after its retries, each with its reason in a
header. It is
read here over NATS (JetStream's stored-message API, one message per request), by stream sequence: the
pages stay stable while new letters arrive. The counts by source are the ``dead_letters_parked`` gauge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import nats
import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry, Gauge

from contracts.subjects import (
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECT_PREFIX,
    ORIGINAL_SUBJECT_HEADER,
    REASON_HEADER,
    dead_letter_source,
)


class DeadLetterSource(StrEnum):
    """Who parked it: the subject's token after the prefix (the orchestrator's letters of inbound updates
    have a person token after it, ``contracts.subjects.dead_letter_subject``, and so have the ingress's
    letters of unreadable parts, ``contracts.subjects.ingress_part_subject``)."""

    INGRESS = "ingress"
    ORCHESTRATOR = "orchestrator"
    COMMANDS = "commands"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sequence: int
    source: str
    reason: str
    parked_at: datetime | None
    original_subject: str | None
    payload: bytes


class DeadLettersUnavailable(RuntimeError):
    """NATS could not be reached, or no connection to it was configured."""


class NotRedrivable(ValueError):
    """A letter that handing back would only park again: a payload no parser read, or one without its subject."""


#: Who parked what can be handed back to the consumer it came from (the ingress's letters never parsed).
REDRIVABLE = frozenset({"orchestrator", "commands"})


def _letter(raw: RawStreamMsg) -> DeadLetter:
    headers = raw.headers or {}
    subject = raw.subject or ""
    return DeadLetter(
        sequence=raw.seq or 0,
        source=dead_letter_source(subject),
        reason=str(headers.get(REASON_HEADER, "")),
        parked_at=raw.time,
        original_subject=headers.get(ORIGINAL_SUBJECT_HEADER),
        payload=raw.data or b"",
    )


class DeadLetters:
    def __init__(self, jetstream: Callable[[], Awaitable[JetStreamContext]]) -> None:
        self._jetstream = jetstream

    async def page(self, *, after: int, limit: int, source: DeadLetterSource | None) -> list[DeadLetter]:
        """Up to ``limit`` letters with a sequence above ``after``, oldest first."""
        # The orchestrator's and the ingress's letters sit on subjects of several shapes (with and without a
        # person token): read past the others' for them (letters are few).
        exact = source is DeadLetterSource.COMMANDS
        subject = f"{DEADLETTER_SUBJECT_PREFIX}.{source.value if exact and source else '>'}"
        js = await self._js()
        letters: list[DeadLetter] = []
        sequence = after + 1
        while len(letters) < limit:
            try:
                raw = await js.get_msg(DEADLETTER_STREAM, seq=sequence, subject=subject, next=True)
            except NotFoundError:
                break  # no more (or no stream yet: nothing was ever parked)
            except (nats.errors.Error, TimeoutError) as error:
                raise DeadLettersUnavailable(repr(error)) from error
            letter = _letter(raw)
            if source is None or letter.source == source.value:
                letters.append(letter)
            sequence = (raw.seq or sequence) + 1
        return letters

    async def one(self, sequence: int) -> DeadLetter | None:
        js = await self._js()
        try:
            raw = await js.get_msg(DEADLETTER_STREAM, seq=sequence)
        except NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as error:
            raise DeadLettersUnavailable(repr(error)) from error
        return _letter(raw)

    async def redrive(self, sequence: int) -> DeadLetter | None:
        """Publish the letter again to the subject it was parked from, then take it out of the stream.

        Its ``Nats-Msg-Id`` names the letter, so a second re-drive within JetStream's window is dropped; past
        it, the orchestrator's inbox still commits a message's effects once.
        """
        letter = await self.one(sequence)
        if letter is None:
            return None
        if letter.source not in REDRIVABLE or not letter.original_subject:
            raise NotRedrivable(f"letter {sequence} from {letter.source} cannot be handed back: it would park again")
        js = await self._js()
        try:
            await js.publish(letter.original_subject, letter.payload, headers={"Nats-Msg-Id": f"redrive:{sequence}"})
            await js.delete_msg(DEADLETTER_STREAM, sequence)
        except NotFoundError:
            pass  # taken out meanwhile (another operator's re-drive): the publish above was deduplicated
        except (nats.errors.Error, TimeoutError) as error:
            raise DeadLettersUnavailable(repr(error)) from error
        return letter

    async def counts(self) -> dict[str, int]:
        """How many letters each source has parked (and are still there)."""
        js = await self._js()
        try:
            info = await js.stream_info(DEADLETTER_STREAM, subjects_filter=f"{DEADLETTER_SUBJECT_PREFIX}.>")
        except NotFoundError:
            return {}
        except (nats.errors.Error, TimeoutError) as error:
            raise DeadLettersUnavailable(repr(error)) from error
        counts: dict[str, int] = {}
        for subject, count in (info.state.subjects or {}).items():
            source = dead_letter_source(subject)
            counts[source] = counts.get(source, 0) + count
        return counts

    async def _js(self) -> JetStreamContext:
        try:
            return await self._jetstream()
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise DeadLettersUnavailable(repr(error)) from error


class DeadLetterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.parked = Gauge(
            "dead_letters_parked",
            "Messages parked in the dead-letter stream, waiting for an operator, by who parked them",
            ["source"],
            registry=registry,
        )

    def update(self, counts: dict[str, int]) -> None:
        for source in DeadLetterSource:
            self.parked.labels(source=source.value).set(counts.get(source.value, 0))


class LazyJetStream:
    """A NATS connection opened at first use, in the event loop that serves requests (a test client may run
    the app in a loop of its own), and closed when the app shuts down."""

    def __init__(self, url: str | Callable[[], str]) -> None:
        self._url = url
        self._nc: NATS | None = None
        self._opening = asyncio.Lock()

    async def __call__(self) -> JetStreamContext:
        async with self._opening:
            if self._nc is None or self._nc.is_closed:
                url = self._url() if callable(self._url) else self._url
                self._nc = await nats.connect(url, name="operator_api", connect_timeout=2, max_reconnect_attempts=3)
        return self._nc.jetstream()

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            await nc.close()
