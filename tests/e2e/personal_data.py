"""What the privacy e2e tests look for: a person's data in every form a reader could undo, and a whole job
done by a customer whose WhatsApp ids look like Meta's (base64 records holding the phone)."""

from __future__ import annotations

import asyncio
import base64
import itertools
from urllib.parse import quote

from contracts.intent import Service
from orchestrator.identity import deliveries_stream_id
from tests.e2e.pipeline import Pipeline, button_ids
from tests.whatsapp_builders import button_reply, meta_wamid, statuses, text_message


def readable_forms(secret: str) -> set[str]:
    """``secret`` in clear, JSON- and URL-escaped, as hex, and as base64 (both alphabets) at each of the three
    byte alignments a record can put it at: a dump holding any of these holds the secret."""
    raw = secret.encode()
    forms = {secret, secret.encode("unicode_escape").decode(), quote(secret), raw.hex()}
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + raw).decode()
        start = 4 if shift else 0  # the first quantum also encodes the filler bytes
        window = encoded[start : start + 8]
        forms |= {window, window.replace("+", "-").replace("/", "_"), quote(window, safe="")}
    return forms


def phone_forms(phone: str) -> set[str]:
    """A Chilean mobile as +56…, 56… and without the country code, each in every readable form."""
    digits = phone.removeprefix("+")
    return readable_forms(digits) | readable_forms("+" + digits) | readable_forms(digits.removeprefix("56"))


def found(text: str, secrets: dict[str, set[str]]) -> list[str]:
    """Which secrets (by name) appear in ``text`` in any of their forms, and as what."""
    return [f"{name}: {form!r}" for name, forms in secrets.items() for form in forms if form in text]


class MetaShapedIds:
    """Inbound messages with Meta-shaped wamids, and a sandbox that gives sent messages Meta-shaped ones."""

    def __init__(self, pipeline: Pipeline, sent_to: str) -> None:
        self.pipeline = pipeline
        self._numbers = itertools.count(1)
        pipeline.sandbox.wamid_factory = lambda: meta_wamid(sent_to, 10_000 + next(self._numbers))

    async def says(self, phone: str, text: str, name: str = "Cliente") -> None:
        await self.pipeline.post(text_message(meta_wamid(phone, next(self._numbers)), phone, text, name=name))

    async def taps(self, phone: str, reply_id: str, title: str) -> None:
        await self.pipeline.post(button_reply(meta_wamid(phone, next(self._numbers)), phone, reply_id, title))


async def a_whole_job(
    pipeline: Pipeline, customer: str, name: str, problem: str, address: str, technician: tuple[str, str]
) -> None:
    """The customer asks, the technician accepts and finishes, the customer rates; every message the
    customer was sent is then delivered and read (status webhooks), and recorded so."""
    tech_name, tech_phone = technician
    ids = MetaShapedIds(pipeline, customer)
    await pipeline.register(tech_name, tech_phone, (Service.GASFITERIA,), ("Ñuñoa",))
    await ids.says(customer, f"hola, {problem}, estoy en ñuñoa", name=name)
    await pipeline.outbox(customer, 1)
    await ids.taps(customer, "urgency:hoy", "Hoy")
    await pipeline.outbox(customer, 2)
    await ids.says(customer, address)
    await pipeline.outbox(customer, 3)
    await ids.taps(customer, "confirm:yes", "Sí, confirmo")
    [offer] = await pipeline.outbox(tech_phone, 1)
    await ids.taps(tech_phone, button_ids(offer)[0], "Aceptar")
    await pipeline.outbox(customer, 5)
    await ids.says(tech_phone, "terminado")
    await pipeline.outbox(customer, 6)
    await ids.taps(customer, "rating:5", "5")
    await pipeline.outbox(customer, 7)
    await pipeline.replies_all_sent()
    sent = [m["wamid"] for m in pipeline.sandbox.messages(to=customer)]
    await pipeline.post(statuses(customer, sent))
    deliveries = deliveries_stream_id(await pipeline.person(customer))
    for _ in range(600):
        if len(await pipeline.store.read_stream(deliveries)) == 2 * len(sent):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the delivery statuses were never all recorded")
