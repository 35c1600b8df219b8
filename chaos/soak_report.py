"""A soak's figures and its table (markdown), printed and written into the README between the soak markers."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.report import percentile

from .checks import Verdict
from .memory import FLAT_PER_HOUR, WARMUP, Trend
from .soak_checks import Deletion, Retention

MARKERS = ("<!-- soak:start -->", "<!-- soak:end -->")


@dataclass(frozen=True)
class Soak:
    """What one soak measured and checked."""

    runs: int
    created: int
    create_seconds: float
    """From the first run created to the last."""
    ttl_seconds: int
    all_done_seconds: float | None
    """From the last run created to every run at its end; None: some never got there."""
    peak_unfinished: int
    peak_waiting: int
    sample_seconds: float
    samples: int
    end_lags: list[float]
    """Per run: seconds from its `finishedAt` to its final phase seen on the WorkflowRun."""
    verdict: Verdict
    retention: Retention
    memory: dict[str, Trend]
    exited: list[str] = field(default_factory=list)
    """Services (operator, worker) that exited during the soak."""

    @property
    def failures(self) -> list[str]:
        not_created = [f"runs not created: {self.runs - self.created}"] if self.created < self.runs else []
        exited = [f"{name} exited" for name in self.exited]
        return [*not_created, *exited, *self.verdict.failures, *self.retention.failures]


def _memory(trend: Trend, runs_per_hour: float) -> str:
    per_run = f", {1024 * trend.slope / runs_per_hour:+.0f} KiB a run created" if runs_per_hour else ""
    return (f"{trend.start:.0f} MiB at the start, peak {trend.peak:.0f} MiB, {trend.end:.0f} MiB at the end; "
            f"slope {trend.slope:+.1f} MiB/h ({100 * trend.share_per_hour:+.1f} % of the start per hour"
            f"{per_run}): **{trend.verdict}**")  # fmt: skip


def _spread(values: list[float]) -> str:
    """Median, 95th percentile and most of a list of seconds."""
    if len(values) < 2:
        return f"{max(values, default=0.0):.1f} s"
    return (
        f"{percentile(values, 50):.1f} s at the median, {percentile(values, 95):.1f} s p95, {max(values):.1f} s at most"
    )


def _deletions(found: list[Deletion]) -> str:
    if not found:
        return "no deletion seen"
    gone, asked = [d.gone for d in found], [d.asked for d in found if d.asked is not None]
    told = f" (the delete asked for {max(asked):.0f} s after at most, then the finalizer)" if asked else ""
    return (
        f"gone {statistics.median(gone):.1f} s after `finishedAt` + TTL at the median, {max(gone):.1f} s at most{told}"
    )


def table(soak: Soak) -> str:
    """Markdown: what | figure, one row per measurement, the failures last."""
    r = soak.retention
    minutes, rate = soak.create_seconds / 60, soak.created / max(soak.create_seconds, 1.0)
    done = "never" if soak.all_done_seconds is None else f"{soak.all_done_seconds:.0f} s"
    mean = sum(r.sizes) / len(r.sizes) if r.sizes else 0
    rows = [
        ("runs", f"{soak.created:,} created over {minutes:.1f} min ({rate:.1f}/s), "
                 f"a third each `timed`, `approval` approved, `approval` rejected; {r.ttl_runs:,} with "
                 f"`ttlSecondsAfterFinished: {soak.ttl_seconds}`"),
        ("at their expected phase", f"{soak.runs - len(soak.verdict.lost):,} of {soak.runs:,}; all ended {done} "
                                    "after the last was created"),
        ("in flight", f"at most {soak.peak_unfinished:,} unfinished, {soak.peak_waiting:,} waiting for an answer "
                      f"({soak.samples} samples, {soak.sample_seconds:.0f} s apart)"),
        ("run end to status", f"the final phase shown {_spread(soak.end_lags)} after `finishedAt` (the worker's end)"),
        ("side effects", f"{soak.verdict.duplicates} beyond one per http step"),
        ("contexts in HBase", f"{r.context_rows:,} `WorkflowContextHB` rows for {r.started:,} started runs; "
                              f"{len(soak.verdict.incomplete_context)} incomplete"),
        ("status against Temporal", f"{len(soak.verdict.disagreeing)} disagree"),
        ("TTL", f"{r.ttl_runs - len(r.ttl_left):,} of {r.ttl_runs:,} deleted, {len(r.ttl_left)} left; "
                f"{_deletions(r.deletions)}"),
        ("kept runs in etcd", f"{len(r.sizes):,} objects, mean {mean:,.0f} bytes, largest {max(r.sizes, default=0):,} "
                              "bytes (JSON as the API server serves it)"),
        *((f"`{name}` RSS", _memory(trend, 3600 * rate)) for name, trend in soak.memory.items()),
        ("failures", "; ".join(soak.failures) or "none"),
    ]  # fmt: skip
    head = ["| what | figure |", "|---|---|"]
    note = (f"\nSlopes: least squares over the samples after the first {WARMUP:.0%} of the span; flat: within "
            f"{FLAT_PER_HOUR:.0%} of the start RSS per hour.")  # fmt: skip
    return "\n".join([*head, *(f"| {what} | {figure} |" for what, figure in rows)]) + "\n" + note
