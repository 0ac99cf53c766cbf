"""What the customer is doing, apart from the fields: cancelling, asking for the status, correcting a
detail, or just greeting / thanking.

Each is a small table of phrases over normalised text. A phrase right after a "no" is negated ("no
cancelen" is not a cancellation). "la dirección es ..." is a correction only when we were *not* just asking
for the address; when we were, it is simply the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.understanding.text import Span, TokenText

_CANCEL = (
    r"cancel\w*|anul\w*|"
    r"ya no (?:lo |la )?(?:necesito|necesitamos|quiero|queremos|es necesario|hace falta|se necesita|requiero)|"
    r"olvid(?:a|e|en)lo|olvidate|olvidelo|desist\w*|no importa ya|dejalo(?: asi)?|"
    r"mejor no (?:vengan|venga|lo necesito)|"
    r"ya (?:lo |la |se )?(?:solucion|arregl|repar|resolv)\w*"
)
_STATUS = (
    r"(?<!mal )(?<!buen )(?<!pesimo )(?<!excelente )estado|"
    r"como va\w*|como vamos|en que va|que paso con (?:mi|la|el)|novedad\w*|seguimiento|sigue en pie|"
    r"ya (?:viene|vienen|llega|llegan|va a llegar|van a llegar)\w*|"
    r"(?:viene|vienen|llega|llegan) (?:el|la) (?:tecnico|tecnica|maestro|gasfiter|electricista|cerrajero)|"
    r"(?:cuando|a que hora|en cuanto rato|cuanto rato) (?:me )?(?:llega|llegan|viene|vienen|falta|tarda|tardan|"
    r"demora|demoran)\w*|cuanto (?:mas )?(?:falta|se demora|demora|tarda|tardan)|"
    r"(?:encontraron|asignaron|consiguieron) (?:un |algun |el |a )?(?:tecnico|maestro|alguien)|"
    r"donde (?:viene|esta|va) el (?:tecnico|maestro)"
)
_FIELDS = r"direccion|comuna|urgencia|fecha|dia|hora|horario|servicio|datos|dato|numero|depto|departamento|problema"
_UPDATE_ALWAYS = (
    r"me equivoque\w*|nos equivocamos|me confundi|corrij\w*|correg\w*|correccion|hay un error|"
    r"error en (?:la|el|mi)|otra direccion|en realidad (?:es|era|la|el|queda|vivo|necesito)|"
    rf"(?:cambia|cambiar|cambie|cambien|cambiemos|cambio|modifica\w*|actualiza\w*|edita\w*)"
    rf"(?: \w+){{0,2}} (?:{_FIELDS})"
)
# Said while we wait for that very field, these are answers, not corrections.
_UPDATE_BY_FIELD: tuple[tuple[str, str], ...] = (
    (r"(?:la|mi) (?:direccion (?:correcta|nueva)|nueva direccion) (?:es|seria)|la direccion ahora es", "address"),
    (r"(?:la|mi) (?:comuna (?:correcta|nueva)|nueva comuna) (?:es|seria)|la comuna ahora es", "comuna"),
    (r"mejor (?:para )?(?:hoy|manana|pasado manana|esta semana|la semana)", "urgency"),
)
# Across a comma on purpose: "no es en Ñuñoa, es en Providencia", "perdón, es en Maipú".
_UPDATE_ACROSS = r"no es en \w+(?: \w+){0,3} (?:es|sino) en|perdon (?:es|era) "

_SMALLTALK_WORDS = frozenset(
    {"hola", "holi", "holis", "ola", "alo", "wena", "wenas", "buenas", "buenos", "buen", "buena", "dia", "dias",
     "tardes", "tarde", "noches", "noche", "gracias", "muchas", "mil", "grax", "chao", "chau", "adios",
     "saludos", "saludo", "que", "tal", "como", "esta", "estas", "estan", "todo", "bien", "muy", "ok", "oka",
     "okey", "vale", "genial", "excelente", "perfecto", "bkn", "bacan", "amigo", "amiga", "senor", "senora",
     "srta", "don", "dona", "po", "bueno", "igualmente", "feliz", "hey", "hi", "hello", "amable",
     "agradecido", "agradecida", "se", "agradece", "agradezco", "te", "le", "les", "un", "una", "abrazo",
     "atento", "atenta", "oye", "oiga", "onda", "nada", "de", "a", "ti", "usted", "ustedes", "y", "tu",
     "tambien", "super", "muchisimas", "lo", "la", "el", "dios", "bendiga", "bendiciones", "quedo",
     "joven", "ahi", "pa", "para", "por", "su", "ayuda", "atencion", "servicio", "rapidez", "amabilidad",
     "hasta", "manana", "luego", "pronto", "nos", "vemos"}
)
_LAUGH = re.compile(r"(?:j+[aeiou]+)+j*|(?:a?h+a+)+|x+d+|lol")


@dataclass(frozen=True, slots=True)
class IntentSignals:
    cancel: bool
    status: bool
    update: bool
    smalltalk_only: bool


def _negated(text: TokenText, span: Span) -> bool:
    """A "no" in the two words before the phrase, same clause: "no cancelen", "no quiero cancelar"."""
    return any(
        text.same_clause(span.start - k, span.start) and text.norm(span.start - k) in {"no", "ni", "sin"}
        for k in (1, 2)
    )


def _said(text: TokenText, pattern: str, *, cross_clauses: bool = False) -> bool:
    return any(not _negated(text, span) for span in text.find(pattern, cross_clauses=cross_clauses))


def is_smalltalk_only(text: TokenText) -> bool:
    return bool(text.tokens) and all(
        t.norm in _SMALLTALK_WORDS or _LAUGH.fullmatch(t.norm) for t in text.tokens
    )


def detect_intents(text: TokenText, expecting: str | None) -> IntentSignals:
    update = (
        _said(text, _UPDATE_ALWAYS)
        or _said(text, _UPDATE_ACROSS, cross_clauses=True)
        or any(field != expecting and _said(text, pattern) for pattern, field in _UPDATE_BY_FIELD)
    )
    return IntentSignals(
        cancel=_said(text, _CANCEL),
        status=_said(text, _STATUS),
        update=update,
        smalltalk_only=is_smalltalk_only(text),
    )
