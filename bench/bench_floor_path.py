"""The floor of the full path: the least any design with DESIGN.md's mandated parts costs, beside ours.

A minimal pipeline keeps only what the rules make mandatory, and runs under the full-path bench's own
load, phases, Graph API stand-in and CPU meter (``bench.bench_full_path``'s code, imported):

- a webhook process (``bench.publish_floor_server``, uvicorn + uvloop like ours): checks the signature,
  publishes the body to a JetStream stream on file storage with ``Nats-Msg-Id``, answers 200 after the ack
  (the embedded nats-server runs JetStream with ``sync_interval: always``, as every server we start);
- a worker process (``bench.floor_worker``): per webhook, an inbox row and one event row in one PostgreSQL
  transaction (synchronous_commit on), the ack after the commit; for a customer message, the reply sent to
  the stand-in (which posts the sent / delivered / read statuses back to the webhook) and its outcome
  recorded in one more transaction.

So four webhooks per customer message cross HTTP, JetStream and PostgreSQL once each, and one send goes
out: no decision, read model, timer, personal-data sealing, log or metric. What the product spends above
that is ours to cut; what the floor spends no design with these parts can avoid on this machine.

The figures of the two are compared in one process, one after the other (the VM is shared and noisy:
ratios are only meaningful within one run): the floor's phases, then the full path's
(``bench_full_path.full_path``, unchanged), then the product / floor ratio of each phase. ``make bench``
runs this module in place of ``bench.bench_full_path``, so the full path is measured once.
``--floor-only`` runs the floor alone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import nats

from bench.bench_full_path import (
    PHONE_NUMBER_ID,
    PRODUCT,
    SERVICES,
    Bench,
    Phase,
    cpu_ms,
    full_path,
    new_standin,
    print_targets,
    run_phases,
    store_for,
    warm_up,
)
from bench.cpu import children, command_name
from bench.floor_worker import CONSUMER, prepare
from bench.graph_standin import GraphStandIn
from bench.publish_floor_server import STREAM
from bench.stack import BENCH_SECRET, RunningStack
from eventstore import PostgresEventStore
from infra import event_loop
from infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from projections.lag import Lag

FLOOR = ["webhook", "worker", "nats-server", "postgres"]
START_TIMEOUT = 60.0


class FloorBench(Bench):
    """The full path's bench on the floor: no read models; done when the worker has taken every webhook
    and recorded every send's outcome."""

    processes = FLOOR

    def __init__(
        self, stack: RunningStack, standin: GraphStandIn, store: PostgresEventStore, js: nats.js.JetStreamContext
    ) -> None:
        super().__init__(stack, standin, store)
        self.js = js

    async def lags(self) -> list[Lag]:
        return []

    async def sample_lag(self, phase: Phase, stop: asyncio.Event) -> None:
        return  # nothing to sample: the floor has no read models

    async def caught_up(self) -> bool:
        consumer = await self.js.consumer_info(STREAM, CONSUMER)
        if consumer.num_pending or consumer.num_ack_pending:
            return False
        self.own_transactions += 1
        async with self.store.pool.acquire() as conn:
            recorded = await conn.fetchval("SELECT count(*) FROM floor_events WHERE type = 'ReplySent'")
        return int(recorded) >= self.standin.sends.total


def _spawn(module: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as output:
        return subprocess.Popen([sys.executable, "-m", module, *args], stdout=output, stderr=output)


async def _until(
    ready: Callable[[], Awaitable[bool]], what: str, processes: list[subprocess.Popen[bytes]], log: Path
) -> None:
    """Polls the coroutine function ``ready`` until it says yes; fails early if a process ended."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while not await ready():
        if any(process.poll() is not None for process in processes):
            raise RuntimeError(f"{what}: a floor process exited:\n{log.read_text()[-3000:]}")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"{what} within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.1)


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@asynccontextmanager
async def floor_stack(standin: GraphStandIn, webhook_port: int) -> AsyncIterator[FloorBench]:
    """PostgreSQL and nats-server (embedded, as the full path's), the webhook and the worker, ready."""
    data_dir = Path(tempfile.mkdtemp(prefix="conectapro-floor-"))
    log = data_dir / "floor.log"
    postgres, nats_server = EmbeddedPostgres(data_dir / "postgres"), EmbeddedNats(data_dir / "nats")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url, nats_url = postgres.start(), nats_server.start()
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        database = await asyncpg.connect(database_url)
        try:
            await prepare(js, database)
        finally:
            await database.close()
        processes.append(_spawn("bench.publish_floor_server", str(webhook_port), nats_url, BENCH_SECRET, log=log))
        processes.append(
            _spawn("bench.floor_worker", nats_url, database_url, str(standin.port), PHONE_NUMBER_ID, log=log)
        )
        await _until(lambda: _listening(webhook_port), "the webhook did not listen", processes, log)

        async def worker_waits() -> bool:
            return bool((await js.consumer_info(STREAM, CONSUMER)).num_waiting)

        await _until(worker_waits, "the worker did not pull", processes, log)
        servers = {command_name(pid).split("-")[0]: pid for pid in children(os.getpid())}
        pids = {
            "webhook": [processes[0].pid],
            "worker": [processes[1].pid],
            "nats-server": [servers["nats"]],
            "postgres": [servers["postgres"]],
        }
        stack = RunningStack(data_dir, webhook_port, database_url, nats_url, log, pids)
        bench = FloorBench(stack, standin, await store_for(stack), js)
        try:
            yield bench
        finally:
            await nc.close()
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        nats_server.stop()
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def floor_path() -> list[Phase]:
    """Every phase of the floor, reported as it goes."""
    port = free_port()
    standin = new_standin(port)
    await standin.start()
    try:
        async with floor_stack(standin, port) as bench:
            await warm_up(bench, 64)
            return await run_phases(bench, "floor")
    finally:
        await standin.close()


def compare(product: list[Phase], floor: list[Phase]) -> None:
    print("\n== product / floor, CPU ms per customer message, same run ==")
    for label, ours_phase, floor_phase in zip(("15/s", "60/s", "saturation"), product, floor, strict=True):
        whole = cpu_ms(ours_phase, PRODUCT), cpu_ms(floor_phase, FLOOR)
        python = cpu_ms(ours_phase, SERVICES), cpu_ms(floor_phase, ["webhook", "worker"])
        parts = [
            f"in all {whole[0]:.2f} / {whole[1]:.2f} = {whole[0] / whole[1]:.1f}x",
            f"our processes / webhook + worker {python[0]:.2f} / {python[1]:.2f} = {python[0] / python[1]:.1f}x",
        ]
        for server in ("postgres", "nats-server"):
            pair = cpu_ms(ours_phase, [server]), cpu_ms(floor_phase, [server])
            parts.append(f"{server} {pair[0]:.2f} / {pair[1]:.2f} = {pair[0] / pair[1]:.1f}x")
        print(f"  {label}: " + "; ".join(parts))
    sent = [len(phase.latencies_ms) / phase.seconds for phase in (product[-1], floor[-1])]
    # The statuses of the last replies are still coming in when the load stops: counting the time until all
    # are processed gives the rate the whole path sustains, statuses included.
    sustained = [phase.messages / (phase.seconds + phase.caught_up_after) for phase in (product[-1], floor[-1])]
    print(
        f"  saturation, webhook → send messages/s: product {sent[0]:.1f}, floor {sent[1]:.1f}; sustained with "
        f"every status processed: product {sustained[0]:.1f}, floor {sustained[1]:.1f}"
    )


async def main(floor_only: bool) -> None:
    print("== the floor: webhook (signature, JetStream publish) + worker (inbox + event, send, outcome) ==")
    floor = await floor_path()
    if floor_only:
        return
    print("\n== the product (bench.bench_full_path) ==")
    product = await full_path()
    print_targets()
    compare(product, floor)


if __name__ == "__main__":
    event_loop.run(main("--floor-only" in sys.argv[1:]))
