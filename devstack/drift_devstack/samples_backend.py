"""The services the samples call (orders, an inventory API that fails twice, a notifier, stock, shipping).

`python -m drift_devstack.samples_backend [PORT]` serves on 127.0.0.1 (default 18480,
DRIFT_STACK_SAMPLES_PORT); `make dev` runs it so `config/samples/` work out of the box, and the tests reuse it.

- GET  /api/orders/{id}: `{id, amount}`; the amount is 120 unless the id ends with `-small` (20); ids
  starting with `broken` answer 500.
- POST /api/refunds: `{refundId, amount}` from the JSON body `{orderId, amount}`.
- GET  /api/inventory/sync: 503 on the first two calls of each `?key=`, then `{synced: true}`.
- POST /api/notify: `{sent: true, to}`.
- POST /api/stock/reserve, /api/stock/release: `{sku, reserved}` from the JSON body `{sku}`.
- POST /api/shipments: `{shipment}`; a `sku` starting with `oversize` answers 409.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_PORT = 18480


class SamplesBackend(ThreadingHTTPServer):
    """The backend; `calls` counts requests per `METHOD /path` (tests read it)."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, key: str) -> int:
        with self.lock:
            self.calls[key] += 1
            return self.calls[key]


class _Handler(BaseHTTPRequestHandler):
    server: SamplesBackend

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/api/orders/"):
            order = url.path.rsplit("/", 1)[-1]
            self.server.count(f"GET {url.path}")
            if order.startswith("broken"):
                return self._reply(500, {"error": "order database unavailable"})
            return self._reply(200, {"id": order, "amount": 20 if order.endswith("-small") else 120})
        if url.path == "/api/inventory/sync":
            key = parse_qs(url.query).get("key", [""])[0]
            if self.server.count(f"GET {url.path}?key={key}") <= 2:
                return self._reply(503, {"error": "inventory busy, try again"})
            return self._reply(200, {"synced": True, "key": key})
        return self._reply(404, {"error": f"no route {url.path}"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.server.count(f"POST {url.path}")
        body = self._body()
        if url.path == "/api/refunds":
            return self._reply(201, {"refundId": f"R-{body.get('orderId')}", "amount": body.get("amount")})
        if url.path == "/api/notify":
            return self._reply(200, {"sent": True, "to": body.get("to")})
        if url.path in ("/api/stock/reserve", "/api/stock/release"):
            return self._reply(200, {"sku": body.get("sku"), "reserved": url.path.endswith("reserve")})
        if url.path == "/api/shipments":
            if str(body.get("sku", "")).startswith("oversize"):
                return self._reply(409, {"error": "too large to ship"})
            return self._reply(201, {"shipment": f"S-{body.get('sku')}"})
        return self._reply(404, {"error": f"no route {url.path}"})

    def log_message(self, *_: object) -> None:
        return


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("DRIFT_STACK_SAMPLES_PORT", DEFAULT_PORT))
    server = SamplesBackend(port)
    print(f"samples backend on {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
