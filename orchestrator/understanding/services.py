"""Which service a message asks for, from keywords as Chileans write them.

Strong keywords name the trade or a problem only that trade fixes ("calefont", "enchufe", "chapa"); weak
ones hint ("agua", "puerta", "llave"). Strong evidence decides; weak evidence only decides when there is
nothing strong. Two services hinted equally is ambiguous and yields no service: never guess.

Patterns run over normalised text (no accents, ñ→n), longest first; a token used by one keyword is not
reused by another, so "copia de llave" is a locksmith job and its "llave" no longer hints a faucet.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.intent import Service
from orchestrator.understanding.text import Span, TokenText

GAS = Service.GASFITERIA
ELEC = Service.ELECTRICIDAD
CERR = Service.CERRAJERIA

STRONG = 2
WEAK = 1


@dataclass(frozen=True, slots=True)
class Keyword:
    pattern: str
    service: Service
    weight: int
    # False for words that only name the trade ("necesito un gasfiter"): they pick the service but do not
    # describe a problem, so they never become ``problem_type``.
    describes_problem: bool = True


# Order matters only among overlapping patterns; the matcher tries longer, stronger patterns first anyway.
KEYWORDS: tuple[Keyword, ...] = (
    # --- Gasfitería -------------------------------------------------------------------------------------
    Keyword(r"gas ?fite?r\w*|gasfitero\w*", GAS, STRONG, describes_problem=False),  # gasfíter, gasfitr
    Keyword(r"caneri\w*|tuberi\w*|tubos? (?:rot[oa]s?|del agua)", GAS, STRONG),
    Keyword(r"cal[ei]f[oa]n\w*", GAS, STRONG),  # calefont, califont, calefón, calefones
    Keyword(r"filtraci\w+|gotera\w*|gote\w+", GAS, STRONG),  # filtración, gotera, gotea, goteando, goteo
    Keyword(r"fugas? de (?:agua|gas)|olor a gas|inund\w*|se (?:esta )?sale el agua", GAS, STRONG),
    Keyword(r"(?:wc|w c|water|bano|inodoro|excusado|taza|lavamanos|lavaplatos|ducha|tina)(?: \w+){0,2} tapad[oa]s?",
            GAS, STRONG),
    Keyword(r"tapad[oa]s?|destap\w+|desague\w*|alcantarilla\w*|sifon\w*", GAS, STRONG),
    Keyword(r"lavaplatos|lavamanos|inodoro|excusado|wc|water|estanque del (?:bano|wc)", GAS, STRONG),
    Keyword(r"llave de paso|medidor de agua|agua caliente|presion del agua|poca presion", GAS, STRONG),
    Keyword(r"(?:no|ni) (?:me )?(?:sale|llega|hay|tengo|tenemos) (?:ni una gota de )?agua|sin agua", GAS, STRONG),
    Keyword(r"fugas?", GAS, STRONG),
    Keyword(r"agua|gas|estanque|ducha|llaves? del agua", GAS, WEAK),
    # --- Electricidad -----------------------------------------------------------------------------------
    # "eletricista", "electrisista": common slips.
    Keyword(r"ele?c?tri[cs]ist\w*|electricidad", ELEC, STRONG, describes_problem=False),
    Keyword(r"electric[oa]s?|instalacion electrica", ELEC, STRONG),
    Keyword(r"enchufe\w*|automatico\w*|tablero\w*|corto ?circuito\w*|interruptor\w*|diferencial\w*",
            ELEC, STRONG),
    Keyword(r"ampo(?:ll|y)eta\w*|cable\w*|fusible\w*|chispa\w*|chispazo\w*|olor a quemado|apagon\w*|voltaje",
            ELEC, STRONG),
    Keyword(r"sin luz|se (?:me |nos )?(?:corto|fue|cayo|salto) la luz|"
            r"no (?:me |nos )?(?:hay|tengo|tenemos|llega|queda) luz|medidor de luz", ELEC, STRONG),
    Keyword(r"luz|luces|lampara\w*", ELEC, STRONG),
    Keyword(r"me dio la corriente|da la corriente|corriente|focos?", ELEC, WEAK),
    # --- Cerrajería -------------------------------------------------------------------------------------
    Keyword(r"[cs]errajer\w*", CERR, STRONG, describes_problem=False),  # "serrajero" is a frequent slip
    Keyword(r"chapas?|cerradura\w*|candado\w*|pestillo\w*|caja fuerte|cilindro\w*", CERR, STRONG),
    Keyword(r"(?:las |la |mis |mi )?llaves? (?:adentro|dentro|quebrada)", CERR, STRONG),
    Keyword(r"(?:me |nos )?(?:quede|quedamos|quedaron|quedo) (?:afuera|fuera)", CERR, STRONG),
    Keyword(r"no (?:puedo|podemos|se puede|logro) abrir(?: la puerta)?|(?:la )?puerta no (?:abre|cierra)|"
            r"no (?:abre|cierra) la puerta|puerta trabada|se trabo la puerta", CERR, STRONG),
    Keyword(r"(?:copias?|duplicados?) de (?:la |las )?llaves?|"
            r"(?:perdi|se me perdi\w+|se me quedaron|extravie|bote) (?:las |la |mis |mi )?llaves?|"
            r"se (?:me )?quebr\w* (?:la )?llave|copiar|sacar copias?", CERR, STRONG),
    Keyword(r"puertas?", CERR, WEAK),
    # A bare "llave" is a faucet or a key: it hints both trades equally, which is exactly ambiguity.
    Keyword(r"llaves?", GAS, WEAK),
    Keyword(r"llaves?", CERR, WEAK),
)


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    keyword: Keyword
    span: Span


@dataclass(frozen=True, slots=True)
class ServiceFinding:
    service: Service | None
    confidence: float
    ambiguous: bool
    matches: tuple[KeywordMatch, ...]


def _ordered() -> tuple[Keyword, ...]:
    return tuple(sorted(KEYWORDS, key=lambda k: (-k.weight, -len(k.pattern))))


_ORDERED = _ordered()
_PATTERNS = tuple(keyword.pattern for keyword in _ORDERED)


def match_keywords(text: TokenText) -> tuple[KeywordMatch, ...]:
    """Every keyword occurrence, without reusing a token already claimed by a stronger/longer keyword."""
    if not text.mentions_any(_PATTERNS):
        return ()  # most replies ("hoy", an address, "sí") name no service: one scan instead of one per keyword
    claimed: list[Span] = []
    found: list[KeywordMatch] = []
    for keyword in _ORDERED:
        for span in text.find(keyword.pattern):
            # The two weak "llave" entries share their token on purpose: both must be counted.
            shared = keyword.pattern == r"llaves?" and any(
                m.span == span and m.keyword.pattern == r"llaves?" for m in found
            )
            if not shared and any(span.overlaps(other) for other in claimed):
                continue
            found.append(KeywordMatch(keyword, span))
            claimed.append(span)
    found.sort(key=lambda m: m.span.start)
    return tuple(found)


def find_service(text: TokenText, *, expected: bool = False) -> ServiceFinding:
    """The single service the message points to, or None (nothing found, or a tie: ambiguous)."""
    matches = match_keywords(text)
    strong: dict[Service, int] = {}
    weak: dict[Service, int] = {}
    for m in matches:
        bucket = strong if m.keyword.weight == STRONG else weak
        bucket[m.keyword.service] = bucket.get(m.keyword.service, 0) + m.keyword.weight
    scores = strong or weak
    if not scores:
        return ServiceFinding(None, 0.0, False, matches)
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return ServiceFinding(None, 0.0, True, matches)
    winner = ranked[0][0]
    if strong:
        # A hint shared by the winner on the same words (the bare "llave") is no rival evidence.
        winner_hints = {m.span for m in matches if m.keyword.weight == WEAK and m.keyword.service == winner}
        rivals = len(strong) > 1 or any(
            m.keyword.weight == WEAK and m.keyword.service != winner and m.span not in winner_hints
            for m in matches
        )
        confidence = 0.87 if rivals else 0.93
    else:
        # Only hints ("hay agua en el piso"): enough when we just asked for the service, unsure otherwise.
        confidence = 0.9 if expected else 0.86
    return ServiceFinding(winner, confidence, False, matches)
