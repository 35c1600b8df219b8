"""The Temporal client both processes use: one data converter (pydantic) on both ends of every payload."""

from __future__ import annotations

from importlib.metadata import version

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from .settings import TemporalSettings

BUILD_ID = f"drift-{version('drift')}"
"""The build id Drift's Temporal workers report. Set, because the SDK's default hashes the code of every loaded
module when a worker is built: 2.2 s of each start of the operator and the worker where no bytecode is cached."""


async def connect(settings: TemporalSettings, runtime: Runtime | None = None) -> Client:
    """A client for the settings' address and namespace that converts Drift's pydantic models.

    `runtime`: the SDK runtime (its telemetry, e.g. a metrics buffer); None: the default one.
    """
    return await Client.connect(
        settings.address, namespace=settings.namespace, data_converter=pydantic_data_converter, runtime=runtime
    )
