"""The real daemon as a subprocess: two cameras, a real Mosquitto, metrics, signals.

One camera replays the bundled recording (looping); the other is an MJPEG stream served on
loopback that is cut and restored while the daemon runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartshelf.publishers.broker import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo.mp4"
DEFAULT = REPO / "configs" / "default.yaml"


def daemon_config(tmp_path: Path, broker_port: int, metrics_port: int, stream_url: str) -> Path:
    zones = DEFAULT.read_text().split("    zones:\n", 1)[1].split("mqtt:", 1)[0]
    text = f"""node: test-node
cameras:
  - name: shelf-file
    source: {DEMO}
    loop: true
    zones:
{zones.rstrip()}
  - name: shelf-stream
    source: {stream_url}
    stall_timeout_s: 2
    reconnect_min_s: 0.2
    reconnect_max_s: 1
    zones:
      - name: Z1
        polygon: [[0, 0], [30, 0], [30, 30], [0, 30]]
mqtt:
  port: {broker_port}
  stats_interval_s: 1
  keepalive_s: 5
outbox:
  path: {tmp_path / "outbox.sqlite"}
metrics:
  port: {metrics_port}
"""
    path = tmp_path / "daemon.yaml"
    path.write_text(text)
    return path


class Subscriber:
    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="daemon-test-sub")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("smartshelf/#", qos=1)
        self.client.loop_start()

    def wait_for(self, predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.1)
        return False

    def payloads(self, topic_suffix: str) -> list[bytes]:
        return [p for t, p in self.messages if t.endswith(topic_suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:  # 503 from /healthz
        return e.code, e.read().decode()


def metric(text: str, name: str, camera: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and f'camera="{camera}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{camera={camera}}} not exported")


@pytest.mark.slow
def test_two_cameras_one_stream_cut_and_restored_then_sigterm(
        mosquitto, mjpeg_server, models_dir, tmp_path):
    metrics_port = free_port()
    cfg = daemon_config(tmp_path, mosquitto.port, metrics_port, mjpeg_server.url)
    sub = Subscriber(mosquitto.port)
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "smartshelf", "run", "-c", str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        assert sub.wait_for(lambda: b"online" in sub.payloads("test-node/status"), 60), \
            (tmp_path / "daemon.log").read_text()
        # the demo's first pick comes ~4 s into the file, at real time
        assert sub.wait_for(lambda: len(sub.payloads("shelf-file/events")) >= 1, 20)
        _, text = scrape(metrics_port)
        before = metric(text, "smartshelf_frames_processed_total", "shelf-stream")
        assert before > 0
        mjpeg_server.stop()  # the stream camera dies
        n_events = len(sub.payloads("shelf-file/events"))
        # /healthz turns 503 once a camera has delivered nothing for 10 s
        assert sub.wait_for(lambda: scrape(metrics_port, "/healthz")[0] == 503, 20)
        assert json.loads(scrape(metrics_port, "/healthz")[1])["ok"] is False
        # the healthy camera keeps producing events while the other is down
        assert sub.wait_for(lambda: len(sub.payloads("shelf-file/events")) > n_events, 15)
        mjpeg_server.start()  # and comes back on the same URL
        _, text = scrape(metrics_port)
        down = metric(text, "smartshelf_frames_processed_total", "shelf-stream")
        assert sub.wait_for(lambda: metric(scrape(metrics_port)[1],
                                           "smartshelf_frames_processed_total",
                                           "shelf-stream") > down + 10, 15)
        _, text = scrape(metrics_port)
        assert metric(text, "smartshelf_reconnects_total", "shelf-stream") >= 1
        assert sum(1 for line in text.splitlines()
                   if line.startswith("smartshelf_events_total") and "shelf-file" in line) >= 1
        assert sub.payloads("test-node/stats"), "stats are published every stats_interval_s"
        stats = json.loads(sub.payloads("test-node/stats")[-1])
        assert stats["cameras"]["shelf-file"]["frames"] > 0

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        took = time.monotonic() - t0
        assert rc == 0, (tmp_path / "daemon.log").read_text()
        assert took < 5.0
        assert sub.wait_for(lambda: sub.payloads("test-node/status")[-1:] == [b"stopped"], 5)
        events = [json.loads(p) for p in sub.payloads("shelf-file/events")]
        assert all(e["camera"] == "shelf-file" for e in events)
        assert "Traceback" not in (tmp_path / "daemon.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sub.close()
        log.close()


@pytest.mark.slow
def test_sigkill_shows_offline_and_a_bad_model_refuses_to_start(mosquitto, models_dir, tmp_path):
    metrics_port = free_port()
    cfg = daemon_config(tmp_path, mosquitto.port, metrics_port, "http://127.0.0.1:9/none")
    sub = Subscriber(mosquitto.port)
    proc = subprocess.Popen([sys.executable, "-m", "smartshelf", "run", "-c", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        assert sub.wait_for(lambda: b"online" in sub.payloads("test-node/status"), 60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the broker publishes the last will once the keepalive (5 s here) lapses
        assert sub.wait_for(lambda: sub.payloads("test-node/status")[-1:] == [b"offline"], 20)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
    broken = tmp_path / "broken.tflite"
    broken.write_bytes((models_dir / "palm_detection_full.tflite").read_bytes()[:5000])
    text = cfg.read_text() + f"detectors:\n  hands:\n    model: {broken}\n"
    cfg.write_text(text)
    proc2 = subprocess.run([sys.executable, "-m", "smartshelf", "run", "-c", str(cfg)],
                           capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc2.returncode == 2
    assert str(broken) in proc2.stderr
    assert "Traceback" not in proc2.stderr
