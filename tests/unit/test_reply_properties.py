"""The reply builders, over everything they can be given: what they build is a message WhatsApp accepts.

WhatsApp's limits are checked here on the Graph API payload itself (not through the models' own validation):
at most 3 reply buttons with titles of at most 20 characters, list rows titled in at most 24, at most 10
rows, an interactive body of at most 1,024 characters and a text of at most 4,096. Names, problems and
addresses are as long as the contracts let them be; names customers give WhatsApp have no limit at all.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.comunas import all_comunas
from contracts.intent import Service, Urgency
from contracts.lead_events import LeadFields
from contracts.outbound import (
    MAX_BUTTON_ID,
    MAX_BUTTON_TITLE,
    MAX_BUTTONS,
    MAX_INTERACTIVE_BODY,
    MAX_LIST_BUTTON,
    MAX_LIST_ROWS,
    MAX_ROW_DESCRIPTION,
    MAX_ROW_ID,
    MAX_ROW_TITLE,
    MAX_TEXT_BODY,
    ButtonsMessage,
    ListMessage,
    ListRow,
    ListSection,
    ReplyButton,
    TextMessage,
)
from orchestrator.domain import customer_replies as customer
from orchestrator.domain import technician_replies as technician
from orchestrator.domain.model import PendingQuestion
from orchestrator.domain.presentation import Reply

TO = "56912345678"



def sized_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text of any length in the range, the longest as likely as the shortest (plain ``st.text`` seldom
    gets near its maximum, where the limits are). Any character, control characters and emoji included;
    WhatsApp counts characters, as ``len()`` does."""
    return st.integers(min_size, max_size).flatmap(lambda n: st.text(min_size=n, max_size=n))


texts = sized_text(0, 1200)
names = sized_text(1, 100)  # a technician's name, as registered (contracts: 1-100)
profile_names = st.none() | texts  # what a customer calls themselves on WhatsApp: no limit
phones = st.from_regex(r"[0-9]{8,15}", fullmatch=True)
lead_ids = st.from_regex(r"[A-Za-z0-9_-]{1,128}\.[1-9][0-9]{0,8}", fullmatch=True)
comunas = st.sampled_from(all_comunas())
problems = sized_text(1, 500)
addresses = sized_text(1, 200)

draft_fields = st.builds(
    LeadFields,
    service=st.none() | st.sampled_from(Service),
    comuna=st.none() | comunas,
    problem=st.none() | problems,
    urgency=st.none() | st.sampled_from(Urgency),
    address=st.none() | addresses,
)
submitted_fields = st.builds(
    LeadFields,
    service=st.sampled_from(Service),
    comuna=comunas,
    problem=problems,
    urgency=st.sampled_from(Urgency),
    address=addresses,
)


def assert_whatsapp_accepts(reply: Reply) -> dict[str, Any]:
    """The Graph API payload of ``reply``, after checking it against WhatsApp's limits."""
    payload = reply.message.to_graph_api_payload(TO)
    assert reply.purpose
    if payload["type"] == "text":
        assert 1 <= len(payload["text"]["body"]) <= MAX_TEXT_BODY
        return payload
    interactive = payload["interactive"]
    assert 1 <= len(interactive["body"]["text"]) <= MAX_INTERACTIVE_BODY
    action = interactive["action"]
    if interactive["type"] == "button":
        replies = [button["reply"] for button in action["buttons"]]
        assert 1 <= len(replies) <= MAX_BUTTONS
        assert all(1 <= len(r["title"]) <= MAX_BUTTON_TITLE and 1 <= len(r["id"]) <= MAX_BUTTON_ID for r in replies)
        assert len({r["id"] for r in replies}) == len({r["title"] for r in replies}) == len(replies)
    else:
        assert interactive["type"] == "list"
        assert 1 <= len(action["button"]) <= MAX_LIST_BUTTON
        rows = [row for section in action["sections"] for row in section["rows"]]
        assert 1 <= len(rows) <= MAX_LIST_ROWS
        assert all(1 <= len(row["title"]) <= MAX_ROW_TITLE and 1 <= len(row["id"]) <= MAX_ROW_ID for row in rows)
        assert all(len(row.get("description", "")) <= MAX_ROW_DESCRIPTION for row in rows)
        assert len({row["id"] for row in rows}) == len(rows)
    return payload


def body_of(payload: dict[str, Any]) -> str:
    return str(payload["text"]["body"] if payload["type"] == "text" else payload["interactive"]["body"]["text"])


# ------------------------------------------------------------------------------------------- customer


@given(profile_names, st.booleans(), st.booleans())
def test_a_welcome_fits_whatever_the_customer_is_called(name: str | None, returning: bool, finished: bool) -> None:
    assert_whatsapp_accepts(customer.welcome(name, returning=returning, just_finished=finished))


@given(draft_fields, profile_names, st.booleans())
def test_the_first_question_fits_after_what_we_understood(fields: LeadFields, name: str | None, back: bool) -> None:
    prefix = customer.started_prefix(fields, customer.greeting(name, returning=back))
    for pending in PendingQuestion:
        question = customer.question_for(pending, fields, None)
        if question is not None:
            assert_whatsapp_accepts(customer.with_prefix(prefix, question))


@given(submitted_fields, st.sampled_from(["", customer.CORRECTED, customer.NOT_UNDERSTOOD, customer.SMALLTALK]))
def test_a_summary_fits_and_shows_every_field(fields: LeadFields, prefix: str) -> None:
    body = body_of(assert_whatsapp_accepts(customer.summary(fields, prefix)))
    assert fields.comuna is not None and fields.comuna in body
    assert fields.address is not None and " ".join(fields.address.split()) in " ".join(body.split())
    assert_whatsapp_accepts(customer.consent_refused(fields))


@given(st.sampled_from(PendingQuestion), draft_fields, st.none() | names)
def test_every_pending_question_fits(pending: PendingQuestion, fields: LeadFields, provider: str | None) -> None:
    question = customer.question_for(pending, fields, provider)
    if question is not None:
        assert_whatsapp_accepts(question)


@given(names, phones)
def test_what_the_customer_reads_about_their_technician_fits(name: str, phone: str) -> None:
    assert_whatsapp_accepts(customer.technician_assigned(name, phone))
    for reply in (customer.job_completed(name), customer.follow_up(name)):
        assert [row["title"] for row in _rows(assert_whatsapp_accepts(reply))] == [
            f"{'⭐' * n} {n}" for n in (5, 4, 3, 2, 1)
        ]
    assert_whatsapp_accepts(customer.rating_not_expected(name))


@given(texts)
def test_an_aside_before_the_question_never_pushes_the_body_past_the_limit(prefix: str) -> None:
    # Asides, statuses and greetings are put before a question; whatever their length, the message goes.
    for question in (customer.ask_service(), customer.summary(LeadFields()), customer.ask_cancel_confirmation()):
        payload = assert_whatsapp_accepts(customer.with_prefix(prefix, question))
        assert body_of(payload).endswith(question.message.body)


@given(submitted_fields, draft_fields, st.none() | names)
def test_updates_and_endings_fit(fields: LeadFields, changes: LeadFields, told: str | None) -> None:
    assert_whatsapp_accepts(customer.unmatched(fields))
    assert_whatsapp_accepts(customer.fields_updated(changes, told_technician=told))


def _rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for section in payload["interactive"]["action"]["sections"] for row in section["rows"]]


# ----------------------------------------------------------------------------------------- technician


@given(lead_ids, submitted_fields, names)
def test_an_offer_fits_and_names_the_job(lead_id: str, fields: LeadFields, name: str) -> None:
    payload = assert_whatsapp_accepts(technician.offer(lead_id, fields, name))
    assert [b["reply"]["title"] for b in payload["interactive"]["action"]["buttons"]] == ["Aceptar", "Rechazar"]
    assert all(lead_id in b["reply"]["id"] for b in payload["interactive"]["action"]["buttons"])
    assert fields.comuna is not None and fields.comuna in body_of(payload)


@given(lead_ids, submitted_fields, profile_names, phones)
def test_an_assignment_fits_with_the_customers_contact(
    lead_id: str, fields: LeadFields, customer_name: str | None, phone: str
) -> None:
    payload = assert_whatsapp_accepts(technician.assignment(lead_id, fields, customer_name, phone))
    assert phone[-4:] in body_of(payload)


@given(lead_ids, submitted_fields, draft_fields, names, st.integers(1, 5))
def test_every_other_technician_reply_fits(
    lead_id: str, fields: LeadFields, changes: LeadFields, name: str, stars: int
) -> None:
    for reply in (
        technician.already_yours(lead_id),
        technician.remind_done(lead_id),
        technician.offer_expired(fields),
        technician.lead_cancelled(fields),
        technician.customer_update(fields, changes),
        technician.rated(stars),
        technician.nothing_pending(name),
        technician.several_open(name),
        technician.declined(),
        technician.offer_unavailable(),
        technician.done_thanks(),
        technician.no_active_job(),
    ):
        assert_whatsapp_accepts(reply)


# ------------------------------------------------------------------------------- the message contracts


@given(sized_text(0, MAX_TEXT_BODY + 10))
def test_a_text_is_built_exactly_when_whatsapp_would_take_it(body: str) -> None:
    fits = 1 <= len(body) <= MAX_TEXT_BODY
    built = _build(lambda: TextMessage(body=body))
    assert (built is not None) == fits
    if built is not None:
        assert body_of(assert_whatsapp_accepts(Reply("p", built))) == body


@given(sized_text(0, MAX_INTERACTIVE_BODY + 10), st.lists(sized_text(0, MAX_BUTTON_TITLE + 4), max_size=5))
def test_buttons_are_built_exactly_when_whatsapp_would_take_them(body: str, titles: list[str]) -> None:
    fits = (
        1 <= len(body) <= MAX_INTERACTIVE_BODY
        and 1 <= len(titles) <= MAX_BUTTONS
        and all(1 <= len(t) <= MAX_BUTTON_TITLE for t in titles)
        and len(set(titles)) == len(titles)
    )
    built = _build(
        lambda: ButtonsMessage(body=body, buttons=tuple(ReplyButton(id=f"b{i}", title=t) for i, t in enumerate(titles)))
    )
    assert (built is not None) == fits
    if built is not None:
        payload = assert_whatsapp_accepts(Reply("p", built))
        assert [b["reply"]["title"] for b in payload["interactive"]["action"]["buttons"]] == titles


@given(
    sized_text(1, MAX_INTERACTIVE_BODY),
    st.lists(st.tuples(sized_text(0, MAX_ROW_TITLE + 4), st.none() | sized_text(0, MAX_ROW_DESCRIPTION + 4)),
             max_size=12),
)  # fmt: skip
def test_a_list_is_built_exactly_when_whatsapp_would_take_it(body: str, rows: list[tuple[str, str | None]]) -> None:
    fits = 1 <= len(rows) <= MAX_LIST_ROWS and all(
        1 <= len(title) <= MAX_ROW_TITLE and (description is None or 1 <= len(description) <= MAX_ROW_DESCRIPTION)
        for title, description in rows
    )

    def build() -> ListMessage:
        section = ListSection(rows=tuple(ListRow(id=f"r{i}", title=t, description=d) for i, (t, d) in enumerate(rows)))
        return ListMessage(body=body, button="Elegir", sections=(section,))

    built = _build(build)
    assert (built is not None) == fits
    if built is not None:
        assert [row["title"] for row in _rows(assert_whatsapp_accepts(Reply("p", built)))] == [t for t, _ in rows]


def _build(make: Any) -> Any:
    """What ``make()`` builds, or None when the contract refuses it."""
    try:
        return make()
    except ValidationError:
        return None
