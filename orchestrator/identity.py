"""Opaque keys for WhatsApp users: stream ids never carry a phone number, nor anything a public function
derives from one (``privacy.people`` maps a phone to a random person key through a keyed lookup)."""

from __future__ import annotations

from typing import Protocol


class People(Protocol):
    """Phone number → person key (``privacy.people.People``, which keeps known people in memory while it hears
    erasures, so a message or a delivery status of a known person costs no query; ``InMemoryPeople`` in unit
    tests)."""

    async def key_for(self, phone: str) -> str:
        """The person's key, made now for someone new."""
        ...

    async def find(self, phone: str) -> str | None:
        """The person's key, if the system knows (and has not forgotten) them."""
        ...


def deliveries_stream_id(person_key: str) -> str:
    """Delivery statuses of everything we sent to one person, in the order Meta reported them."""
    return f"deliveries-{person_key}"


def account_stream_id(phone_number_id: str | None) -> str:
    """Problems Meta reports about our business number (``value.errors``), not tied to a message."""
    return f"whatsapp-account-{phone_number_id or 'unknown'}"
