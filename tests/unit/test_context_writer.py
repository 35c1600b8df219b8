"""A run's context writes, coalesced per run (drift_worker.context_writer)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from drift_worker.context_writer import ContextWriter


class Store:
    """Records each put; a put waits until `release` is set; the first `failures` puts fail."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, int]] = []
        self.ends: dict[int, datetime] = {}
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.failures = 0

    async def put_context(
        self, workflow_id: str, body: bytes, sequence: int, finished_at: datetime | None = None
    ) -> None:
        assert body == f"context {sequence}".encode()
        self.puts.append((workflow_id, sequence))
        if finished_at is not None:
            self.ends[sequence] = finished_at
        self.started.set()
        await self.release.wait()
        if len(self.puts) <= self.failures:
            raise ConnectionError("HBase went away")


def _write(
    writer: ContextWriter, sequence: int, run: str = "ns/run/uid", finished_at: datetime | None = None
) -> asyncio.Task[None]:
    return asyncio.create_task(writer.write(run, f"context {sequence}".encode(), sequence, finished_at))


async def test_writes_handed_in_while_one_is_in_flight_go_out_as_the_newest():
    store = Store()
    writer = ContextWriter(store)
    first = _write(writer, 1)
    await store.started.wait()  # the first is in flight
    later = [_write(writer, sequence) for sequence in range(2, 12)]
    store.release.set()
    await asyncio.gather(first, *later)
    assert store.puts == [("ns/run/uid", 1), ("ns/run/uid", 11)]


async def test_runs_are_written_independently():
    store = Store()
    store.release.set()
    writer = ContextWriter(store)
    await asyncio.gather(_write(writer, 1, "ns/a/1"), _write(writer, 1, "ns/b/2"), _write(writer, 2, "ns/a/1"))
    assert sorted(store.puts) == [("ns/a/1", 1), ("ns/a/1", 2), ("ns/b/2", 1)]


async def test_an_older_context_is_not_written_after_a_newer_one():
    store = Store()
    writer = ContextWriter(store)
    first = _write(writer, 5)
    await store.started.wait()
    late = _write(writer, 3)  # a retried persist of an earlier node, behind the newer write
    store.release.set()
    await asyncio.gather(first, late)
    assert store.puts == [("ns/run/uid", 5)]


async def test_a_failed_write_raises_and_its_context_stays_queued_for_the_next_caller():
    store = Store()
    store.failures = 2
    writer = ContextWriter(store)
    first = _write(writer, 1)
    await store.started.wait()
    second, third = _write(writer, 2), _write(writer, 3)  # both wait behind the first; the second takes 3
    store.release.set()
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    assert [type(result) for result in results] == [ConnectionError, ConnectionError, type(None)]
    assert store.puts == [("ns/run/uid", 1), ("ns/run/uid", 3), ("ns/run/uid", 3)]


async def test_the_runs_end_goes_out_with_its_last_context_also_when_coalesced():
    store = Store()
    writer = ContextWriter(store)
    first = _write(writer, 1)
    await store.started.wait()
    ended = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    later = [_write(writer, 2), _write(writer, 3, finished_at=ended)]
    store.release.set()
    await asyncio.gather(first, *later)
    assert (store.puts, store.ends) == ([("ns/run/uid", 1), ("ns/run/uid", 3)], {3: ended})
