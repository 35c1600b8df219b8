"""http: renders the request in the workflow, runs it as an activity under the node's retry policy."""

from __future__ import annotations

from ..graph import ResolvedNode
from ..messages import HttpRequest
from .base import Outcome, Runtime, render_body, render_text

DEFAULT_TIMEOUT_SECONDS = 30.0


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    block = node.http
    assert block is not None
    variables = runtime.scope()

    def text(template: str, where: str) -> str:
        return render_text(template, variables, where)

    request = HttpRequest(
        namespace=runtime.namespace,
        method=block.method,
        url=text(block.url, "http.url"),
        headers={key: text(value, f"http.headers.{key}") for key, value in block.headers.items()},
        headers_from=block.headers_from,
        query={key: text(value, f"http.query.{key}") for key, value in block.query.items()},
        body=render_body(block.body, variables, "http.body"),
        timeout_seconds=block.timeout_seconds or DEFAULT_TIMEOUT_SECONDS,
    )
    result, attempts = await runtime.call_http(request, node)
    return Outcome(next=node.next, result=result, attempts=attempts)
