"""A customer whose message was parked is told so: the inbound consumer's ``on_parked``.

Decided like a timer command (``ApologiseForFailedMessage``, through ``CommandHandler``), so the apology is
an event of the customer's stream with the command in its metadata, and the audit re-decides it. Only
customers are told: a status or an account error has nobody to answer, and a technician's parked message
stays for an operator (their stream is not a conversation).
"""

from __future__ import annotations

import hashlib

from contracts.commands import ApologiseForFailedMessage
from contracts.customer_text import clean
from contracts.inbound import InboundEnvelope, InboundMessage
from orchestrator.commands_consumer import CommandHandler
from orchestrator.identity import People
from orchestrator.provider_directory import ProviderDirectory

MAX_REASON = 500


def apology_id(wamid: str) -> str:
    command_id = f"apology:{wamid}"
    if len(command_id) <= 200:
        return command_id
    return "apology:" + hashlib.blake2b(wamid.encode(), digest_size=20).hexdigest()


class ParkedMessages:
    def __init__(self, commands: CommandHandler, directory: ProviderDirectory, people: People) -> None:
        self._commands = commands
        self._people = people
        self._directory = directory

    async def tell_sender(self, envelope: InboundEnvelope, reason: str) -> None:
        if not isinstance(envelope, InboundMessage):
            return
        phone = envelope.sender_wa_id or envelope.sender_id
        if phone is None or self._directory.by_phone(phone) is not None:
            return
        command = ApologiseForFailedMessage(
            command_id=apology_id(envelope.wamid),
            customer_key=await self._people.key_for(phone),
            phone=phone,
            # Whatever made it fail must not make its record fail too (a NUL in an id, say).
            wamid=clean(envelope.wamid) or "?",
            reason=clean(reason, MAX_REASON) or "?",
        )
        await self._commands.handle(command)
