"""Ingress benchmark: signed webhooks over real HTTP against `conectapro run ingress`.

Prints requests/s and p50/p99 at full speed, p50/p99 at a fixed 500 requests/s, and — in the same run,
against the same JetStream server (sync_interval: always) — raw nats-py publishes with ack, and ratios.
Then the same peak load against 1 and 2 ingress workers (``INGRESS_WORKERS``), one after the other;
``python -m bench.bench_ingress workers`` runs that comparison alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import nats
import orjson

from bench.cpu import cpu_seconds, per_request_line
from bench.http_load import LoadResult, closed_loop, open_loop, prepare_post
from bench.stack import BENCH_SECRET, running
from infra import event_loop
from infra.embedded import free_port
from ingress.signature import sign
from tests.whatsapp_builders import text_message

TOTAL = 6000
CONCURRENCY = 64
FIXED_RATE = 500
FIXED_SECONDS = 6


def _requests(port: int, count: int, tag: str) -> list:  # type: ignore[type-arg]
    prepared = []
    for n in range(count):
        body = orjson.dumps(
            text_message(
                f"wamid.{tag}.{n}.{uuid.uuid4().hex}",
                f"5699{n % 1000:07d}",
                "se me cortó la luz en Ñuñoa",
                timestamp=int(time.time()),  # as Meta sends them: just now
            )
        )
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, BENCH_SECRET)}
        prepared.append(prepare_post("127.0.0.1", port, "/webhook", body, headers))
    return prepared


async def _raw_publish(nats_url: str, count: int) -> tuple[float, float]:
    """Sequential publish+ack and 256-in-flight publish rates, on a stream of the same server."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name="BENCHRAW", subjects=["benchraw.>"])
    body = orjson.dumps(text_message("wamid.raw", "56900000000", "se me cortó la luz en Ñuñoa"))
    started = time.perf_counter()
    for n in range(count // 3):
        await js.publish("benchraw.a", body, headers={"Nats-Msg-Id": f"s{n}"})
    sequential = (count // 3) / (time.perf_counter() - started)
    started = time.perf_counter()
    in_flight: list[asyncio.Future[object]] = []
    for n in range(count):
        in_flight.append(await js.publish_async("benchraw.b", body, headers={"Nats-Msg-Id": f"p{n}"}))  # type: ignore[arg-type]
        if len(in_flight) >= 256:
            await asyncio.gather(*in_flight)
            in_flight.clear()
    await asyncio.gather(*in_flight)
    pipelined = count / (time.perf_counter() - started)
    await js.delete_stream("BENCHRAW")
    await nc.close()
    return sequential, pipelined


async def _publish_floor(nats_url: str) -> tuple[LoadResult, float]:
    """The same load against ``bench.publish_floor_server``: what HTTP plus one JetStream publish cost alone."""
    port = free_port()
    command = [sys.executable, "-m", "bench.publish_floor_server", str(port), nats_url]
    server = await asyncio.create_subprocess_exec(*command)
    try:
        await _wait_for_port(port)
        await closed_loop("127.0.0.1", port, _requests(port, 500, "floorwarm"), CONCURRENCY)
        prepared = _requests(port, TOTAL, "floor")
        started = cpu_seconds(server.pid)
        result = await closed_loop("127.0.0.1", port, prepared, CONCURRENCY)
        return result, cpu_seconds(server.pid) - started
    finally:
        server.terminate()
        await server.wait()


async def _wait_for_port(port: int) -> None:
    for _ in range(150):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError(f"the floor server did not listen on {port}")


async def main() -> None:
    with running(["ingress"]) as stack:
        port = stack.ingress_port
        await closed_loop("127.0.0.1", port, _requests(port, 500, "warm"), CONCURRENCY)
        prepared = _requests(port, TOTAL, "peak")
        meter = stack.cpu_meter(["ingress", "nats-server"], include_this_process=True)
        peak = await closed_loop("127.0.0.1", port, prepared, CONCURRENCY)
        peak_cpu = meter.since()
        fixed = await open_loop("127.0.0.1", port, _requests(port, FIXED_RATE * FIXED_SECONDS, "fixed"), FIXED_RATE)
        sequential, pipelined = await _raw_publish(stack.nats_url, TOTAL)
        floor, floor_cpu = await _publish_floor(stack.nats_url)
    print("== ingress (1 worker, JetStream sync_interval: always) ==")
    print(
        f"peak: {peak.rate:8.0f} requests/s  p50 {peak.p50:6.1f} ms  p99 {peak.percentile(99):6.1f} ms"
        f"  ({TOTAL} requests, {CONCURRENCY} connections, statuses {peak.statuses})"
    )
    print(f"  {per_request_line(peak_cpu, TOTAL)} (1,000 / ingress ms = what one core sustains)")
    print(
        f"at {FIXED_RATE}/s: achieved {fixed.rate:6.0f}/s  p50 {fixed.p50:6.1f} ms  p99 {fixed.percentile(99):6.1f} ms"
        f"  statuses {fixed.statuses}"
    )
    print(f"raw nats-py JetStream publish+ack: sequential {sequential:8.0f}/s, 256 in flight {pipelined:8.0f}/s")
    print(
        f"floor, an HTTP app that only publishes each body and waits for the ack: {floor.rate:6.0f} requests/s,"
        f" {floor_cpu * 1000 / TOTAL:4.2f} ms CPU per request (ingress peak / floor: {peak.rate / floor.rate:4.2f})"
    )
    print(
        f"ratio ingress peak / raw sequential publish: {peak.rate / sequential:5.2f};"
        f" / raw pipelined publish: {peak.rate / pipelined:5.2f}"
    )
    print("targets: >= 2,000 requests/s; p99 < 50 ms at 500 requests/s")


async def _peak_with_workers(workers: int) -> tuple[LoadResult, dict[str, float]]:
    with running(["ingress"], extra_env={"INGRESS_WORKERS": str(workers)}) as stack:
        port = stack.ingress_port
        await closed_loop("127.0.0.1", port, _requests(port, 500, f"w{workers}warm"), CONCURRENCY)
        prepared = _requests(port, TOTAL, f"w{workers}peak")
        meter = stack.cpu_meter(["ingress", "nats-server"], include_this_process=True)
        peak = await closed_loop("127.0.0.1", port, prepared, CONCURRENCY)
        return peak, meter.since()


async def compare_workers() -> None:
    """The same peak load against one ingress process, then two sharing the port."""
    results = {workers: await _peak_with_workers(workers) for workers in (1, 2)}
    print("== ingress workers (INGRESS_WORKERS, same run, same load) ==")
    for workers, (peak, cpu) in results.items():
        print(
            f"{workers} worker{'s' if workers > 1 else ' '}: {peak.rate:8.0f} requests/s  p50 {peak.p50:6.1f} ms"
            f"  p99 {peak.percentile(99):6.1f} ms  statuses {peak.statuses}"
        )
        print(f"  {per_request_line(cpu, TOTAL)}")
    one, two = results[1][0], results[2][0]
    print(f"2 workers / 1 worker: {two.rate / one.rate:4.2f}x ({os.cpu_count()} cores for load generator,"
          " ingress, nats-server)")


async def main_with_workers() -> None:
    await main()
    await compare_workers()


if __name__ == "__main__":
    event_loop.run(compare_workers() if sys.argv[1:] == ["workers"] else main_with_workers())
