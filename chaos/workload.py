"""The runs of one fault: http, wait and instruction nodes mixed, each run's expected end."""

from __future__ import annotations

from dataclasses import dataclass

from bench.kube_objects import resource, workflow

WAIT_SECONDS = 4


@dataclass(frozen=True)
class Expected:
    """How a run must end: its phase, the http steps it calls once each, the keys its context holds."""

    workflow: str
    answer: str | None
    """The instruction's answer the harness gives (None: the run has no instruction)."""
    phase: str
    steps: tuple[str, ...]
    context_keys: tuple[str, ...]


KINDS = (
    Expected("timed", None, "Succeeded", ("a", "b"), ("call-a", "call-b")),
    Expected("approval", "approve", "Succeeded", ("a", "b"), ("call-a", "ask", "call-b")),
    Expected("approval", "reject", "Failed", ("a",), ("call-a", "ask")),
)
"""A wait between two calls; an approved instruction between two calls; a rejected one after one call."""


def _call(namespace: str, url: str, step: str, then: str) -> dict:
    target = f"{url}/hit/{namespace}/{{{{ input.run }}}}/{step}"
    return {"name": f"call-{step}", "type": "http", "http": {"method": "POST", "url": target, "body": {"step": step}},
            "output": {"expression": "result.body"}, "next": then}  # fmt: skip


def workflows(namespace: str, url: str) -> list[dict]:
    """`timed`: call a, wait, call b. `approval`: call a, ask, call b if approved, else fail REJECTED."""
    done = {"name": "done", "type": "success", "success": {"output": "context['call-b'].n"}}
    timed = [_call(namespace, url, "a", "pause"),
             {"name": "pause", "type": "wait", "wait": {"seconds": WAIT_SECONDS}, "next": "call-b"},
             _call(namespace, url, "b", "done"), done]  # fmt: skip
    approval = [_call(namespace, url, "a", "ask"),
                {"name": "ask", "type": "instruction", "next": "decide",
                 "instruction": {"message": "Go on?", "options": ["approve", "reject"]}},
                {"name": "decide", "type": "branch", "default": "rejected",
                 "choices": [{"when": "context.ask.choice == 'approve'", "next": "call-b"}]},
                _call(namespace, url, "b", "done"), done,
                {"name": "rejected", "type": "failure", "failure": {"code": "REJECTED", "message": "no"}}]  # fmt: skip
    return [workflow("timed", namespace, timed), workflow("approval", namespace, approval)]


def runs(count: int) -> dict[str, Expected]:
    """Run name -> expected end, the kinds in turn."""
    return {f"run-{i:03d}": KINDS[i % len(KINDS)] for i in range(count)}


def run_manifest(namespace: str, name: str, expected: Expected, ttl_seconds: int | None = None) -> dict:
    """The run of `expected`'s workflow; with `ttl_seconds`, deleted that long after it finished."""
    spec: dict = {"workflowRef": {"name": expected.workflow}, "input": {"run": name}}
    if ttl_seconds is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds
    return resource("WorkflowRun", name, namespace, spec)
