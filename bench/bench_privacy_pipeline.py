"""What sealing personal data costs the whole pipeline: the full path (``bench_full_path``'s harness: every
service in its own process, the Graph API stand-in posting statuses back) with sealing off and on, in
alternating rounds of the same run.

Each round starts a fresh stack (its own embedded PostgreSQL and NATS), warms it up and runs the same open
loop; "off" sets ``PRIVACY_SEALING_OFF_FOR_BENCHMARKS`` (personal fields in clear, refused in production),
"on" is the product as deployed. Prints each round, then the medians per mode: CPU milliseconds per customer
message of every process and of the product, webhook → send latency, and the cost of sealing (target ≤ 15 %).
"""

from __future__ import annotations

import statistics

from bench.bench_full_path import (
    GRAPH_LATENCY,
    PHONE_NUMBER_ID,
    PRODUCT,
    SERVICES,
    Phase,
    report,
    services_env,
    warmed_up,
)
from bench.graph_standin import GraphStandIn
from bench.stack import BENCH_SECRET, running
from infra import event_loop
from infra.embedded import free_port

#: Customer messages per second and seconds of each round's open loop (well under saturation, so CPU per
#: message, not queueing, is what the rounds compare).
RATE, SECONDS = 30, 20
ROUNDS = 3
MODES = ("off", "on")


async def one_round(sealing: str) -> Phase:
    port = free_port()
    standin = GraphStandIn(latency=GRAPH_LATENCY, webhook_port=port, app_secret=BENCH_SECRET,
                           phone_number_id=PHONE_NUMBER_ID)  # fmt: skip
    await standin.start()
    env = {**services_env(standin), "PRIVACY_SEALING_OFF_FOR_BENCHMARKS": "true" if sealing == "off" else "false"}
    try:
        with running(SERVICES, env, ingress_port=port) as stack:
            bench = await warmed_up(stack, standin, 32)
            store = bench.store
            phase = await bench.open_loop(RATE, SECONDS)
            phase.label = f"sealing {sealing}: {phase.label}"
            sealed = await store.pool.fetchval("SELECT count(*) FROM events WHERE data ? '$sealed'")
            if (sealed > 0) != (sealing == "on"):
                raise SystemExit(f"sealing {sealing}, yet {sealed} events are sealed: the switch did not apply")
            while not bench.connections.empty():
                bench.connections.get_nowait().close()
            await store.close()
    finally:
        await standin.close()
    return phase


def _ms(phase: Phase, names: list[str]) -> float:
    return sum(phase.cpu[name] for name in names) * 1000 / max(phase.messages, 1)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def _ratio(on: float, off: float) -> str:
    return f"{on / off:5.3f}" if off else "    -"


def summary(rounds: dict[str, list[Phase]]) -> None:
    print(f"\n== medians of {ROUNDS} rounds per mode, {RATE} customer messages/s for {SECONDS} s each")
    rows = [(name, [name]) for name in PRODUCT] + [("product", PRODUCT)]
    for label, names in rows:
        off, on = (statistics.median(_ms(p, names) for p in rounds[mode]) for mode in MODES)
        print(
            f"  {label:<13} CPU ms per customer message: off {off:6.2f} | on {on:6.2f} | "
            f"on/off {_ratio(on, off)}" + ("  (cost of sealing, target ≤ 15 %)" if label == "product" else "")
        )
    for label, p in (("p50", 50), ("p99", 99)):
        off, on = (statistics.median(_percentile(ph.latencies_ms, p) for ph in rounds[mode]) for mode in MODES)
        print(f"  webhook → send {label}: off {off:7.1f} ms | on {on:7.1f} ms | on/off {_ratio(on, off)}")


async def main() -> None:
    rounds: dict[str, list[Phase]] = {mode: [] for mode in MODES}
    for n in range(ROUNDS):
        for mode in MODES if n % 2 == 0 else reversed(MODES):  # off-on, on-off, …: neither always goes first
            phase = await one_round(mode)
            rounds[mode].append(phase)
            report(phase)
    summary(rounds)


if __name__ == "__main__":
    event_loop.run(main())
