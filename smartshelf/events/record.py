"""Event and zone-state records (schema 1) and their deterministic JSON codec.

Documented in docs/events.md. The JSON text of a record depends only on its fields, so two
replays of the same file give the same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class EventType(enum.Enum):
    PICK = "pick"
    RETURN = "return"
    TOUCH = "touch"


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-24T10:00:01.250Z. Pure."""
    ms = round(epoch_s * 1000)
    t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_event_id(camera: str, zone: str, t_start_s: float) -> str:
    """Deterministic id from camera, zone and start time (ms): replays and retries agree."""
    key = f"{camera}\x1f{zone}\x1f{round(t_start_s * 1000)}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Event:
    """A pick, return or touch in one zone. Field meanings: docs/events.md."""

    event_id: str
    type: EventType
    camera: str
    zone: str
    sku: str | None
    count: int | None
    confidence: float
    track_id: int | None
    started_at: str
    ended_at: str
    t_start_s: float
    t_end_s: float
    occupancy_before: float | None
    occupancy_after: float | None
    models: dict[str, str] = field(default_factory=dict)
    review: bool = False
    snapshot: str | None = None
    misplaced: bool = False
    origin_zone: str | None = None
    timed_out: bool = False
    # Stream time at which the event was decided and emitted (latency = t_emit_s - t_end_s).
    t_emit_s: float = 0.0
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True)
class ZoneState:
    """The retained state of one zone: occupancy and the last event (MQTT `.../state`)."""

    camera: str
    zone: str
    state: str  # idle | interacting | settling
    fill: float | None
    count_estimate: int | None
    ts_s: float
    last_event_id: str | None = None
    last_event_type: str | None = None
    schema: int = SCHEMA_VERSION


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_dict(record: Event | ZoneState) -> dict[str, Any]:
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def to_json(record: Event | ZoneState) -> str:
    """One compact JSON line with sorted keys and rounded floats: byte-stable."""
    return json.dumps(to_dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of to_dict for events (the outbox and tests read events back)."""
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"event schema {data.get('schema')!r} is not {SCHEMA_VERSION}")
    names = {f.name for f in dataclasses.fields(Event)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown event fields: {sorted(unknown)}")
    kwargs = dict(data)
    kwargs["type"] = EventType(data["type"])
    return Event(**kwargs)
