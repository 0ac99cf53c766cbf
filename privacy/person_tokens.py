"""The person token of a JetStream subject: which person a raw webhook (or its dead letter) is about,
so that erasing a person finds their messages by subject instead of reading every message of a stream.

``conectapro.inbound.p<partition>.<person token>.<dedupe token>``: the token is HMAC-SHA256 of the
sender's WhatsApp id (the customer's or technician's phone; the recipient's, for a delivery status) under
a key derived from ``PRIVACY_MASTER_KEY``, cut to 128 bits. Keyed, because an unkeyed hash of a Chilean
mobile number is reversed by trying its 10^8 candidates: with a key, a subject seen anywhere (a stream
listing, a server log, a copy of the data folder) says nothing of the phone to whoever lacks the master
key. The token lives only in the subjects of messages that hold the phone in clear anyway, and erasure
deletes those messages; nothing else keeps it. The ingress has the master key (every service needs it in
production), so computing it costs one HMAC per update.
"""

from __future__ import annotations

import hmac

from privacy.master_key import MasterKey, normalise_phone

TOKEN_BYTES = 16


class PersonTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def of(cls, master: MasterKey) -> PersonTokens:
        return cls(master.subject_key)

    def __call__(self, whatsapp_id: str) -> str:
        """The token of a WhatsApp id, as Meta sends it or written any other way ("+56 9 ..." is the same)."""
        # Meta sends digits only: those are already normal (the one-shot HMAC, no HMAC object per call).
        normal = whatsapp_id if whatsapp_id.isascii() and whatsapp_id.isdigit() else normalise_phone(whatsapp_id)
        return hmac.digest(self._key, normal.encode(), "sha256")[:TOKEN_BYTES].hex()
