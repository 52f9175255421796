"""HandTracker: TrackerConfig in seconds, Detections in, Tracks out."""

from __future__ import annotations

import numpy as np

from smartshelf.config import TrackerConfig
from smartshelf.tracking.hands import HandTracker
from smartshelf.types import Detections


def _dets(*boxes: list[float]) -> Detections:
    xyxy = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return Detections(xyxy=xyxy, score=np.full(len(xyxy), 0.9, np.float32))


def test_confirmed_after_min_hits_detections_then_coasts_then_goes() -> None:
    ht = HandTracker(TrackerConfig(max_age_s=0.3, min_hits=2, iou_threshold=0.1), camera="c")
    hand = [100.0, 100.0, 160.0, 180.0]
    assert len(ht.update(_dets(hand), 0.0)) == 0  # one detection: not yet a hand track
    tr = ht.update(_dets(hand), 0.1)
    assert tr.track_id.tolist() == [1] and tr.matched.tolist() == [True]
    tr = ht.update(Detections.empty(), 0.2)  # coasting inside max_age_s
    assert tr.track_id.tolist() == [1] and tr.matched.tolist() == [False]
    np.testing.assert_allclose(tr.xyxy[0], hand, atol=2.0)
    tr = ht.update(_dets(hand), 0.35)  # found again: same id, still confirmed
    assert tr.track_id.tolist() == [1] and tr.matched.tolist() == [True]
    assert len(ht.update(Detections.empty(), 0.5)) == 1  # 0.15 s unseen
    assert len(ht.update(Detections.empty(), 0.7)) == 0  # 0.35 s unseen > 0.3 s: deleted


def test_two_cameras_have_their_own_ids() -> None:
    cfg = TrackerConfig(max_age_s=0.5, min_hits=1, iou_threshold=0.1)
    a, b = HandTracker(cfg, "a"), HandTracker(cfg, "b")
    a.update(_dets([0, 0, 10, 10], [50, 50, 60, 60]), 0.0)
    assert b.update(_dets([0, 0, 10, 10]), 0.0).track_id.tolist() == [1]


def test_fast_hand_with_low_iou_keeps_its_track() -> None:
    """iou_threshold 0.1 (hands move fast): a box shifted by 60% of its width still matches."""
    ht = HandTracker(TrackerConfig(max_age_s=0.5, min_hits=1, iou_threshold=0.1))
    ids = set()
    for i in range(10):
        x = 30.0 * i
        ids.update(ht.update(_dets([x, 0, x + 50, 50]), i / 15).track_id.tolist())
    assert ids == {1}
