"""What a process may keep of people: only answers looked up while it listened and heard no erasure."""

from __future__ import annotations

import pytest

from privacy.erasure_signal import ErasureSignal

pytestmark = pytest.mark.unit


def test_nothing_is_kept_before_the_process_listens() -> None:
    signal = ErasureSignal()
    assert not signal.still(signal.mark())


def test_an_answer_looked_up_while_an_erasure_was_heard_is_not_kept() -> None:
    signal = ErasureSignal()
    signal.joined()
    mark = signal.mark()
    assert signal.still(mark)
    signal.heard("p0123456789abcdef0123")
    assert not signal.still(mark)
    assert signal.still(signal.mark())


def test_losing_the_connection_drops_everything_and_keeps_nothing_until_listening_again() -> None:
    signal = ErasureSignal()
    dropped: list[str | None] = []
    signal.on_forgotten(dropped.append)
    signal.joined()
    mark = signal.mark()
    signal.lost()
    assert dropped == [None, None]
    assert not signal.still(mark) and not signal.still(signal.mark())
    signal.joined()
    assert not signal.still(mark)
    assert signal.still(signal.mark())
