"""The real pipeline on real video: the bundled recording and composed clips, through the CLI.

Every stage is real: OpenCV decodes the mp4, BlazePalm runs on LiteRT, SORT tracks, the occupancy
detector and fusion decide. Composed clips use five random seeds per run (tests/conftest.py;
shown in pytest's header); SMARTSHELF_TEST_SEEDS=a,b,c repeats a run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from smartshelf.config import load_config
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.evaluation import load_labels, score
from smartshelf.events.record import Event
from smartshelf.runtime.replay import replay, replay_camera
from smartshelf.synth.composer import compose, write_config
from smartshelf.synth.hands import default_hagrid_dir

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "recordings" / "demo.mp4"
DEMO_LABELS = REPO / "recordings" / "demo.labels.json"
DEFAULT = REPO / "configs" / "default.yaml"
GOLDEN = REPO / "tests" / "data" / "demo.events.jsonl"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartshelf", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def replay_events(cfg_path: Path, models_dir: Path) -> list[Event]:
    cfg = load_config(cfg_path)
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    cam = replay_camera(cfg, None, None)
    events: list[Event] = []
    hands = build_hand_detector(cfg.detectors.hands, models_dir, cfg.resolve)
    replay(cfg, cam, hands, [], on_result=lambda r: events.extend(r.events))
    return events


@pytest.fixture(scope="module")
def demo_replay(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "events.jsonl"
    proc = run_cli("replay", str(DEMO), "-c", str(DEFAULT), "--no-mqtt", "-q",
                   "--events-out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_demo_replay_finds_every_labelled_pick_and_return_and_nothing_else(demo_replay: Path):
    events = [json.loads(line) for line in demo_replay.read_text().splitlines()]
    labels = load_labels(DEMO_LABELS)
    assert sum(lab.type == "pick" for lab in labels) >= 2
    assert sum(lab.type == "return" for lab in labels) >= 1
    assert sum(lab.type == "touch" for lab in labels) >= 1
    for lab in labels:
        hits = [e for e in events if e["type"] == lab.type and e["zone"] == lab.zone
                and abs(e["t_end_s"] - lab.t_s) <= 1.0]
        assert len(hits) == 1, f"label {lab} matched {hits}"
    assert len(events) == len(labels), [(e["type"], e["zone"], e["t_end_s"]) for e in events]
    for e in events:
        assert e["schema"] == 1 and e["camera"] == "demo-shelf"
        assert e["models"]["palm_detection_full.tflite"]  # the model that took part, by checksum


def test_demo_replay_is_byte_identical_to_the_golden_file(demo_replay: Path, models_dir: Path,
                                                           tmp_path: Path):
    """Deterministic replay: same file, same config -> the same bytes, run after run."""
    second = tmp_path / "again.jsonl"
    proc = run_cli("replay", str(DEMO), "-c", str(DEFAULT), "--no-mqtt", "-q",
                   "--events-out", str(second))
    assert proc.returncode == 0, proc.stderr
    assert second.read_bytes() == demo_replay.read_bytes()
    assert demo_replay.read_bytes() == GOLDEN.read_bytes(), (
        "events differ from tests/data/demo.events.jsonl: if the change is intended, "
        "regenerate it with `smartshelf replay recordings/demo.mp4 -c configs/default.yaml "
        "--no-mqtt -q --events-out tests/data/demo.events.jsonl`")


def test_eval_command_scores_the_demo_and_enforces_min_f1():
    proc = run_cli("eval", str(DEMO), "--labels", str(DEMO_LABELS), "-c", str(DEFAULT),
                   "--min-f1", "0.95")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "overall F1 1.000" in proc.stdout
    assert "latency after the hand left" in proc.stdout
    wrong = Path(os.environ.get("TMPDIR", "/tmp")) / "smartshelf-wrong-labels.json"
    data = json.loads(DEMO_LABELS.read_text())
    for ev in data["events"]:
        ev["t_s"] += 5.0  # every label off by 5 s: nothing can match
    wrong.write_text(json.dumps(data))
    proc = run_cli("eval", str(DEMO), "--labels", str(wrong), "-c", str(DEFAULT), "--min-f1", "0.5")
    assert proc.returncode == 1
    assert "below --min-f1" in proc.stderr


@pytest.fixture(scope="module")
def composed_scores(models_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                    composed_seeds: list[int]):
    if not default_hagrid_dir().is_dir():
        pytest.skip(f"HaGRID hands not found at {default_hagrid_dir()} (../shared is absent)")
    root = tmp_path_factory.mktemp("composed")
    all_events: list[Event] = []
    all_labels = []
    for i, seed in enumerate(composed_seeds):
        video = root / f"seed{seed}.mp4"
        spec = compose(seed, video)
        events = replay_events(write_config(spec, root / f"seed{seed}.yaml", video), models_dir)
        labels = load_labels(video.with_name(video.stem + ".labels.json"))
        off = 1000.0 * i  # one score over all clips: keep their times apart
        all_events += [dataclasses.replace(e, t_end_s=e.t_end_s + off, t_emit_s=e.t_emit_s + off)
                       for e in events]
        all_labels += [dataclasses.replace(lab, t_s=lab.t_s + off) for lab in labels]
    return composed_seeds, score(all_events, all_labels)


@pytest.mark.parametrize("kind", ["pick", "return"])
def test_composed_clips_precision_and_recall(composed_scores, kind):
    seeds, result = composed_scores
    s = result.per_type[kind]
    assert s.true_positives + s.false_negatives > 0
    assert s.precision >= 0.95, f"seeds {seeds}: {s}"
    assert s.recall >= 0.95, f"seeds {seeds}: {s}"


def test_composed_clips_latency(composed_scores):
    seeds, result = composed_scores
    assert result.latency_p95_s() <= 0.5, f"seeds {seeds}: {result.latencies_s}"


def test_annotated_video_has_every_frame(models_dir: Path, tmp_path: Path):
    out = tmp_path / "annotated.mp4"
    proc = run_cli("replay", str(DEMO), "-c", str(DEFAULT), "--no-mqtt", "-q",
                   "--annotate", str(out))
    assert proc.returncode == 0, proc.stderr

    def count(p: Path) -> int:
        cap = cv2.VideoCapture(str(p))
        n = 0
        while cap.grab():
            n += 1
        cap.release()
        return n

    assert count(out) == count(DEMO) > 0


def test_replay_publishes_every_event_to_a_real_broker(mosquitto, demo_replay: Path, tmp_path: Path):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received: list[dict] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-sub")
    sub.on_message = lambda c, u, m: received.append(json.loads(m.payload))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("smartshelf/+/events", qos=1)
    sub.loop_start()
    cfg = tmp_path / "c.yaml"
    text = DEFAULT.read_text().replace("../recordings/demo.mp4", str(DEMO))
    text = text.replace("  embedded: true\n  port: 18830\n", f"  port: {mosquitto.port}\n")
    text = text.replace("../state/outbox.sqlite", str(tmp_path / "outbox.sqlite"))
    cfg.write_text(text)
    try:
        proc = run_cli("replay", "-c", str(cfg), "-q")
        assert proc.returncode == 0, proc.stderr
        import time

        expected = [json.loads(line)["event_id"] for line in demo_replay.read_text().splitlines()]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(received) < len(expected):
            time.sleep(0.1)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert [e["event_id"] for e in received] == expected


def test_replay_with_recording_writes_a_clip_per_event_and_snapshots_for_review(
        models_dir: Path, tmp_path: Path):
    """Events under fusion.review_below are flagged and name the snapshot the clip recorder
    wrote; every event gets a clip with its JSON sidecar."""
    cfg = tmp_path / "c.yaml"
    text = DEFAULT.read_text().replace("../recordings/demo.mp4", str(DEMO))
    text = text.replace("../state/outbox.sqlite", str(tmp_path / "outbox.sqlite"))
    text += f"recording:\n  enabled: true\n  dir: {tmp_path / 'rec'}\nfusion:\n  review_below: 1.0\n"
    cfg.write_text(text)
    out = tmp_path / "events.jsonl"
    proc = run_cli("replay", "-c", str(cfg), "--no-mqtt", "-q", "--events-out", str(out))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == len(load_labels(DEMO_LABELS))
    for e in events:
        assert e["review"] is True
        snap = Path(e["snapshot"])
        assert snap.is_file() and cv2.imread(str(snap)) is not None
        assert snap.with_suffix(".mp4").is_file()
        assert json.loads(snap.with_suffix(".json").read_text())["event_id"] == e["event_id"]
