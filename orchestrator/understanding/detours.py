"""The common ways a customer leaves the flow, recognised by rules: each maps to one off-flow topic.

Only the phrasings here are recognised; a message they miss may be classified by the LLM (closed set,
confidence >= 0.85). "Gracias" counts only when the message is little more than that.
"""

from __future__ import annotations

import re
from typing import Final

from contracts.comunas import normalize_text
from contracts.llm import OffFlowTopic

_PATTERNS: Final[tuple[tuple[OffFlowTopic, re.Pattern[str]], ...]] = tuple(
    (topic, re.compile(pattern))
    for topic, pattern in (
        (
            OffFlowTopic.ASKS_FOR_PERSON,
            r"\b(hablar|conversar|comunicarme|atender|atienda)\b.*\b(persona|humano|alguien|ejecutiv[oa]|operador[a]?)"
            r"|\b(persona real|ser humano|un humano|una persona de verdad|atencion humana)\b"
            r"|\bpasa(me|nos)? con\b|^(con )?(un|una) (ejecutiv[oa]|persona|operador[a]?)( por favor| porfa)?$",
        ),
        (
            OffFlowTopic.HOW_IT_WORKS,
            r"\b(eres|es|sera|hablo con|estoy hablando con) (un |una )?(bot|robot|maquina|ia|inteligencia artificial)\b"
            r"|\beres (una )?persona\b|\beres humano\b|\bcomo funciona\b|\bcomo es el tramite\b|\bquien eres\b"
            r"|\bque es (esto|conectapro)\b|\bcomo trabajan\b"
            r"|\b(persona|humano) o (con )?(un |una )?(bot|robot|maquina)\b|\b(bot|robot) o (con )?(una )?persona\b",
        ),
        (
            OffFlowTopic.PRICE,
            r"\bcuanto (me )?(cobra|cobran|cobrarian|cuesta|costaria|sale|saldria|vale|va a salir|seria)\b"
            r"|\b(precio|precios|tarifa|tarifas|valor de la visita|costo|cobro por visita)\b|\bes gratis\b",
        ),
        (
            OffFlowTopic.TECHNICIAN_TIMING,
            r"\b(cuando|a que hora|en cuanto rato) (llega|viene|vendra|me (llama|llaman|contacta|contactan))\b"
            r"|\bcuanto (se )?demora\b|\bcuanto (falta|tarda|tardan)\b",
        ),
        (
            OffFlowTopic.COMPLAINT,
            r"\b(reclamo|reclamar|queja|pesimo|pesima|estafa|mala atencion|nunca llego|no llego nadie"
            r"|no ha llegado nadie|una verguenza)\b",
        ),
    )
)
_THANKS_OR_BYE: Final = re.compile(
    r"^(ok |ya |bueno |listo |)?(muchas |mil )?(gracias|chao|adios|hasta luego|nos vemos|bye)( (po|nomas|igual|"
    r"por todo|muchas gracias|chao|saludos|bendiciones))*$"
)


def find_detour(text: str) -> OffFlowTopic | None:
    normalized = normalize_text(text)
    if not normalized:
        return None
    for topic, pattern in _PATTERNS:
        if pattern.search(normalized):
            return topic
    if _THANKS_OR_BYE.match(normalized):
        return OffFlowTopic.THANKS_GOODBYE
    return None
