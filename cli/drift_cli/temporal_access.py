"""The command line's Temporal client: the address from DRIFT_TEMPORAL_ADDRESS, failures as CliErrors."""

from __future__ import annotations

import asyncio
import os

from temporalio.client import Client
from temporalio.service import RPCError

from drift.settings import temporal_settings
from drift.temporal_client import connect

from .cli_errors import CliError

CONNECT_TIMEOUT_SECONDS = 10


async def temporal_client() -> Client:
    """A connected client, or a CliError naming the address it could not reach."""
    settings = temporal_settings(os.environ)
    try:
        return await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT_SECONDS)
    except (RuntimeError, TimeoutError, RPCError) as exc:
        raise CliError(f"cannot reach Temporal at {settings.address} (DRIFT_TEMPORAL_ADDRESS): {exc}") from None
