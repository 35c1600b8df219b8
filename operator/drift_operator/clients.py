"""The clients every handler uses, built once by `main` and handed to kopf as the operator's memo."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from drift.cache.definition_cache import DefinitionCache
from drift.kube_client import Kube
from drift.run_events import RunEvents

from .operator_settings import OperatorSettings
from .run_expiry import RunExpiry
from .run_index import RunIndex
from .run_registry import RunRegistry
from .status_writer import StatusWriter

FIRST_SIGHT_OBSERVES = 8


@dataclass(frozen=True)
class Services:
    """Settings and clients shared by all handlers (kopf passes it as `memo`)."""

    settings: OperatorSettings
    cache: DefinitionCache
    temporal: Client
    kube: Kube
    runs: RunRegistry
    """The unfinished runs and what the operator holds about each."""
    events: RunEvents
    """The run-events subscription (is a run's snapshot from the live subscription?)."""
    status: StatusWriter
    """The one writer of runs' status."""
    expiry: RunExpiry
    """When finished runs are deleted by their TTL."""
    index: RunIndex
    """Every run's phase, the runs of each schedule, trigger and Pending Workflow."""
    first_sight: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(FIRST_SIGHT_OBSERVES))
    """Bounds the runs started before this operator that are compared with Temporal at once (after a restart:
    every unfinished run, each a describe and a query the worker answers by replaying the run)."""
    background: list[asyncio.Task[None]] = field(default_factory=list)
    """Tasks started by kopf's startup handlers (the run resync); cancelled when the operator stops."""
