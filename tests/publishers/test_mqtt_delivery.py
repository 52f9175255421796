"""MqttPublisher against a real Mosquitto: nothing lost across broker outages and crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from smartshelf.events.record import ZoneState
from smartshelf.publishers.broker import MosquittoProcess

EVENTS = "smartshelf/cam1/events"

# A publishing process that the tests SIGKILL. argv: port outbox_path first count mode
CHILD = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[5])
from conftest import build_event
from smartshelf.config import MqttConfig, OutboxConfig
from smartshelf.publishers.mqtt import MqttPublisher
port, outbox = int(sys.argv[1]), sys.argv[2]
first, count = int(sys.argv[3]), int(sys.argv[4])
pub = MqttPublisher(MqttConfig(port=port), OutboxConfig(path=outbox), "node1", Path)
if sys.argv[6] == "wait-connected":
    while not pub.connected:
        time.sleep(0.02)
for i in range(first, first + count):
    pub.publish(build_event(i))
print("published", flush=True)
time.sleep(600)
"""


def _event_ids(payloads: list[bytes]) -> list[str]:
    return [json.loads(p)["event_id"] for p in payloads]


def _first_seen(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _spawn(port: int, outbox: Path, first: int, count: int, mode: str) -> subprocess.Popen[str]:
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(port), str(outbox), str(first),
                             str(count), here, mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "published", f"child failed (rc={proc.poll()})"
    return proc


def test_events_published_while_broker_is_down_arrive_after_it_returns(
        mosquitto: MosquittoProcess, subscriber, publisher_factory, make_event, until) -> None:
    sub = subscriber(mosquitto.port, [EVENTS], client_id="persistent-sub", persistent=True)
    pub = publisher_factory(mosquitto.port)
    assert until(lambda: pub.connected)
    events = [make_event(i) for i in range(30)]
    for ev in events[:5]:
        pub.publish(ev)
    assert sub.wait_for(lambda: len(sub.payloads(EVENTS)) >= 5)

    mosquitto.stop()
    assert until(lambda: not pub.connected, 5)
    for ev in events[5:]:
        pub.publish(ev)
    time.sleep(0.3)
    assert pub.outbox_depth() == 25  # nothing can be acknowledged while the broker is away

    mosquitto.start()
    expected = [ev.event_id for ev in events]
    assert sub.wait_for(lambda: set(_event_ids(sub.payloads(EVENTS))) >= set(expected), 30)
    assert pub.wait_drained(10)
    got = _event_ids(sub.payloads(EVENTS))
    assert set(got) == set(expected)  # duplicates only of event_ids we published
    assert _first_seen(got) == expected  # re-sent in order


def test_sigkilled_publisher_outbox_is_delivered_by_the_next_process(
        mosquitto: MosquittoProcess, subscriber, publisher_factory, make_event,
        tmp_path: Path) -> None:
    outbox = tmp_path / "killed-outbox.sqlite"
    mosquitto.stop()
    child = _spawn(mosquitto.port, outbox, 100, 8, "no-wait")
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    mosquitto.start()
    sub = subscriber(mosquitto.port, [EVENTS])
    pub = publisher_factory(mosquitto.port, outbox=outbox)
    expected = [make_event(i).event_id for i in range(100, 108)]
    assert sub.wait_for(lambda: set(_event_ids(sub.payloads(EVENTS))) >= set(expected), 20)
    assert _first_seen(_event_ids(sub.payloads(EVENTS))) == expected
    assert pub.wait_drained(5)


def test_status_offline_on_sigkill_and_stopped_on_clean_close(
        mosquitto: MosquittoProcess, subscriber, publisher_factory, tmp_path: Path) -> None:
    status = "smartshelf/node1/status"
    sub = subscriber(mosquitto.port, [status])
    child = _spawn(mosquitto.port, tmp_path / "child.sqlite", 0, 1, "wait-connected")
    assert sub.wait_for(lambda: b"online" in sub.payloads(status))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert sub.wait_for(lambda: sub.payloads(status)[-1:] == [b"offline"], 10)

    pub = publisher_factory(mosquitto.port)
    assert sub.wait_for(lambda: sub.payloads(status)[-1:] == [b"online"])
    pub.close()
    assert sub.wait_for(lambda: sub.payloads(status)[-1:] == [b"stopped"], 10)


def test_zone_state_is_retained_and_republished_after_reconnect(
        mosquitto: MosquittoProcess, subscriber, publisher_factory, until) -> None:
    topic = "smartshelf/cam1/top/state"
    pub = publisher_factory(mosquitto.port)
    assert until(lambda: pub.connected)
    pub.publish_state(ZoneState("cam1", "top", "idle", 0.5, None, 1.0))
    mosquitto.stop()
    assert until(lambda: not pub.connected, 5)
    pub.publish_state(ZoneState("cam1", "top", "settling", 0.25, None, 2.0))  # while down
    mosquitto.start()
    assert until(lambda: pub.connected, 15)
    # A subscriber arriving later gets the newest state, retained by the broker.
    late = subscriber(mosquitto.port, [topic])
    assert late.wait_for(lambda: bool(late.payloads(topic)))
    time.sleep(0.3)
    assert json.loads(late.payloads(topic)[-1])["fill"] == 0.25
    assert all(retain for _, _, retain in late.messages)


def test_stats_are_published_as_json(mosquitto, subscriber, publisher_factory, until) -> None:
    topic = "smartshelf/node1/stats"
    sub = subscriber(mosquitto.port, [topic])
    pub = publisher_factory(mosquitto.port)
    assert until(lambda: pub.connected)
    pub.publish_stats({"fps": 14.5, **pub.counters()})
    assert sub.wait_for(lambda: bool(sub.payloads(topic)))
    stats = json.loads(sub.payloads(topic)[0])
    assert stats["fps"] == 14.5 and stats["connected"] == 1 and stats["outbox_depth"] == 0
    assert not any(retain for _, _, retain in sub.messages)
