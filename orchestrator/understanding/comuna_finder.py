"""Find the comuna a customer mentions in free text; only names on the official allowlist come out.

Many comunas are also everyday Spanish words, streets or people's names ("Caldera", "La Cisterna",
"Navidad", "Independencia", "Santiago"). So each name has a tier saying how much context it needs:

* A — distinctive names ("Ñuñoa", "Peñalolén"): accepted anywhere, unless they read as a street
  ("Av. Providencia", "Providencia 1234"), a person ("me llamo Santiago") or are negated ("no es en Maipú").
* B — ordinary words or surnames that still read as a place after "en" ("en Colina", "en Castro").
* C — words a plumbing or electrical message uses in another sense ("la caldera", "la cisterna",
  "luces de navidad"): only with an explicit cue ("vivo en", "comuna de") or as the answer when we asked.

Typos are tolerated with rapidfuzz, but only towards tier-A names, only for words of five letters or more,
only in a place-like context, and only when a single name is that close: a short or ambiguous word is never
turned into a comuna.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from contracts.comunas import all_comunas, comuna_index, normalize_text
from orchestrator.understanding.text import Span, TokenText

TIER_B: frozenset[str] = frozenset(
    {
        # Metropolitana
        "Independencia", "Recoleta", "El Bosque", "La Granja", "Colina", "Lampa", "San Pedro", "María Pinto",
        "El Monte", "Padre Hurtado", "Cerrillos",
        # Norte
        "General Lagos", "Mejillones", "Sierra Gorda", "María Elena", "Tierra Amarilla", "Diego de Almagro",
        "Alto del Carmen", "La Higuera", "Vicuña", "Canela", "Salamanca", "Río Hurtado",
        # Valparaíso
        "Rinconada", "Cabildo", "Calera", "Hijuelas", "La Cruz", "Nogales", "Algarrobo", "Cartagena",
        "Santo Domingo", "Santa María", "Los Andes", "Juan Fernández", "Quintero",
        # O'Higgins, Maule
        "Graneros", "Las Cabras", "Olivar", "Rengo", "San Vicente", "La Estrella", "Paredones", "Palmilla",
        "Placilla", "Santa Cruz", "Maule", "Río Claro", "Molina", "Teno", "Sagrada Familia", "Linares",
        "Parral", "Villa Alegre", "Yerbas Buenas", "Romeral",
        # Ñuble, Biobío
        "Bulnes", "El Carmen", "Pinto", "San Ignacio", "Yungay", "Portezuelo", "San Carlos", "San Fabián",
        "San Nicolás", "Coronel", "Florida", "Tomé", "Santa Juana", "Arauco", "Los Álamos", "Los Ángeles",
        "Cabrero", "Laja", "Santa Bárbara", "Negrete",
        # Araucanía, Los Ríos, Los Lagos
        "Freire", "Galvarino", "Gorbea", "Lautaro", "Saavedra", "Ercilla", "Los Sauces", "Victoria",
        "Los Lagos", "Fresia", "Castro", "Río Negro", "San Pablo",
        # Aysén, Magallanes
        "Lago Verde", "Cochrane", "O'Higgins", "Laguna Blanca", "Río Verde", "San Gregorio", "Antártica",
    }
)

TIER_C: frozenset[str] = frozenset(
    {
        "Caldera", "La Cisterna", "Navidad", "Primavera", "Porvenir", "Retiro", "Constitución", "La Unión",
        "Camarones", "Camiña", "Pica", "Corral", "Empedrado", "Nacimiento", "Calle Larga", "Cisnes",
    }
)

# Avenues named after a comuna: the comuna inside them is not where the customer is.
_STREET_NAMES = ("pedro de valdivia", "vicuna mackenna", "libertador bernardo o higgins", "bernardo o higgins")
_STREET_PREFIXES = frozenset(
    {"av", "avda", "avd", "avenida", "calle", "pasaje", "psje", "pje", "camino", "alameda", "diagonal",
     "paseo", "callejon", "costanera", "esquina", "pob", "poblacion", "villa"}
)
_ARTICLES = frozenset({"la", "el", "los", "las", "de", "del"})
_NAME_MARKERS = frozenset({"llamo", "llama", "llamas", "soy", "sr", "sra", "srta", "senor", "senora", "don", "dona"})
_PLACE_VERBS = frozenset(
    {"vivo", "vivimos", "estoy", "estamos", "queda", "quedo", "ubicado", "ubicada", "ubicados", "resido",
     "domicilio", "direccion"}
)
_NEGATION_SKIPPABLE = frozenset({"en", "es", "era", "de", "soy", "estoy", "vivo", "queda", "sea"})
# Tokens allowed around a comuna for the clause to count as "just the comuna" ("en Ñuñoa porfa").
_FILLER = frozenset(
    {"en", "comuna", "de", "es", "la", "sector", "vivo", "estoy", "queda", "hola", "buenas", "gracias", "por",
     "favor", "porfa", "ok", "si", "ya", "po", "pues", "mi", "seria", "aca", "alla", "somos", "soy"}
)
_MAX_FILLER_WORDS = 6
# Everyday words a typo-tolerant match must never turn into a comuna ("en cinco minutos" is not Cunco).
FUZZY_BLOCKLIST: frozenset[str] = frozenset(
    {
        "cinco", "cuatro", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta",
        "noventa", "blanco", "blanca", "tengo", "tenga", "cocina", "cocinas", "punto", "puntos", "chancho",
        "angel", "angeles", "macho", "peine", "renta", "talco", "calor", "molino", "pinta", "pintar",
        "pintura", "calle", "calles", "lampara", "puerta", "puerto", "puente", "salida", "temprano",
        "manana", "tarde", "noche", "semana", "urgente", "ahora", "porfa", "gracias", "buenas", "buenos",
        "hola", "favor", "ayuda", "tecnico", "maestro", "arreglo", "arreglar", "cambiar", "cambio", "cable",
        "cables", "enchufe", "enchufes", "llave", "llaves", "chapa", "chapas", "cerradura", "agua", "fuga",
        "bano", "banos", "pieza", "living", "comedor", "patio", "techo", "muralla", "pared", "piso", "depto",
        "departamento", "edificio", "casa", "pasaje", "avenida", "estado", "cancelar", "quiero", "necesito",
        "tambien", "cuando", "pueden", "puede", "vengan", "venga", "llega", "calefont", "caldera", "cisterna",
        "ducha", "lavaplatos", "tablero", "automatico", "ampolleta", "cortocircuito", "filtracion", "gotera",
        "perdon", "disculpa", "disculpe", "entonces", "quedo", "quede", "afuera", "adentro", "dentro",
        "mismo", "misma", "hasta", "desde", "entre", "sobre", "donde", "claro", "bueno", "buena", "listo",
        "vecino", "vecina", "senora", "senor", "marido", "esposa", "cuanto", "cuesta", "cobran", "precio",
        "valor", "lucas", "pesos", "plata", "transferencia", "efectivo", "tarjeta", "numero", "telefono",
        "correo", "nombre", "llamo", "santo", "santa", "reina", "palma", "palmas", "monte", "montes",
        "carmen", "maria", "pedro", "pablo", "carlos", "javier", "miguel", "ramon", "joaquin", "juan",
        "rosa", "rosas", "camila", "camino", "lanza", "lindo", "linda", "control", "conectar", "tension",
    }
)


#: rapidfuzz ``ratio`` (0–100) a typo must reach, and at most this many edits: a near-exact match only.
MIN_SIMILARITY = 88.0
MAX_EDITS = 2
# A typo-corrected name is still above MIN_CONFIDENCE, but below an exact one.
FUZZY_CONFIDENCE = 0.88


@dataclass(frozen=True, slots=True)
class ComunaFinding:
    comuna: str | None
    confidence: float
    ambiguous: bool = False
    span: Span | None = None


NOT_FOUND = ComunaFinding(None, 0.0)


def tier_of(comuna: str) -> str:
    if comuna in TIER_C:
        return "C"
    if comuna in TIER_B:
        return "B"
    return "A"


@cache
def _exact_index() -> Mapping[tuple[str, ...], str]:
    index: dict[tuple[str, ...], str] = {tuple(key.split()): name for key, name in comuna_index().items()}
    for name in all_comunas():
        words = normalize_text(name).split()
        compact = "".join(words)
        # "puentealto", "lascondes": people drop the space; only multiword names, so no new ambiguity.
        if len(words) > 1 and len(compact) >= 6:
            index.setdefault((compact,), name)
    return index


@cache
def _max_words() -> int:
    return max(len(key) for key in _exact_index())


@cache
def _fuzzy_targets() -> Mapping[int, tuple[tuple[str, str], ...]]:
    """Tier-A names by word count: (normalised form, canonical). Compact forms count as one word."""
    by_len: dict[int, list[tuple[str, str]]] = {}
    for name in all_comunas():
        if tier_of(name) != "A":
            continue
        norm = normalize_text(name)
        by_len.setdefault(len(norm.split()), []).append((norm, name))
        if " " in norm:
            by_len.setdefault(1, []).append((norm.replace(" ", ""), name))
    return {n: tuple(targets) for n, targets in by_len.items()}


@dataclass(frozen=True, slots=True)
class _Context:
    possessed: bool  # followed by "de"/"del": "el bosque del fundo", "la granja de mi tío" are things
    street: bool
    person: bool
    negated: bool
    strong_cue: bool
    weak_cue: bool
    standalone: bool


def _context(text: TokenText, span: Span) -> _Context:
    def before(k: int) -> str | None:
        index = span.start - k
        return text.norm(index) if text.same_clause(index, span.start) else None

    prev, prev2 = before(1), before(2)
    nxt = text.norm(span.end) if text.same_clause(span.end, span.end - 1) else None
    street = (
        prev in _STREET_PREFIXES
        or (prev in _ARTICLES and prev2 in _STREET_PREFIXES)
        or (nxt is not None and nxt[:1].isdigit())
    )
    # "no es en Maipú": skip the little words between "no" and the name.
    k = 1
    while k <= 3 and before(k) in _NEGATION_SKIPPABLE:
        k += 1
    negated = before(k) == "no"
    strong_cue = (
        any(before(j) == "comuna" for j in (1, 2, 3))
        or (prev == "en" and prev2 in _PLACE_VERBS)
        or (prev == "de" and prev2 in {"soy", "somos"})
        or prev == "sector"
    )
    clause = text.clause_span(span.start)
    standalone = clause.end - clause.start - (span.end - span.start) <= _MAX_FILLER_WORDS and all(
        text.tokens[i].norm in _FILLER for i in clause.indexes() if i not in span.indexes()
    )
    return _Context(
        possessed=nxt in {"de", "del"},
        street=street,
        person=prev in _NAME_MARKERS,
        negated=negated,
        strong_cue=strong_cue,
        weak_cue=prev == "en",
        standalone=standalone,
    )


def _accepts(tier: str, ctx: _Context, expected: bool) -> bool:
    if ctx.street or ctx.person or ctx.negated:
        return False
    if tier == "A":
        return True
    if ctx.possessed and not ctx.strong_cue:
        return False
    if tier == "B":
        return expected or ctx.strong_cue or ctx.weak_cue or ctx.standalone
    return ctx.strong_cue or (expected and (ctx.standalone or ctx.weak_cue))


def _confidence(ctx: _Context, expected: bool) -> float:
    return 0.95 if expected or ctx.strong_cue or ctx.weak_cue or ctx.standalone else 0.92


def _masked_streets(text: TokenText) -> list[Span]:
    return [span for street in _STREET_NAMES for span in text.find(street)]


def _exact_candidates(text: TokenText, blocked: list[Span]) -> list[tuple[Span, str]]:
    index = _exact_index()
    found: list[tuple[Span, str]] = []
    i = 0
    while i < len(text):
        for n in range(min(_max_words(), len(text) - i), 0, -1):
            span = Span(i, i + n)
            if not text.same_clause(i, i + n - 1) or any(span.overlaps(b) for b in blocked):
                continue
            name = index.get(tuple(t.norm for t in text.tokens[i : i + n]))
            if name is not None:
                found.append((span, name))
                i += n
                break
        else:
            i += 1
    return found


def _fuzzy_query(words: list[str]) -> str | None:
    """The text to compare with comuna names, or None when these words must never be fuzzed."""
    if not all(w.isalpha() for w in words):
        return None
    # One everyday word is never a typo of a comuna; inside a longer name ("puente alot") it may be.
    if (len(words) == 1 and words[0] in FUZZY_BLOCKLIST) or all(w in FUZZY_BLOCKLIST for w in words):
        return None
    query = " ".join(words)
    # Short words are where a one-letter slip lands on another real word: never guess them.
    if len(query) < 5 or (len(words) == 1 and len(words[0]) < 5):
        return None
    return query


def _closest_comuna(query: str, word_count: int) -> str | None:
    targets = _fuzzy_targets().get(word_count, ())
    # Similarity relative to length: one slip in "huechurava" (10 letters) passes, one in "maipo" (5
    # letters, and a real place name of its own) does not.
    scored = process.extract(
        query, [t for t, _ in targets], scorer=fuzz.ratio, score_cutoff=MIN_SIMILARITY, limit=None
    )
    best: list[str] = []
    best_score = 0.0
    for target, score, position in scored:
        name = targets[position][1]
        if target[0] != query[0] or target == query or Levenshtein.distance(query, target) > MAX_EDITS:
            continue
        if score > best_score:
            best, best_score = [name], score
        elif score == best_score and name not in best:
            best.append(name)
    return best[0] if len(best) == 1 else None


def _fuzzy(text: TokenText, blocked: list[Span], expected: bool) -> list[tuple[Span, str]]:
    found: list[tuple[Span, str]] = []
    for n in (3, 2, 1):
        for i in range(len(text) - n + 1):
            span = Span(i, i + n)
            if not text.same_clause(i, i + n - 1) or any(span.overlaps(b) for b in blocked):
                continue
            if any(span.overlaps(s) for s, _ in found):
                continue
            query = _fuzzy_query([t.norm for t in text.tokens[i : i + n]])
            if query is None:
                continue
            ctx = _context(text, span)
            place_like = expected or ctx.strong_cue or ctx.weak_cue or ctx.standalone
            if not place_like or ctx.street or ctx.person or ctx.negated:
                continue
            name = _closest_comuna(query, n)
            if name is not None:
                found.append((span, name))
    return found


def find_comuna(text: TokenText, *, expected: bool = False, blocked: Iterable[Span] = ()) -> ComunaFinding:
    """The one comuna the message places the job in; None when absent, rejected by context, or two differ.

    ``blocked`` spans (an address, service keywords) are not searched: "Av. La Florida 1234" is a street.
    """
    blocked_spans = [*blocked, *_masked_streets(text)]
    candidates = _exact_candidates(text, blocked_spans)
    accepted: list[tuple[Span, str, float]] = []
    for span, name in candidates:
        ctx = _context(text, span)
        if _accepts(tier_of(name), ctx, expected):
            accepted.append((span, name, _confidence(ctx, expected)))
    if not accepted:
        # A word that is an exact (but rejected) comuna is not a typo of another one.
        near = _fuzzy(text, blocked_spans + [span for span, _ in candidates], expected)
        accepted = [(span, name, FUZZY_CONFIDENCE) for span, name in near]
    names = {name for _, name, _ in accepted}
    if not names:
        return NOT_FOUND
    if len(names) > 1:
        return ComunaFinding(None, 0.0, ambiguous=True)
    span, name, _ = accepted[0]
    return ComunaFinding(name, min(c for _, _, c in accepted), span=span)
