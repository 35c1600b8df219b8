"""e2e fixtures (a namespace per test, the samples' HTTP backend; operator and worker: tests/conftest.py) and
helpers: polling for a state, reading a condition."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drift_devstack.samples_backend import DEFAULT_PORT, SamplesBackend
from tests.conftest import E2E_TARGET, kubectl


class PodReachableBackend(SamplesBackend):
    """The backend as pods reach it: the node's host address, DNAT-ed to loopback (drift_devstack.node)."""

    @property
    def url(self) -> str:
        return f"http://{os.environ['DRIFT_NODE_HOST_IP']}:{self.server_address[1]}"


@pytest.fixture(scope="module")
def samples_backend() -> Iterator[SamplesBackend]:
    """The samples' backend (orders, inventory, notify) on a free loopback port, in a thread."""
    server = PodReachableBackend() if E2E_TARGET == "cluster" else SamplesBackend()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def namespace(crds_installed) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def sample_documents(path: Path, namespace: str, backend_url: str) -> list[dict]:
    """A config/samples file's objects, moved to `namespace` and pointed at `backend_url`."""
    text = path.read_text().replace(f"http://127.0.0.1:{DEFAULT_PORT}", backend_url)
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in documents:
        doc["metadata"]["namespace"] = namespace
    return documents


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """The first truthy result of `check`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return found


def condition(obj: dict, kind: str) -> dict:
    """The object's condition of type `kind` ({} when it has none)."""
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {})
