"""`make bench`: every benchmark in turn, each in its own process (one does not warm the next)."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "bench.bench_eventstore",
    "bench.bench_privacy",
    "bench.bench_ingress",
    "bench.bench_pipeline",
    "bench.bench_floor_path",  # the floor, then the full path (bench_full_path) in the same process
    "bench.bench_privacy_pipeline",
    "bench.bench_sender",
    "bench.bench_projections",
    "bench.bench_audit",
    "bench.bench_llm",
    "bench.bench_llm_pipeline",
]


def main() -> int:
    failed = []
    for module in sys.argv[1:] or BENCHMARKS:
        print(f"\n### {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
