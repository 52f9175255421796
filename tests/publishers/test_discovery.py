"""Home Assistant discovery payloads (pure) and their publication on connect (real broker)."""

from __future__ import annotations

import json

import pytest

from smartshelf.events.record import ZoneState
from smartshelf.publishers.discovery import (
    camera_event_entity,
    discovery_messages,
    object_id,
    zone_fill_sensor,
)
from smartshelf.publishers.mqtt import Topics, topic_segment


@pytest.mark.parametrize(("parts", "expected"), [
    (("shelf-node",), "shelf-node"),
    (("cam 1", "top/left"), "cam_1_top_left"),
    (("ä",), "x"),
    (("a+b#c",), "a_b_c"),
])
def test_object_id_is_discovery_safe(parts: tuple[str, ...], expected: str) -> None:
    assert object_id(*parts) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("top", "top"), ("a/b", "a_b"), ("a+b", "a_b"), ("#", "_"), ("", "_")])
def test_topic_segment_never_adds_levels_or_wildcards(name: str, expected: str) -> None:
    assert topic_segment(name) == expected


def test_zone_sensor_reads_fill_percent_from_the_state_topic() -> None:
    msg = zone_fill_sensor("n1", "cam1", "top shelf", state_topic="p/cam1/top shelf/state",
                           status_topic="p/n1/status", discovery_prefix="ha")
    assert msg.topic == "ha/sensor/n1/cam1_top_shelf_fill/config"
    cfg = json.loads(msg.payload)
    assert cfg["state_topic"] == "p/cam1/top shelf/state"
    assert cfg["unit_of_measurement"] == "%"
    assert "value_json.fill * 100" in cfg["value_template"]
    assert cfg["availability"][0]["topic"] == "p/n1/status"
    assert cfg["unique_id"] == "smartshelf_n1_cam1_top_shelf_fill"
    assert cfg["device"]["identifiers"] == ["smartshelf_n1"]


def test_event_entity_fires_pick_return_touch() -> None:
    msg = camera_event_entity("n1", "cam1", events_topic="p/cam1/events",
                              status_topic="p/n1/status")
    assert msg.topic == "homeassistant/event/n1/cam1_shelf_event/config"
    cfg = json.loads(msg.payload)
    assert cfg["event_types"] == ["pick", "return", "touch"]
    assert cfg["state_topic"] == "p/cam1/events"
    assert '"event_type": value_json.type' in cfg["value_template"]


def test_messages_one_event_entity_per_camera_one_sensor_per_zone() -> None:
    topics = Topics("smartshelf", "n1")
    msgs = discovery_messages("n1", [("c1", "a"), ("c1", "b"), ("c2", "a")], topics)
    kinds = [m.topic.split("/")[1] for m in msgs]
    assert kinds.count("event") == 2 and kinds.count("sensor") == 3
    assert len({m.topic for m in msgs}) == 5
    assert json.loads(msgs[1].payload)["state_topic"] == "smartshelf/c1/a/state"


def test_discovery_published_retained_on_connect_and_for_new_zones(
        mosquitto, subscriber, publisher_factory, until) -> None:
    sub = subscriber(mosquitto.port, ["homeassistant/#"])
    pub = publisher_factory(mosquitto.port, discovery=True)
    pub_zones = "homeassistant/sensor/node1/cam1_top_fill/config"
    assert until(lambda: pub.connected)
    pub.publish_state(ZoneState("cam1", "top", "idle", 0.5, None, 1.0))
    assert sub.wait_for(lambda: bool(sub.payloads(pub_zones)))
    assert sub.wait_for(lambda: bool(sub.payloads(
        "homeassistant/event/node1/cam1_shelf_event/config")))
    late = subscriber(mosquitto.port, ["homeassistant/#"])  # retained: a late HA still sees it
    assert late.wait_for(lambda: bool(late.payloads(pub_zones)))


def test_no_discovery_by_default(mosquitto, subscriber, publisher_factory, until) -> None:
    sub = subscriber(mosquitto.port, ["homeassistant/#", "smartshelf/cam1/top/state"])
    pub = publisher_factory(mosquitto.port)
    assert until(lambda: pub.connected)
    pub.publish_state(ZoneState("cam1", "top", "idle", 0.5, None, 1.0))
    assert sub.wait_for(lambda: bool(sub.payloads("smartshelf/cam1/top/state")))
    assert not [t for t, _, _ in sub.messages if t.startswith("homeassistant/")]
