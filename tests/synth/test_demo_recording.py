"""The bundled recording: what its README and labels promise, and a real palm detector sees the hand."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from smartshelf.config import HandDetectorConfig, load_config
from smartshelf.synth.composer import plan
from smartshelf.synth.hands import default_hagrid_dir

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo.mp4"
LABELS = REPO / "recordings" / "demo.labels.json"
DEFAULT = REPO / "configs" / "default.yaml"
SEED, INTERACTIONS = 6, 7  # as recordings/README.md says it was made

needs_hands = pytest.mark.skipif(not default_hagrid_dir().is_dir(),
                                 reason=f"HaGRID hands not found at {default_hagrid_dir()}")


def test_demo_file_is_small_and_in_the_promised_format(read_video):
    assert DEMO.stat().st_size < 5 * 2**20
    cap = cv2.VideoCapture(str(DEMO))
    assert cap.isOpened()
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
    cap.release()
    n = len(read_video(DEMO))
    assert 20.0 <= n / 15.0 <= 60.0


def test_demo_labels_have_every_kind_of_interaction():
    data = json.loads(LABELS.read_text())
    assert data["video"] == "demo.mp4"
    kinds = [e["type"] for e in data["events"]]
    assert len(kinds) >= 5 and kinds.count("pick") >= 2 and kinds.count("return") >= 1
    assert kinds.count("touch") >= 1
    zones = {z.name for z in load_config(DEFAULT).cameras[0].zones}
    assert {e["zone"] for e in data["events"]} <= zones


@needs_hands
def test_bundled_files_are_what_the_documented_command_makes(read_video):
    """The labels and default.yaml zones must come from the same seed as the video."""
    spec = plan(SEED, interactions=INTERACTIONS)
    assert json.loads(LABELS.read_text())["events"] == [dict(lab) for lab in spec.labels]
    cam = load_config(DEFAULT).cameras[0]
    assert Path(cam.source) == DEMO
    assert [(z.name, z.polygon, z.sku, z.capacity) for z in cam.zones] == [
        (f.name, tuple((float(x), float(y)) for x, y in f.polygon), f.sku, f.capacity)
        for f in spec.zones]
    assert len(read_video(DEMO)) == spec.frames


@needs_hands
def test_palm_detector_finds_the_hand_in_dwells_and_nothing_on_the_empty_shelf(models_dir: Path,
                                                                              read_video):
    from smartshelf.detectors.palm import PalmDetector

    det = PalmDetector(HandDetectorConfig(), models_dir / "palm_detection_full.tflite")
    spec = plan(SEED, interactions=INTERACTIONS)
    frames = read_video(DEMO)
    hits = dwell = empty_hits = empty = 0
    for i, frame in enumerate(frames):
        t = i / spec.fps
        if any(x.t_arrive_s <= t < x.t_depart_s for x in spec.interactions):
            dwell += 1
            hits += int((det.detect(frame).score >= 0.5).any())
        elif i % 3 == 0 and not any(x.t_enter_s <= t < x.t_gone_s for x in spec.interactions):
            empty += 1
            empty_hits += int((det.detect(frame).score >= 0.5).any())
    assert dwell > 80 and empty > 50
    assert hits / dwell >= 0.95, f"hand found in {hits} of {dwell} dwell frames"
    assert empty_hits == 0, f"a hand 'found' in {empty_hits} of {empty} frames of an empty shelf"
