"""The operator's watch of WorkflowRuns: a paged list, then watches from the newest version seen, a new list after
"410 Gone"; each run's events in order, one at a time, coalesced to the newest while one is handled."""

from __future__ import annotations

import asyncio

import pytest

from drift.kube_client import KubeError
from drift_operator.run_watch import InOrder, RunWatch


def run(uid: str, version: str) -> dict:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "default", "resourceVersion": version}}


async def test_a_runs_events_are_handled_in_order_one_at_a_time_the_newest_after_the_one_under_way():
    handled, release = [], asyncio.Event()

    async def handler(kind, body):
        handled.append((kind, body["metadata"]["resourceVersion"]))
        if len(handled) == 1:
            await release.wait()

    events = InOrder(handler)
    events.offer("a", None, run("a", "1"))
    await asyncio.sleep(0)
    events.offer("a", "MODIFIED", run("a", "2"))
    events.offer("a", "MODIFIED", run("a", "3"))  # replaces 2, not yet handled
    events.offer("b", "ADDED", run("b", "4"))  # another run: not held behind a's
    await asyncio.sleep(0.01)
    assert handled == [(None, "1"), ("ADDED", "4")]
    release.set()
    await asyncio.sleep(0.01)
    assert handled == [(None, "1"), ("ADDED", "4"), ("MODIFIED", "3")]


async def test_a_failed_event_does_not_stop_the_runs_next_one():
    handled = []

    async def handler(kind, body):
        handled.append(kind)
        if kind == "ADDED":
            raise RuntimeError("boom")

    events = InOrder(handler)
    events.offer("a", "ADDED", run("a", "1"))
    await asyncio.sleep(0.01)
    events.offer("a", "MODIFIED", run("a", "2"))
    await asyncio.sleep(0.01)
    assert handled == ["ADDED", "MODIFIED"]


class FakeKube:
    """Pages and watch streams given in advance; records what was asked."""

    def __init__(self, pages: list[dict], watches: list[list[dict] | KubeError]) -> None:
        self.pages, self.watches = pages, watches
        self.asked: list[tuple] = []

    async def page(self, plural, namespace, limit, token=""):
        self.asked.append(("list", token))
        return self.pages.pop(0)

    async def watch(self, plural, namespace, resource_version, seconds):
        self.asked.append(("watch", resource_version))
        await asyncio.sleep(0.01)  # the listed objects handled first (else coalesced with their next event)
        if not self.watches:
            await asyncio.Event().wait()  # a quiet watch
        stream = self.watches.pop(0)
        if isinstance(stream, KubeError):
            raise stream
        for event in stream:
            yield event


def page(items: list[dict], version: str, then: str = "") -> dict:
    return {"items": items, "metadata": {"resourceVersion": version, "continue": then}}


async def watched(kube: FakeKube, count: int) -> list[tuple]:
    handled = []

    async def handler(kind, body):
        handled.append((kind, body["metadata"]["uid"]))

    task = asyncio.create_task(RunWatch(kube, "workflowruns", None, handler).run())
    for _ in range(200):
        await asyncio.sleep(0.005)
        if len(handled) >= count and not kube.watches:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return handled


async def test_pages_are_listed_then_watched_from_the_lists_version_and_again_from_the_newest_seen():
    kube = FakeKube(
        [page([run("a", "1")], "5", then="next"), page([run("b", "2")], "5")],
        [
            [{"type": "MODIFIED", "object": run("a", "6")}, {"type": "BOOKMARK", "object": run("", "8")}],
            [{"type": "DELETED", "object": run("b", "9")}],
        ],
    )
    handled = await watched(kube, 4)
    assert handled == [(None, "a"), (None, "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert kube.asked[:5] == [("list", ""), ("list", "next"), ("watch", "5"), ("watch", "8"), ("watch", "9")]


@pytest.mark.parametrize("gone", [{"type": "ERROR", "object": {"code": 410}}, KubeError(410, "Gone")])
async def test_an_expired_version_is_listed_again(gone):
    stream = gone if isinstance(gone, KubeError) else [gone]
    kube = FakeKube([page([run("a", "1")], "5"), page([run("a", "7")], "7")], [stream])
    handled = await watched(kube, 2)
    assert handled == [(None, "a"), (None, "a")]
    assert kube.asked[:4] == [("list", ""), ("watch", "5"), ("list", ""), ("watch", "7")]
