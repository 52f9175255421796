"""Nothing is lost across a broker outage, through the real command line and daemon.

A replay while the broker is down keeps its events in the on-disk outbox; the daemon started
later on the same outbox delivers them once the broker is back, in order.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from smartshelf.publishers.outbox import Outbox

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo.mp4"
DEFAULT = REPO / "configs" / "default.yaml"


def test_events_queued_while_the_broker_is_down_arrive_after_the_next_start(
    mosquitto, models_dir: Path, tmp_path: Path
) -> None:
    """Guards against a replay or restart that drops, reorders or forgets queued events."""
    port = mosquitto.port
    mosquitto.stop()  # the broker is down for the whole replay
    outbox = tmp_path / "outbox.sqlite"
    replay_cfg = tmp_path / "replay.yaml"
    text = DEFAULT.read_text().replace("../recordings/demo.mp4", str(DEMO))
    text = text.replace("  embedded: true\n  port: 18830\n", f"  port: {port}\n")
    replay_cfg.write_text(text.replace("../state/outbox.sqlite", str(outbox)))
    first = tmp_path / "first.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "smartshelf", "replay", "-c", str(replay_cfg), "-q",
         "--events-out", str(first)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    expected = [json.loads(line)["event_id"] for line in first.read_text().splitlines()]
    assert len(expected) == 7
    queued = Outbox(outbox, max_events=10_000)
    assert [item.event_id for item in queued.pending(limit=100)] == expected
    queued.close()

    mosquitto.start()  # same port
    received: list[str] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="outage-sub")
    sub.on_message = lambda c, u, m: received.append(json.loads(m.payload)["event_id"])
    sub.connect("127.0.0.1", port)
    sub.subscribe("smartshelf/+/events", qos=1)
    sub.loop_start()
    daemon_cfg = tmp_path / "daemon.yaml"
    daemon_cfg.write_text(
        f"""node: outage-node
cameras:
  - name: quiet
    source: http://127.0.0.1:9/none
    zones:
      - name: Z1
        polygon: [[0, 0], [30, 0], [30, 30], [0, 30]]
mqtt:
  port: {port}
outbox:
  path: {outbox}
"""
    )
    log = tmp_path / "daemon.log"
    with log.open("w") as log_file:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "smartshelf", "run", "-c", str(daemon_cfg)],
            stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(received) < len(expected):
                time.sleep(0.1)
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0, log.read_text()
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            sub.loop_stop()
            sub.disconnect()
    assert received == expected, log.read_text()
    drained = Outbox(outbox, max_events=10_000)
    assert drained.depth() == 0
    drained.close()
