"""Home Assistant MQTT discovery payloads for smartshelf zones and cameras (pure functions).

One ``sensor`` per zone (fill %, read from the zone's retained state topic) and one ``event``
entity per camera (pick / return / touch, read from the camera's events topic). All entities
belong to one HA device per node and follow the node's status topic for availability.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

EVENT_TYPES = ("pick", "return", "touch")

# HA accepts only these characters in the node_id / object_id parts of a discovery topic.
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class DiscoveryMessage:
    """One retained config message for Home Assistant."""

    topic: str
    payload: str


def object_id(*parts: str) -> str:
    """A discovery-safe id made from parts, e.g. ('shelf-node', 'cam 1') -> 'shelf-node_cam_1'."""
    return "_".join(_UNSAFE.sub("_", p).strip("_") or "x" for p in parts)


def _device(node: str) -> dict[str, Any]:
    return {"identifiers": [object_id("smartshelf", node)], "name": f"smartshelf {node}",
            "manufacturer": "smartshelf", "model": "smart-shelf monitor"}


def _availability(status_topic: str) -> list[dict[str, str]]:
    # The status topic carries online / offline / stopped; HA only knows online and offline.
    return [{"topic": status_topic,
             "value_template": "{{ 'online' if value == 'online' else 'offline' }}"}]


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def zone_fill_sensor(node: str, camera: str, zone: str, *, state_topic: str, status_topic: str,
                     discovery_prefix: str = "homeassistant") -> DiscoveryMessage:
    """The sensor config for one zone's fill level in percent (unknown while fill is null)."""
    oid = object_id(camera, zone, "fill")
    payload = {
        "name": f"{camera} {zone} fill",
        "unique_id": object_id("smartshelf", node, camera, zone, "fill"),
        "state_topic": state_topic,
        # HA's MQTT sensor turns the rendered text "None" into an unknown state.
        "value_template": ("{{ (value_json.fill * 100) | round(1) "
                           "if value_json.fill is not none else none }}"),
        "json_attributes_topic": state_topic,
        "unit_of_measurement": "%",
        "state_class": "measurement",
        "availability": _availability(status_topic),
        "device": _device(node),
    }
    return DiscoveryMessage(f"{discovery_prefix}/sensor/{object_id(node)}/{oid}/config",
                            _encode(payload))


def camera_event_entity(node: str, camera: str, *, events_topic: str, status_topic: str,
                        discovery_prefix: str = "homeassistant") -> DiscoveryMessage:
    """The event-entity config that fires pick / return / touch for one camera's zones."""
    oid = object_id(camera, "shelf_event")
    payload = {
        "name": f"{camera} shelf event",
        "unique_id": object_id("smartshelf", node, camera, "shelf_event"),
        "state_topic": events_topic,
        "event_types": list(EVENT_TYPES),
        # HA needs an `event_type` key; the other keys become attributes of the fired event.
        "value_template": ('{{ {"event_type": value_json.type, "zone": value_json.zone, '
                           '"sku": value_json.sku, "count": value_json.count, '
                           '"event_id": value_json.event_id, '
                           '"confidence": value_json.confidence} | to_json }}'),
        "availability": _availability(status_topic),
        "device": _device(node),
    }
    return DiscoveryMessage(f"{discovery_prefix}/event/{object_id(node)}/{oid}/config",
                            _encode(payload))


class TopicLayout(Protocol):
    """Where a node publishes (implemented by ``smartshelf.publishers.mqtt.Topics``)."""

    @property
    def status(self) -> str: ...

    def events(self, camera: str) -> str: ...

    def state(self, camera: str, zone: str) -> str: ...


def discovery_messages(node: str, zones: Iterable[tuple[str, str]], topics: TopicLayout, *,
                       discovery_prefix: str = "homeassistant") -> list[DiscoveryMessage]:
    """Config messages for (camera, zone) pairs: a sensor per zone, an event per camera."""
    out: list[DiscoveryMessage] = []
    cameras: set[str] = set()
    for camera, zone in zones:
        if camera not in cameras:
            cameras.add(camera)
            out.append(camera_event_entity(node, camera, events_topic=topics.events(camera),
                                           status_topic=topics.status,
                                           discovery_prefix=discovery_prefix))
        out.append(zone_fill_sensor(node, camera, zone, state_topic=topics.state(camera, zone),
                                    status_topic=topics.status, discovery_prefix=discovery_prefix))
    return out
