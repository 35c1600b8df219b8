"""Where waits and early events meet: the event inbox and the registered waits, in HBase.

A run registers its key (`EventWaitHB`, row = key, one column per workflow id) and then reads the inbox
(`EventInboxHB`, row = key, one column per event id, kept `DRIFT_EVENT_INBOX_SECONDS`); the dispatcher
writes the inbox, then reads the registrations. Whichever comes second sees the other, so an event that
arrives before the run reaches the node is not lost, and the run ignores an event id it has taken before.
"""

from __future__ import annotations

import json
from typing import Any

from .storage.hbase import FAMILY, HBaseStore

INBOX_TABLE = "EventInboxHB"
WAIT_TABLE = "EventWaitHB"
TOPICS_ROW = "~topics"
"""Row of EventWaitHB listing the topics awaited (one column each): what the dispatcher consumes."""
PATHS_ROW = "~paths/{topic}/{type}"
"""Row of EventWaitHB listing the correlation paths in use for a topic and type."""


def _column(name: str) -> bytes:
    return f"{FAMILY}:{name}".encode()


class EventInbox:
    """The waits and the inbox in HBase (through the store's threads)."""

    def __init__(self, store: HBaseStore) -> None:
        self.store = store

    async def register(self, topic: str, event_type: str, path: str, key: str, workflow_id: str) -> list[dict]:
        """Record that `workflow_id` waits for `key`, then return the events already in the inbox for it."""
        await self.store.put(WAIT_TABLE, TOPICS_ROW, _column(topic), b"")
        await self.store.put(WAIT_TABLE, PATHS_ROW.format(topic=topic, type=event_type), _column(path), b"")
        await self.store.put(WAIT_TABLE, key, _column(workflow_id), b"")
        cells = await self.store.row(INBOX_TABLE, key)
        return [json.loads(value) for value in cells.values()]

    async def unregister(self, key: str, workflow_id: str) -> None:
        await self.store.delete_cell(WAIT_TABLE, key, _column(workflow_id))

    async def deliver(self, key: str, event: dict[str, Any]) -> list[str]:
        """Put `event` in the inbox of `key`, then return the workflow ids waiting for it."""
        await self.store.put(INBOX_TABLE, key, _column(str(event["id"])), json.dumps(event).encode())
        return await self.waiting(key)

    async def waiting(self, key: str) -> list[str]:
        """The workflow ids registered as waiting for `key`."""
        cells = await self.store.row(WAIT_TABLE, key)
        return [column.decode().split(":", 1)[1] for column in cells]

    async def topics(self) -> list[str]:
        cells = await self.store.row(WAIT_TABLE, TOPICS_ROW)
        return sorted(column.decode().split(":", 1)[1] for column in cells)

    async def paths(self, topic: str, event_type: str) -> list[str]:
        cells = await self.store.row(WAIT_TABLE, PATHS_ROW.format(topic=topic, type=event_type))
        return sorted(column.decode().split(":", 1)[1] for column in cells)
