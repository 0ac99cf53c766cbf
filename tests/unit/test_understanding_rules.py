"""The deterministic understanding rules, on messages as Chilean customers actually write them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.comunas import all_comunas
from contracts.intent import MIN_CONFIDENCE, Consent, Intent, IntentName, Service, Urgency
from orchestrator.understanding import (
    EXPECTING,
    ReplyKind,
    find_rating,
    parse_reply_id,
    understand_interactive,
    understand_text,
)
from orchestrator.understanding import reply_ids as ids
from orchestrator.understanding.services import _PATTERNS as SERVICE_PATTERNS
from orchestrator.understanding.text import TokenText

CREATE = IntentName.CREATE_LEAD
UPDATE = IntentName.UPDATE_LEAD
STATUS = IntentName.ASK_STATUS
CANCEL = IntentName.CANCEL
SMALLTALK = IntentName.SMALLTALK
UNKNOWN = IntentName.UNKNOWN
GAS = Service.GASFITERIA
ELEC = Service.ELECTRICIDAD
CERR = Service.CERRAJERIA
HOY = Urgency.HOY
DIAS = Urgency.UNO_DOS_DIAS
SEMANA = Urgency.SEMANA
YES = Consent.YES
NO = Consent.NO


@dataclass(frozen=True)
class Case:
    text: str
    intent: IntentName
    service: Service | None = None
    comuna: str | None = None
    urgency: Urgency | None = None
    address: str | None = None
    consent: Consent | None = None
    problem: str | None = None
    expecting: str | None = None
    confident: bool = True


CASES: list[Case] = [
    # --- New requests, as they arrive -------------------------------------------------------------------
    Case(
        "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa",
        CREATE,
        GAS,
        "Ñuñoa",
        problem="se me rompió la cañería del baño y está saliendo agua",
    ),
    Case("necesito un gasfiter en peñalolen urgente", CREATE, GAS, "Peñalolén", HOY),
    Case("Buenas tardes, necesito un gásfiter para hoy en Las Condes", CREATE, GAS, "Las Condes", HOY),
    Case("HOLA NECESITO ELECTRICISTA URGENTE EN QUILICURA!!!", CREATE, ELEC, "Quilicura", HOY),
    Case(
        "se saltó el automático y no tengo luz en maipu",
        CREATE,
        ELEC,
        "Maipú",
        problem="se saltó el automático y no tengo luz",
    ),
    Case(
        "me quedé afuera, las llaves adentro!! estoy en providencia",
        CREATE,
        CERR,
        "Providencia",
        problem="me quedé afuera, las llaves adentro",
    ),
    Case("el wc está tapado 😫 en la florida", CREATE, GAS, "La Florida", problem="el wc está tapado"),
    Case(
        "se me quebró la llave en la chapa 😭 en san miguel",
        CREATE,
        CERR,
        "San Miguel",
        problem="se me quebró la llave en la chapa",
    ),
    Case(
        "necesito cerrajero, quedé afuera de mi casa en La Reina",
        CREATE,
        CERR,
        "La Reina",
        problem="quedé afuera de mi casa",
    ),
    Case(
        "la llave de la ducha gotea harto, vivo en Ñuñoa",
        CREATE,
        GAS,
        "Ñuñoa",
        problem="la llave de la ducha gotea harto",
    ),
    Case("olor a gas en la cocina, estoy en macul", CREATE, GAS, "Macul", problem="olor a gas en la cocina"),
    Case(
        "se fue la luz en toda la casa, tablero con olor a quemado",
        CREATE,
        ELEC,
        problem="se fue la luz en toda la casa, tablero con olor a quemado",
    ),
    Case(
        "el lavaplatos está tapado, pueden venir mañana?",
        CREATE,
        GAS,
        urgency=DIAS,
        problem="el lavaplatos está tapado",
    ),
    Case(
        "pueden venir esta semana? el califont no prende", CREATE, GAS, urgency=SEMANA, problem="el califont no prende"
    ),
    Case("el enchufe del living echa chispas", CREATE, ELEC, problem="el enchufe del living echa chispas"),
    Case(
        "no es urgente, necesito cambiar la chapa de la puerta",
        CREATE,
        CERR,
        urgency=SEMANA,
        problem="necesito cambiar la chapa de la puerta",
    ),
    Case("hay una filtración en el techo", CREATE, GAS, problem="hay una filtración en el techo"),
    Case("necesito copia de llave en conce", CREATE, CERR, "Concepción", problem="necesito copia de llave"),
    Case("necesito 2 copias de llave", CREATE, CERR, problem="necesito 2 copias de llave"),
    Case("la llave del lavaplatos gotea", CREATE, GAS, problem="la llave del lavaplatos gotea"),
    Case("tengo 2 enchufes malos", CREATE, ELEC, problem="tengo 2 enchufes malos"),
    Case(
        "se quemo la ampolleta del baño y salto el automatico",
        CREATE,
        ELEC,
        problem="se quemo la ampolleta del baño y salto el automatico",
    ),
    Case(
        "hay un cortocircuito en la cocina, en puente alto",
        CREATE,
        ELEC,
        "Puente Alto",
        problem="hay un cortocircuito en la cocina",
    ),
    Case(
        "no puedo abrir la puerta de mi depto en santiago centro",
        CREATE,
        CERR,
        "Santiago",
        problem="no puedo abrir la puerta de mi depto",
    ),
    Case(
        "Necesito un gasfiter en Viña, el calefont bota agua",
        CREATE,
        GAS,
        "Viña del Mar",
        problem="el calefont bota agua",
    ),
    Case(
        "se cortó la luz en la pobla, estoy en PAC",
        CREATE,
        ELEC,
        "Pedro Aguirre Cerda",
        problem="se cortó la luz en la pobla",
    ),
    Case("fuga de agua en el baño, vivo en stgo", CREATE, GAS, "Santiago", problem="fuga de agua en el baño"),
    Case("hoy en la mañana se cortó la luz", CREATE, ELEC, urgency=HOY, problem="hoy en la mañana se cortó la luz"),
    Case(
        "mañana en la mañana pueden venir? tengo el calefont malo",
        CREATE,
        GAS,
        urgency=DIAS,
        problem="tengo el calefont malo",
    ),
    Case("necesito un electricista ahora", CREATE, ELEC, urgency=HOY),
    Case("ahora no tengo luz", CREATE, ELEC, problem="ahora no tengo luz"),
    Case(
        "cambiar la chapa, lo antes posible, en huechuraba", CREATE, CERR, "Huechuraba", HOY, problem="cambiar la chapa"
    ),
    Case(
        "pasaje los aromos 345, casa b, la florida",
        CREATE,
        comuna="La Florida",
        address="pasaje los aromos 345, casa b",
    ),
    Case(
        "mi dirección es pedro de valdivia 1500 depto 32, providencia",
        CREATE,
        comuna="Providencia",
        address="pedro de valdivia 1500 depto 32",
    ),
    Case("Irarrázaval 1234 depto 5, Ñuñoa", CREATE, comuna="Ñuñoa", address="Irarrázaval 1234 depto 5"),
    Case("estoy en puente alot, se quemó una ampolleta", CREATE, ELEC, "Puente Alto", problem="se quemó una ampolleta"),
    Case("serrajero urgente en maipu", CREATE, CERR, "Maipú", HOY),
    Case("eletricista para mañana en puente alto", CREATE, ELEC, "Puente Alto", DIAS),
    Case("se inundó el baño!!! ayuda", CREATE, GAS, problem="se inundó el baño"),
    Case("el water está tapado", CREATE, GAS, problem="el water está tapado"),
    Case(
        "buenas, se me perdieron las llaves y no puedo entrar a mi casa en ñuñoa",
        CREATE,
        CERR,
        "Ñuñoa",
        problem="se me perdieron las llaves y no puedo entrar a mi casa",
    ),
    Case(
        "hola! tengo una filtración en la pared del baño, estoy en san pedro de la paz, es urgente",
        CREATE,
        GAS,
        "San Pedro de la Paz",
        HOY,
        problem="tengo una filtración en la pared del baño",
    ),
    # --- Comunas that are also everyday words, streets or names -----------------------------------------
    Case("hay una fuga en la caldera", CREATE, GAS, problem="hay una fuga en la caldera"),
    Case("vivo en caldera y tengo una fuga", CREATE, GAS, "Caldera", problem="vivo en caldera y tengo una fuga"),
    Case("la cisterna del baño gotea", CREATE, GAS, problem="la cisterna del baño gotea"),
    Case("las luces de navidad no prenden", CREATE, ELEC, problem="las luces de navidad no prenden"),
    Case("se cortó la luz en el bosque del fundo", CREATE, ELEC, problem="se cortó la luz en el bosque del fundo"),
    Case(
        "vivo en el bosque y se cortó la luz", CREATE, ELEC, "El Bosque", problem="vivo en el bosque y se cortó la luz"
    ),
    Case("la colina está sin luz", CREATE, ELEC, problem="la colina está sin luz"),
    Case("vivo en av providencia 1234", CREATE, address="av providencia 1234"),
    Case("me llamo santiago y necesito un electricista", CREATE, ELEC),
    Case("me llamo Victoria", UNKNOWN, confident=False),
    Case("en cinco minutos llego", UNKNOWN, confident=False),
    Case("vivo cerca del metro santa ana", UNKNOWN, confident=False),
    # --- Ambiguous: never guessed -----------------------------------------------------------------------
    Case(
        "se cortó la luz y no puedo abrir la puerta",
        CREATE,
        problem="se cortó la luz y no puedo abrir la puerta",
        confident=False,
    ),
    Case("tengo un problema con la llave", CREATE, problem="tengo un problema con la llave", confident=False),
    Case("trabajo en la florida pero vivo en maipu", UNKNOWN, confident=False),
    Case("hoy o mañana", UNKNOWN, expecting="urgency", confident=False),
    # --- Bare answers, read in context ------------------------------------------------------------------
    Case("hoy", CREATE, urgency=HOY, expecting="urgency"),
    Case("en 1 o 2 días", CREATE, urgency=DIAS, expecting="urgency"),
    Case("pasado mañana", CREATE, urgency=DIAS, expecting="urgency"),
    Case("lo antes posible", CREATE, urgency=HOY, expecting="urgency"),
    Case("no es urgente, cuando puedan", CREATE, urgency=SEMANA),
    Case("esta mañana se cortó la luz", CREATE, ELEC, problem="esta mañana se cortó la luz", expecting="urgency"),
    Case("por la mañana mejor", UNKNOWN, expecting="urgency", confident=False),
    Case("Ñuñoa", CREATE, comuna="Ñuñoa", expecting="comuna"),
    Case("nunoa", CREATE, comuna="Ñuñoa", expecting="comuna"),
    Case("stgo centro", CREATE, comuna="Santiago", expecting="comuna"),
    Case("en la granja", CREATE, comuna="La Granja", expecting="comuna"),
    Case("la cisterna", CREATE, comuna="La Cisterna", expecting="comuna"),
    Case("vivo en lo espejo", CREATE, comuna="Lo Espejo", expecting="comuna"),
    Case("providenica", CREATE, comuna="Providencia", expecting="comuna"),
    Case("huechurava", CREATE, comuna="Huechuraba", expecting="comuna"),
    Case("las condez", CREATE, comuna="Las Condes", expecting="comuna"),
    Case("maipo", UNKNOWN, expecting="comuna", confident=False),
    Case("temuko", UNKNOWN, expecting="comuna", confident=False),
    Case("la plaza", UNKNOWN, expecting="comuna", confident=False),
    Case("irarrázaval 1234 depto 5", CREATE, address="irarrázaval 1234 depto 5", expecting="address"),
    Case("av. grecia 2010", CREATE, address="av. grecia 2010", expecting="address"),
    Case("Vicuña Mackenna 4500", CREATE, address="Vicuña Mackenna 4500", expecting="address"),
    Case("calle 5 norte 123, viña", CREATE, comuna="Viña del Mar", address="calle 5 norte 123", expecting="address"),
    Case(
        "av. libertador bernardo o'higgins 1234, santiago",
        CREATE,
        comuna="Santiago",
        address="av. libertador bernardo o'higgins 1234",
        expecting="address",
    ),
    Case("los aromos nro 345 depto 2", CREATE, address="los aromos nro 345 depto 2", expecting="address"),
    Case("los aromos", UNKNOWN, expecting="address", confident=False),
    Case("1234", UNKNOWN, expecting="address", confident=False),
    Case("no tengo número, es parcela", UNKNOWN, expecting="address", confident=False),
    Case("luz", CREATE, ELEC, expecting="service"),
    Case("cerrajería", CREATE, CERR, expecting="service"),
    Case(
        "se rompió algo bajo el lavaplatos",
        CREATE,
        GAS,
        problem="se rompió algo bajo el lavaplatos",
        expecting="problem",
    ),
    Case("huele raro en la cocina", CREATE, problem="huele raro en la cocina", expecting="problem"),
    Case("no sé", UNKNOWN, expecting="problem", confident=False),
    # --- Consent and confirmation -----------------------------------------------------------------------
    Case("Sí, confirmo", CREATE, consent=YES, expecting="confirmation"),
    Case("dale", CREATE, consent=YES, expecting="confirmation"),
    Case("sí po", CREATE, consent=YES, expecting="confirmation"),
    Case("👍", CREATE, consent=YES, expecting="confirmation"),
    Case("ya", CREATE, consent=YES, expecting="consent"),
    Case("no", CREATE, consent=NO, expecting="consent"),
    Case("no, gracias", CREATE, consent=NO, expecting="confirmation"),
    Case("autorizo", CREATE, consent=YES, expecting="consent"),
    Case("no autorizo que compartan mis datos", CREATE, consent=NO),
    Case("si pueden venir hoy mejor", CREATE, urgency=HOY, expecting="consent"),
    Case("ya", UNKNOWN, confident=False),
    Case("corregir", UPDATE, expecting="confirmation"),
    Case("sí pero cambia la dirección", UPDATE, expecting="confirmation"),
    Case("si, pero cambia la comuna a macul", UPDATE, comuna="Macul", expecting="confirmation"),
    Case("no, cancela todo", CANCEL, expecting="confirmation"),
    # --- Status, cancellation, corrections --------------------------------------------------------------
    Case("estado", STATUS),
    Case("cual es el estado de mi solicitud", STATUS),
    Case("¿ya viene el técnico?", STATUS),
    Case("cuánto falta para que llegue?", STATUS),
    Case("a qué hora llega el gasfiter?", STATUS, GAS),
    Case("no quiero cancelar, cómo va mi solicitud?", STATUS),
    Case("el enchufe está en mal estado", CREATE, ELEC, problem="el enchufe está en mal estado"),
    Case("cancelar", CANCEL),
    Case("anula la solicitud porfa", CANCEL),
    Case("olvídalo, ya lo arreglé", CANCEL),
    Case("ya no necesito el gasfiter, gracias", CANCEL, GAS),
    Case("me equivoqué, la dirección es Los Aromos 345", UPDATE, address="Los Aromos 345"),
    Case("cambia la comuna a providencia", UPDATE, comuna="Providencia"),
    Case("no es en ñuñoa, es en providencia", UPDATE, comuna="Providencia"),
    # --- Smalltalk and noise ----------------------------------------------------------------------------
    Case("hola", SMALLTALK),
    Case("hola buenas", SMALLTALK),
    Case("gracias!!", SMALLTALK),
    Case("muchas gracias por todo 🙏", SMALLTALK),
    Case("jajaja", SMALLTALK),
    Case("gracias, hasta mañana", SMALLTALK),
    Case("mi teléfono es +56 9 1234 5678", UNKNOWN, confident=False),
    Case("son las 10 de la mañana", UNKNOWN, confident=False),
    Case("cuanto cobran?", UNKNOWN, confident=False),
    Case("", UNKNOWN, confident=False),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.expecting or '-'}: {c.text}" for c in CASES])
def test_a_customer_message_is_understood_as_expected(case: Case) -> None:
    intent = understand_text(case.text, case.expecting)

    assert (
        intent.intent,
        intent.service,
        intent.comuna,
        intent.urgency,
        intent.address,
        intent.consent,
        intent.problem_type,
    ) == (case.intent, case.service, case.comuna, case.urgency, case.address, case.consent, case.problem)
    assert intent.is_confident is case.confident, intent.confidence


def test_the_table_covers_at_least_seventy_messages() -> None:
    assert len(CASES) >= 70


def test_a_clear_keyword_match_is_confident_but_below_an_exact_button() -> None:
    intent = understand_text("se me rompió la cañería, estoy en ñuñoa")
    assert MIN_CONFIDENCE <= intent.confidence < 1.0


def test_an_unknown_expecting_field_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        understand_text("hoy", "fecha")


def test_every_documented_expecting_field_is_accepted() -> None:
    for field in EXPECTING:
        assert isinstance(understand_text("hola", field), Intent)


def test_a_typed_rating_is_neither_an_address_nor_a_problem() -> None:
    intent = understand_text("5", "rating")
    assert (intent.address, intent.problem_type) == (None, None)


# --- Interactive replies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply_id", "expected"),
    [
        (ids.SERVICE_GASFITERIA, Intent(intent=CREATE, service=GAS, confidence=1.0)),
        (ids.SERVICE_ELECTRICIDAD, Intent(intent=CREATE, service=ELEC, confidence=1.0)),
        (ids.SERVICE_CERRAJERIA, Intent(intent=CREATE, service=CERR, confidence=1.0)),
        (ids.URGENCY_HOY, Intent(intent=CREATE, urgency=HOY, confidence=1.0)),
        (ids.URGENCY_1_2_DIAS, Intent(intent=CREATE, urgency=DIAS, confidence=1.0)),
        (ids.URGENCY_SEMANA, Intent(intent=CREATE, urgency=SEMANA, confidence=1.0)),
        (ids.CONSENT_YES, Intent(intent=CREATE, consent=YES, confidence=1.0)),
        (ids.CONSENT_NO, Intent(intent=CREATE, consent=NO, confidence=1.0)),
        (ids.CONFIRM_YES, Intent(intent=CREATE, consent=YES, confidence=1.0)),
        (ids.CONFIRM_FIX, Intent(intent=UPDATE, confidence=1.0)),
        (ids.CONFIRM_CANCEL, Intent(intent=CANCEL, confidence=1.0)),
        (ids.offer_accept_id("c0a1b2c3.1"), Intent(intent=UNKNOWN, consent=YES, confidence=1.0)),
        (ids.offer_decline_id("c0a1b2c3.1"), Intent(intent=UNKNOWN, consent=NO, confidence=1.0)),
        (ids.job_done_id("c0a1b2c3.1"), Intent(intent=UNKNOWN, confidence=1.0)),
        (ids.rating_id(4), Intent(intent=UNKNOWN, confidence=1.0)),
    ],
)
def test_an_interactive_reply_maps_exactly_with_full_confidence(reply_id: str, expected: Intent) -> None:
    assert understand_interactive(reply_id) == expected


@pytest.mark.parametrize(
    "reply_id",
    [
        "",
        "service:gasfiteria",
        "service:Plomeria",
        "urgency:HOY",
        "confirm:maybe",
        "rating:0",
        "rating:6",
        "offer:accept:",
        "offer:accept:../../etc",
        "job:done:a b",
        "SERVICE:Gasfiteria",
        " consent:yes",
    ],
)
def test_a_reply_id_we_never_issued_is_not_understood(reply_id: str) -> None:
    assert parse_reply_id(reply_id) is None
    assert understand_interactive(reply_id) == Intent(intent=UNKNOWN, confidence=0.0)


def test_reply_ids_carry_the_lead_id_and_the_stars_back() -> None:
    lead_id = "c9f00123456789abcdef0.3"
    accepted = parse_reply_id(ids.offer_accept_id(lead_id))
    assert accepted is not None
    assert (accepted.kind, accepted.lead_id) == (ReplyKind.OFFER_ACCEPT, lead_id)
    declined = parse_reply_id(ids.offer_decline_id(lead_id))
    assert declined is not None
    assert (declined.kind, declined.lead_id) == (ReplyKind.OFFER_DECLINE, lead_id)
    done = parse_reply_id(ids.job_done_id(lead_id))
    assert done is not None
    assert (done.kind, done.lead_id) == (ReplyKind.JOB_DONE, lead_id)
    for stars in range(1, 6):
        rating = parse_reply_id(ids.rating_id(stars))
        assert rating is not None
        assert (rating.kind, rating.rating) == (ReplyKind.RATING, stars)


def test_reply_ids_fit_whatsapps_256_character_limit_and_refuse_odd_lead_ids() -> None:
    assert len(ids.offer_accept_id("x" * 128 + ".123456789")) <= 256
    with pytest.raises(ValueError):
        ids.offer_accept_id("has space")
    with pytest.raises(ValueError):
        ids.offer_accept_id("no-lead-number")
    with pytest.raises(ValueError):
        ids.rating_id(7)


# --- Typed ratings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stars"),
    [
        ("5", 5),
        ("un 4", 4),
        ("4 estrellas", 4),
        ("4 de 5", 4),
        ("3/5", 3),
        ("cinco", 5),
        ("⭐⭐⭐", 3),
        ("7", None),
        ("10/10", None),
        ("excelente", None),
        ("2 o 3", None),
        ("", None),
        ("llegó en 20 minutos, excelente servicio, le pongo 5", None),
        ("²", None),  # a digit int() refuses: not a rating, and never an error
        ("le doy un ³", None),
    ],
)
def test_a_typed_rating_is_read_only_on_the_one_to_five_scale(typed: str, stars: int | None) -> None:
    assert find_rating(typed) == stars


# --- Properties --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=120),
    st.sampled_from([None, *EXPECTING]),
)
def test_any_text_yields_only_allowlisted_values_and_never_raises(text: str, expecting: str | None) -> None:
    intent = understand_text(text, expecting)
    assert intent.comuna is None or intent.comuna in all_comunas()
    assert 0.0 <= intent.confidence <= 1.0
    assert understand_text(text, expecting) == intent  # pure: same input, same answer


def test_everyday_words_after_en_are_never_read_as_a_typo_of_a_comuna() -> None:
    everyday = [
        "cocina",
        "cinco",
        "blanco",
        "pequeño",
        "penca",
        "nunca",
        "tengo",
        "chancho",
        "punto",
        "conchale",
        "macho",
        "puerta",
        "puerto",
        "temprano",
        "chica",
        "pieza",
        "bodega",
        "terraza",
    ]
    for word in everyday:
        assert understand_text(f"la fuga está en {word}").comuna is None, word
        assert understand_text(word, "comuna").comuna is None, word


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.text[:40])
def test_the_one_pass_keyword_check_agrees_with_scanning_each_keyword(case: Case) -> None:
    text = TokenText(case.text)
    separately = any(text.find(pattern, cross_clauses=True) for pattern in SERVICE_PATTERNS)
    assert text.mentions_any(SERVICE_PATTERNS) == separately


@given(st.text(alphabet="abcdefghijklmnñopqrstuvwxyzáéíóú .,;!¿?0123456789", max_size=60))
@settings(max_examples=300, deadline=None)
def test_the_one_pass_keyword_check_agrees_on_any_text(raw: str) -> None:
    text = TokenText(raw)
    separately = any(text.find(pattern, cross_clauses=True) for pattern in SERVICE_PATTERNS)
    assert text.mentions_any(SERVICE_PATTERNS) == separately
