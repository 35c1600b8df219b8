"""The clients every handler uses, built once by `main` and handed to kopf as the operator's memo."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client

from drift.cache.definitions import DefinitionCache

from .kube import Kube
from .run_events import RunTracker
from .settings import OperatorSettings


@dataclass(frozen=True)
class Services:
    """Settings and clients shared by all handlers (kopf passes it as `memo`)."""

    settings: OperatorSettings
    cache: DefinitionCache
    temporal: Client
    kube: Kube
    runs: RunTracker
