"""The shipped evaluation corpus: enough realistic messages, every label a value the schema allows."""

from __future__ import annotations

from collections import Counter

from conectapro.llm_cli import SHIPPED_CORPUS
from conectapro.llm_eval import load_corpus, matches


def test_the_corpus_has_at_least_150_labelled_messages_of_every_kind() -> None:
    cases = load_corpus(SHIPPED_CORPUS)

    assert len(cases) >= 150
    assert len({case.text for case in cases}) == len(cases)
    topics = Counter(case.expected["topic"] for case in cases if case.expected["topic"])
    assert set(topics) >= {"price", "how_it_works", "asks_for_person", "technician_timing", "complaint",
                           "thanks_goodbye", "other"}  # fmt: skip
    assert sum(case.expecting is not None for case in cases) >= 25  # answers to a pending question
    assert sum(case.expected["service"] is None and case.expected["comuna"] is not None for case in cases) >= 5


def test_labels_are_compared_as_the_orchestrator_reads_them() -> None:
    assert matches("comuna", "nunoa", "Ñuñoa")
    assert matches("intent", "create_lead", "update_lead")
    assert matches("address", "Irarrázaval 1234", "irarrázaval 1234 depto 5")
    assert matches("topic", None, "other")
    assert not matches("service", "Gasfiteria", None)
    assert not matches("comuna", "Macul", "Ñuñoa")
