"""A customer's message that could not be handled after its retries: recorded, and the customer told.

The message itself is parked in the dead-letter stream for an operator. Here the customer's stream records
that it failed, and the customer is asked to write it again, at most once an hour: a burst of failures (a
bug that hits every message) must not become a burst of apologies.
"""

from __future__ import annotations

from datetime import timedelta

from contracts.commands import ApologiseForFailedMessage
from contracts.lead_events import ConversationState, MessageHandlingFailed
from orchestrator.domain import customer_replies as cr
from orchestrator.domain.decision import Decision

#: At most one apology per conversation in this long.
APOLOGY_INTERVAL = timedelta(hours=1)


def apologise_for_failed_message(d: Decision, c: ApologiseForFailedMessage) -> None:
    last = d.state.last_apology_at
    # After an erasure was confirmed the goodbye stays the last message.
    erased = d.state.conversation is ConversationState.ERASED
    apologise = not erased and (last is None or d.now - last >= APOLOGY_INTERVAL)
    d.emit(MessageHandlingFailed(wamid=c.wamid, reason=c.reason, failed_at=d.now, apologised=apologise))
    if apologise:
        d.reply_customer(cr.message_failed(), phone_if_unknown=c.phone)
