"""A person's rights as operators exercise them (JSON API and console): export and erasure through the same
functions as ``conectapro privacy`` (``conectapro.data_export``, ``conectapro.erasure``), asked by an admin
whose name is recorded on the request's event."""

from __future__ import annotations

import nats.errors

from conectapro.data_export import Export, export
from conectapro.erasure import Erasure, forget
from contracts.operator_events import OperatorRole
from privacy.setup import Privacy, privacy_of
from projections.operator_api.deps import ApiState
from projections.operator_api.operator_account_store import OperatorAccountStore


class PrivacyUnavailable(RuntimeError):
    """This API cannot act on personal data now: no keys configured, or NATS out of reach."""


class NotAnAdmin(PermissionError):
    """The operator named may not act on personal data (only admins may)."""


async def admin_named(state: ApiState, name: str) -> str | None:
    """``name`` if an active admin has it; None when no account has it; :class:`NotAnAdmin` otherwise."""
    account = await OperatorAccountStore(state.store, clock=state.clock).get(name)
    if account is None:
        return None
    if not account.may(OperatorRole.ADMIN):
        raise NotAnAdmin(f"operator {name} may not act on personal data (admins only; or the account is disabled)")
    return name


def _privacy(state: ApiState) -> Privacy:
    privacy = privacy_of(state.store)
    if privacy is None:
        raise PrivacyUnavailable("this API was started without the personal-data keys (PRIVACY_MASTER_KEY)")
    return privacy


async def export_for(state: ApiState, phone: str, *, by: str) -> Export:
    return await export(state.store, _privacy(state), phone, requested_by=by, now=state.clock)


async def forget_for(state: ApiState, phone: str, *, by: str, force: bool) -> Erasure:
    """Erasure including the person's JetStream messages: refused (unavailable) when NATS is out of reach,
    rather than forgetting the key and leaving raw webhooks behind."""
    privacy = _privacy(state)
    if state.jetstream is None:
        raise PrivacyUnavailable("this API has no NATS connection: the person's JetStream messages cannot be erased")
    try:
        js = await state.jetstream()
        return await forget(state.store, privacy, js, phone, requested_by=by, force=force, now=state.clock,
                            directory=state.directory)  # fmt: skip
    except (nats.errors.Error, OSError, TimeoutError) as error:
        raise PrivacyUnavailable(f"NATS is out of reach ({type(error).__name__}); nothing was forgotten") from error
