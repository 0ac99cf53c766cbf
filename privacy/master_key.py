"""The master key (``PRIVACY_MASTER_KEY``) and what is derived from it: the key that wraps every person's
data key, the key of the phone lookup, that of the pseudonymous wamids and that of the person tokens of
JetStream subjects (``privacy.person_tokens``).

Any secret of at least 32 characters works (``secrets.token_urlsafe(32)`` is what local mode generates
into the data folder); HKDF-SHA256 derives the keys from it, so none is the secret itself and no two
coincide.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_CHARS = 32
_NONCE_BYTES = 12


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"conectapro/privacy/" + purpose).derive(secret)


def normalise_phone(phone: str) -> str:
    """A WhatsApp id as Meta sends it: digits only ("+56 9 8765 4321" and "56987654321" are one person)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits or phone.strip()


class MasterKey:
    def __init__(self, secret: str) -> None:
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise ValueError(f"PRIVACY_MASTER_KEY must be at least {MIN_SECRET_CHARS} characters")
        material = secret.strip().encode()
        self._wrapping = AESGCM(_derive(material, b"wrap"))
        self._lookup = _derive(material, b"lookup")
        #: The key of the pseudonymous wamids (``privacy.wamids``).
        self.wamid_key = _derive(material, b"wamid")
        #: The key of the person tokens in JetStream subjects (``privacy.person_tokens``).
        self.subject_key = _derive(material, b"subject")

    def phone_lookup(self, phone: str) -> bytes:
        """The keyed lookup of a phone number (HMAC-SHA256)."""
        return hmac.new(self._lookup, normalise_phone(phone).encode(), hashlib.sha256).digest()

    def wrap(self, person_key: str, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._wrapping.encrypt(nonce, data_key, person_key.encode())

    def unwrap(self, person_key: str, wrapped: bytes) -> bytes:
        """Raises ``cryptography.exceptions.InvalidTag`` for a key wrapped by another master key or moved."""
        return self._wrapping.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], person_key.encode())
