"""`conectapro replay STREAM_ID`: a stream as a readable timeline, straight from the stored events.

Each decision (the events one message or command appended) is one block: when, who said what (typed text
or tapped button), what was understood and by whom (rules, interactive, or the LLM with its model and
prompt), then what was decided — state changes, matching with every candidate and the reason, replies with
their text and what became of them (sent, failed, delivered, read). Nothing is re-computed and the LLM is
never called: this is what was recorded.

Phone numbers are masked as the logs mask them unless the operator asks for them (``--show-phones``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.events import Event, RecordedEvent
from contracts.lead_events import (
    ConversationHandedBack,
    ConversationHandedOver,
    ConversationStateChanged,
    ConversationTaken,
    ErasureRefused,
    ErasureRequested,
    IntentExtracted,
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadDrafted,
    LeadExpired,
    LeadFields,
    LeadFieldsCaptured,
    LeadRated,
    LeadSubmitted,
    LeadUnmatched,
    MatchingAttempted,
    MessageNotUnderstood,
    MessageReceived,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    ProviderOffered,
    RatingRequested,
    SenderRole,
)
from contracts.outbound import (
    RecipientRole,
    ReplyDeliveryUpdated,
    ReplyFailed,
    ReplyQueued,
    ReplySendSettled,
    ReplySent,
    sender_stream_id,
)
from contracts.personal import person_of_stream
from eventstore import EventStore
from infra.logging import mask_phone
from orchestrator.identity import People, deliveries_stream_id

INDENT = " " * 22
_TEXT_CHARS = 300
#: Said of a hand-back an admin made of a conversation someone else held (or nobody did).
_OVERRIDE = " (an admin's override)"
# A phone number however it is written: "56912345678", "+56912345678", "+56 9 1234 5678".
_PHONE_LIKE = re.compile(r"(?<![\w.])\+?\d(?:[ -]?\d){7,14}(?![\w])")


def mask_phones(text: str) -> str:
    """Every phone-like run of digits masked like ``infra.logging.mask_phone`` (spaces allowed)."""
    return _PHONE_LIKE.sub(lambda match: mask_phone(re.sub(r"\D", "", match.group(0))), text)


@dataclass
class Timeline:
    stream_id: str
    events: list[RecordedEvent]
    #: What the sender recorded, by reply id: ReplySent / ReplyFailed, and how an attempt it never recorded
    #: was settled after a restart (from its own stream, or from this one in stores written before it had one).
    outcomes: dict[str, list[ReplySent | ReplyFailed | ReplySendSettled]] = field(default_factory=dict)
    #: Delivery statuses Meta reported, by the wamid of the message we sent.
    deliveries: dict[str, list[ReplyDeliveryUpdated]] = field(default_factory=dict)


async def load_timeline(store: EventStore, stream_id: str, people: People | None = None) -> Timeline:
    """The stream plus what became of every reply it queued: the sender's records (on its own stream, or on
    this one in older stores) and the delivery statuses (on deliveries streams: the stream's own person's,
    and the technicians' ones ``people`` finds)."""
    events = await store.read_stream(stream_id)
    outcomes: dict[str, list[ReplySent | ReplyFailed | ReplySendSettled]] = defaultdict(list)
    recipients: set[str] = set()
    own = person_of_stream(stream_id)
    if own is not None:
        recipients.add(own)
    for recorded in [*events, *await store.read_stream(sender_stream_id(stream_id))]:
        event = recorded.to_event()
        if isinstance(event, ReplySent | ReplyFailed | ReplySendSettled):
            outcomes[str(event.reply_id)].append(event)
        elif isinstance(event, ReplyQueued) and event.recipient == RecipientRole.TECHNICIAN and people is not None:
            technician = await people.find(event.to)
            if technician is not None:
                recipients.add(technician)
    deliveries: dict[str, list[ReplyDeliveryUpdated]] = defaultdict(list)
    for recipient in sorted(recipients):
        for recorded in await store.read_stream(deliveries_stream_id(recipient)):
            status = recorded.to_event()
            if isinstance(status, ReplyDeliveryUpdated):
                deliveries[status.wamid].append(status)
    return Timeline(stream_id, events, dict(outcomes), dict(deliveries))


# -------------------------------------------------------------------------------------- rendering


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


def _quoted(text: str | None) -> str:
    if text is None:
        return "(no text)"
    flat = " ".join(text.split())
    return '"' + (flat if len(flat) <= _TEXT_CHARS else flat[: _TEXT_CHARS - 1] + "…") + '"'


def _fields(fields: LeadFields) -> str:
    return " · ".join(f"{name}={value}" for name, value in fields if value is not None) or "(nothing)"


class _Renderer:
    def __init__(self, timeline: Timeline, show_phones: bool) -> None:
        self.timeline = timeline
        self.show_phones = show_phones
        self.lines: list[str] = []

    # What may carry a phone number goes through one of these two.
    def phone(self, value: str | None) -> str:
        if value is None:
            return "?"
        return value if self.show_phones else mask_phone(value)

    def text(self, value: str | None) -> str:
        """Quoted and shortened, as people wrote it."""
        return self.plain(_quoted(value))

    def plain(self, value: str) -> str:
        return value if self.show_phones else mask_phones(value)

    def add(self, line: str) -> None:
        self.lines.append(INDENT + line)

    # ------------------------------------------------------------------------------------ blocks

    def render(self) -> str:
        events = self.timeline.events
        if not events:
            return f"{self.timeline.stream_id}: no events"
        self.lines.append(
            f"{self.timeline.stream_id} · {len(events)} events (v1–v{events[-1].stream_version}) · times in UTC"
        )
        for group in _groups(events):
            self._block(group)
        return "\n".join(self.lines)

    def _block(self, group: list[RecordedEvent]) -> None:
        first = group[0]
        decoded = [recorded.to_event() for recorded in group]
        if all(isinstance(event, ReplySent | ReplyFailed) for event in decoded):
            return  # shown under the reply they are about
        self.lines.append("")
        self.lines.append(f"{_time(first.metadata.recorded_at)}  {self._cause(first, decoded[0])}")
        for event in decoded:
            if isinstance(event, ReplySent | ReplyFailed):
                continue
            render = _RENDERERS.get(type(event))
            if render is not None:
                render(self, event)
            else:
                self.add(f"{event.TYPE} {event.model_dump_json()}")

    def _cause(self, first: RecordedEvent, event: Event) -> str:
        if isinstance(event, MessageReceived):
            who = "CUSTOMER" if event.role is SenderRole.CUSTOMER else f"TECHNICIAN {event.provider_id}"
            name = f" {event.profile_name}" if event.profile_name else ""
            said = (
                f"tapped [{event.text or event.reply_id}] ({event.reply_id})"
                if event.reply_id
                else f"wrote {self.text(event.text)}"
            )
            return f"{who}{name} ({self.phone(event.phone)}) {said}  · {event.message_type} {event.wamid}"
        command = first.metadata.command
        if command is not None:
            return f"TIMER {type(command).__name__} from the closer  · {first.metadata.correlation_id}"
        return f"{event.TYPE} · by {first.metadata.correlation_id}"

    # ---------------------------------------------------------------------------------- events

    def understood(self, e: IntentExtracted) -> None:
        how = e.source.value
        if e.model or e.prompt_version:
            extras = [f"model {e.model}", f"prompt {e.prompt_version}"]
            extras += [f"{e.latency_ms:.0f} ms"] if e.latency_ms is not None else []
            extras += [f"{e.tokens} tokens"] if e.tokens is not None else []
            how += f" ({', '.join(extras)})"
        intent = e.intent
        values = [f"{name}={value}" for name, value in intent if name not in ("intent", "confidence") and value]
        verdict = "accepted" if e.accepted else "ignored: below the confidence threshold"
        detail = " · ".join([intent.intent.value, *values, f"confidence {intent.confidence:.2f} → {verdict}"])
        self.add(f"understood by {how}: {self.plain(detail)}")
        if e.raw_output:
            self.add(f"  raw model output: {self.text(e.raw_output)}")
        if e.detour is not None:
            self.add(f"  off the flow: {e.detour.value}")
        llm = e.llm
        if llm is not None:
            parts = [f"LLM {llm.outcome}"]
            parts += [f"kept {', '.join(llm.accepted)}"] if llm.accepted else []
            parts += [f"dropped {name} ({why})" for name, why in llm.dropped.items()]
            parts += [f"disagreed on {name}: {what}" for name, what in llm.disagreements.items()]
            self.add(f"  {self.plain(' · '.join(parts))}")

    def reply(self, e: ReplyQueued) -> None:
        to = "customer" if e.recipient.value == "customer" else f"technician {e.provider_id}"
        by = f" written by operator {e.written_by}" if e.written_by else ""
        self.add(f"reply → {to} ({self.phone(e.to)}) [{e.purpose}]{by}: {self.text(e.message.plain_text)}")
        outcomes = self.timeline.outcomes.get(str(e.reply_id), [])
        if not outcomes:
            self.add("    not sent (yet)")
        for outcome in outcomes:
            if isinstance(outcome, ReplySendSettled):
                how = f"a status ({outcome.status}) named it" if outcome.wamid else "no status named it: sent again"
                self.add(f"    the sender stopped mid-send (attempt {outcome.attempt}); after a restart {how}")
            elif isinstance(outcome, ReplySent):
                statuses = self.timeline.deliveries.get(outcome.wamid, [])
                trail = "".join(f" · {s.status.value} {_clock(s.occurred_at)}" for s in statuses)
                self.add(f"    sent {_clock(outcome.sent_at)} as {outcome.wamid}{trail}")
            else:
                code = f" code {outcome.error_code}" if outcome.error_code is not None else ""
                kind = "permanently" if outcome.permanent else f"after {outcome.attempts} attempts"
                self.add(f"    FAILED {_clock(outcome.failed_at)} {kind}{code}: {self.text(outcome.reason)}")

    def matching(self, e: MatchingAttempted) -> None:
        chosen = e.chosen_provider_id or "nobody"
        self.add(f"matching #{e.attempt} for {e.service} in {e.comuna} → {chosen}: {e.reason}")
        for c in e.candidates:
            load = f"jobs {c.active_jobs}/{c.capacity}, rating {c.rating_key:.2f} ({c.rating_count})"
            verdict = f"rank {c.rank}" if c.eligible else "not eligible: " + ", ".join(c.rejected_because)
            self.add(f"    {c.provider_id}: {verdict} · {load}")
        if e.outside_coverage:
            self.add(f"    ({e.outside_coverage} technicians outside this service or comuna)")


def _simple(describe: Callable[[_Renderer, Any], str]) -> Callable[[_Renderer, Any], None]:
    return lambda r, e: r.add(describe(r, e))


_RENDERERS: Mapping[type[Event], Callable[[_Renderer, Any], None]] = {
    MessageReceived: lambda r, e: None,  # the block's heading
    IntentExtracted: _Renderer.understood,
    ReplyQueued: _Renderer.reply,
    MatchingAttempted: _Renderer.matching,
    ConversationStateChanged: _simple(lambda r, e: f"conversation: {e.from_state} → {e.to_state} ({e.trigger})"),
    LeadDrafted: _simple(lambda r, e: f"lead {e.lead_id} drafted"),
    LeadFieldsCaptured: _simple(lambda r, e: f"captured: {r.plain(_fields(e.fields))}"),
    LeadSubmitted: _simple(
        lambda r, e: f"lead submitted (consent {'given' if e.consent else 'NOT given'}): {r.plain(_fields(e.fields))}"
    ),
    ProviderOffered: _simple(lambda r, e: f"offered to {e.provider_id} (attempt {e.attempt})"),
    OfferDeclined: _simple(lambda r, e: f"offer declined by {e.provider_id}"),
    OfferExpired: _simple(lambda r, e: f"offer to {e.provider_id} expired unanswered"),
    OfferAccepted: _simple(lambda r, e: f"offer accepted by {e.provider_id}"),
    LeadAssigned: _simple(lambda r, e: f"assigned to {e.provider_name} ({e.provider_id}, {r.phone(e.provider_phone)})"),
    LeadUnmatched: _simple(lambda r, e: f"no technician available: {e.reason}"),
    JobCompleted: _simple(lambda r, e: f"job completed (reported by the {e.reported_by})"),
    RatingRequested: _simple(lambda r, e: f"rating requested ({e.reason})"),
    LeadRated: _simple(lambda r, e: f"rated {e.rating}/5 for {e.provider_id}"),
    LeadCancelled: _simple(lambda r, e: f"lead cancelled (was {e.previous_status})"),
    LeadExpired: _simple(lambda r, e: f"lead expired (was {e.previous_status})"),
    LeadClosed: _simple(lambda r, e: f"lead closed (was {e.previous_status}): {e.reason}"),
    MessageNotUnderstood: _simple(lambda r, e: f"not understood ({e.in_a_row} in a row)"),
    ConversationHandedOver: _simple(lambda r, e: f"handed over to a person ({e.reason})"),
    ConversationTaken: _simple(lambda r, e: f"taken by operator {e.by}"),
    ConversationHandedBack: _simple(
        lambda r, e: f"handed back to the bot by operator {e.by}{_OVERRIDE if e.authority == 'admin' else ''}"
    ),
    ErasureRefused: _simple(lambda r, e: f"erasure asked for, refused ({e.reason})"),
    ErasureRequested: _simple(
        lambda r, e: f"erasure confirmed by the customer: forgotten once goodbye {e.goodbye_reply_id} is sent"
    ),
}


def _groups(events: Sequence[RecordedEvent]) -> list[list[RecordedEvent]]:
    """Consecutive events of one cause (one decision, or one record of the sender)."""
    groups: list[list[RecordedEvent]] = []
    for event in events:
        if groups and groups[-1][-1].metadata.correlation_id == event.metadata.correlation_id:
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups


def render_timeline(timeline: Timeline, *, show_phones: bool = False) -> str:
    return _Renderer(timeline, show_phones).render()
