"""Whether a CloudEvents sender may post to a trigger: a bearer token or an HMAC-SHA256 of the body, checked
against a key of a Secret in the trigger's namespace (read again after `secret_seconds`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from drift.kube_client import Kube
from drift.models.trigger import CloudEventsAuth, SecretKeyRef

SIGNATURE_HEADER = "X-Drift-Signature"
"""`sha256=<hex digest>` (or the bare hex digest) of the HMAC-SHA256 of the request body."""


class SenderAuth:
    """Checks requests against the Secrets the triggers name."""

    def __init__(self, kube: Kube, ttl_seconds: float) -> None:
        self._kube = kube
        self._ttl = ttl_seconds
        self._secrets: dict[tuple[str, str, str], tuple[float, bytes | None]] = {}

    async def _value(self, namespace: str, ref: SecretKeyRef) -> bytes | None:
        """The Secret's key (None when the Secret or the key is missing); raises KubeError, ClientError."""
        key = (namespace, ref.name, ref.key)
        cached = self._secrets.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        secret = await self._kube.secret(namespace, ref.name)
        raw = ((secret or {}).get("data") or {}).get(ref.key)
        value = base64.b64decode(raw) if raw else None
        self._secrets[key] = (time.monotonic(), value)
        return value

    async def allows(self, namespace: str, auth: CloudEventsAuth, headers: Mapping[str, str], body: bytes) -> bool:
        """True if the request carries the right token or signature."""
        if auth.token_secret_ref is not None:
            token = await self._value(namespace, auth.token_secret_ref)
            scheme, _, given = headers.get("Authorization", "").partition(" ")
            return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.strip())
        assert auth.hmac_secret_ref is not None
        key = await self._value(namespace, auth.hmac_secret_ref)
        given = headers.get(SIGNATURE_HEADER, "").strip().removeprefix("sha256=")
        expected = hmac.new(key or b"", body, hashlib.sha256).hexdigest()
        return bool(key) and hmac.compare_digest(given.lower().encode(), expected.encode())
