"""`make dev`'s foreground: print every service log as it grows, stop the stack on Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path

from .stack import Stack


def follow(stack: Stack) -> None:
    """Tail all logs of the stack (from their current end) until interrupted, then stop the stack."""
    offsets: dict[Path, int] = {}
    for path in stack.config.log_dir.glob("*.log"):
        offsets[path] = path.stat().st_size
    try:
        while True:
            for path in sorted(stack.config.log_dir.glob("*.log")):
                start = offsets.get(path, 0)
                size = path.stat().st_size
                if size <= start:
                    offsets[path] = size
                    continue
                with path.open("rb") as log:
                    log.seek(start)
                    chunk = log.read(size - start)
                offsets[path] = size
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"{path.stem:>15} | {line}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping the stack", flush=True)
        stack.down()
