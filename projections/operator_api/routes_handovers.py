"""``/v1/handovers`` and the actions on a handed-over conversation: take it, write to the customer, hand it
back to the bot. The same actions as the console's (``conversation_actions``), for machine clients: the
bearer token says the client may call the API, the body names the operator account that acts (an agent or
an admin), and every event records that name. Writing and handing back are for the operator who took the
conversation (an admin may also hand back one someone else holds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from contracts.commands import HandBackConversation, OperatorConversationCommand, TakeConversation, WriteToCustomer
from contracts.operator_events import OPERATOR_NAME_PATTERN, OperatorRole
from eventstore import ConcurrencyError
from orchestrator.domain.handover import ConversationActionRejected
from projections.operator_api import handovers
from projections.operator_api.conversation_actions import action_id, execute, sendable_text
from projections.operator_api.deps import State
from projections.operator_api.errors import invalid, responses
from projections.operator_api.handovers import HandoverOut
from projections.operator_api.operator_account_store import OperatorAccountStore

router = APIRouter(tags=["handed-over conversations"])

CustomerId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="Customer id: the key of `customer-<id>`")
]


class HandoverPage(BaseModel):
    items: list[HandoverOut]


class OperatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str = Field(pattern=OPERATOR_NAME_PATTERN, description="The operator account that acts")


class MessageIn(OperatorIn):
    text: str = Field(min_length=1, max_length=4096, description="What the customer receives, as written")


@router.get("/handovers", response_model=HandoverPage, responses=responses(401, 422, 503))
async def list_handovers(state: State) -> HandoverPage:
    """Conversations handed over to a person: waiting ones first, with who took each and until when
    WhatsApp's 24-hour customer service window lets a person write."""
    return HandoverPage(items=await handovers.queue(state.pool, state.store, state.clock()))


@router.get(
    "/conversations/{customer_id}/handover", response_model=HandoverOut, responses=responses(401, 404, 422, 503)
)
async def get_handover(state: State, customer_id: CustomerId) -> HandoverOut:
    """Whether a person has the conversation, who, where the flow resumes, and the 24-hour window."""
    return await _current(state, customer_id)


@router.post(
    "/conversations/{customer_id}/take",
    response_model=HandoverOut,
    responses=responses(400, 401, 403, 404, 409, 422, 503),
)
async def take(state: State, customer_id: CustomerId, body: OperatorIn) -> HandoverOut:
    """The operator takes the handed-over conversation (recorded as ``ConversationTaken``)."""
    return await _act(
        state,
        customer_id,
        body.operator,
        lambda id_, _: TakeConversation(command_id=id_, customer_key=customer_id, operator=body.operator),
    )


@router.post(
    "/conversations/{customer_id}/messages",
    response_model=HandoverOut,
    responses=responses(400, 401, 403, 404, 409, 422, 503),
)
async def write(state: State, customer_id: CustomerId, body: MessageIn) -> HandoverOut:
    """The operator who took the conversation writes to the customer: a ``ReplyQueued`` naming them, sent like
    every reply. Refused (409) outside WhatsApp's 24-hour customer service window."""
    text = sendable_text(body.text)
    if text is None:
        raise invalid("body", "text", "the text is empty or holds control characters")
    return await _act(state, customer_id, body.operator,
                      lambda id_, _: WriteToCustomer(command_id=id_, customer_key=customer_id,
                                                     operator=body.operator, text=text))  # fmt: skip


@router.post(
    "/conversations/{customer_id}/hand-back",
    response_model=HandoverOut,
    responses=responses(400, 401, 403, 404, 409, 422, 503),
)
async def hand_back(state: State, customer_id: CustomerId, body: OperatorIn) -> HandoverOut:
    """Back to the bot, which resumes where the flow was (``ConversationHandedBack``). Only by the operator who
    took the conversation, or an admin (409 otherwise, as writing)."""
    return await _act(state, customer_id, body.operator,
                      lambda id_, admin: HandBackConversation(command_id=id_, customer_key=customer_id,
                                                              operator=body.operator, by_admin=admin))  # fmt: skip


async def _current(state: State, customer_id: str) -> HandoverOut:
    found = await handovers.handover(state.store, customer_id, state.clock())
    if found is None:
        raise HTTPException(404, detail=f"no conversation with customer {customer_id}")
    return found


async def _act(
    state: State, customer_id: str, operator: str, command_of: Callable[[str, bool], OperatorConversationCommand]
) -> HandoverOut:
    """``command_of(command id, whether the operator is an admin)``."""
    account = await OperatorAccountStore(state.store, clock=state.clock).get(operator)
    if account is None:
        raise invalid("body", "operator", "no operator account has that name")
    if not account.may(OperatorRole.AGENT):
        raise HTTPException(403, detail=f"operator {operator} may not answer customers (role or disabled)")
    await _current(state, customer_id)  # 404 before anything is decided
    command = command_of(action_id(operator), account.may(OperatorRole.ADMIN))
    try:
        await execute(state.store, command, clock=state.clock, directory=state.directory)
    except ConversationActionRejected as refused:
        raise HTTPException(409, detail=refused.reason) from refused
    except ConcurrencyError as error:
        raise HTTPException(409, detail="the conversation changed at the same time; try again") from error
    return await _current(state, customer_id)
