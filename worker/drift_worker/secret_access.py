"""Which Secrets an http node may send, and where: Secrets opt in, so authoring workflows never grants reading them.

A Secret is usable by Drift only with the label `drift.dev/usable-by-workflows: "true"`, set by whoever
manages it. The annotation `drift.dev/allowed-hosts` (comma-separated host names; `*.example.com` matches
any subdomain) narrows where its values may be sent. Anything else is refused before a request is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

USABLE_LABEL = "drift.dev/usable-by-workflows"
ALLOWED_HOSTS_ANNOTATION = "drift.dev/allowed-hosts"


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def refusal(name: str, labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None, url: str) -> str | None:
    """Why Secret `name` may not be sent to `url`, or None if it may."""
    if (labels or {}).get(USABLE_LABEL) != "true":
        return f'Secret {name} is not usable by workflows: it needs the label {USABLE_LABEL}="true"'
    allowed = (annotations or {}).get(ALLOWED_HOSTS_ANNOTATION)
    if allowed is None:
        return None
    host = (urlsplit(url).hostname or "").lower()
    patterns = [pattern.strip().lower() for pattern in allowed.split(",") if pattern.strip()]
    if any(_host_matches(host, pattern) for pattern in patterns):
        return None
    hosts = ", ".join(patterns) or "no host"
    return f"Secret {name} may be sent only to {hosts} ({ALLOWED_HOSTS_ANNOTATION}), not to {host}"
