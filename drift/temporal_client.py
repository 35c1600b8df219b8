"""The Temporal client both processes use: one data converter (pydantic) on both ends of every payload."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from .settings import TemporalSettings


async def connect(settings: TemporalSettings, runtime: Runtime | None = None) -> Client:
    """A client for the settings' address and namespace that converts Drift's pydantic models.

    `runtime`: the SDK runtime (its telemetry, e.g. a metrics buffer); None: the default one.
    """
    return await Client.connect(
        settings.address, namespace=settings.namespace, data_converter=pydantic_data_converter, runtime=runtime
    )
