"""The document a person receives when they ask what ConectaPro holds about them (access and portability,
Chile's Law 21.719): their leads, every message they sent and every message sent to them, what the system
understood of each, and the times their conversation went to a person.

Pure: the stored events of the person's own streams in (their conversation, what the sender did with the
replies, delivery statuses), one JSON-ready dict out. It reads the events' ``data`` as stored (opened by the
store with the person's key), like the timeline, so an event type this code does not know is skipped, not
fatal. What belongs to somebody else is left out: the technician's messages and the offers sent to them
(they sit in the customer's stream because they are about the customer's lead), the technician's phone,
operators' account names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.events import RecordedEvent
from contracts.lead_events import LeadStatus
from orchestrator.domain.evolve import LEAD_TRIGGER_OF_EVENT
from orchestrator.domain.states import LEAD_TRANSITIONS

Data = dict[str, Any]

#: People read times as they live them: in Chile (with the offset, so the instant is exact).
CHILE = ZoneInfo("America/Santiago")

ABOUT = (
    "Estos son todos los datos personales que ConectaPro guarda sobre ti (Ley 21.719): tus solicitudes, "
    "cada mensaje que nos enviaste y que te enviamos, lo que el sistema entendió de cada uno y las veces que "
    "te atendió una persona. Puedes pedir que los borremos."
)

_LEAD_FIELDS = ("service", "comuna", "urgency", "address", "problem")
_UNDERSTOOD_FIELDS = ("intent", "service", "comuna", "problem_type", "urgency", "address", "consent", "confidence")


def _time(value: object) -> str | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        moment = datetime.fromisoformat(value)
    else:
        return None
    return moment.astimezone(CHILE).isoformat(timespec="seconds")


def _given(values: Data | None, names: Iterable[str]) -> Data:
    return {name: values[name] for name in names if values and values.get(name) is not None}


class _Lead:
    def __init__(self, lead_id: str, created_at: str | None) -> None:
        self.lead_id = lead_id
        self.status = LeadStatus.DRAFT
        self.fields: Data = {}
        self.document: Data = {"lead_id": lead_id, "created_at": created_at}

    def fold(self, event_type: str, data: Data, at: str | None) -> None:
        trigger = LEAD_TRIGGER_OF_EVENT.get(event_type)
        if trigger is not None:
            self.status = LEAD_TRANSITIONS.get((self.status, trigger), self.status)
        match event_type:
            case "LeadFieldsCaptured":
                self.fields.update(_given(data.get("fields"), _LEAD_FIELDS))
            case "LeadSubmitted":
                self.fields.update(_given(data.get("fields"), _LEAD_FIELDS))
                self.document.update(submitted_at=at, consent_to_share_with_technician=data.get("consent"))
            case "LeadAssigned":
                # The technician's public name, as the customer was told it; their phone is theirs.
                self.document["technician"] = {"id": data.get("provider_id"), "name": data.get("provider_name")}
            case "JobCompleted":
                self.document["completed_at"] = at
            case "LeadRated":
                self.document.update(rating=data.get("rating"), rated_at=at)
            case "LeadUnmatched" | "LeadClosed":
                self.document.update(ended_at=at, end_reason=data.get("reason"))
            case "LeadCancelled" | "LeadExpired":
                self.document.update(ended_at=at, end_reason=f"{self.status.value} while {data.get('previous_status')}")

    def out(self) -> Data:
        fields = {name: self.fields.get(name) for name in _LEAD_FIELDS}
        return {"lead_id": self.lead_id, "status": self.status.value, **fields, **self.document}


def _understood(data: Data) -> Data:
    understood: Data = {"by": data.get("source"), "accepted": data.get("accepted"),
                        **_given(data.get("intent"), _UNDERSTOOD_FIELDS)}  # fmt: skip
    for name in ("model", "prompt_version"):
        if data.get(name):
            understood[name] = data[name]
    llm = data.get("llm") or {}
    if llm:
        understood["language_model"] = {"outcome": llm.get("outcome"), "model": llm.get("model"),
                                        "proposed": _given(llm.get("proposed"), _UNDERSTOOD_FIELDS),
                                        "dropped": llm.get("dropped") or {}}  # fmt: skip
    return understood


def _options(message: Data) -> list[str]:
    buttons = [b.get("title") for b in message.get("buttons") or ()]
    rows = [r.get("title") for s in message.get("sections") or () for r in s.get("rows") or ()]
    return [str(title) for title in buttons + rows if title]


class _Conversation:
    """A person's messages in and out (as the customer or as the technician ``role``), their leads and
    hand-overs, folded event by event."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.leads: dict[str, _Lead] = {}
        self.messages: list[Data] = []
        self.handovers: list[Data] = []
        self.names: list[str] = []
        self._message_of_wamid: dict[str, Data] = {}
        self._reply_of_id: dict[str, Data] = {}
        self._reply_of_wamid: dict[str, Data] = {}

    def fold(self, event: RecordedEvent) -> None:
        data, at = event.data, _time(event.metadata.recorded_at)
        match event.type:
            case "MessageReceived" if data.get("role") == self.role:
                self._received(data)
            case "IntentExtracted" if str(data.get("wamid")) in self._message_of_wamid:
                self._message_of_wamid[str(data.get("wamid"))]["understood"] = _understood(data)
            case "ReplyQueued" if data.get("recipient") == self.role:
                self._queued(data, at)
            case "ReplySent" if str(data.get("reply_id")) in self._reply_of_id:
                reply = self._reply_of_id[str(data.get("reply_id"))]
                reply.update(delivery="sent", sent_at=_time(data.get("sent_at")))
                self._reply_of_wamid[str(data.get("wamid"))] = reply
            case "ReplyFailed" if str(data.get("reply_id")) in self._reply_of_id:
                self._reply_of_id[str(data.get("reply_id"))].update(delivery="not sent", reason=data.get("reason"))
            case "ReplyDeliveryUpdated":
                reply_id, wamid = str(data.get("reply_id")), str(data.get("wamid"))
                updated = self._reply_of_id.get(reply_id) or self._reply_of_wamid.get(wamid)
                if updated is not None:
                    updated.update(delivery=data.get("status"), delivery_at=_time(data.get("occurred_at")))
            case "LeadDrafted":
                self.leads[str(data["lead_id"])] = _Lead(str(data["lead_id"]), _time(data.get("drafted_at")))
            case "ConversationHandedOver":
                self.handovers.append({"at": _time(data.get("handed_over_at")), "reason": data.get("reason")})
            case "ConversationTaken" if self.handovers:
                self.handovers[-1]["taken_by_a_person_at"] = _time(data.get("taken_at"))
            case "ConversationHandedBack" if self.handovers:
                self.handovers[-1]["handed_back_to_the_assistant_at"] = _time(data.get("handed_back_at"))
            case other if (lead := self.leads.get(str(data.get("lead_id")))) is not None:
                lead.fold(other, data, at)

    def _received(self, data: Data) -> None:
        received: Data = {"direction": "in", "at": _time(data.get("received_at")), "type": data.get("message_type"),
                          **_given(data, ("text", "reply_id", "text_truncated_from"))}  # fmt: skip
        self.messages.append(received)
        self._message_of_wamid[str(data.get("wamid"))] = received
        name = data.get("profile_name")
        if name and name not in self.names:
            self.names.append(name)

    def _queued(self, data: Data, at: str | None) -> None:
        message = data.get("message") or {}
        reply: Data = {"direction": "out", "at": at, "text": message.get("body"), "options": _options(message),
                       "written_by": "a person" if data.get("written_by") else "the assistant",
                       "lead_id": data.get("lead_id"), "delivery": "queued"}  # fmt: skip
        self.messages.append(reply)
        self._reply_of_id[str(data.get("reply_id"))] = reply


def _technician_profile(events: Iterable[RecordedEvent]) -> Data | None:
    """The technician's registration as it stands (None when the phone is no technician's)."""
    profile: Data | None = None
    for event in events:
        data = event.data
        match event.type:
            case "ProviderRegistered":
                profile = {**_given(data, ("provider_id", "name", "phone", "services", "comunas", "capacity")),
                           "active": data.get("active"), "registered_at": _time(data.get("registered_at"))}  # fmt: skip
            case "ProviderUpdated" if profile is not None:
                profile.update(_given(data, ("name", "phone", "services", "comunas", "capacity")))
            case "ProviderDeactivated" if profile is not None:
                profile.update(active=False, deactivated_at=_time(data.get("deactivated_at")))
            case "ProviderActivated" if profile is not None:
                profile.update(active=True, activated_at=_time(data.get("activated_at")))
    return profile


def _folded(events: Iterable[RecordedEvent], role: str) -> _Conversation:
    conversation = _Conversation(role)
    for event in sorted(events, key=lambda e: e.global_position):
        conversation.fold(event)
    return conversation


def build_export(
    events: Iterable[RecordedEvent],
    *,
    phone: str,
    person_key: str | None,
    generated_at: datetime,
    technician_events: Iterable[RecordedEvent] = (),
) -> dict[str, Any]:
    """Everything the person's streams hold about them, as one document (see the module's docstring);
    ``technician_events``: their stream as a registered technician, if they are one."""
    customer = _folded(events, "customer")
    technician_stream = list(technician_events)
    technician = _folded(technician_stream, "technician")
    profile = _technician_profile(sorted(technician_stream, key=lambda e: e.global_position))
    messages = customer.messages + technician.messages
    inbound = sum(1 for m in messages if m["direction"] == "in")
    counts = {"leads": len(customer.leads), "messages_in": inbound, "messages_out": len(messages) - inbound,
              "handovers": len(customer.handovers)}  # fmt: skip
    document: dict[str, Any] = {
        "about": ABOUT,
        "generated_at": _time(generated_at),
        "person": {"phone": phone, "person_key": person_key, "whatsapp_names": customer.names},
        "counts": counts,
        "leads": [lead.out() for lead in customer.leads.values()],
        "messages": customer.messages,
        "handovers": customer.handovers,
    }
    if profile is not None:
        # Messages of the technician's own stream (those tied to no lead); those about a customer's lead sit
        # in that customer's stream, sealed with the customer's key.
        document["as_technician"] = {"profile": profile, "messages": technician.messages}
    return document
