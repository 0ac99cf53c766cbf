"""A customer asking on WhatsApp that their data be erased: the bot explains and asks to confirm, refuses
while a technician holds the request, "No" resumes the flow with its pending question, "Sí, borrar" ends the
conversation with the goodbye as the last message and ``ErasureRequested`` naming it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from contracts.commands import ApologiseForFailedMessage, ExpireConversation, Understanding
from contracts.inbound import InboundMessage
from contracts.intent import Consent, IntentName, UnderstandingSource
from contracts.lead_events import (
    ConversationHandedOver,
    ConversationState,
    ConversationTrigger,
    ErasureRefusal,
    ErasureRefused,
    ErasureRequested,
    LeadCancelled,
    LeadClosed,
    LeadStatus,
    MessageHandlingFailed,
)
from contracts.llm import ClassifyTopicReply, ClassifyTopicRequest, UnderstandReply, UnderstandRequest
from contracts.outbound import ButtonsMessage
from orchestrator.domain.model import PendingQuestion
from orchestrator.language_model import understand_message
from orchestrator.understanding.detours import find_detour
from orchestrator.understanding.erasure import asks_for_erasure
from tests.unit.leads_flow_support import (
    ADDRESS,
    CUSTOMER,
    CUSTOMER_PHONE,
    FIRST_MESSAGE,
    LEAD,
    PEDRO,
    TAP_HOY,
    Scenario,
    customer_replies,
    of_type,
    purposes,
    says,
    taps,
    transitions,
)

S = ConversationState
CT = ConversationTrigger
def asks_erasure(text: str, consent: Consent | None = None) -> Understanding:
    """A typed request to erase their data, as the understanding step records it."""
    return says(text, IntentName.UNKNOWN, confidence=0.3 if consent is None else 0.95, consent=consent).model_copy(
        update={"asks_for_erasure": True}
    )


BORRA = asks_erasure("borra mis datos")
TAP_ERASE = taps("erasure:yes", IntentName.UNKNOWN)
TAP_KEEP_DATA = taps("erasure:no", IntentName.UNKNOWN)
TAP_PERSON = taps("person:ask", IntentName.UNKNOWN)
TYPED_SI = says("sí", IntentName.UNKNOWN, consent=Consent.YES)
TYPED_NO = says("no", IntentName.UNKNOWN, consent=Consent.NO)


def collecting() -> Scenario:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(TAP_HOY)
    return s


@pytest.mark.parametrize(
    "text",
    [
        "borra mis datos",
        "eliminar mis datos",
        "quiero que borren mis datos",
        "elimina mi información",
        "Eliminen mi informacion porfa",
        "vorren mis datos",
        "borar mis datos",
        "elimnar mis datos",
        "oye bórrame mis datos po",
        "quiero eliminar todos mis datos",
        "pueden borrar toda mi info?",
        "mis datos bórrenlos",
        "borrar mi cuenta",
        "quiten mi número de su sistema",
        "supresión de mis datos",
    ],
)
def test_the_rules_recognise_an_erasure_request(text: str) -> None:
    assert asks_for_erasure(text)


@pytest.mark.parametrize(
    "text",
    [
        "borra la dirección",
        "la dirección está mala, bórrala",
        "no borren mis datos",
        "mis datos están bien",
        "quiero cambiar mis datos",
        "quitar el enchufe de mi cuenta",
        "cancelar",
        "",
    ],
)
def test_the_rules_do_not_see_an_erasure_request_where_there_is_none(text: str) -> None:
    assert not asks_for_erasure(text)


def test_asking_explains_what_happens_and_asks_to_confirm_with_buttons() -> None:
    s = collecting()
    out = s.customer(BORRA)
    assert transitions(out) == [(S.COLLECTING, CT.ERASURE_ASKED, S.CONFIRMING_ERASURE)]
    (reply,) = customer_replies(out)
    assert reply.purpose == "ask_erasure_confirmation"
    assert isinstance(reply.message, ButtonsMessage)
    assert [b.id for b in reply.message.buttons] == ["erasure:yes", "erasure:no"]
    assert [b.title for b in reply.message.buttons] == ["Sí, borrar", "No"]
    body = reply.message.body
    assert "No se puede deshacer" in body and "la cancelo" in body
    assert s.state.pending_question is PendingQuestion.ERASURE_CONFIRMATION
    assert s.state.expecting == "consent"
    assert s.state.resume_at is S.COLLECTING


def test_no_resumes_the_flow_with_its_pending_question() -> None:
    s = collecting()
    s.customer(BORRA)
    out = s.customer(TAP_KEEP_DATA)
    assert transitions(out) == [(S.CONFIRMING_ERASURE, CT.ERASURE_WITHDRAWN, S.COLLECTING)]
    assert s.conversation() is S.COLLECTING and s.state.resume_at is None
    (reply,) = customer_replies(out)
    assert reply.message.body.startswith("Perfecto, no borré nada.")
    assert reply.purpose == "ask_address"  # the question still pending
    s.customer(ADDRESS)
    assert s.conversation() is S.CONFIRMING  # the flow goes on as before


@pytest.mark.parametrize("answer", [TAP_KEEP_DATA, TYPED_NO, says("cancelar", IntentName.CANCEL)])
def test_every_way_of_saying_no_keeps_the_data(answer: Understanding) -> None:
    s = Scenario(PEDRO)
    s.customer(says("hola", IntentName.SMALLTALK, confidence=0.9))
    s.customer(BORRA)
    out = s.customer(answer)
    assert transitions(out) == [(S.CONFIRMING_ERASURE, CT.ERASURE_WITHDRAWN, S.IDLE)]
    assert not of_type(out, ErasureRequested)


@pytest.mark.parametrize("answer", [TAP_ERASE, TYPED_SI, asks_erasure("sí, borren mis datos", Consent.YES)])
def test_yes_ends_the_conversation_cancels_the_draft_and_queues_the_goodbye_last(answer: Understanding) -> None:
    s = collecting()
    s.customer(BORRA)
    out = s.customer(answer)
    assert transitions(out) == [(S.CONFIRMING_ERASURE, CT.ERASURE_CONFIRMED, S.ERASED)]
    (cancelled,) = of_type(out, LeadCancelled)
    assert cancelled.previous_status is LeadStatus.DRAFT
    assert purposes(out) == ["erasure_goodbye"]
    (goodbye,) = customer_replies(out)
    (requested,) = of_type(out, ErasureRequested)
    assert requested.goodbye_reply_id == goodbye.reply_id
    assert requested.requested_at == s.now - timedelta(minutes=1)  # decided at the clock given
    assert s.state.erasure_goodbye == goodbye.reply_id
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.CANCELLED


def test_after_yes_the_bot_sends_nothing_more_to_the_customer() -> None:
    s = collecting()
    s.customer(BORRA)
    s.customer(TAP_ERASE)
    for later in (FIRST_MESSAGE, BORRA, TAP_PERSON, says("hola", IntentName.SMALLTALK, confidence=0.9)):
        out = s.customer(later)
        assert customer_replies(out) == [] and transitions(out) == []
    apology = ApologiseForFailedMessage(
        command_id="parked", customer_key=CUSTOMER, phone=CUSTOMER_PHONE, wamid="w9", reason="boom"
    )
    out = s.run(apology)
    assert customer_replies(out) == []
    (failed,) = of_type(out, MessageHandlingFailed)
    assert not failed.apologised
    assert s.conversation() is S.ERASED


def test_a_finished_job_waiting_for_its_rating_is_closed() -> None:
    s = Scenario(PEDRO).up_to_completed()
    assert s.conversation() is S.AWAITING_RATING
    s.customer(BORRA)
    out = s.customer(TAP_ERASE)
    (closed,) = of_type(out, LeadClosed)
    assert closed.previous_status is LeadStatus.COMPLETED and closed.provider_id == "pedro"
    assert s.state.lead is not None and s.state.lead.is_terminal


@pytest.mark.parametrize(
    ("setup", "state"),
    [
        (lambda: Scenario(PEDRO).up_to_offered(), S.WAITING_TECHNICIAN),
        (lambda: Scenario(PEDRO).up_to_assigned(), S.JOB_IN_PROGRESS),
    ],
)
def test_refused_while_a_technician_holds_the_request_and_a_person_is_offered(
    setup: Callable[[], Scenario], state: ConversationState
) -> None:
    s = setup()
    out = s.customer(BORRA)
    assert transitions(out) == []
    assert s.conversation() is state
    (refused,) = of_type(out, ErasureRefused)
    assert refused.reason is ErasureRefusal.JOB_IN_PROGRESS
    (reply,) = customer_replies(out)
    assert reply.purpose == "erasure_refused"
    assert isinstance(reply.message, ButtonsMessage)
    assert [b.id for b in reply.message.buttons] == ["person:ask"]
    out = s.customer(TAP_PERSON)
    assert of_type(out, ConversationHandedOver)
    assert s.conversation() is S.HANDED_OVER and s.state.resume_at is state


def test_asking_for_a_person_on_the_erasure_question_withdraws_it_then_hands_over() -> None:
    s = collecting()
    s.customer(BORRA)
    text = "quiero hablar con una persona"
    out = s.customer(Understanding(source=UnderstandingSource.RULES, text=text, detour=find_detour(text)))
    assert transitions(out) == [
        (S.CONFIRMING_ERASURE, CT.ERASURE_WITHDRAWN, S.COLLECTING),
        (S.COLLECTING, CT.HANDED_OVER, S.HANDED_OVER),
    ]
    assert s.state.resume_at is S.COLLECTING


def test_three_messages_not_understood_on_the_question_hand_over_from_where_the_flow_was() -> None:
    s = collecting()
    s.customer(BORRA)
    gibberish = says("asdf qwer", IntentName.UNKNOWN, confidence=0.2)
    s.customer(gibberish)
    s.customer(gibberish)
    assert s.conversation() is S.CONFIRMING_ERASURE
    out = s.customer(gibberish)
    assert (S.COLLECTING, CT.HANDED_OVER, S.HANDED_OVER) in transitions(out)
    assert s.conversation() is S.HANDED_OVER and s.state.resume_at is S.COLLECTING


def test_an_aside_repeats_the_erasure_question() -> None:
    s = collecting()
    s.customer(BORRA)
    text = "¿cuánto cobran?"
    out = s.customer(Understanding(source=UnderstandingSource.RULES, text=text, detour=find_detour(text)))
    (reply,) = customer_replies(out)
    assert reply.purpose == "ask_erasure_confirmation"
    assert s.conversation() is S.CONFIRMING_ERASURE


def test_a_draft_abandoned_on_the_question_expires_and_no_returns_to_closed() -> None:
    s = collecting()
    s.customer(BORRA)
    out = s.run(ExpireConversation(command_id="expire", customer_key=CUSTOMER, lead_id=LEAD))
    assert transitions(out) == [(S.CONFIRMING_ERASURE, CT.LEAD_EXPIRED, S.CONFIRMING_ERASURE)]
    assert s.state.resume_at is S.CLOSED
    s.customer(TAP_KEEP_DATA)
    assert s.conversation() is S.CLOSED


def test_the_text_alone_decides_nothing_what_the_understanding_recorded_does() -> None:
    # The audit re-decides a forgotten stream whose texts read "[suprimido]": the flag, not the text, counts.
    s = collecting()
    out = s.customer(says("[suprimido]", IntentName.UNKNOWN, confidence=0.3).model_copy(
        update={"asks_for_erasure": True}))  # fmt: skip
    assert transitions(out) == [(S.COLLECTING, CT.ERASURE_ASKED, S.CONFIRMING_ERASURE)]
    out = collecting().customer(says("borra mis datos", IntentName.UNKNOWN, confidence=0.3))
    assert transitions(out) == []


def test_a_stale_erasure_button_never_confirms_a_summary() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(TAP_ERASE)  # from an earlier question: asks again, does not submit
    assert transitions(out) == [(S.CONFIRMING, CT.ERASURE_ASKED, S.CONFIRMING_ERASURE)]
    assert s.lead_status() is LeadStatus.DRAFT


class ModelThatMustNotBeAsked:
    enabled = True

    def budget_ms(self) -> int:
        return 1000

    async def understand(self, request: UnderstandRequest) -> UnderstandReply:
        raise AssertionError(f"asked the model about {request.text!r}")

    async def classify_topic(self, request: ClassifyTopicRequest) -> ClassifyTopicReply:
        raise AssertionError(f"asked the model about {request.text!r}")


async def test_the_understanding_records_the_request_and_never_asks_the_model() -> None:
    message = InboundMessage(wamid="wamid.e", sender_wa_id=CUSTOMER_PHONE, type="text", text="borren mis datos", raw={})
    understanding = await understand_message(message, "address", ModelThatMustNotBeAsked())
    assert understanding.asks_for_erasure and understanding.source is UnderstandingSource.RULES
    other = message.model_copy(update={"text": "irarrázaval 1234"})
    assert not (await understand_message(other, "address")).asks_for_erasure
