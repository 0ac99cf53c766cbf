"""Running the audit over a store: ``run_audit`` (the commands are in ``conectapro.audit_commands``).

The audit engine is pure (``audit.engine``); this module reads the store for it:

* one fixed horizon for the whole run (``pg_snapshot_xmin``): transactions still open when the audit starts
  are not final in the global order and are left for the next audit;
* pages in gap-safe order, filtered in the database to the events the auditor needs (the store's
  ``read_filtered``): the decided events of the streams it owns, plus every event that changes a
  technician's view (the views need them all), with only the metadata the audit reads;
* ``--all`` splits the streams between ``--jobs`` processes (default: one per CPU, up to 4) by a hash of the
  stream id; each reads its own share in one pass and the reports are merged (re-deciding is CPU-bound);
* every process runs on uvloop, as the services do.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
from dataclasses import dataclass
from typing import Any

from audit.engine import SENDER_TYPES, Auditor, AuditReport, StoredEvent
from eventstore import INDEX_WALK, FilteredRow, OrderFilter, PostgresEventStore
from infra import event_loop
from infra.gc_tuning import collecting_less
from orchestrator.domain.providers import PROVIDER_VIEW_TYPES
from privacy.codec import PrivacyCodec
from privacy.keyring import Keyring
from privacy.master_key import MasterKey

PAGE_SIZE = 5000

# "Mine" is decided by the database, so that a reader does not even receive events it will not audit
# unless they name a technician. Only customer and provider streams hold decisions: the rest (delivery
# statuses, account errors) are facts from outside, skipped by the database.
_DECIDED_PREFIXES = ("customer-", "provider-")

# The metadata the audit reads, as EventMetadata stores it: the correlation id and recorded_at (text),
# then the directory checkpoint and the timer command (JSON); decoding whole metadata documents was a
# tenth of the audit's time.
_METADATA_TEXT = ("correlation_id", "recorded_at")
_METADATA_JSON = ("providers_checkpoint", "command")


@dataclass(frozen=True)
class Share:
    """Which streams one reader owns: all, one stream, or share ``index`` of ``of`` (by hash)."""

    stream: str | None = None
    index: int = 0
    of: int = 1

    def filter(self) -> OrderFilter:
        """The events this reader receives: every decision of its own streams (the sender's events hold
        none and only advance a stream's version, see ``audit.engine``) and, of other streams, what changes
        a technician's view (replies to technicians and their messages name one too)."""
        return OrderFilter(
            stream=self.stream,
            prefixes=_DECIDED_PREFIXES if self.stream is None else (),
            share=self.index,
            shares=self.of,
            exclude_types=frozenset(SENDER_TYPES),
            others_types=frozenset(PROVIDER_VIEW_TYPES),
            others_field="provider_id",
            metadata_text=_METADATA_TEXT,
            metadata_json=_METADATA_JSON,
        )


@dataclass(frozen=True)
class Plan:
    horizon: int
    #: Events to audit (the progress bar's total) and events below the horizon in the whole store.
    to_audit: int
    in_store: int


async def _plan(dsn: str, share: Share) -> Plan:
    store = await PostgresEventStore.connect(dsn, min_size=1, max_size=1)
    try:
        horizon = await store.horizon()
        to_audit, in_store = await store.count_filtered(share.filter(), horizon)
        return Plan(horizon, to_audit, in_store)
    finally:
        await store.close()


async def audit_share(
    dsn: str, horizon: int, share: Share, progress: Any = None, master_key: str | None = None
) -> AuditReport:
    """Audit the streams of ``share``, reading the global order below ``horizon`` once. Without
    ``master_key`` personal values read as forgotten: every decision is checked on everything else."""
    # Every page is a walk of the global-order index (see INDEX_WALK); one connection, reused page after page.
    store = await PostgresEventStore.connect(dsn, min_size=1, max_size=1, reset_sessions=False,
                                             server_settings=INDEX_WALK)  # fmt: skip
    store.codec = PrivacyCodec(Keyring(store.pool, None if master_key is None else MasterKey(master_key)))
    try:
        return await audit_reading(store, horizon, share, progress)
    finally:
        await store.close()


async def audit_stream(store: PostgresEventStore, stream_id: str) -> AuditReport:
    """One stream, as ``conectapro audit --stream`` does, on a store the caller owns (the console)."""
    return await audit_reading(store, await store.horizon(), Share(stream=stream_id))


async def audit_reading(store: PostgresEventStore, horizon: int, share: Share, progress: Any = None) -> AuditReport:
    """Audit the streams of ``share`` from ``store``, reading the global order below ``horizon`` once."""
    mine: set[str] = set()
    auditor = Auditor(owns=mine.__contains__)
    query = share.filter()
    make = StoredEvent._make

    def page(after: tuple[int, int]) -> asyncio.Future[list[FilteredRow]]:
        return asyncio.ensure_future(store.read_filtered(query, after, horizon, PAGE_SIZE))

    next_page = page((0, 0))
    while rows := await next_page:
        # The database prepares the next page while this one is audited.
        next_page = page((rows[-1][5], rows[-1][6]))
        await asyncio.sleep(0)  # let the query go out before the CPU-bound part
        owned = 0
        for row in rows:
            if row[11]:
                mine.add(row[0])
                owned += 1
        auditor.feed([make(row[:11]) for row in rows])
        if progress is not None:
            progress(owned)
    await next_page
    return auditor.finish()


def _worker(dsn: str, horizon: int, share: Share, counter: Any, results: Any, master_key: str | None) -> None:
    def advance(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    try:
        with collecting_less():
            report = event_loop.run(audit_share(dsn, horizon, share, advance, master_key))
        results.put(("report", report))
    except BaseException as error:  # reported to the parent, which fails the run
        results.put(("error", f"{type(error).__name__}: {error}"))


def run_audit(
    dsn: str, *, stream: str | None = None, jobs: int = 1, progress: bool = False, master_key: str | None = None
) -> tuple[AuditReport, Plan]:
    """Audit one stream or the whole store (split between ``jobs`` processes). Call with no event loop."""
    from tqdm import tqdm

    jobs = 1 if stream is not None else max(1, jobs)
    plan = event_loop.run(_plan(dsn, Share(stream=stream)))
    with tqdm(total=plan.to_audit, unit="ev", unit_scale=True, disable=not progress, desc="audit") as bar:
        if jobs == 1:
            with collecting_less():
                report = audit_share(dsn, plan.horizon, Share(stream=stream), bar.update, master_key)
                return event_loop.run(report), plan
        return _in_processes(dsn, plan.horizon, jobs, bar, master_key), plan


def _in_processes(dsn: str, horizon: int, jobs: int, bar: Any, master_key: str | None) -> AuditReport:
    # fork: the children start with everything imported (spawn would re-import for ~1 s each). Called with
    # no event loop running and no connection open, so a child inherits nothing it could misuse.
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    counters = [context.Value("q", 0) for _ in range(jobs)]
    workers = [
        context.Process(target=_worker, args=(dsn, horizon, Share(index=k, of=jobs), counters[k], results, master_key))
        for k in range(jobs)
    ]
    for worker in workers:
        worker.start()
    merged, errors, received, shown = AuditReport(), [], 0, 0
    try:
        while received < jobs:
            try:
                kind, payload = results.get(timeout=0.2)
            except queue.Empty:
                if not any(worker.is_alive() for worker in workers):
                    errors.append("a worker died without a report")
                    break
            else:
                received += 1
                if kind == "error":
                    errors.append(payload)
                else:
                    merged = merged.merge(payload)
            done = sum(counter.value for counter in counters)
            bar.update(done - shown)
            shown = done
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
    if errors:
        raise RuntimeError("audit failed: " + "; ".join(errors))
    return merged
