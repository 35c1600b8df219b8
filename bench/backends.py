"""Raw round trips to the stack's Redis and HBase: the floor every cache tier is measured against."""

from __future__ import annotations

import os
import uuid

import happybase
import redis

from .report import Result, percentile
from .timing import sample_ms

PREDECESSOR_REDIS_HIT_MS = 5.0
"""The predecessor design's figure for a definition read from Redis (seeds: Drift HLD, caching)."""
SAMPLES = 2000


def run() -> list[Result]:
    """p50/p99 of a Redis GET and an HBase row read of a 2 KiB JSON value."""
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

    baseline = "predecessor Redis hit (design doc)"
    return [
        Result("redis_get_p50", percentile(redis_times, 50), "ms", baseline, PREDECESSOR_REDIS_HIT_MS),
        Result("redis_get_p99", percentile(redis_times, 99), "ms", baseline, PREDECESSOR_REDIS_HIT_MS),
        Result("hbase_row_get_p50", percentile(hbase_times, 50), "ms", baseline, PREDECESSOR_REDIS_HIT_MS),
        Result("hbase_row_get_p99", percentile(hbase_times, 99), "ms", baseline, PREDECESSOR_REDIS_HIT_MS),
    ]
