"""A harness thread that runs beside the `with` block it belongs to."""

from __future__ import annotations

import threading
from typing import Self


class Background:
    """Runs `loop` on a daemon thread from the start of the `with` block; at its end sets `stopping` and joins
    the thread (for up to `join_seconds`)."""

    join_seconds: float | None = None

    def __init__(self, name: str) -> None:
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.loop, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self._thread.join(self.join_seconds)

    def loop(self) -> None:
        raise NotImplementedError
