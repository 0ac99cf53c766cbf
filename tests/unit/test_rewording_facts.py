"""The fact check a warmer wording must pass before it may replace a deterministic reply (contracts.rewording),
and the reversible masking the adapter puts around it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.rewording import fold, rewording_problems
from llm_adapter.masking import mask_reversibly

pytestmark = pytest.mark.unit

SUMMARY = (
    'Resumen: Gasfitería · Ñuñoa · Hoy · Irarrázaval 1234 depto 5 · "se rompió la cañería del baño".\n'
    "¿Confirmas y autorizas compartir estos datos con el técnico?"
)
ACCEPTED = 'Pedro Soto aceptó tu solicitud y te contactará al +56 9 1234 5678. Puedes escribir "estado" cuando quieras.'


def problems(original: str, reworded: str, limit: int = 4096, keep: tuple[str, ...] = ()) -> list[str]:
    return rewording_problems(original, reworded, max_chars=limit, keep=keep)


@pytest.mark.parametrize(
    ("original", "reworded"),
    [
        (
            SUMMARY,
            "¡Perfecto! Te resumo: gasfitería en Ñuñoa, para hoy, en Irarrázaval 1234 depto 5, por "
            '"se rompió la cañería del baño". ¿Me confirmas y autorizas compartir estos datos con el técnico?',
        ),
        (
            ACCEPTED,
            "¡Buenas noticias! Pedro Soto aceptó tu solicitud y te va a contactar al +56 9 1234 5678. "
            'Escribe "estado" cuando quieras 😊',
        ),
        ("¿En qué comuna es el trabajo?", "¡Cuéntame! ¿En qué comuna es el trabajo? 😊"),
        ("Listo. Te aviso.", "¡Listo! Te aviso pronto."),
        ("Cuéntame brevemente qué pasó.", "¿Me cuentas brevemente qué pasó?"),
    ],
)
def test_a_rewording_that_keeps_every_fact_passes(original: str, reworded: str) -> None:
    assert problems(original, reworded) == []


@pytest.mark.parametrize(
    ("reworded", "problem"),
    [
        ("Pedro Soto llega a Irarrázaval 1243 hoy", "numbers_changed"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy a las 5", "numbers_changed"),
        ("Pedro llega a Irarrázaval 1234 hoy", "lost_name"),
        ("Pedro Soto llega a tu casa, número 1234, hoy", "lost_street"),
        ("Pedro Soto llega a Irarrázaval 1234", "lost_date"),
        ("Pedro Soto llega a Irarrázaval 1234 mañana", "date_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy en Ñuñoa", "comuna_added"),
        ("El gasfiter Pedro Soto llega a Irarrázaval 1234 hoy", "service_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, en dos horas", "number_word_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, te lo garantizamos", "promise_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy al tiro", "promise_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, sin costo para ti", "promise_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, más info en www.ofertas.cl", "link_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, escríbele a pedro@soto.cl", "link_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, cobra $", "money_added"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy, llámalo al [telefono_1]", "placeholder_left"),
        ("Pedro Soto llega a Irarrázaval 1234 hoy" + "!" * 2000, "too_long"),
        ("   ", "empty"),
    ],
)
def test_a_rewording_that_changes_a_fact_is_refused(reworded: str, problem: str) -> None:
    original = "Pedro Soto llega a Irarrázaval 1234 hoy"

    assert problem in problems(original, reworded, limit=1024)


def test_the_summary_s_quoted_problem_and_question_must_survive() -> None:
    shortened = "¡Perfecto! Te resumo: gasfitería en Ñuñoa, para hoy, en Irarrázaval 1234 depto 5. ¿Me confirmas?"
    no_question = SUMMARY.replace("¿Confirmas", "Confirma").replace("técnico?", "técnico.")

    assert problems(SUMMARY, shortened) == ["lost_quote"]
    assert problems(SUMMARY, no_question) == ["question_lost"]


def test_a_lost_comuna_or_service_is_refused_even_at_the_start_of_a_sentence() -> None:
    original = "Ñuñoa queda en nuestra zona. Electricidad es lo que necesitas."

    assert problems(original, "Queda en la zona.") == ["lost_comuna", "lost_service"]


def test_what_the_caller_names_must_survive() -> None:
    assert problems("te llamará pedro soto", "te llamará pedro", keep=("pedro soto",)) == ["lost_keep"]
    assert problems("te llamará pedro soto", "pedro soto te llamará", keep=("Pedro Soto",)) == []


def test_the_codes_name_no_personal_value() -> None:
    found = problems(ACCEPTED, "Tu técnico te llamará pronto, gratis, al 22 333 4444 o en www.x.cl")

    assert found and all("pedro" not in fold(code) and "1234" not in code for code in found)


# ------------------------------------------------------------------------------------------ properties

NAMES = st.sampled_from(["Pedro Soto", "María José Pérez", "Ana Núñez", "Luis Olivares"])
COMUNAS = st.sampled_from(["Ñuñoa", "Maipú", "La Florida", "Providencia", "Puente Alto", "Valparaíso"])
STREETS = st.sampled_from(["Irarrázaval", "Los Leones", "Gran Avenida", "Vicuña Mackenna"])


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A reply as the bot writes them, and the facts it carries (each must survive a rewording)."""
    name, comuna, street = draw(NAMES), draw(COMUNAS), draw(STREETS)
    number = str(draw(st.integers(1, 99999)))
    phone = f"+56 9 {draw(st.integers(1000, 9999))} {draw(st.integers(1000, 9999))}"
    text = draw(
        st.sampled_from(
            [
                f"{name} aceptó tu solicitud en {comuna} y te contactará al {phone}.",
                f"Resumen: {comuna} · {street} {number}.\n¿Confirmas?",
                f"¡Listo! El técnico {name} va a {street} {number}, en {comuna}.",
            ]
        )
    )
    facts = [fact for fact in (name.split()[-1], comuna, street, number, phone) if fact in text]
    return text, facts


TEXTS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200).filter(lambda t: t.strip() != "")


@given(TEXTS)
def test_the_deterministic_text_itself_always_passes(text: str) -> None:
    assert rewording_problems(text, text, max_chars=len(text)) == []


@given(replies(), st.sampled_from([str.lower, str.upper, fold]))
def test_changing_only_case_or_accents_keeps_every_fact(reply: tuple[str, list[str]], change: object) -> None:
    text, _ = reply
    assert callable(change)
    changed = change(text)
    if "?" in text:
        changed = changed if "?" in changed else changed + "?"
    assert rewording_problems(text, changed, max_chars=4096) == []


@given(replies(), st.data())
def test_dropping_any_fact_is_refused(reply: tuple[str, list[str]], data: st.DataObject) -> None:
    text, facts = reply
    fact = data.draw(st.sampled_from(facts))

    assert rewording_problems(text, text.replace(fact, "ese lugar"), max_chars=4096) != []


@given(replies(), st.integers(0, 10**6), st.sampled_from(["https://x.cl", "www.ofertas.com", "a@b.cl"]))
def test_a_new_number_or_link_anywhere_is_refused(reply: tuple[str, list[str]], number: int, link: str) -> None:
    text, _ = reply

    assert "numbers_changed" in rewording_problems(text, f"{text} {number}", max_chars=4096)
    assert "link_added" in rewording_problems(text, f"{link} {text}", max_chars=4096)


@given(TEXTS)
def test_masking_is_undone_exactly(text: str) -> None:
    masked = mask_reversibly(text)

    assert masked.restore(masked.text) == text
    assert all(value not in masked.text for value in masked.values.values())


def test_phones_e_mails_and_ruts_leave_only_as_placeholders() -> None:
    masked = mask_reversibly("Pedro: +56 9 1234 5678, pedro@soto.cl, RUT 12.345.678-9. Irarrázaval 1234.")

    assert masked.text == "Pedro: [telefono_3], [email_1], RUT [rut_2]. Irarrázaval 1234."
    assert masked.restore("Llama a Pedro al [telefono_3]") == "Llama a Pedro al +56 9 1234 5678"
