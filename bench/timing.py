"""Latency sampling helpers: warm up, then time each call in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

WARMUP = 50


def sample_ms(call: Callable[[], Any], samples: int) -> list[float]:
    """Milliseconds per call of a blocking `call`."""
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


async def sample_ms_async(call: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    """Milliseconds per call of a coroutine function `call`."""
    for _ in range(WARMUP):
        await call()
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return times
