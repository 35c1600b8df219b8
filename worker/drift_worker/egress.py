"""Which addresses the http node may reach: link-local and cloud metadata addresses are refused by default."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_DENY = ("169.254.0.0/16", "fd00:ec2::254/128")
"""Link-local (cloud metadata at 169.254.169.254) and AWS's IPv6 metadata endpoint."""


def parse_cidrs(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (DRIFT_EGRESS_ALLOW_CIDRS / DRIFT_EGRESS_DENY_CIDRS); a bad entry is an error."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a CIDR (like 10.0.0.0/8 or fd00::/8)") from None
    return tuple(networks)


@dataclass(frozen=True)
class EgressPolicy:
    """Denied: in a deny range (defaults plus configured) and in no allow range."""

    deny: tuple[Network, ...] = field(default_factory=lambda: parse_cidrs(",".join(DEFAULT_DENY)))
    allow: tuple[Network, ...] = ()

    def denied(self, addresses: Iterable[str]) -> str | None:
        """The first refused address among `addresses` (all of a host's), or None."""
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if any(address in net for net in self.deny) and not any(address in net for net in self.allow):
                return text
        return None


def policy_from_env(env: Mapping[str, str]) -> EgressPolicy:
    """DRIFT_EGRESS_DENY_CIDRS adds to the default denials; DRIFT_EGRESS_ALLOW_CIDRS makes exceptions."""
    deny = parse_cidrs(",".join([*DEFAULT_DENY, env.get("DRIFT_EGRESS_DENY_CIDRS", "")]))
    return EgressPolicy(deny=deny, allow=parse_cidrs(env.get("DRIFT_EGRESS_ALLOW_CIDRS", "")))
