"""Meta's message ids (wamids) without the phone number they carry.

A real wamid is ``wamid.`` + base64 of a small binary record whose first field is the WhatsApp id of the
other party: ``wamid.HBgLNTY5ODc2NTQzMjEV…`` decodes to ``…56987654321…``. Kept as they come, they would put
every customer's phone, readable by anyone, in event metadata, the inbox, read models and logs, where
erasing a person cannot reach. So a wamid whose base64 body holds a phone (a run of 8 or more digits) is
replaced, where it enters the services (the orchestrator's inbound consumer, the sender's send result), by
a keyed hash: ``wamid.K`` + 32 url-safe base64 characters of HMAC-SHA256 under a key derived from
``PRIVACY_MASTER_KEY``. The same wamid always gives the same id (deduplication and the status → sent
message match keep working across restarts and processes); nobody without the master key can compute it,
and nobody can get the phone back from it. Other wamids (the sandbox's, tests') are kept as they are. Logs
mask any wamid that carries a phone (``infra.logging``), for the ingress, which logs them as received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

from contracts.inbound import InboundEnvelope, InboundMessage, InboundStatus
from contracts.personal import wamid_carries_phone as carries_phone

#: What a pseudonymous wamid starts with (real ones start ``wamid.HBg``).
PSEUDONYM_PREFIX: Final = "wamid.K"


class WamidPseudonyms:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, wamid: str) -> str:
        """The id to keep for ``wamid``: itself, or its keyed hash when it carries a phone."""
        if wamid.startswith(PSEUDONYM_PREFIX) or not carries_phone(wamid):
            return wamid
        digest = hmac.new(self._key, wamid.encode(), hashlib.sha256).digest()[:24]
        return PSEUDONYM_PREFIX + base64.urlsafe_b64encode(digest).decode()

    def envelope(self, envelope: InboundEnvelope) -> InboundEnvelope:
        """The inbound update with its wamids (its own, the one it replies to) kept as :meth:`__call__` says;
        ``raw`` keeps what Meta sent (it lives only in JetStream, whose copy erasure deletes)."""
        if isinstance(envelope, InboundMessage):
            changes: dict[str, str] = {"wamid": self(envelope.wamid)}
            if envelope.context_wamid is not None:
                changes["context_wamid"] = self(envelope.context_wamid)
        elif isinstance(envelope, InboundStatus):
            changes = {"wamid": self(envelope.wamid)}
        else:
            return envelope
        if all(getattr(envelope, name) == value for name, value in changes.items()):
            return envelope
        return envelope.model_copy(update=changes)
