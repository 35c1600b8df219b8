"""Large context values: kept in HBase, referenced from the context, read back when an expression names them.

A run's context travels through continue-as-new (about 2 MiB at most) and is written after every node, so
a value larger than `ContextLimits.inline_bytes` is stored once in the run's `WorkflowContextHB` row (column
`d:value/{key}/{sequence}`) and the context holds `{"$ref": ..., "bytes": ...}` in its place. Before a node
runs, the workflow loads the values its expressions name (`context.key`, `context['key']`) into a bounded
in-memory cache, so expressions see the real value. Pure and deterministic: the I/O is in activities.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

CACHE_BYTES = 16 * 1024 * 1024
"""Externalized values a workflow keeps in memory at most (beyond what the current node needs)."""


class ContextLimits(BaseModel):
    """The worker's context limits when the run started (fixed for the run, so replay sees the same)."""

    model_config = ConfigDict(frozen=True)

    inline_bytes: int = 64 * 1024
    """DRIFT_CONTEXT_INLINE_BYTES: a value larger than this (as JSON) is stored in HBase."""
    max_bytes: int = 64 * 1024 * 1024
    """DRIFT_CONTEXT_MAX_BYTES: the whole context (inline and stored values) may not grow beyond this."""


class ValueRef(BaseModel):
    """Where an externalized context value is (its column in the run's context row) and its size."""

    model_config = ConfigDict(frozen=True)

    column: str
    bytes: int

    def placeholder(self, execution_id: str) -> dict[str, Any]:
        """What the context (persisted, carried, shown) holds instead of the value."""
        return {"$ref": f"WorkflowContextHB/{execution_id}#{self.column}", "bytes": self.bytes}


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON (ASCII-escaped, so characters are bytes)."""
    return len(json.dumps(value, separators=(",", ":")))


def named_keys(text: str, keys: list[str]) -> list[str]:
    """The keys that `text` (a node's expressions and templates) reads as `context.key` or `context['key']`."""
    return [
        key
        for key in keys
        if re.search(rf"context\s*(\.\s*{re.escape(key)}\b|\[\s*\\?[\"']{re.escape(key)}\\?[\"']\s*\])", text)
    ]


class ValueCache:
    """Values of externalized keys, in memory while they fit `CACHE_BYTES` (workflow state, not carried)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[ValueRef, Any]] = {}

    def get(self, key: str, ref: ValueRef) -> Any | None:
        """The value of `key` if cached for this very ref (a key stored again has a new ref)."""
        cached = self.values.get(key)
        return cached[1] if cached and cached[0] == ref else None

    def put(self, key: str, ref: ValueRef, value: Any, keep: set[str]) -> None:
        """Cache a value, evicting the oldest entries not in `keep` while over `CACHE_BYTES`."""
        self.values.pop(key, None)
        self.values[key] = (ref, value)
        for old in list(self.values):
            if sum(ref.bytes for ref, _ in self.values.values()) <= CACHE_BYTES:
                break
            if old not in keep and old != key:
                del self.values[old]
