"""Where one reply stands, folded from the sender's stream: attempted how often and when, settled or not.

Pure: the sender reads its stream and asks. An attempt with no outcome recorded after it is *unconfirmed*:
the sender stopped between calling the Graph API and recording what it answered, so the message may or may
not be out. Such a reply is sent again only once no status webhook naming it arrived within a window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from contracts.events import Event
from contracts.outbound import ReplyFailed, ReplySendAttempted, ReplySent


@dataclass(frozen=True)
class ReplyProgress:
    attempts: int = 0
    last_attempted_at: datetime | None = None
    #: A ReplySent or ReplyFailed is recorded: nothing is left to do.
    recorded: bool = False

    @property
    def unconfirmed(self) -> bool:
        return self.attempts > 0 and not self.recorded

    def resend_due(self, looked_at: datetime, window: timedelta) -> bool:
        """Whether an unconfirmed attempt has waited out the window (as of a look at the store that began
        at ``looked_at`` and found no status naming the reply)."""
        assert self.last_attempted_at is not None, "only an attempted reply can be due"
        return looked_at >= self.last_attempted_at + window


def reply_progress(events: Iterable[Event], reply_id: UUID) -> ReplyProgress:
    """Fold the sender's events about ``reply_id`` (others are skipped)."""
    progress = ReplyProgress()
    for event in events:
        match event:
            case ReplySendAttempted() if event.reply_id == reply_id:
                progress = ReplyProgress(event.attempt, event.attempted_at, recorded=False)
            case ReplySent() | ReplyFailed() if event.reply_id == reply_id:
                progress = ReplyProgress(progress.attempts, progress.last_attempted_at, recorded=True)
    return progress
