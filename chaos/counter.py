"""The harness's HTTP endpoint for http nodes: counts every request per (namespace, run, step) as it arrives.

A request is counted before it is answered, so an attempt cut off by a crash still counts: the counts are
the side effects a real service would have seen.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER_DELAY_SECONDS = 0.2
"""How long a request is in flight: long enough for some to be cut off by a fault."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A caller killed mid-request (the point of the exercise): nothing to report."""


class CountingServer:
    """`POST /hit/{namespace}/{run}/{step}` on 127.0.0.1: counted, answered with `{run, step, n}`."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CountingServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, namespace: str) -> dict[str, dict[str, int]]:
        """Requests per run and step of one namespace."""
        result: dict[str, dict[str, int]] = {}
        with self._lock:
            for (ns, run, step), n in self.counts.items():
                if ns == namespace:
                    result.setdefault(run, {})[step] = n
        return result

    def _count(self, path: str) -> dict[str, object] | None:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "hit":
            return None
        key = (parts[1], parts[2], parts[3])
        with self._lock:
            self.counts[key] += 1
            n = self.counts[key]
        return {"run": key[1], "step": key[2], "n": n}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = server._count(self.path)
                time.sleep(ANSWER_DELAY_SECONDS)
                body = json.dumps(answer or {"error": "not found"}).encode()
                self.send_response(200 if answer else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        return Handler
