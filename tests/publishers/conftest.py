"""Fixtures for publisher tests: a real paho subscriber and event factories."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartshelf.config import MqttConfig, OutboxConfig
from smartshelf.events.record import Event, EventType, iso_utc, make_event_id
from smartshelf.publishers.mqtt import MqttPublisher


class Subscriber:
    """A paho client that records every (topic, payload, retain) it receives."""

    def __init__(self, port: int, topics: list[str], *, client_id: str = "",
                 persistent: bool = False, tls: dict[str, Any] | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = topics
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not persistent, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(1, 1)
        if tls:
            self.client.tls_set(**tls)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test subscriber could not subscribe"

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any) -> None:
        if not rc.is_failure:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    def payloads(self, topic: str) -> list[bytes]:
        with self._cond:
            return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int, topics: list[str], **kw: Any) -> Subscriber:
        sub = Subscriber(port, topics, **kw)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


def build_event(i: int, camera: str = "cam1", zone: str = "top") -> Event:
    """A distinct pick event; its event_id is deterministic in (camera, zone, i)."""
    t = 10.0 + i
    return Event(event_id=make_event_id(camera, zone, t), type=EventType.PICK, camera=camera,
                 zone=zone, sku="sku-1", count=1, confidence=0.9, track_id=i,
                 started_at=iso_utc(1.8e9 + t), ended_at=iso_utc(1.8e9 + t + 0.5), t_start_s=t,
                 t_end_s=t + 0.5, occupancy_before=0.8, occupancy_after=0.7, t_emit_s=t + 0.7)


@pytest.fixture
def make_event() -> Callable[..., Event]:
    return build_event


@pytest.fixture
def publisher_factory(tmp_path: Path) -> Iterator[Callable[..., MqttPublisher]]:
    """Build MqttPublishers against a port; all closed at teardown."""
    made: list[MqttPublisher] = []

    def make(port: int, *, outbox: Path | None = None, node: str = "node1", **mqtt_kw: Any
             ) -> MqttPublisher:
        cfg = MqttConfig(port=port, **mqtt_kw)
        box = OutboxConfig(path=str(outbox or tmp_path / "outbox.sqlite"))
        pub = MqttPublisher(cfg, box, node, lambda p: (tmp_path / p).resolve())
        made.append(pub)
        return pub

    yield make
    for pub in made:
        pub.close(timeout_s=1.0)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def until() -> Callable[..., bool]:
    return wait_until
