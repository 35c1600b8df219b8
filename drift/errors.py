"""Errors the operator and worker map to conditions: each names the backend or the conflict."""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend (HBase, Redis, Temporal, Kubernetes) cannot be reached; worth retrying later."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"{backend} unavailable: {detail}")
        self.backend = backend
        self.reason = f"{backend}Unavailable"


class VersionConflict(RuntimeError):
    """A different body exists under a version that was already written (versions are write-once)."""

    reason = "VersionConflict"
