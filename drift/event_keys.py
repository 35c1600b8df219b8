"""Correlation keys of awaited events: what an `event` node waits for, and what an arriving event matches.

An `event` node's correlation `event.<path> == <expression>` becomes a key `{type}/{path}={value}` when the
run reaches the node; an arriving event of that type has the key made of its own value at `<path>`. A key is
one lookup where a general predicate would have to be tried against every waiting run.
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


def event_key(event_type: str, path: str, value: Any) -> str:
    """The correlation key of a value at `path` of events of `event_type`."""
    return f"{event_type}/{path}={json.dumps(value, sort_keys=True, separators=(',', ':'))}"


def value_at(event: dict[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) at the dotted `path` of an event (`{id, type, source, subject, time, data}`)."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value
