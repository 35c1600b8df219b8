"""The Temporal client both processes use: one data converter (pydantic) on both ends of every payload."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(address: str, namespace: str) -> Client:
    """A client for `namespace` at `address` (host:port) that converts Drift's pydantic models."""
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
