"""What the technician reads. Before accepting: the job only (no customer contact); after: the contact."""

from __future__ import annotations

from contracts.lead_events import LeadFields
from contracts.outbound import ButtonsMessage, ReplyButton, TextMessage
from orchestrator.domain import buttons
from orchestrator.domain.presentation import (
    SERVICE_LABEL,
    URGENCY_LABEL,
    Reply,
    changes_line,
    first_name,
    format_phone,
    shown_name,
    shown_problem,
)


def _job_line(fields: LeadFields) -> str:
    service = SERVICE_LABEL[fields.service] if fields.service else "—"
    urgency = URGENCY_LABEL[fields.urgency] if fields.urgency else "—"
    return f"{service} · {fields.comuna} · {urgency}"


def _where(fields: LeadFields) -> str:
    service = SERVICE_LABEL[fields.service].lower() if fields.service else "trabajo"
    return f"{service} en {fields.comuna}"


def offer(lead_id: str, fields: LeadFields, provider_name: str) -> Reply:
    greet = first_name(provider_name)
    message = ButtonsMessage(
        body=(
            f"Hola {greet}, hay un trabajo nuevo para ti:\n{_job_line(fields)}\n"
            f'Problema: "{shown_problem(fields)}"\n¿Lo tomas?'
        ),
        buttons=(
            ReplyButton(id=buttons.offer_accept_id(lead_id), title="Aceptar"),
            ReplyButton(id=buttons.offer_decline_id(lead_id), title="Rechazar"),
        ),
    )
    return Reply("job_offer", message)


def _done_button(lead_id: str, body: str, purpose: str) -> Reply:
    message = ButtonsMessage(body=body, buttons=(ReplyButton(id=buttons.job_done_id(lead_id), title="Terminado"),))
    return Reply(purpose, message)


def assignment(lead_id: str, fields: LeadFields, customer_name: str | None, customer_phone: str) -> Reply:
    body = (
        "¡Listo, el trabajo es tuyo!\n"
        f"Cliente: {shown_name(customer_name or 'Cliente')}\n"
        f"Teléfono: {format_phone(customer_phone)}\n"
        f"Dirección: {fields.address}, {fields.comuna}\n"
        f'Problema: "{shown_problem(fields)}"\n'
        "Contáctalo pronto. Cuando termines, toca Terminado."
    )
    return _done_button(lead_id, body, "job_assigned")


def already_yours(lead_id: str) -> Reply:
    return _done_button(lead_id, "Este trabajo ya es tuyo. Cuando termines, toca Terminado.", "already_assigned")


def remind_done(lead_id: str) -> Reply:
    return _done_button(lead_id, "Tienes este trabajo en curso. Cuando termines, toca Terminado.", "remind_done")


def declined() -> Reply:
    return Reply("offer_declined", TextMessage(body="Entendido, gracias por avisar. Te escribiremos con el próximo."))


def offer_unavailable() -> Reply:
    return Reply("offer_unavailable", TextMessage(body="Esta solicitud ya no está disponible. ¡Gracias igual!"))


def offer_expired(fields: LeadFields) -> Reply:
    return Reply(
        "offer_expired",
        TextMessage(body=f"La oferta de {_where(fields)} expiró y se la ofrecimos a otro técnico."),
    )


def done_thanks() -> Reply:
    return Reply("job_done", TextMessage(body="¡Gracias! Registramos el trabajo como terminado."))


def no_active_job() -> Reply:
    return Reply("no_active_job", TextMessage(body="No tienes un trabajo en curso con esta solicitud."))


def lead_cancelled(fields: LeadFields) -> Reply:
    return Reply(
        "lead_cancelled",
        TextMessage(body=f"El cliente canceló la solicitud de {_where(fields)}. Ya no es necesario que vayas."),
    )


def customer_update(fields: LeadFields, changes: LeadFields) -> Reply:
    return Reply(
        "customer_update",
        TextMessage(body=f"Actualización del cliente ({_where(fields)}): {changes_line(changes)}."),
    )


def rated(stars: int) -> Reply:
    return Reply("rated", TextMessage(body=f"El cliente calificó tu trabajo con {stars} de 5. ¡Gracias!"))


def nothing_pending(name: str) -> Reply:
    greet = first_name(name)
    return Reply(
        "nothing_pending",
        TextMessage(
            body=f"Hola {greet}, por ahora no tienes ofertas ni trabajos pendientes. "
            "Te escribiremos cuando llegue una solicitud."
        ),
    )


def several_open(name: str) -> Reply:
    greet = first_name(name)
    return Reply(
        "several_open",
        TextMessage(
            body=f"Hola {greet}, tienes más de una solicitud abierta: responde con los botones del "
            "mensaje de cada trabajo."
        ),
    )


def erasure_by_admin(name: str, jobs_in_progress: int) -> Reply:
    """A technician asked that their data be erased: an admin does it (they are deactivated with it), and
    not while a job of theirs is in progress."""
    greet = first_name(name)
    wait = (
        " Primero termina (o avisa que no puedes tomar) los trabajos y ofertas que tienes abiertos."
        if jobs_in_progress
        else ""
    )
    return Reply(
        "erasure_by_admin",
        TextMessage(
            body=f"Hola {greet}, recibimos tu solicitud para borrar tus datos. Como técnico, el borrado lo hace "
            "un administrador de ConectaPro: al hacerlo dejarás de recibir ofertas y tu nombre y número se "
            f"borrarán, sin vuelta atrás.{wait} Te responderemos dentro de 30 días, como indica la ley."
        ),
    )
