"""NATS subject and stream names, and the stable partitioning of inbound traffic.

One customer's messages and delivery statuses always land in the same partition, so a consumer that
processes each partition in order keeps that customer's order (DESIGN.md, Messaging).
"""

from __future__ import annotations

import hashlib

INBOUND_STREAM = "INBOUND"
INBOUND_SUBJECT_PREFIX = "conectapro.inbound"
INBOUND_SUBJECTS = f"{INBOUND_SUBJECT_PREFIX}.>"

DEADLETTER_STREAM = "DEADLETTER"
DEADLETTER_SUBJECT_PREFIX = "conectapro.deadletter"
DEADLETTER_SUBJECTS = f"{DEADLETTER_SUBJECT_PREFIX}.>"
#: A webhook body the ingress could not read at all (not JSON, or no webhook envelope): whose it is, nobody
#: can tell. One unreadable part of a readable webhook goes further down (:func:`ingress_part_subject`).
DEADLETTER_INGRESS = f"{DEADLETTER_SUBJECT_PREFIX}.ingress"
#: Stands for the person token of an unreadable part that names nobody (or several people).
NO_PERSON = "unknown"
#: An inbound update the orchestrator parked: ``.<person token>`` follows, copied from the update's subject
#: (:func:`dead_letter_subject`); letters parked before person tokens have none.
DEADLETTER_ORCHESTRATOR = f"{DEADLETTER_SUBJECT_PREFIX}.orchestrator"

#: Core NATS request/reply subjects of the optional LLM adapter (queue group below), one per task.
LLM_UNDERSTAND_SUBJECT = "conectapro.llm.understand"
LLM_CLASSIFY_TOPIC_SUBJECT = "conectapro.llm.classify_topic"
LLM_REPHRASE_SUBJECT = "conectapro.llm.rephrase"
LLM_QUEUE_GROUP = "llm_adapter"

#: Core NATS (no stream may capture it): "events of these types committed", a wake-up for the event store's
#: followers in every process (``infra.wakeups``), followed by one token per wake-up topic
#: (``contracts.wakeup_topics``). The payload names the types, comma-separated; empty: any.
EVENTS_APPENDED_SUBJECT = "conectapro.eventstore.appended"

#: Commands sent back to the orchestrator (closer timers, operator actions).
COMMANDS_SUBJECT_PREFIX = "conectapro.commands"

#: Header naming the kind of an inbound envelope, so consumers can route before parsing the body.
KIND_HEADER = "Conectapro-Kind"
REASON_HEADER = "Conectapro-Reason"
#: Header of a dead letter naming the subject the message was parked from.
ORIGINAL_SUBJECT_HEADER = "Conectapro-Original-Subject"


def partition_of(sender_key: str, partitions: int) -> int:
    """Stable across processes and versions (unlike ``hash()``, which is salted per process)."""
    digest = hashlib.blake2b(sender_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def dedupe_token(dedupe_key: str) -> str:
    """A subject-safe stand-in for a dedupe key: wamids are base64, whose '=', '/' and '+' subjects refuse."""
    return hashlib.blake2b(dedupe_key.encode(), digest_size=20).hexdigest()


def inbound_subject(sender_key: str, dedupe_key: str, partitions: int, person_token: str) -> str:
    """``conectapro.inbound.p<partition>.<person token>.<token of the dedupe key>``.

    The partition keeps one sender's updates in order; the person token (``privacy.person_tokens``, a keyed
    hash of the sender's WhatsApp id) lets erasure find a person's messages by subject; the last token makes
    the INBOUND stream itself the durable record of what was published: "was this update stored?" is a
    lookup of the last message on this subject, which JetStream indexes (see ``ingress/dedupe.py``).
    """
    partition = partition_of(sender_key, partitions)
    return f"{INBOUND_SUBJECT_PREFIX}.p{partition}.{person_token}.{dedupe_token(dedupe_key)}"


def inbound_person_filter(person_token: str) -> str:
    """Every update of one person, whatever its partition and dedupe token."""
    return f"{INBOUND_SUBJECT_PREFIX}.*.{person_token}.*"


#: Subjects of updates published before person tokens (``p<partition>.<dedupe token>``), for as long as the
#: stream keeps them (its max age): ``*`` matches one token, so this never matches the newer subjects.
LEGACY_INBOUND_FILTER = f"{INBOUND_SUBJECT_PREFIX}.*.*"


def inbound_partition_subject(partition: int) -> str:
    """The filter of one partition's consumer: every update of that partition, whatever its token."""
    return f"{INBOUND_SUBJECT_PREFIX}.p{partition}.>"


# ------------------------------------------------------------------------------- commands (closer → orchestrator)
# Timer commands are partitioned like inbound traffic, by customer key, so one customer's commands are
# decided in the order they were published.

COMMANDS_STREAM = "COMMANDS"
COMMANDS_SUBJECTS = f"{COMMANDS_SUBJECT_PREFIX}.>"
DEADLETTER_COMMANDS = f"{DEADLETTER_SUBJECT_PREFIX}.commands"
#: Header naming the command's type, so a consumer can route before parsing the body.
COMMAND_TYPE_HEADER = "Conectapro-Command"


def commands_subject(customer_key: str, partitions: int) -> str:
    return f"{COMMANDS_SUBJECT_PREFIX}.p{partition_of(customer_key, partitions)}"


def commands_partition_subject(partition: int) -> str:
    return f"{COMMANDS_SUBJECT_PREFIX}.p{partition}"


# ------------------------------------------------------------------------------- dead letters


def person_token_of(subject: str) -> str | None:
    """The person token of an inbound update's subject (None for one published before person tokens)."""
    parts = subject.split(".")
    if subject.startswith(f"{INBOUND_SUBJECT_PREFIX}.") and len(parts) == 5:
        return parts[3]
    return None


def dead_letter_subject(base: str, original_subject: str) -> str:
    """Where a message parked from ``original_subject`` goes: ``base``, plus the person token of an inbound
    update, so that erasing the person finds its letter by subject too."""
    token = person_token_of(original_subject)
    return base if token is None else f"{base}.{token}"


def ingress_part_subject(person_token: str | None, letter_key: str) -> str:
    """``conectapro.deadletter.ingress.<person token | unknown>.<token of the letter>``: one unreadable part of
    a webhook (an update without its id, ...). The person token lets erasure find it by subject; the last
    token makes the subject the durable record of "this part was parked" (as ``inbound_subject`` does for
    updates), so a retry of the POST days later does not park it again."""
    return f"{DEADLETTER_INGRESS}.{person_token or NO_PERSON}.{dedupe_token(letter_key)}"


def dead_letter_person_filters(person_token: str) -> tuple[str, ...]:
    """Every letter about one person: the orchestrator's of their updates, the ingress's of their parts."""
    return f"{DEADLETTER_ORCHESTRATOR}.{person_token}", f"{DEADLETTER_INGRESS}.{person_token}.*"


#: The ingress's letters of parts that name nobody: erasure reads them through, looking for the phone.
INGRESS_PARTS_OF_NOBODY = f"{DEADLETTER_INGRESS}.{NO_PERSON}.*"


def dead_letter_source(subject: str) -> str:
    """Who parked a letter (``ingress``, ``orchestrator``, ``commands``): the token after the prefix."""
    return subject.removeprefix(f"{DEADLETTER_SUBJECT_PREFIX}.").split(".", 1)[0]
