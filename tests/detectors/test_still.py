"""Hands in pictures (a hand printed on a pack or a poster) are dropped; real hands are kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.config import CameraConfig, Config, HandDetectorConfig
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.detectors.recall import overlaps_any
from smartshelf.detectors.still import CHANGE, FrameMemory, box_change, judge, thumbnail
from smartshelf.runtime.pipeline import CameraPipeline
from smartshelf.types import Detections, Frame

FPS = 15.0


def _shelf(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((480, 640, 3), (150, 160, 170), np.float32)
    for x in range(40, 600, 70):  # packs with print: texture for the noise to act on
        img[300:420, x:x + 60] = (60 + x % 90, 90, 200 - x % 70)
        img[320:400:12, x + 5:x + 55] = (240, 240, 240)
    img += rng.normal(0.0, 3.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _boxes(*rows: list[float]) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 4)


def test_box_change_ignores_noise_and_gain_but_not_something_arriving():
    a = _shelf(1)
    brighter = np.clip(_shelf(2).astype(np.float32) * 1.2, 0, 255).astype(np.uint8)
    arrived = a.copy()
    arrived[310:410, 100:200] = (80, 120, 190)
    boxes = _boxes([90, 300, 210, 420], [400, 300, 520, 420])
    assert np.all(box_change(thumbnail(a), thumbnail(brighter), boxes) < CHANGE)
    change = box_change(thumbnail(arrived), thumbnail(a), boxes)
    assert change[0] > 0.5 and change[1] == 0.0


def test_a_box_outside_the_picture_is_never_judged_still():
    t = thumbnail(_shelf())
    assert box_change(t, t, _boxes([700, 500, 760, 560]))[0] == 1.0


def test_frame_memory_answers_only_once_it_reaches_back_far_enough():
    mem = FrameMemory(window_s=1.0)
    looks = {}
    for i in range(31):  # 2 s at 15 fps
        ts = i / FPS
        looks[ts] = np.full((4, 4), float(i), np.float32)
        if ts < 1.0:
            assert mem.before(ts, (4, 4)) is None
        mem.add(ts, looks[ts])
        before = mem.before(ts, (4, 4))
        if ts >= 1.0:
            assert before is not None
            age = ts - float(before[0, 0]) / FPS
            assert 1.0 - 1e-6 <= age <= 1.0 + 0.25 + 1e-6  # one kept look per 0.25 s
    assert mem.before(2.0, (2, 2)) is None  # the source changed size: nothing to compare with
    # a frame with no hand is only worth a thumbnail once per KEEP_EVERY_S, or on a new stream
    assert not mem.wants(2.0 + 1 / FPS) and mem.wants(2.25) and mem.wants(1.0)
    mem.add(0.0, np.zeros((4, 4), np.float32))  # time went back: a new stream
    assert mem.before(0.5, (4, 4)) is None
    mem.add(3.0, np.zeros((2, 2), np.float32))  # the source changed size
    assert mem.before(3.0, (2, 2)) is None


def test_judge_keeps_real_hands_and_new_ones_where_the_picture_changed():
    before = thumbnail(_shelf(1))
    now_img = _shelf(2)
    now_img[310:410, 100:200] = (80, 120, 190)  # something arrived here
    now = thumbnail(now_img)
    dets = _boxes([90, 300, 210, 420], [400, 300, 520, 420], [260, 300, 380, 420])
    real_before = _boxes([250, 290, 370, 410])  # the third box continues a real hand
    keep, real = judge(dets, real_before, now, before)
    assert keep.tolist() == real.tolist() == [True, False, True]
    # nothing to compare with yet: all kept, but only the continued hand is real
    keep, real = judge(dets, real_before, now, None)
    assert keep.tolist() == [True, True, True] and real.tolist() == [False, False, True]


@pytest.fixture(scope="module")
def hand_photo(shared_data: Path) -> np.ndarray:
    """A real hand (handtrack.js demo image 0, MIT) cut out at its own size."""
    img = cv2.imread(str(shared_data / "hands" / "handtrackjs" / "0.jpg"))
    return img[180:320, 280:390].copy()


def _frames(hand: np.ndarray) -> list[tuple[float, np.ndarray, tuple[int, int, int, int]]]:
    """6 s: a hand photo on a poster at the top left the whole time; a real hand (the same
    photo) rises from below the picture from 1 s to 2 s and then holds still."""
    h, w = hand.shape[:2]
    base = _shelf(5)
    base[40:40 + h, 60:60 + w] = hand
    out = []
    for i in range(int(6 * FPS)):
        ts = i / FPS
        frame = base.copy()
        u = min(1.0, max(0.0, ts - 1.0))
        y = int(480 + (250 - 480) * u)
        frame[y:min(480, y + h), 400:400 + w] = hand[: max(0, min(h, 480 - y))]
        out.append((ts, frame, (400, y, 400 + w, y + h)))
    return out


def _run(models_dir: Path, still_after_s: float, hand: np.ndarray) -> list[tuple[float, np.ndarray]]:
    cam = CameraConfig("c", "rtsp://x/y")
    cfg = Config(cameras=(cam,))
    cfg = dataclasses.replace(cfg, detectors=dataclasses.replace(
        cfg.detectors, hands=HandDetectorConfig(still_after_s=still_after_s)))
    detector = build_hand_detector(cfg.detectors.hands, models_dir, lambda p: p)  # type: ignore[arg-type]
    pipe = CameraPipeline(cam, cfg, detector, parallel=False)
    return [(ts, pipe.process(Frame("c", i, ts, img)).hands.xyxy)
            for i, (ts, img, _) in enumerate(_frames(hand))]


def test_a_hand_on_a_poster_is_dropped_and_a_real_one_kept_while_it_holds_still(
        models_dir: Path, hand_photo: np.ndarray) -> None:
    h, w = hand_photo.shape[:2]
    poster = _boxes([60, 40, 60 + w, 40 + h])
    resting = _boxes([400, 250, 400 + w, 250 + h])
    off = _run(models_dir, 0.0, hand_photo)
    # the detector does see the poster's hand: without the check it is a hand in every frame
    assert sum(bool(overlaps_any(b, poster).any()) for _, b in off) >= 0.9 * len(off)
    on = _run(models_dir, 2.0, hand_photo)
    after = [(ts, b) for ts, b in on if ts >= 2.0]
    assert not any(overlaps_any(b, poster).any() for _, b in after)
    # the real hand, found on its way up, is kept while it rests: up to 4 s after it stopped
    assert all(overlaps_any(b, resting).any() for _, b in after)


class _HandInBigFrames:
    """Finds one hand at a fixed box in every 640x480 frame, none in smaller ones."""

    def __init__(self, box: list[float]) -> None:
        self.box = _boxes(box)

    def detect(self, image_bgr):
        found = self.box if image_bgr.shape[1] == 640 else self.box[:0]
        return Detections(found, np.ones(len(found), np.float32))

    def model_digests(self):
        return {}


def test_a_source_that_changes_size_is_not_compared_with_its_old_looks():
    """The first frame at a new size has no look from before at that size: its hands are kept
    unjudged (comparing thumbnails of two sizes read pixels that do not correspond, and failed
    for a box beyond the old size)."""
    cam = CameraConfig("c", "rtsp://x/y")
    pipe = CameraPipeline(cam, Config(cameras=(cam,)), _HandInBigFrames([500, 400, 600, 470]), parallel=False)
    small = np.full((240, 320, 3), 120, np.uint8)
    for i in range(int(2.5 * FPS)):
        pipe.process(Frame("c", i, i / FPS, small))
    big = np.full((480, 640, 3), 120, np.uint8)
    assert len(pipe.process(Frame("c", 99, 2.5, big)).hands) == 1
