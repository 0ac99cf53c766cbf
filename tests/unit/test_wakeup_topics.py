"""The subjects of the event store's wake-ups (``contracts.wakeup_topics``): what they say, and that the
filters of one process never match one announcement twice."""

from __future__ import annotations

import itertools

import pytest

from contracts.outbound import ReplyQueued
from contracts.wakeup_topics import (
    TOPIC_NAMES,
    UNTOUCHED,
    WAKEUP_TOPICS,
    announcement_subject,
    topic_filters,
    topics_of,
)
from orchestrator.domain.providers import PROVIDER_VIEW_TYPES

pytestmark = pytest.mark.unit

PREFIX = "conectapro.eventstore.appended"


def _matches(subject_filter: str, subject: str) -> bool:
    """NATS matching for filters of ``*`` tokens only (the kind :func:`topic_filters` makes)."""
    wanted, tokens = subject_filter.split("."), subject.split(".")
    return len(wanted) == len(tokens) and all(w in ("*", t) for w, t in zip(wanted, tokens, strict=True))


def test_an_announcement_names_the_topics_its_types_touch() -> None:
    assert announcement_subject([ReplyQueued.TYPE, "MessageReceived"]) == f"{PREFIX}.replies._.other"
    assert announcement_subject(["ProviderRegistered"]) == f"{PREFIX}._.providers._"
    assert announcement_subject(["ReplySent", "LeadDrafted"]) == f"{PREFIX}._._.other"
    assert announcement_subject([]) == f"{PREFIX}.replies.providers.other"  # "any type": every follower


def test_the_directory_of_technicians_wakes_on_exactly_the_providers_topic() -> None:
    assert dict(WAKEUP_TOPICS)["providers"] == PROVIDER_VIEW_TYPES
    assert topics_of(PROVIDER_VIEW_TYPES) == {TOPIC_NAMES.index("providers")}


def test_each_type_belongs_to_one_topic_at_most() -> None:
    for (_, first), (_, second) in itertools.combinations(WAKEUP_TOPICS, 2):
        assert first.isdisjoint(second)


EVERY_SUBJECT = [
    ".".join((PREFIX, *tokens))
    for tokens in itertools.product(*((name, UNTOUCHED) for name in TOPIC_NAMES))
]
FOLLOWERS = [{ReplyQueued.TYPE}, PROVIDER_VIEW_TYPES, {"ReplySent"}, {"ReplySent", ReplyQueued.TYPE}, None]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(FOLLOWERS)), 3)))
def test_the_filters_a_process_adds_follower_by_follower_match_each_wanted_announcement_once(
    order: tuple[int, ...],
) -> None:
    covered: list[int] = []
    filters: list[str] = []
    wanted: set[int] = set()
    for index in order:
        for position, subject_filter in topic_filters(topics_of(FOLLOWERS[index]), covered):
            covered.append(position)
            filters.append(subject_filter)
        wanted |= topics_of(FOLLOWERS[index])
        for subject in EVERY_SUBJECT:
            touched = {position for position, token in enumerate(subject.split(".")[3:]) if token != UNTOUCHED}
            matching = sum(_matches(subject_filter, subject) for subject_filter in filters)
            assert matching == (1 if touched & wanted else 0), (subject, filters)
