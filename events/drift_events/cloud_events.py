"""Events as a trigger's expressions see them: CloudEvents from HTTP (binary or structured mode) or Kafka
(binary mode `ce_*` headers, structured mode, or a plain record), parsed with the `cloudevents` SDK.

`event` is {id, source, type, specversion, subject, time, datacontenttype, dataschema, data, and any
extension attributes}; absent attributes are left out (`has(event.subject)`). JSON data is decoded; other
data is text (UTF-8) or, failing that, base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http, kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat

from drift.conditions import timestamp

FORMAT = JSONFormat()
STRUCTURED = "application/cloudevents+json"
REQUIRED = ("id", "source", "type", "specversion")
BINARY, STRUCTURED_MODE = "binary mode", "structured mode"


class MalformedEvent(ValueError):
    """Not a CloudEvent the receiver or a consumer can read; the message names the problem."""


def _data(data: Any) -> Any:
    if isinstance(data, bytes | bytearray):
        try:
            return bytes(data).decode()
        except UnicodeDecodeError:
            return base64.b64encode(data).decode()
    return data


def as_event(cloud_event: BaseCloudEvent, given: set[str], *, binary: bool) -> dict[str, Any]:
    """The `event` variable of a CloudEvent; `given`: the attributes the sender set (the SDK fills a missing
    `time` with the present, which is left out here). In binary mode a JSON content type must carry JSON."""
    event: dict[str, Any] = {}
    for key, value in cloud_event.get_attributes().items():
        if value is not None and (key != "time" or "time" in given):
            event[key] = timestamp(value) if isinstance(value, datetime) else value
    data = cloud_event.get_data()
    content_type = event.get("datacontenttype") or "application/json"
    if binary and isinstance(data, str) and JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(content_type):
        raise MalformedEvent(f"data is not JSON although its content type is {content_type}")
    if data is not None:
        event["data"] = _data(data)
    return event


def _require(given: set[str], mode: str) -> None:
    """Refuse an event without a required attribute (the SDK would make up an id)."""
    missing = [name for name in REQUIRED if name not in given]
    if missing:
        raise MalformedEvent(f"not a valid CloudEvent ({mode}): missing required attribute {', '.join(missing)}")


def _parsed(parse: Any, message: Any, given: set[str], mode: str) -> dict[str, Any]:
    _require(given, mode)
    try:
        return as_event(parse(message, FORMAT), given, binary=mode == BINARY)
    except BaseCloudEventException as exc:
        raise MalformedEvent(f"not a valid CloudEvent ({mode}): {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedEvent(f"not a valid CloudEvent ({mode}): {exc}") from None


def _structured_attributes(body: bytes) -> set[str]:
    """The attribute names of a structured-mode body."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise MalformedEvent("not a valid CloudEvent (structured mode): the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"not a valid CloudEvent (structured mode): the body is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise MalformedEvent("not a valid CloudEvent (structured mode): the body is not a JSON object")
    return set(document)


def from_http(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """An HTTP request's CloudEvent: binary mode when it has `ce-` headers, else structured mode."""
    lowered = {key.lower(): value for key, value in headers.items()}
    given = {key.removeprefix("ce-") for key in lowered if key.startswith("ce-")}
    if given:
        return _parsed(http.from_binary, http.HTTPMessage(headers=lowered, body=body), given, BINARY)
    content_type = lowered.get("content-type", "")
    if not content_type.startswith(STRUCTURED):
        raise MalformedEvent(
            f"not a CloudEvent: no ce- headers (binary mode) and Content-Type {content_type or 'missing'} "
            f"(structured mode needs {STRUCTURED})"
        )
    message = http.HTTPMessage(headers=lowered, body=body)
    return _parsed(http.from_structured, message, _structured_attributes(body), STRUCTURED_MODE)


def from_kafka(
    *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> dict[str, Any]:
    """A Kafka record's event. A record without `ce_` headers or the structured content type is a plain
    record: id `topic/partition/offset`, source `kafka:{topic}`, its key as subject, its value as data."""
    named = {name.lower(): raw or b"" for name, raw in headers}
    message = kafka.KafkaMessage(headers=named, key=key, value=value or b"")
    given = {name.removeprefix("ce_") for name in named if name.startswith("ce_")}
    if given:
        return _parsed(kafka.from_binary, message, given, BINARY)
    if named.get("content-type", b"").startswith(STRUCTURED.encode()):
        return _parsed(kafka.from_structured, message, _structured_attributes(value or b""), STRUCTURED_MODE)
    event: dict[str, Any] = {"id": f"{topic}/{partition}/{offset}", "source": f"kafka:{topic}", "type": ""}
    if key is not None:
        event["subject"] = _data(key)
    if value:
        try:
            event["data"] = json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError):
            event["data"] = _data(value)
    return event
