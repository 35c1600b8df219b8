"""Raw round trips to the stack's Redis and HBase: the floor each definition cache tier is measured against."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import happybase
import redis

from .report import percentile
from .timing import sample_ms

SAMPLES = 2000


@dataclass(frozen=True)
class RoundTrips:
    """p50/p99 in ms of a Redis GET and an HBase row read of a 2 KiB JSON value, measured in this run."""

    redis_get: dict[int, float]
    hbase_row_get: dict[int, float]


def measure() -> RoundTrips:
    """Time a plain Redis GET and a plain HBase row read (no Drift code) on the running stack."""
    value = b'{"spec": "' + b"x" * 2048 + b'"}'
    client = redis.Redis.from_url(os.environ["DRIFT_REDIS_URL"])
    key = f"bench:{uuid.uuid4()}"
    client.set(key, value)
    redis_times = sample_ms(lambda: client.get(key), SAMPLES)
    client.delete(key)

    connection = happybase.Connection(os.environ["DRIFT_HBASE_HOST"], int(os.environ["DRIFT_HBASE_PORT"]))
    table_name = f"bench_{uuid.uuid4().hex[:8]}"
    connection.create_table(table_name, {"d": {"max_versions": 1}})
    table = connection.table(table_name)
    table.put(b"support/refund_7f3a9c21d0b4", {b"d:body": value})
    hbase_times = sample_ms(lambda: table.row(b"support/refund_7f3a9c21d0b4"), SAMPLES // 2)
    connection.delete_table(table_name, disable=True)
    return RoundTrips(
        redis_get={q: percentile(redis_times, q) for q in (50, 99)},
        hbase_row_get={q: percentile(hbase_times, q) for q in (50, 99)},
    )
