"""`make chaos`: for each fault in turn, a batch of runs in flight, the service killed with SIGKILL and
restarted, then every run checked; prints the table, writes it into the README, exits 1 if a check failed.

`python -m chaos [FAULT...]` (`make chaos FAULTS="..."`) runs only those faults (the README is then left alone);
CHAOS_RUNS sets the batch size (default 200).
"""

from __future__ import annotations

import logging
import os
import sys

from kubernetes import config

from .counter import CountingServer
from .report import publish, table
from .scenario import run_fault

FAULTS = (
    "drift-worker",
    "drift-operator",
    "redis",
    "hbase-thrift",
    "hbase-master",
    "temporal",
    "postgres",
    "kube-apiserver",
)
"""Stack services, killed in this order."""


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        sys.exit(f"unknown fault {', '.join(unknown)}: choose from {', '.join(FAULTS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # retries while the API server is down
    config.load_kube_config()
    count = int(os.environ.get("CHAOS_RUNS", "200"))
    with CountingServer() as server:
        outcomes = [run_fault(fault, count, server) for fault in names or FAULTS]
    if names or count != 200:
        print(table(outcomes))
    else:
        publish(table(outcomes), "make chaos")
    return 1 if any(o.verdict.failures for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
