"""Erasure in JetStream: the raw webhooks of ``INBOUND`` (kept 14 days) and the parked messages of
``DEADLETTER`` hold phone numbers in clear; a forgotten person's messages there are deleted.

Found by subject, not by reading the streams: an update's subject carries its person token
(``privacy.person_tokens``), and so does the letter of an update the orchestrator parked; the server lists
the person's subjects and hands out the last message of each. What is read one by one, looking for the
phone in body and headers, is only what no token can name:

* updates published before subjects carried person tokens (``LEGACY_INBOUND_FILTER``), as long as
  ``INBOUND`` keeps them (its max age; nothing is read once none is left), and letters parked from them;
* the ingress's letters of webhook bodies no parser could read, and of unreadable parts of a webhook that
  name nobody (so nobody could say whose they are), and the commands' letters: all rare, kept until an
  operator handles them. (An unreadable part that names its sender — a message without its id — carries
  that person's token.)

Each message is deleted with ``STREAM.MSG.DELETE``, which overwrites it on disk; a purge with a subject
filter would only mark it deleted, leaving the phone in the stream's files until the block is compacted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from contracts.subjects import (
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECT_PREFIX,
    INBOUND_STREAM,
    INGRESS_PARTS_OF_NOBODY,
    LEGACY_INBOUND_FILTER,
    dead_letter_person_filters,
    inbound_person_filter,
)
from privacy.master_key import normalise_phone

STREAMS = (INBOUND_STREAM, DEADLETTER_STREAM)

#: Per stream: the subjects holding one person's messages, given their token.
_BY_TOKEN: dict[str, Callable[[str], tuple[str, ...]]] = {
    INBOUND_STREAM: lambda token: (inbound_person_filter(token),),
    DEADLETTER_STREAM: dead_letter_person_filters,
}
#: Per stream: the subjects whose messages are read one by one (no person token).
_READ_THROUGH: dict[str, tuple[str, ...]] = {
    INBOUND_STREAM: (LEGACY_INBOUND_FILTER,),
    # One token after the prefix: every letter without a person token (the ingress's whole bodies, the
    # commands', the orchestrator's parked before tokens); those with one have a further token. And the
    # ingress's unreadable parts that name nobody.
    DEADLETTER_STREAM: (f"{DEADLETTER_SUBJECT_PREFIX}.*", INGRESS_PARTS_OF_NOBODY),
}


async def delete_messages_of(
    js: JetStreamContext, phone: str, streams: Sequence[str] = STREAMS, *, person_token: Callable[[str], str]
) -> int:
    """Delete every message of ``streams`` (``INBOUND`` and ``DEADLETTER``) about ``phone``: those on its
    person token's subjects, and those without a token whose body or headers hold the phone.

    ``person_token``: ``privacy.person_tokens.PersonTokens`` of the master key the ingress uses."""
    token = person_token(phone)
    needle = normalise_phone(phone).encode()
    removed = 0
    for stream in streams:
        by_token = _BY_TOKEN.get(stream)
        for subjects in by_token(token) if by_token is not None else ():
            removed += await delete_stored(js, stream, subjects)
        for subjects in _READ_THROUGH.get(stream, (">",)):
            async for message in _messages(js, stream, subjects):
                if _holds(message, needle):
                    removed += await _delete(js, stream, message)
    return removed


async def delete_stored(js: JetStreamContext, stream: str, subjects: str) -> int:
    """Delete (overwriting) every message of ``stream`` on ``subjects``; how many there were."""
    removed = 0
    async for message in _on_subjects(js, stream, subjects):
        removed += await _delete(js, stream, message)
    return removed


async def _on_subjects(js: JetStreamContext, stream: str, subjects: str) -> AsyncIterator[RawStreamMsg]:
    """The messages of ``stream`` on ``subjects``: the server's subject index names the subjects and how
    many messages each holds (one, but for a rare copy published again), and the last message on a subject
    is an indexed lookup; so the cost follows the person's messages, not the stream's."""
    try:
        info = await js.stream_info(stream, subjects_filter=subjects)
    except NotFoundError:
        return
    for subject, count in (info.state.subjects or {}).items():
        if count > 1:
            async for message in _messages(js, stream, subject):
                yield message
            continue
        try:
            yield await js.get_last_msg(stream, subject)
        except NotFoundError:
            continue  # gone meanwhile


async def _messages(js: JetStreamContext, stream: str, subjects: str) -> AsyncIterator[RawStreamMsg]:
    """The messages of ``stream`` on ``subjects``, oldest first, one request each (found by the server
    from its subject index; a wildcard still walks the blocks between two matches)."""
    sequence = 1
    while True:
        try:
            message = await js.get_msg(stream, seq=sequence, subject=subjects, next=True)
        except NotFoundError:
            return  # none left (or no such stream)
        yield message
        sequence = (message.seq or sequence) + 1


def _holds(message: RawStreamMsg, needle: bytes) -> bool:
    headers = b"".join(f"{k}:{v}".encode() for k, v in (message.headers or {}).items())
    return needle in (message.data or b"") or needle in headers


async def _delete(js: JetStreamContext, stream: str, message: RawStreamMsg) -> int:
    try:
        await js.delete_msg(stream, message.seq or 0)
    except NotFoundError:
        return 0  # deleted meanwhile (its max age, an operator)
    return 1
