"""Handling one event until it is done: `TryLater` is retried with a growing delay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from .outcomes import Outcome
from .served import Served
from .starter import Starter, TryLater

log = logging.getLogger(__name__)
MAX_DELAY_SECONDS = 30.0


async def until_done(starter: Starter, trigger: Served, event: Mapping[str, Any], first_delay: float) -> Outcome:
    """The event's outcome, however long its backends or Workflow take to come back."""
    delay = first_delay
    while True:
        try:
            return await starter.handle(trigger, event)
        except TryLater as exc:
            log.warning("trigger %s/%s, event %s: %s; retrying in %.0f s", *trigger.key, event.get("id"), exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY_SECONDS)
