"""HBase through its Thrift gateway (happybase): a small connection pool, retries, calls off the event loop.

Tables (names prefixed per installation, one column family `d`):

| table | row key | column |
|---|---|---|
| `WorkflowHB` | `{namespace}/{name}_{version}` | `d:workflowData` (write-once) |
| `NodeHB` | `{namespace}/{name}_{version}` | `d:nodeData` (write-once) |
| `LatestHB` | `{kind}/{namespace}/{name}` | `d:version` (the latest pointer) |
| `WorkflowContextHB` | `{workflowExecutionId}` | `d:context` (cell timestamp = node sequence), `d:finishedAt` |
| | | `d:value/{key}/{sequence}`: context values too large to travel inline (write-once) |

`d:finishedAt` (RFC 3339, written by the operator when the run ends) is what context retention goes by: a
column family TTL cannot do it, as the context cells' timestamps are node sequences, not times.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import happybase
from thriftpy2.transport import TTransportException

from ..errors import BackendUnavailable, VersionConflict

log = logging.getLogger(__name__)
T = TypeVar("T")

FAMILY = "d"
TABLES = ("WorkflowHB", "NodeHB", "LatestHB", "WorkflowContextHB", "EventWaitHB", "EventInboxHB")
EXPIRING = {"EventInboxHB": "event_inbox_seconds"}
"""Tables whose cells HBase drops after a time (the HBaseSettings field giving it)."""
DATA_COLUMNS = {"workflow": b"d:workflowData", "node": b"d:nodeData"}
DATA_TABLES = {"workflow": "WorkflowHB", "node": "NodeHB"}
VERSION_COLUMN = b"d:version"
CONTEXT_COLUMN = b"d:context"
FINISHED_COLUMN = b"d:finishedAt"
DDL_TIMEOUT_SECONDS = 60.0
TRANSIENT = (TTransportException, OSError, EOFError)
"""Connection-level failures: the connection is dropped and the call retried."""


@dataclass(frozen=True)
class HBaseSettings:
    """Where HBase's Thrift gateway is and how hard to try."""

    host: str = "127.0.0.1"
    port: int = 9090
    table_prefix: str = "drift_"
    """Prepended to every table name, so installations can share an HBase."""
    pool_size: int = 8
    """Connections (and threads running blocking calls)."""
    timeout_seconds: float = 5.0
    """Socket timeout of one Thrift call."""
    attempts: int = 4
    """Tries per call on connection loss, with backoff 0.1 s, 0.2 s, 0.4 s between them."""
    event_inbox_seconds: int = 86_400
    """How long an event nobody waits for yet stays in EventInboxHB (the column family's TTL)."""


class HBaseStore:
    """Async access to Drift's HBase tables; every blocking happybase call runs on the store's threads."""

    def __init__(self, settings: HBaseSettings) -> None:
        self.settings = settings
        self._idle: queue.LifoQueue[happybase.Connection] = queue.LifoQueue()
        for _ in range(settings.pool_size):
            self._idle.put(self._new_connection())
        self._executor = ThreadPoolExecutor(settings.pool_size, thread_name_prefix="hbase")

    def _new_connection(self) -> happybase.Connection:
        return happybase.Connection(
            self.settings.host, self.settings.port, timeout=int(self.settings.timeout_seconds * 1000), autoconnect=False
        )

    def table_name(self, table: str) -> str:
        return f"{self.settings.table_prefix}{table}"

    @contextmanager
    def _connection(self) -> Iterator[happybase.Connection]:
        connection = self._idle.get()
        try:
            if not connection.transport.is_open():
                connection.open()
            yield connection
        except TRANSIENT:
            connection.close()
            connection = self._new_connection()
            raise
        finally:
            self._idle.put(connection)

    def _call(self, operation: Callable[[happybase.Connection], T]) -> T:
        """Run `operation` with a pooled connection, retrying with backoff when the connection is lost."""
        for attempt in range(self.settings.attempts):
            try:
                with self._connection() as connection:
                    return operation(connection)
            except TRANSIENT as exc:
                if attempt == self.settings.attempts - 1:
                    raise BackendUnavailable("HBase", f"{type(exc).__name__}: {exc}") from None
                log.info("HBase call failed (%s), retrying", exc)
                time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    async def _run(self, operation: Callable[[happybase.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, operation)

    async def ensure_tables(self) -> None:
        """Create the missing tables (idempotent, safe when several processes start at once).

        Uses a connection of its own with a long timeout: creating a table on a fresh HBase takes seconds.
        """

        def create() -> None:
            connection = happybase.Connection(
                self.settings.host, self.settings.port, timeout=int(DDL_TIMEOUT_SECONDS * 1000)
            )
            try:
                existing = {name.decode() for name in connection.tables()}
                for table in TABLES:
                    name = self.table_name(table)
                    if name in existing:
                        continue
                    family: dict[str, int] = {"max_versions": 1}
                    if table in EXPIRING:
                        family["time_to_live"] = getattr(self.settings, EXPIRING[table])
                    try:
                        connection.create_table(name, {FAMILY: family})
                    except Exception as exc:  # a concurrent creator won: fine
                        # The Thrift gateway answers AlreadyExists("table name already in use"); the master's
                        # own error names TableExistsException.
                        if type(exc).__name__ != "AlreadyExists" and "TableExistsException" not in str(exc):
                            raise
            finally:
                connection.close()

        for attempt in range(self.settings.attempts):
            try:
                return await asyncio.get_running_loop().run_in_executor(self._executor, create)
            except TRANSIENT as exc:
                if attempt == self.settings.attempts - 1:
                    raise BackendUnavailable("HBase", f"{type(exc).__name__}: {exc}") from None
                await asyncio.sleep(0.5 * 2**attempt)

    async def ping(self, timeout_seconds: float) -> None:
        """Read one row on a fresh connection, once, without retries: raises when HBase cannot serve reads."""

        def read() -> None:
            connection = happybase.Connection(
                self.settings.host, self.settings.port, timeout=int(timeout_seconds * 1000)
            )
            try:
                connection.table(self.table_name("LatestHB")).row(b"drift-readiness-probe")
            finally:
                connection.close()

        await asyncio.to_thread(read)

    async def get(self, table: str, row: str, column: bytes) -> bytes | None:
        """One cell, or None."""
        name = self.table_name(table)
        cells = await self._run(lambda c: c.table(name).row(row.encode(), columns=[column]))
        return cells.get(column)

    async def put(self, table: str, row: str, column: bytes, value: bytes, timestamp: int | None = None) -> None:
        """Write one cell (optionally at a given cell timestamp)."""
        await self.put_cells(table, row, {column: value}, timestamp)

    async def put_cells(self, table: str, row: str, cells: dict[bytes, bytes], timestamp: int | None = None) -> None:
        """Write cells of one row in one mutation (optionally at a given cell timestamp)."""
        name = self.table_name(table)
        await self._run(lambda c: c.table(name).put(row.encode(), cells, timestamp=timestamp))

    async def row(self, table: str, row: str) -> dict[bytes, bytes]:
        """Every cell of a row (empty if absent)."""
        name = self.table_name(table)
        return await self._run(lambda c: c.table(name).row(row.encode()))

    async def delete_cell(self, table: str, row: str, column: bytes) -> None:
        """Delete one cell (no-op if absent)."""
        name = self.table_name(table)
        await self._run(lambda c: c.table(name).delete(row.encode(), columns=[column]))

    async def delete(self, table: str, row: str) -> None:
        """Delete a row (no-op if absent)."""
        name = self.table_name(table)
        await self._run(lambda c: c.table(name).delete(row.encode()))

    async def scan_keys(self, table: str, prefix: str) -> list[str]:
        """Row keys starting with `prefix`, in order."""
        name = self.table_name(table)

        def scan(connection: happybase.Connection) -> list[str]:
            rows = connection.table(name).scan(row_prefix=prefix.encode(), filter=b"KeyOnlyFilter()")
            return [key.decode() for key, _ in rows]

        return await self._run(scan)

    # Definitions -------------------------------------------------------------------------------------

    async def put_version(self, kind: str, key: str, body: bytes) -> bool:
        """Store a definition version once: True if written, False if the same body was there already.

        Raises VersionConflict if a different body holds that version (versions are content hashes, so
        two writers of one version always write the same body: the read-then-write needs no lock).
        """
        existing = await self.get(DATA_TABLES[kind], key, DATA_COLUMNS[kind])
        if existing == body:
            return False
        if existing is not None:
            raise VersionConflict(f"{kind} {key} already holds a different body: versions are write-once")
        await self.put(DATA_TABLES[kind], key, DATA_COLUMNS[kind], body)
        return True

    async def get_version(self, kind: str, key: str) -> bytes | None:
        """The body of a definition version (`{namespace}/{name}_{version}`)."""
        return await self.get(DATA_TABLES[kind], key, DATA_COLUMNS[kind])

    async def set_latest(self, kind: str, ref: str, version: str) -> None:
        """Move the latest pointer of `{namespace}/{name}`."""
        await self.put("LatestHB", f"{kind}/{ref}", VERSION_COLUMN, version.encode())

    async def delete_latest(self, kind: str, ref: str) -> None:
        """Remove the latest pointer of `{namespace}/{name}` (its versions stay)."""
        await self.delete("LatestHB", f"{kind}/{ref}")

    async def get_latest(self, kind: str, ref: str) -> str | None:
        """The latest version of `{namespace}/{name}`, or None."""
        value = await self.get("LatestHB", f"{kind}/{ref}", VERSION_COLUMN)
        return value.decode() if value is not None else None

    # Run contexts ------------------------------------------------------------------------------------

    async def put_context(
        self, execution_id: str, body: bytes, sequence: int, finished_at: datetime | None = None
    ) -> None:
        """Persist a run's context after node number `sequence`; with `finished_at`, the run's last context, and
        when it ended is recorded in the same write (as `mark_context_finished` does).

        The cell timestamp is the sequence, so HBase keeps the highest one: a retried or late write of
        an older context never replaces a newer one, and rewriting the same sequence is harmless.
        """
        cells = {CONTEXT_COLUMN: body} | ({FINISHED_COLUMN: _finished(finished_at)} if finished_at else {})
        await self.put_cells("WorkflowContextHB", execution_id, cells, timestamp=sequence)

    async def get_context(self, execution_id: str) -> bytes | None:
        """The latest persisted context of a run."""
        return await self.get("WorkflowContextHB", execution_id, CONTEXT_COLUMN)

    async def put_context_value(self, execution_id: str, column: str, body: bytes) -> None:
        """Store a large context value of a run in its own column (`value/{key}/{sequence}`)."""
        await self.put("WorkflowContextHB", execution_id, f"{FAMILY}:{column}".encode(), body)

    async def get_context_value(self, execution_id: str, column: str) -> bytes | None:
        """A large context value of a run, or None."""
        return await self.get("WorkflowContextHB", execution_id, f"{FAMILY}:{column}".encode())

    async def mark_context_finished(self, execution_id: str, finished_at: datetime) -> None:
        """Record when a run ended, beside its context (what retention goes by)."""
        await self.put("WorkflowContextHB", execution_id, FINISHED_COLUMN, _finished(finished_at))

    async def finished_contexts(self) -> list[tuple[str, datetime]]:
        """(execution id, when it ended) of every context marked finished."""
        name = self.table_name("WorkflowContextHB")

        def scan(connection: happybase.Connection) -> list[tuple[str, datetime]]:
            rows = connection.table(name).scan(columns=[FINISHED_COLUMN])
            return [(key.decode(), datetime.fromisoformat(cells[FINISHED_COLUMN].decode())) for key, cells in rows]

        return await self._run(scan)

    def close(self) -> None:
        """Close every connection and stop the threads."""
        self._executor.shutdown(wait=True)
        while not self._idle.empty():
            self._idle.get().close()


def _finished(finished_at: datetime) -> bytes:
    """A run's end as its context row records it."""
    return finished_at.isoformat().encode()
