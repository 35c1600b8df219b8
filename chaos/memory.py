"""A process's resident memory over a soak: start, peak and the least-squares slope after a warm-up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WARMUP = 0.2
"""The first part of the sampled span left out of the slope (caches filling, imports, the first runs)."""
FLAT_PER_HOUR = 0.05
"""A slope within this share of the start RSS per hour, up or down, counts as flat."""


@dataclass(frozen=True)
class Trend:
    """RSS in MiB: the first sample, the highest, the last, and the slope in MiB per hour after the warm-up."""

    start: float
    peak: float
    end: float
    slope: float

    @property
    def share_per_hour(self) -> float:
        """The slope as a share of the start RSS (0.05: 5 % of it per hour)."""
        return self.slope / self.start if self.start else 0.0

    @property
    def verdict(self) -> str:
        if abs(self.share_per_hour) < FLAT_PER_HOUR:
            return "flat"
        return "growing" if self.slope > 0 else "shrinking"


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points in MiB per hour; 0 for fewer than two distinct times."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def trend(points: Sequence[tuple[float, float]], warmup: float = WARMUP) -> Trend:
    """The trend of (seconds, MiB) samples in time order; the slope over those after `warmup` of the span."""
    if not points:
        raise ValueError("no samples")
    first, last = points[0][0], points[-1][0]
    settled = [(t, v) for t, v in points if t >= first + warmup * (last - first)]
    values = [v for _, v in points]
    return Trend(values[0], max(values), values[-1], slope_per_hour(settled))
