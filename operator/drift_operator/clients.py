"""The clients every handler uses, built once by `main` and handed to kopf as the operator's memo."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client

from drift.cache.definition_cache import DefinitionCache

from .kube_client import Kube
from .operator_settings import OperatorSettings
from .run_events import RunTracker


@dataclass(frozen=True)
class Services:
    """Settings and clients shared by all handlers (kopf passes it as `memo`)."""

    settings: OperatorSettings
    cache: DefinitionCache
    temporal: Client
    kube: Kube
    runs: RunTracker
