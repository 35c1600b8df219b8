"""`make bench`: every benchmark against the running stack; prints a table, writes bench/results.json.

`python -m bench NAME...` (`make bench BENCH="NAME..."`) runs only those benchmarks and keeps the other rows
of bench/results.json (each row's baseline is always measured in the same run as the row).
"""

from __future__ import annotations

import sys

from . import definition_cache, event_delivery, operator_status, parallel_work, scale, triggers, worker_chain
from .report import merged, update_readme, write

BENCHMARKS = {
    "definition_cache": definition_cache.run,
    "worker_chain": worker_chain.run,
    "parallel_work": parallel_work.run,
    "operator_status": operator_status.run,
    "triggers": triggers.run,
    "event_delivery": event_delivery.run,
}
OPT_IN = {"scale": scale.run}
"""Run only when named: `scale` takes about half an hour."""


def main(names: list[str]) -> None:
    known = BENCHMARKS | OPT_IN
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(known)}")
    results = [result for name in names or BENCHMARKS for result in known[name]()]
    results = merged(results) if names else results
    write(results)
    update_readme(results)


if __name__ == "__main__":
    main(sys.argv[1:])
