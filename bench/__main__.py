"""`make bench`: every benchmark against the running stack; prints a table, writes bench/results.json.

`python -m bench NAME...` (`make bench BENCH="NAME..."`) runs only those benchmarks and keeps the other rows
of bench/results.json (each row's baseline is always measured in the same run as the row).
"""

from __future__ import annotations

import sys

from . import definition_cache, event_delivery, operator_status, parallel_work, triggers, worker_chain
from .report import merged, update_readme, write

BENCHMARKS = {
    "definition_cache": definition_cache.run,
    "worker_chain": worker_chain.run,
    "parallel_work": parallel_work.run,
    "operator_status": operator_status.run,
    "triggers": triggers.run,
    "event_delivery": event_delivery.run,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")
    results = [result for name in names or BENCHMARKS for result in BENCHMARKS[name]()]
    results = merged(results) if names else results
    write(results)
    update_readme(results)


if __name__ == "__main__":
    main(sys.argv[1:])
