"""`make soak`'s pure parts: the memory slope after the warm-up, the TTL deletion delays, the table."""

from __future__ import annotations

import pytest

from chaos.checks import Verdict
from chaos.memory import Trend, slope_per_hour, trend
from chaos.runs import Batch
from chaos.soak_checks import Deletion, Retention, deletions, end_lags
from chaos.soak_report import Soak, table
from chaos.workload import runs


def test_the_slope_is_the_least_squares_line_in_mib_per_hour():
    assert slope_per_hour([(0, 100.0), (1800, 105.0), (3600, 110.0)]) == pytest.approx(10.0)
    noisy = [(t, 200.0 + (3 if i % 2 else -3)) for i, t in enumerate(range(0, 3600, 60))]
    assert abs(slope_per_hour(noisy)) < 1.0
    assert slope_per_hour([(5, 100.0)]) == 0.0
    assert slope_per_hour([(5, 100.0), (5, 120.0)]) == 0.0


def test_the_warm_up_is_left_out_of_the_slope_but_not_of_the_start_and_peak():
    points = [(0, 100.0), (60, 180.0), (120, 150.0), *((t, 150.0) for t in range(180, 660, 60))]
    result = trend(points)
    assert (result.start, result.peak, result.end) == (100.0, 180.0, 150.0)
    assert result.slope == pytest.approx(0.0)
    assert result.verdict == "flat"


@pytest.mark.parametrize(("slope", "verdict"), [(4.9, "flat"), (-4.9, "flat"), (5.1, "growing"), (-6.0, "shrinking")])
def test_flat_is_within_five_percent_of_the_start_per_hour(slope: float, verdict: str):
    assert Trend(start=100.0, peak=120.0, end=110.0, slope=slope).verdict == verdict


def test_a_runs_end_is_seen_after_its_finished_at():
    batch = Batch("soak-test", runs(2))
    batch.objects = {"run-000": {"status": {"finishedAt": "2026-11-26T12:00:00Z"}}, "run-001": {"status": {}}}
    assert end_lags(batch, {"run-000": 1_795_694_400.0 + 0.8, "run-001": 0.0}) == [pytest.approx(0.8)]


def test_deletions_count_from_finished_at_plus_the_ttl():
    batch = Batch("soak-test", runs(3))
    batch.objects = {
        "run-000": {"metadata": {"deletionTimestamp": "2026-11-26T12:01:01Z"},
                    "status": {"finishedAt": "2026-11-26T12:00:00Z"}},
        "run-001": {"metadata": {}, "status": {"finishedAt": "2026-11-26T12:00:00Z"}},
        "run-002": {"metadata": {}, "status": {}},
    }  # fmt: skip
    finished = 1_795_694_400.0  # 2026-11-26T12:00:00Z
    found = deletions(batch, {"run-000": finished + 62.5, "run-001": finished + 61, "run-002": finished}, 60)
    assert found == [Deletion(asked=pytest.approx(1.0), gone=pytest.approx(2.5)), Deletion(None, pytest.approx(1.0))]


def _retention(**changes) -> Retention:
    deleted = [Deletion(0.2, 0.4), Deletion(1.0, 1.5), Deletion(2.0, 2.5)]
    fields = {"started": 6, "context_rows": 6, "without_row": [], "ttl_runs": 3, "ttl_left": [], "kept_deleted": [],
              "deletions": deleted, "sizes": [3800, 4000, 4200]}  # fmt: skip
    return Retention(**{**fields, **changes})


def _soak(verdict: Verdict | None = None, retention: Retention | None = None) -> Soak:
    memory = {"drift-operator": Trend(130.0, 180.0, 175.0, 12.0), "drift-worker": Trend(240.0, 250.0, 245.0, 1.0)}
    return Soak(runs=6, created=6, create_seconds=60.0, ttl_seconds=60, all_done_seconds=5.0, end_lags=[0.5, 0.7, 3.0],
                peak_unfinished=3, peak_waiting=1, sample_seconds=12.0, samples=10, verdict=verdict or Verdict(),
                retention=retention or _retention(), memory=memory)  # fmt: skip


def test_the_table_gives_each_figure_and_no_failures_when_all_checks_hold():
    soak = _soak()
    assert soak.failures == []
    rows = table(soak).splitlines()
    assert rows[:2] == ["| what | figure |", "|---|---|"]
    figures = dict(row.strip("| ").split(" | ", 1) for row in rows[2:] if row.startswith("| "))
    assert figures["at their expected phase"] == "6 of 6; all ended 5 s after the last was created"
    assert figures["run end to status"].startswith(
        "the final phase shown 0.7 s at the median, 2.8 s p95, 3.0 s at most"
    )
    assert figures["TTL"] == (
        "3 of 3 deleted, 0 left; gone 1.5 s after `finishedAt` + TTL at the median, 2.5 s at "
        "most (the delete asked for 2 s after at most, then the finalizer)"
    )
    assert figures["kept runs in etcd"].startswith("3 objects, mean 4,000 bytes, largest 4,200 bytes")
    operator, worker = figures["`drift-operator` RSS"], figures["`drift-worker` RSS"]
    assert "slope +12.0 MiB/h (+9.2 % of the start per hour, +34 KiB a run created): **growing**" in operator
    assert "slope +1.0 MiB/h (+0.4 % of the start per hour, +3 KiB a run created): **flat**" in worker
    assert figures["failures"] == "none"


def test_lost_runs_wrong_row_counts_and_ttl_runs_left_are_failures():
    soak = _soak(Verdict(lost=["run-002"]), _retention(context_rows=5, ttl_left=["run-001"]))
    assert soak.failures == [
        "lost: 1 (run-002)",
        "TTL runs not deleted: 1 (run-001)",
        "context rows: 5 for 6 started runs",
    ]
    assert "| at their expected phase | 5 of 6;" in table(soak)
