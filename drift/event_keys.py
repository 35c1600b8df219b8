"""Correlation keys of awaited events: what an `event` node waits for, and what an arriving event matches.

An `event` node's correlation `event.<path> == <expression>` becomes a key `{topic}/{type}/{path}={value}`
when the run reaches the node; an arriving event of that type on that topic has the key made of its own
value at `<path>`. A key is one lookup where a general predicate would have to be tried against every
waiting run. The topic is part of the key, so a run waiting on one topic never takes an event from another;
runs that registered before it was (`unscoped_key`) are still signalled until they have all ended.
"""

from __future__ import annotations

import json
import re
from typing import Any

CORRELATION = re.compile(r"^\s*event\.((?:[A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*==\s*(\S.*?)\s*$")


class CorrelationInvalid(ValueError):
    """A correlation not of the form `event.<path> == <expression>`."""


def parse_correlation(text: str) -> tuple[str, str]:
    """(path inside the event, expression for the value) of `event.<path> == <expression>`."""
    found = CORRELATION.match(text)
    if found is None:
        raise CorrelationInvalid("must have the form event.<path> == <expression>, e.g. event.data.orderId == input.id")
    return found.group(1), found.group(2)


def event_key(topic: str, event_type: str, path: str, value: Any) -> str:
    """The correlation key of a value at `path` of events of `event_type` on `topic`."""
    return f"{topic}/{event_type}/{path}={json.dumps(value, sort_keys=True, separators=(',', ':'))}"


def unscoped_key(topic: str, key: str) -> str:
    """The key without its topic: how runs that waited before keys had topics registered."""
    return key.removeprefix(f"{topic}/")


def value_at(event: dict[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) at the dotted `path` of an event (`{id, type, source, subject, time, data}`)."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value
