"""A redis-server of a test's own, to kill and start again without touching the stack's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from drift_devstack.toolchain import redis_server
from tests.conftest import free_port


class PrivateRedis:
    """A redis-server of the test's own on a free port, killed and started again on that port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.workdir),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait()
