"""The subjects of the event store's wake-ups: what an announcement's subject says was appended.

An announcement (``infra.wakeups``) is published once per coalesced batch of commits on
:data:`contracts.subjects.EVENTS_APPENDED_SUBJECT` followed by one token per wake-up topic, in the order of
:data:`WAKEUP_TOPICS`: the topic's name when the batch holds one of its types, ``_`` when not. The last topic,
``other``, stands for every type of no named topic. A process subscribes only to the topics its followers
wake on, with filters that never overlap (:func:`topic_filters`), so it receives each announcement it cares
about once and none of the others: the sender hears of replies to send, the technicians' directory of what
changes a technician's view, and neither of every other commit. The payload still names the types, so a
follower of a few types of a topic is woken by those alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from contracts import lead_events as lead
from contracts import provider_events as provider
from contracts.outbound import ReplyQueued
from contracts.subjects import EVENTS_APPENDED_SUBJECT

#: Named topics: the types one kind of follower wakes on (the sender; the orchestrator's directory of
#: technicians). Each type belongs to at most one; the others are ``other``.
_PROVIDER_VIEW = (
    provider.ProviderRegistered, provider.ProviderUpdated, provider.ProviderDeactivated, provider.ProviderActivated,
    provider.ProviderForgotten, lead.ProviderOffered, lead.OfferDeclined, lead.OfferExpired, lead.OfferAccepted,
    lead.LeadAssigned, lead.JobCompleted, lead.LeadRated, lead.LeadCancelled, lead.LeadClosed,
)  # fmt: skip
WAKEUP_TOPICS: tuple[tuple[str, frozenset[str]], ...] = (
    ("replies", frozenset({ReplyQueued.TYPE})),
    ("providers", frozenset(cls.TYPE for cls in _PROVIDER_VIEW)),
)
OTHER_TOPIC = "other"
#: Every token's name, in subject order.
TOPIC_NAMES: tuple[str, ...] = (*(name for name, _ in WAKEUP_TOPICS), OTHER_TOPIC)
#: The token of a topic the announcement does not touch.
UNTOUCHED = "_"

_POSITION = {event_type: position for position, (_, types) in enumerate(WAKEUP_TOPICS) for event_type in types}
_OTHER = len(WAKEUP_TOPICS)
_EVERY_POSITION = frozenset(range(len(TOPIC_NAMES)))


def topics_of(types: Collection[str] | None) -> frozenset[int]:
    """The positions of the topics ``types`` fall in (None: of any type, so every topic)."""
    if types is None:
        return _EVERY_POSITION
    return frozenset(_POSITION.get(event_type, _OTHER) for event_type in types)


def announcement_subject(types: Iterable[str]) -> str:
    """The subject announcing appends of ``types`` (none: of any type, every token set)."""
    named = list(types)
    touched = topics_of(named or None)
    tokens = (name if position in touched else UNTOUCHED for position, name in enumerate(TOPIC_NAMES))
    return ".".join((EVENTS_APPENDED_SUBJECT, *tokens))


def topic_filters(wanted: frozenset[int], covered: Sequence[int]) -> list[tuple[int, str]]:
    """Subject filters that add the topics ``wanted`` to those a process already hears (``covered``, in the
    order they were added), each with the topic it adds. Each new filter requires its topic's token and the
    absence of every topic covered before it, so no two filters of a process match one subject: an
    announcement reaches the process once, whatever the number of its topics the process hears."""
    filters: list[tuple[int, str]] = []
    before = list(covered)
    for position in sorted(wanted - set(before)):
        tokens = ["*"] * len(TOPIC_NAMES)
        for earlier in before:
            tokens[earlier] = UNTOUCHED
        tokens[position] = TOPIC_NAMES[position]
        filters.append((position, ".".join((EVENTS_APPENDED_SUBJECT, *tokens))))
        before.append(position)
    return filters
