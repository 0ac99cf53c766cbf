"""Wiring: the master key from the settings, and a store that seals personal fields with it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

import structlog
from nats.aio.client import Client as NATS

from eventstore import PostgresEventStore
from infra.runtime import event_store
from infra.settings import Settings, local_secret
from privacy.codec import PrivacyCodec
from privacy.erasure_signal import ErasureSignal, hear_along_followers
from privacy.keyring import Keyring
from privacy.master_key import MasterKey
from privacy.people import People
from privacy.wamids import WamidPseudonyms

log = structlog.get_logger("privacy")

#: The ``sql`` directory of the privacy package's own migrations (the people table).
PRIVACY_SQL_DIR = Path(__file__).parent / "sql"


def master_secret(settings: Settings) -> str:
    """``PRIVACY_MASTER_KEY``, or in local mode one generated once into the data folder (production
    settings refuse to load without it)."""
    given = settings.privacy_master_key
    if given is not None and given.get_secret_value().strip():
        return given.get_secret_value()
    if settings.is_production:
        raise RuntimeError("PRIVACY_MASTER_KEY is required in production")
    return local_secret(settings.conectapro_data_dir.resolve(), "privacy_master_key")


@dataclass(frozen=True)
class Privacy:
    """What a process needs to read and write personal data: the people and their keys."""

    master: MasterKey
    keyring: Keyring
    people: People
    codec: PrivacyCodec
    #: Meta's wamids without the phone they carry (``privacy.wamids``).
    wamids: WamidPseudonyms
    #: Erasures heard from every process: while live, people and keys are kept between messages.
    signal: ErasureSignal


_PROTECTED: WeakKeyDictionary[PostgresEventStore, Privacy] = WeakKeyDictionary()
_LISTENING: WeakSet[Privacy] = WeakSet()


def protect(store: PostgresEventStore, settings: Settings) -> Privacy:
    """Seal personal fields in ``store`` from now on (idempotent: a protected store keeps its codec)."""
    existing = _PROTECTED.get(store)
    if existing is not None:
        return existing
    master = MasterKey(master_secret(settings))
    signal = ErasureSignal()
    keyring = Keyring(store.pool, master, signal)
    people = People(store.pool, master, keyring, signal=signal)
    privacy = Privacy(master, keyring, people, PrivacyCodec(keyring), WamidPseudonyms(master.wamid_key), signal)
    if settings.privacy_sealing_off_for_benchmarks:
        # Everything else stays (random person keys, the keyed phone lookup): only the encryption is off.
        log.warning("privacy_sealing_off", reason="PRIVACY_SEALING_OFF_FOR_BENCHMARKS: personal data in clear")
    else:
        store.codec = privacy.codec
    _PROTECTED[store] = privacy
    return privacy


def privacy_of(store: object) -> Privacy | None:
    """The privacy wiring of a store :func:`protect` was given, if any."""
    return _PROTECTED.get(store) if isinstance(store, PostgresEventStore) else None


async def service_store(
    stack: AsyncExitStack, settings: Settings, given: PostgresEventStore | None, *, nats: NATS | None = None,
    **pool: Any,
) -> PostgresEventStore:
    """A service's store (``infra.runtime.event_store``; with ``nats`` its followers are woken over NATS),
    sealing personal fields: every service reads or writes some. The service hears erasures while ``stack``
    is open (on the LISTEN connection its store keeps), so it keeps people and keys in memory between
    messages."""
    store = await event_store(stack, settings, given, nats=nats, **pool)
    hear_erasures(stack, store, protect(store, settings))
    return store


def hear_erasures(stack: AsyncExitStack, store: PostgresEventStore, privacy: Privacy) -> None:
    """Hear erasures until ``stack`` closes (nothing more if the store's privacy already does)."""
    if privacy in _LISTENING:
        return
    _LISTENING.add(privacy)
    stop_hearing = hear_along_followers(store.pool, privacy.signal)

    def stop() -> None:
        _LISTENING.discard(privacy)
        stop_hearing()

    stack.callback(stop)
