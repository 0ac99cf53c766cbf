"""Technicians: the ``ProviderView`` read model (folded from provider AND lead events) and the pure
decisions on operator commands (register, update, deactivate, activate)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from contracts.commands import ActivateProvider, DeactivateProvider, ForgetProvider, RegisterProvider, UpdateProvider
from contracts.comunas import lookup_comuna
from contracts.events import Event, RecordedEvent
from contracts.intent import Service
from contracts.lead_events import (
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadRated,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    ProviderOffered,
)
from contracts.personal import SUPPRESSED
from contracts.provider_events import (
    ProviderActivated,
    ProviderDeactivated,
    ProviderForgotten,
    ProviderRegistered,
    ProviderUpdated,
)


@dataclass(frozen=True, slots=True)
class ProviderView:
    provider_id: str
    name: str
    phone: str
    services: tuple[Service, ...]
    comunas: frozenset[str]
    capacity: int
    active: bool = True
    #: Leads assigned and not finished.
    active_leads: tuple[str, ...] = ()
    #: Leads offered and not answered yet (they reserve capacity, so a technician is never over-offered).
    pending_offers: tuple[str, ...] = ()
    rating_sum: int = 0
    rating_count: int = 0
    last_assigned_at: datetime | None = None
    #: Erased (``ProviderForgotten``): never active again, name and phone suppressed.
    forgotten: bool = False

    @property
    def active_jobs(self) -> int:
        return len(self.active_leads)

    @property
    def rating_avg(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None


def _without(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    return tuple(x for x in items if x != item)


def evolve_provider_view(view: ProviderView | None, event: Event) -> ProviderView | None:
    """One provider's view after ``event`` (which must concern that provider)."""
    if isinstance(event, ProviderRegistered):
        return ProviderView(
            provider_id=event.provider_id,
            name=event.name,
            phone=event.phone,
            services=event.services,
            comunas=frozenset(event.comunas),
            capacity=event.capacity,
            active=event.active,
        )
    if view is None:
        return None  # lead events about a technician registered in a stream we have not seen: ignore
    match event:
        case ProviderUpdated():
            return replace(
                view,
                name=event.name if event.name is not None else view.name,
                phone=event.phone if event.phone is not None else view.phone,
                services=event.services if event.services is not None else view.services,
                comunas=frozenset(event.comunas) if event.comunas is not None else view.comunas,
                capacity=event.capacity if event.capacity is not None else view.capacity,
            )
        case ProviderDeactivated():
            return replace(view, active=False)
        case ProviderActivated():
            return replace(view, active=not view.forgotten)
        case ProviderForgotten():
            return replace(view, name=SUPPRESSED, phone=SUPPRESSED, active=False, forgotten=True)
        case ProviderOffered():
            return replace(view, pending_offers=(*_without(view.pending_offers, event.lead_id), event.lead_id))
        case OfferDeclined() | OfferExpired() | OfferAccepted():
            return replace(view, pending_offers=_without(view.pending_offers, event.lead_id))
        case LeadAssigned():
            return replace(
                view,
                pending_offers=_without(view.pending_offers, event.lead_id),
                active_leads=(*_without(view.active_leads, event.lead_id), event.lead_id),
                last_assigned_at=event.assigned_at,
            )
        case JobCompleted() | LeadCancelled() | LeadClosed():
            return replace(
                view,
                pending_offers=_without(view.pending_offers, event.lead_id),
                active_leads=_without(view.active_leads, event.lead_id),
            )
        case LeadRated():
            return replace(view, rating_sum=view.rating_sum + event.rating, rating_count=view.rating_count + 1)
    return view


#: The event types that can change a technician's view: ``apply_provider_event`` does not even decode others.
PROVIDER_VIEW_TYPES = frozenset(
    cls.TYPE
    for cls in (
        ProviderRegistered,
        ProviderUpdated,
        ProviderDeactivated,
        ProviderActivated,
        ProviderForgotten,
        ProviderOffered,
        OfferDeclined,
        OfferExpired,
        OfferAccepted,
        LeadAssigned,
        JobCompleted,
        LeadCancelled,
        LeadClosed,
        LeadRated,
    )
)


def apply_provider_event(views: Mapping[str, ProviderView], recorded: RecordedEvent) -> Mapping[str, ProviderView]:
    """The views after ``recorded``: the same mapping when the event changes nothing, else a new one.

    Cheap for the events that do not matter (their data is not even decoded), so the handler can feed it
    every event of the global order.
    """
    if recorded.type not in PROVIDER_VIEW_TYPES:
        return views
    return apply_decoded_provider_event(views, recorded.to_event())


def apply_decoded_provider_event(views: Mapping[str, ProviderView], event: Event) -> Mapping[str, ProviderView]:
    """:func:`apply_provider_event` for an event already decoded (the audit checks the type itself first
    and skips building a ``RecordedEvent`` for it)."""
    provider_id: str | None = getattr(event, "provider_id", None)
    if provider_id is None:
        return views
    before = views.get(provider_id)
    after = evolve_provider_view(before, event)
    if after is None or after == before:
        return views
    return {**views, provider_id: after}


# ------------------------------------------------------------------------------------------ decisions


class ProviderCommandRejected(ValueError):
    """An operator command that cannot be carried out (the CLI / API show the message)."""


class UnknownProvider(ProviderCommandRejected):
    pass


class ProviderAlreadyRegistered(ProviderCommandRejected):
    pass


class InvalidProviderData(ProviderCommandRejected):
    pass


def canonical_comunas(names: tuple[str, ...]) -> tuple[str, ...]:
    """Official names, deduplicated in order; an unknown name is rejected (never guessed)."""
    result: list[str] = []
    unknown: list[str] = []
    for name in names:
        canonical = lookup_comuna(name)
        if canonical is None:
            unknown.append(name)
        elif canonical not in result:
            result.append(canonical)
    if unknown:
        raise InvalidProviderData(f"unknown comunas: {', '.join(unknown)}")
    return tuple(result)


def _unique_services(services: tuple[Service, ...]) -> tuple[Service, ...]:
    return tuple(dict.fromkeys(services))


def _check_phone_free(views: Mapping[str, ProviderView], phone: str, provider_id: str) -> None:
    # The handler routes a technician's messages by phone: one number, one technician.
    for view in views.values():
        if view.phone == phone and view.provider_id != provider_id:
            raise InvalidProviderData(f"phone {phone} already belongs to technician {view.provider_id}")


def decide_register_provider(
    command: RegisterProvider, *, providers: Mapping[str, ProviderView], now: datetime
) -> list[Event]:
    comunas = canonical_comunas(command.comunas)
    services = _unique_services(command.services)
    existing = providers.get(command.provider_id)
    if existing is not None:
        same = (existing.name, existing.phone, existing.services, existing.comunas, existing.capacity) == (
            command.name,
            command.phone,
            services,
            frozenset(comunas),
            command.capacity,
        )
        if same:
            return []  # a repeated registration: nothing to do
        raise ProviderAlreadyRegistered(f"technician {command.provider_id} is already registered")
    _check_phone_free(providers, command.phone, command.provider_id)
    return [
        ProviderRegistered(
            provider_id=command.provider_id,
            name=command.name,
            phone=command.phone,
            services=services,
            comunas=comunas,
            capacity=command.capacity,
            active=command.active,
            registered_at=now,
        )
    ]


def _known(providers: Mapping[str, ProviderView], provider_id: str) -> ProviderView:
    view = providers.get(provider_id)
    if view is None:
        raise UnknownProvider(f"no technician {provider_id}")
    return view


def decide_update_provider(
    command: UpdateProvider, *, providers: Mapping[str, ProviderView], now: datetime
) -> list[Event]:
    view = _known(providers, command.provider_id)
    if view.forgotten:
        raise ProviderCommandRejected(f"technician {view.provider_id} was erased: register them again")
    comunas = canonical_comunas(command.comunas) if command.comunas is not None else None
    services = _unique_services(command.services) if command.services is not None else None
    if command.phone is not None:
        _check_phone_free(providers, command.phone, command.provider_id)
    changes = ProviderUpdated(
        provider_id=view.provider_id,
        name=command.name if command.name not in (None, view.name) else None,
        phone=command.phone if command.phone not in (None, view.phone) else None,
        services=services if services not in (None, view.services) else None,
        comunas=comunas if comunas is not None and frozenset(comunas) != view.comunas else None,
        capacity=command.capacity if command.capacity not in (None, view.capacity) else None,
        updated_at=now,
    )
    changed = any(getattr(changes, f) is not None for f in ("name", "phone", "services", "comunas", "capacity"))
    return [changes] if changed else []


def decide_deactivate_provider(
    command: DeactivateProvider, *, providers: Mapping[str, ProviderView], now: datetime
) -> list[Event]:
    view = _known(providers, command.provider_id)
    if not view.active:
        return []
    return [ProviderDeactivated(provider_id=view.provider_id, reason=command.reason, deactivated_at=now)]


def decide_activate_provider(
    command: ActivateProvider, *, providers: Mapping[str, ProviderView], now: datetime
) -> list[Event]:
    view = _known(providers, command.provider_id)
    if view.forgotten:
        raise ProviderCommandRejected(f"technician {view.provider_id} was erased: register them again")
    if view.active:
        return []
    return [ProviderActivated(provider_id=view.provider_id, activated_at=now)]


def decide_forget_provider(
    command: ForgetProvider, *, providers: Mapping[str, ProviderView], now: datetime
) -> list[Event]:
    """Whether a job is still in progress is the erasure's question (it may be forced); forgetting twice
    records nothing."""
    view = _known(providers, command.provider_id)
    if view.forgotten:
        return []
    return [ProviderForgotten(provider_id=view.provider_id, leads=command.leads, forgotten_at=now)]
