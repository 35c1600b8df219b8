"""`make bench`: every benchmark against the running stack; prints a table, writes bench/results.json."""

from __future__ import annotations

from . import definition_cache, operator_status, parallel_work, worker_chain
from .report import update_readme, write

BENCHMARKS = [definition_cache.run, worker_chain.run, parallel_work.run, operator_status.run]


def main() -> None:
    results = [result for benchmark in BENCHMARKS for result in benchmark()]
    write(results)
    update_readme(results)


if __name__ == "__main__":
    main()
