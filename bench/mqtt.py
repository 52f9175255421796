"""Events/s through the durable outbox to a real Mosquitto, and publish-to-PUBACK latency.

Usage: .venv/bin/python bench/mqtt.py [--events 5000] [--qos 1]
Prints smartshelf's MqttPublisher (outbox fsync + PUBACK) next to its peer: bare paho
publishing the same payloads at the same QoS with no outbox.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from smartshelf.config import MqttConfig, OutboxConfig
from smartshelf.events.record import Event, EventType, iso_utc, make_event_id, to_json
from smartshelf.publishers.broker import MosquittoProcess
from smartshelf.publishers.mqtt import MqttPublisher


def make_event(i: int) -> Event:
    t = float(i)
    return Event(event_id=make_event_id("cam1", "top", t), type=EventType.PICK, camera="cam1",
                 zone="top", sku="sku-1", count=1, confidence=0.9, track_id=i,
                 started_at=iso_utc(1.8e9 + t), ended_at=iso_utc(1.8e9 + t + 0.5), t_start_s=t,
                 t_end_s=t + 0.5, occupancy_before=0.8, occupancy_after=0.7)


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (1..99)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def bench_outbox(port: int, workdir: Path, n: int, qos: int, paced_hz: float) -> None:
    sent_at: dict[str, float] = {}
    lat_ms: list[float] = []
    lock = threading.Lock()

    def on_acked(ids: list[str]) -> None:
        now = time.perf_counter()
        with lock:
            lat_ms.extend((now - sent_at[i]) * 1e3 for i in ids if i in sent_at)

    pub = MqttPublisher(MqttConfig(port=port, qos=qos),  # type: ignore[arg-type]
                        OutboxConfig(path=str(workdir / "outbox.sqlite"), max_events=n * 2),
                        "bench", Path, on_acked=on_acked)
    deadline = time.monotonic() + 10
    while not pub.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    events = [make_event(i) for i in range(n)]

    # Burst: as fast as the caller can publish; throughput = all acknowledged.
    t0 = time.perf_counter()
    put_s = []
    for ev in events:
        a = time.perf_counter()
        sent_at[ev.event_id] = a
        pub.publish(ev)
        put_s.append(time.perf_counter() - a)
    t_put = time.perf_counter() - t0
    assert pub.wait_drained(120), "outbox did not drain"
    t_all = time.perf_counter() - t0
    burst_lat = list(lat_ms)
    print(f"smartshelf outbox  qos={qos}: {n} events, publish() {n / t_put:,.0f}/s "
          f"(p50 {pct(put_s, 50) * 1e3:.2f} ms, p95 {pct(put_s, 95) * 1e3:.2f} ms per call), "
          f"delivered+acked {n / t_all:,.0f} events/s")
    print(f"  burst publish->PUBACK latency: p50 {pct(burst_lat, 50):.1f} ms, "
          f"p95 {pct(burst_lat, 95):.1f} ms (includes queueing behind the burst)")

    # Paced: a realistic trickle, latency of one event at a time.
    with lock:
        lat_ms.clear()
    m = max(50, int(paced_hz * 2))
    for i in range(m):
        ev = make_event(n + i)
        sent_at[ev.event_id] = time.perf_counter()
        pub.publish(ev)
        time.sleep(1.0 / paced_hz)
    assert pub.wait_drained(30)
    print(f"  paced {paced_hz:g}/s publish->PUBACK latency: p50 {pct(lat_ms, 50):.2f} ms, "
          f"p95 {pct(lat_ms, 95):.2f} ms ({len(lat_ms)} events)")
    pub.close()


def bench_bare_paho(port: int, n: int, qos: int) -> None:
    done = threading.Event()
    acked = [0]
    sent_at: dict[int, float] = {}
    lat_ms: list[float] = []

    def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
        lat_ms.append((time.perf_counter() - sent_at.pop(mid, time.perf_counter())) * 1e3)
        acked[0] += 1
        if acked[0] >= n:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho")
    client.max_inflight_messages_set(256)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    payloads = [to_json(make_event(i)).encode() for i in range(n)]
    t0 = time.perf_counter()
    for p in payloads:
        now = time.perf_counter()
        info = client.publish("bench/cam1/events", p, qos=qos)
        sent_at.setdefault(info.mid, now)
    assert done.wait(120)
    dt = time.perf_counter() - t0
    print(f"peer: bare paho    qos={qos}: {n} messages, {n / dt:,.0f} msgs/s acked "
          f"(no durability), burst latency p50 {pct(lat_ms, 50):.1f} ms, "
          f"p95 {pct(lat_ms, 95):.1f} ms")
    client.disconnect()
    client.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    ap.add_argument("--paced-hz", type=float, default=100.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartshelf-bench-") as tmp:
        broker = MosquittoProcess(Path(tmp) / "broker")
        broker.start()
        try:
            bench_outbox(broker.port, Path(tmp), args.events, args.qos, args.paced_hz)
            bench_bare_paho(broker.port, args.events, args.qos)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
