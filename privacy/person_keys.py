"""The shapes of person keys: random ones for new people, and the unkeyed hashes stores written before
sealing used (kept for the people who have them; see ``privacy.people``)."""

from __future__ import annotations

import hashlib
import re
import secrets

_LEGACY_LENGTH = 21
_PERSON_KEY = re.compile(r"[pc][0-9a-f]{20}")


def legacy_person_key(whatsapp_id: str) -> str:
    """How stores written before sealing named a customer: an unkeyed hash of the phone (reversible by
    trying every number; never used for new people)."""
    return "c" + hashlib.blake2b(whatsapp_id.encode(), digest_size=10).hexdigest()


def legacy_provider_id(whatsapp_id: str) -> str:
    """How stores written before technicians were people named a technician: an unkeyed hash of the phone
    (reversible by trying every number; never used for technicians registered now)."""
    return "p" + hashlib.blake2b(whatsapp_id.encode(), digest_size=6).hexdigest()


def is_legacy_person_key(person_key: str) -> bool:
    """A customer's key from before sealing: their events without a key stay in clear."""
    return len(person_key) == _LEGACY_LENGTH and person_key.startswith("c")


def is_unkeyed_technician(person_key: str) -> bool:
    """A technician id that is no person key (a legacy ``p`` + 12 hex id, or one an operator chose before
    technicians were people): their events without a key stay in clear, as they always were."""
    return _PERSON_KEY.fullmatch(person_key) is None


def new_person_key() -> str:
    return "p" + secrets.token_hex(10)
