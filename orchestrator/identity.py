"""Opaque keys for WhatsApp users: stream ids must never carry a raw phone number (they end up in logs)."""

from __future__ import annotations

import hashlib


def person_key(whatsapp_id: str) -> str:
    """A stable key for a WhatsApp user (phone number or business-scoped user id)."""
    return "c" + hashlib.blake2b(whatsapp_id.encode(), digest_size=10).hexdigest()


def deliveries_stream_id(recipient: str) -> str:
    """Delivery statuses of everything we sent to one person, in the order Meta reported them."""
    return f"deliveries-{person_key(recipient)}"


def account_stream_id(phone_number_id: str | None) -> str:
    """Problems Meta reports about our business number (``value.errors``), not tied to a message."""
    return f"whatsapp-account-{phone_number_id or 'unknown'}"
