"""Running the audit over a store: ``run_audit`` (the commands are in ``conectapro.audit_commands``).

The audit engine is pure (``audit.engine``); this module reads the store for it:

* one fixed horizon for the whole run (``pg_snapshot_xmin``): transactions still open when the audit starts
  are not final in the global order and are left for the next audit;
* pages in gap-safe order (keyset on ``(transaction_id, global_position)``), filtered in the database to
  the events the auditor needs: the decided events of the streams it owns, plus every event that changes
  a technician's view (the views need them all), with only the metadata the audit reads;
* ``--all`` splits the streams between ``--jobs`` processes (default: one per CPU, up to 4) by a hash of the
  stream id; each reads its own share in one pass and the reports are merged (re-deciding is CPU-bound);
* every process runs on uvloop, as the services do.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from audit.engine import SENDER_TYPES, Auditor, AuditReport, StoredEvent
from infra import event_loop
from orchestrator.domain.providers import PROVIDER_VIEW_TYPES

PAGE_SIZE = 5000

_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())"

# "Mine" is computed by the database, so that a reader does not even receive events it will not audit
# unless they name a technician. Only customer and provider streams hold decisions: the rest (delivery
# statuses, account errors) are facts from outside, skipped by the database.
# ({a} and {b} are the numbers of the share's parameters in the query at hand.)
_DECIDED = "(stream_id LIKE 'customer-%' OR stream_id LIKE 'provider-%')"
_MINE_ALL = _DECIDED
_MINE_STREAM = "stream_id = ${a}"
_MINE_SHARE = _DECIDED + " AND mod(abs(hashtext(stream_id)::bigint), ${a}) = ${b}"

# The sender's events hold no decision and only advance a stream's version (``audit.engine``): about
# a fifth of a customer stream, left out here.
_DECISIONS = "type NOT IN ({})".format(", ".join(f"'{kind}'" for kind in sorted(SENDER_TYPES)))

# Of the streams a reader does not own, it needs only what changes a technician's view (replies to
# technicians and their messages name one too, and are a third of those rows).
_VIEWS = "type IN ({})".format(", ".join(f"'{kind}'" for kind in sorted(PROVIDER_VIEW_TYPES)))

# The columns are StoredEvent's fields, in order, then "mine": only the metadata the audit reads is
# selected (decoding whole metadata documents was a tenth of the audit's time), as EventMetadata stores it.
_PAGE = f"""
SELECT stream_id, stream_version, type, schema_version, data, transaction_id, global_position,
       coalesce(metadata->>'correlation_id', ''), coalesce(metadata->>'recorded_at', ''),
       metadata->'providers_checkpoint', metadata->'command', {{mine}}
FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint) AND transaction_id < $3::xid8
  AND {_DECISIONS} AND ({{mine}} OR ({_VIEWS} AND data->>'provider_id' IS NOT NULL))
ORDER BY transaction_id, global_position
LIMIT $4
"""

_COUNT = f"""
SELECT count(*) FILTER (WHERE {_DECISIONS} AND {{mine}}), count(*) FROM events WHERE transaction_id < $1::xid8
"""


@dataclass(frozen=True)
class Share:
    """Which streams one reader owns: all, one stream, or share ``index`` of ``of`` (by hash)."""

    stream: str | None = None
    index: int = 0
    of: int = 1

    def mine(self, first_parameter: int) -> str:
        """The SQL condition "this event is mine", its parameters numbered from ``first_parameter``."""
        template = _MINE_STREAM if self.stream is not None else _MINE_SHARE if self.of > 1 else _MINE_ALL
        return template.format(a=first_parameter, b=first_parameter + 1)

    @property
    def args(self) -> tuple[Any, ...]:
        if self.stream is not None:
            return (self.stream,)
        return (self.of, self.index) if self.of > 1 else ()


async def connect(dsn: str, settings: dict[str, str] | None = None) -> asyncpg.Connection[Any]:
    """A connection whose jsonb columns arrive decoded (by orjson), with these server ``settings``."""
    from eventstore import init_connection

    conn = await asyncpg.connect(dsn, server_settings=settings)
    await init_connection(conn)
    return conn


@dataclass(frozen=True)
class Plan:
    horizon: int
    #: Events to audit (the progress bar's total) and events below the horizon in the whole store.
    to_audit: int
    in_store: int


async def _plan(dsn: str, share: Share) -> Plan:
    conn = await connect(dsn)
    try:
        horizon = int(await conn.fetchval(_HORIZON))
        counts = await conn.fetchrow(_COUNT.format(mine=share.mine(2)), horizon, *share.args)
        assert counts is not None  # an aggregate always returns a row
        return Plan(horizon, counts[0], counts[1])
    finally:
        await conn.close()


# A page is the next rows of the global order: a walk of the index on (transaction_id, global_position).
# The planner, misjudging how many rows the filters keep, may instead scan and sort the whole table for
# every page (seen: 130 ms a page instead of 15) or start parallel workers that compete with the audit's
# own processes for the CPUs; the reading connection rules both out.
INDEX_WALK = {"enable_seqscan": "off", "enable_bitmapscan": "off", "max_parallel_workers_per_gather": "0"}


def page_query(share: Share) -> str:
    """The next page of ``share``'s events: ($1, $2) the last position read, $3 the horizon, $4 the size."""
    return _PAGE.format(mine=share.mine(5))


async def audit_share(dsn: str, horizon: int, share: Share, progress: Any = None) -> AuditReport:
    """Audit the streams of ``share``, reading the global order below ``horizon`` once."""
    conn = await connect(dsn, INDEX_WALK)
    mine: set[str] = set()
    auditor = Auditor(owns=mine.__contains__)
    query = page_query(share)
    make = StoredEvent._make

    def page(after: tuple[int, int]) -> asyncio.Task[list[Any]]:
        return asyncio.ensure_future(conn.fetch(query, after[0], after[1], horizon, PAGE_SIZE, *share.args))

    try:
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
    finally:
        await conn.close()
    return auditor.finish()


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The audit allocates many short-lived models and no cycles worth chasing: collect far less often
    (as ``conectapro run`` does for services; about 6 % faster here)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _worker(dsn: str, horizon: int, share: Share, counter: Any, results: Any) -> None:
    def advance(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    try:
        with _few_collections():
            report = event_loop.run(audit_share(dsn, horizon, share, advance))
        results.put(("report", report))
    except BaseException as error:  # reported to the parent, which fails the run
        results.put(("error", f"{type(error).__name__}: {error}"))


def run_audit(
    dsn: str, *, stream: str | None = None, jobs: int = 1, progress: bool = False
) -> tuple[AuditReport, Plan]:
    """Audit one stream or the whole store (split between ``jobs`` processes). Call with no event loop."""
    from tqdm import tqdm

    jobs = 1 if stream is not None else max(1, jobs)
    plan = event_loop.run(_plan(dsn, Share(stream=stream)))
    with tqdm(total=plan.to_audit, unit="ev", unit_scale=True, disable=not progress, desc="audit") as bar:
        if jobs == 1:
            with _few_collections():
                return event_loop.run(audit_share(dsn, plan.horizon, Share(stream=stream), bar.update)), plan
        return _in_processes(dsn, plan.horizon, jobs, bar), plan


def _in_processes(dsn: str, horizon: int, jobs: int, bar: Any) -> AuditReport:
    # fork: the children start with everything imported (spawn would re-import for ~1 s each). Called with
    # no event loop running and no connection open, so a child inherits nothing it could misuse.
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    counters = [context.Value("q", 0) for _ in range(jobs)]
    workers = [
        context.Process(target=_worker, args=(dsn, horizon, Share(index=k, of=jobs), counters[k], results))
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
