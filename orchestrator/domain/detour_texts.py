"""What the customer is told when they leave the flow ("me salí del flujo"), one text per topic.

Edit the wording here: it is the only place. Each text is followed by the question still pending (or the
request's status), so the conversation goes on where it was. The LLM never writes these: at most it names
the topic of a message the rules could not place.
"""

from __future__ import annotations

from typing import Final

from contracts.llm import OffFlowTopic

DETOUR_TEXTS: Final[dict[OffFlowTopic, str]] = {
    OffFlowTopic.PRICE: (
        "El precio lo acuerdas directamente con el técnico antes de que empiece: te lo explica cuando te "
        "contacte. Pedir un técnico por aquí no tiene costo."
    ),
    OffFlowTopic.HOW_IT_WORKS: (
        "Soy el asistente automático de ConectaPro: tomo los datos de tu solicitud y se la envío a técnicos "
        "de tu comuna; el primero que acepta te contacta por aquí."
    ),
    # Not followed by the pending question: the conversation is handed over to a person (``handover``).
    OffFlowTopic.ASKS_FOR_PERSON: (
        "Te comunico con una persona del equipo de ConectaPro: te responderá por este mismo chat en cuanto pueda."
    ),
    OffFlowTopic.TECHNICIAN_TIMING: (
        "Apenas un técnico acepte te aviso por aquí, con su nombre y teléfono; el horario lo coordinan ustedes."
    ),
    OffFlowTopic.COMPLAINT: "Lamento la molestia. Tomo nota de tu reclamo para revisarlo.",
    OffFlowTopic.THANKS_GOODBYE: "¡Gracias a ti!",
}


def detour_text(topic: OffFlowTopic | None) -> str | None:
    """The text for ``topic``; none for "other" (the usual "no te entendí" is said instead)."""
    return DETOUR_TEXTS.get(topic) if topic is not None else None
