"""A conversation as a timeline: every message in and out, what understood each one (rules, the LLM or a
tapped button), every decision, and what became of each reply, in the order it was recorded.

Pure: stored events in, entries out. It reads the events' ``data`` as stored rather than decoding them, so
it shows any event, even one whose type this process does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from contracts.events import RecordedEvent
from projections.operator_api.schemas import EntryKind, TimelineEntry

Data = dict[str, Any]


def _fields(data: Data) -> str:
    given = {k: v for k, v in (data.get("fields") or {}).items() if v is not None}
    return ", ".join(f"{k}={v}" for k, v in given.items()) or "nothing"


def _message_in(data: Data) -> str:
    if data.get("text"):
        return f"{data.get('role')} wrote: {data['text']}"
    if data.get("reply_id"):
        return f"{data.get('role')} tapped {data['reply_id']}"
    return f"{data.get('role')} sent a {data.get('message_type')} message"


def _understanding(data: Data) -> str:
    intent = data.get("intent") or {}
    fields = {k: v for k, v in intent.items() if k not in ("intent", "confidence") and v is not None}
    verdict = "accepted" if data.get("accepted") else "not confident enough: nothing assumed"
    shown = ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"{intent.get('intent')} ({intent.get('confidence')}, {verdict})" + (f": {shown}" if shown else "")


def _message_out(data: Data) -> str:
    message = data.get("message") or {}
    text = message.get("body", "")
    titles = [b.get("title") for b in message.get("buttons", [])]
    rows = [r.get("title") for s in message.get("sections", []) for r in s.get("rows", [])]
    options = " ".join(f"[{t}]" for t in titles + rows)
    return f"to {data.get('recipient')} ({data.get('purpose')}): {text}" + (f" {options}" if options else "")


def _failed(data: Data) -> str:
    code = f" (code {data['error_code']})" if data.get("error_code") is not None else ""
    kind = "gave up" if data.get("permanent") else "retries exhausted"
    return f"not sent{code}: {data.get('reason')}; {kind} after {data.get('attempts')} attempt(s)"


def _reworded(data: Data) -> str:
    if data.get("used"):
        return f"reworded for tone, sent as: {data.get('reworded')}"
    return f"not reworded ({data.get('outcome')}): the text went as decided"


def _settled(data: Data) -> str:
    if data.get("settled_by") == "confirmed_by_status":
        how = f"WhatsApp reported it {data.get('status')} as {data.get('wamid')}: not sent again"
    else:
        how = "no status from WhatsApp named it in time: sent again"
    return f"the sender stopped during attempt {data.get('attempt')}; {how}"


def _delivery(data: Data) -> str:
    error = f" ({data.get('error_code')}: {data.get('error_title')})" if data.get("error_code") is not None else ""
    return f"WhatsApp reports {data.get('status')}{error}"


def _matching(data: Data) -> str:
    chosen = data.get("chosen_provider_id") or "nobody"
    considered = len(data.get("candidates") or ())
    return f"matching attempt {data.get('attempt')}: {considered} candidate(s), chose {chosen}: {data.get('reason')}"


_DECISIONS: dict[str, Callable[[Data], str]] = {
    "ConversationStateChanged": lambda d: (
        f"conversation {d.get('from_state')} → {d.get('to_state')} ({d.get('trigger')})"
    ),
    "LeadDrafted": lambda d: f"lead {d.get('lead_id')} drafted",
    "LeadFieldsCaptured": lambda d: f"captured {_fields(d)}",
    "LeadSubmitted": lambda d: f"lead submitted with consent={d.get('consent')}: {_fields(d)}",
    "MatchingAttempted": _matching,
    "ProviderOffered": lambda d: f"offered to {d.get('provider_id')} (attempt {d.get('attempt')})",
    "OfferAccepted": lambda d: f"{d.get('provider_id')} accepted",
    "OfferDeclined": lambda d: f"{d.get('provider_id')} declined",
    "OfferExpired": lambda d: f"offer to {d.get('provider_id')} expired unanswered",
    "LeadAssigned": lambda d: f"assigned to {d.get('provider_name')} ({d.get('provider_id')})",
    "LeadUnmatched": lambda d: f"no technician: {d.get('reason')}",
    "JobCompleted": lambda d: f"job done, reported by the {d.get('reported_by')}",
    "RatingRequested": lambda d: f"rating requested ({d.get('reason')})",
    "LeadRated": lambda d: f"rated {d.get('rating')}/5",
    "LeadCancelled": lambda d: f"lead cancelled while {d.get('previous_status')}",
    "LeadExpired": lambda d: f"lead expired while {d.get('previous_status')}",
    "LeadClosed": lambda d: f"lead closed: {d.get('reason')}",
    "MessageNotUnderstood": lambda d: f"not understood ({d.get('in_a_row')} in a row)",
    "ConversationHandedOver": lambda d: f"handed over to a person ({d.get('reason')})",
    "ConversationTaken": lambda d: f"taken by operator {d.get('by')}",
    "ConversationHandedBack": lambda d: f"handed back to the bot by operator {d.get('by')}"
                                        + (" (an admin's override)" if d.get("authority") == "admin" else ""),
    "ErasureRefused": lambda d: f"erasure asked for, refused ({d.get('reason')})",
    "ErasureRequested": lambda d: f"erasure confirmed: forgotten once goodbye {d.get('goodbye_reply_id')} is sent",
}  # fmt: skip


def entry(event: RecordedEvent, reply_of_wamid: dict[str, str]) -> TimelineEntry:
    data = event.data
    kind, actor, ref = EntryKind.DECISION, "system", None
    match event.type:
        case "MessageReceived":
            kind, actor, ref = EntryKind.MESSAGE_IN, str(data.get("role")), data.get("wamid")
            summary = _message_in(data)
        case "IntentExtracted":
            kind, actor, ref = EntryKind.UNDERSTANDING, str(data.get("source")), data.get("wamid")
            summary = _understanding(data)
        case "ReplyQueued":
            kind, ref, summary = EntryKind.MESSAGE_OUT, data.get("reply_id"), _message_out(data)
            if data.get("written_by"):
                actor = f"operator {data['written_by']}"
        case "ReplySent":
            kind, ref = EntryKind.SENT, data.get("reply_id")
            summary = f"sent as {data.get('wamid')} after {data.get('attempts')} attempt(s)"
        case "ReplyFailed":
            kind, ref, summary = EntryKind.SEND_FAILED, data.get("reply_id"), _failed(data)
        case "ReplyReworded":
            actor, ref, summary = "llm", data.get("reply_id"), _reworded(data)
        case "ReplySendSettled":
            actor, ref, summary = "sender", data.get("reply_id"), _settled(data)
        case "ReplyDeliveryUpdated":
            wamid = str(data.get("wamid"))
            kind, actor, ref = EntryKind.DELIVERY, "whatsapp", reply_of_wamid.get(wamid, wamid)
            summary = _delivery(data)
        case "ConversationTaken" | "ConversationHandedBack":
            actor, summary = f"operator {data.get('by')}", _DECISIONS[event.type](data)
        case other:
            describe = _DECISIONS.get(other)
            summary = describe(data) if describe is not None else other
    return TimelineEntry(
        position=event.global_position, at=event.metadata.recorded_at, stream_id=event.stream_id,
        stream_version=event.stream_version, type=event.type, kind=kind, actor=actor, summary=summary,
        ref=str(ref) if ref is not None else None, data=data,
    )  # fmt: skip


def build_timeline(events: Iterable[RecordedEvent]) -> list[TimelineEntry]:
    """Entries for ``events`` (from one or more streams) by global position, the key pages are cut at (``after``),
    so a page never skips nor repeats an entry; delivery statuses name the reply."""
    ordered = sorted(events, key=lambda e: e.global_position)
    reply_of_wamid = {
        str(e.data["wamid"]): str(e.data["reply_id"]) for e in ordered if e.type == "ReplySent" and "wamid" in e.data
    }
    return [entry(event, reply_of_wamid) for event in ordered]
