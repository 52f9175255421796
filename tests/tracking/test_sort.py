"""SORT's lifecycle, I/O contract and independence from OpenCV / TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from smartshelf.tracking.association import CENTRE_SIZE, box_rows
from smartshelf.tracking.sort import CONFIRMED, DELETED, LOST, TENTATIVE, BoxTracker, Sort
from smartshelf.types import TrackState

MOT15 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mot15"


def _det(x: float, y: float = 0.0, w: float = 20.0, h: float = 40.0) -> list[float]:
    return [x, y, x + w, y + h, 0.9]


def test_import_pulls_in_neither_opencv_nor_tensorflow() -> None:
    code = (
        "import sys, smartshelf.tracking.sort, smartshelf.tracking.hands; "
        "bad = [m for m in ('cv2', 'tensorflow') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_defaults_are_the_reference_ones() -> None:
    s = Sort()
    assert (s.max_age, s.min_hits, s.iou_threshold) == (1, 3, 0.3)


@pytest.mark.parametrize("empty", [None, np.zeros((0, 5)), [], np.empty((0,))])
def test_empty_frames_give_an_empty_n_by_5(empty: object) -> None:
    out = Sort().update(empty)
    assert out.shape == (0, 5)


def test_one_object_moving_keeps_one_integer_id() -> None:
    s = Sort()
    ids = set()
    for f in range(30):
        out = s.update(np.array([_det(5.0 * f)]))
        assert out.shape == (1, 5)
        ids.add(out[0, 4])
        np.testing.assert_allclose(out[0, :4], _det(5.0 * f)[:4], atol=3.0)
    assert ids == {1.0}


def test_warmup_then_min_hits_after_start() -> None:
    """Like the reference: tracks show from frame 1 during warm-up, later ones after 3 hits."""
    s = Sort()
    assert len(s.update(np.array([_det(0)]))) == 1  # frame 1: warm-up
    for _ in range(4):
        s.update(np.array([_det(0)]))
    seen = [len(s.update(np.array([_det(0), _det(500)]))) for _ in range(5)]
    # the new object at x=500 is started in frame 6, shown from its 4th detection (3 hits)
    assert seen == [1, 1, 1, 2, 2]


def test_lifecycle_states_and_deletion_after_max_age() -> None:
    t = BoxTracker(max_age=2, min_hits=1, iou_threshold=0.3)
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    none = np.zeros((0, 4))
    assert t.step(box, 0.0).states() == [TrackState.TENTATIVE]
    assert t.step(box, 1.0).states() == [TrackState.CONFIRMED]
    assert t.step(none, 2.0).states() == [TrackState.LOST]
    assert t.step(none, 3.0).states() == [TrackState.LOST]  # 2 since last match: still alive
    last = t.step(none, 4.0)
    assert last.states() == [TrackState.DELETED] and last.track_id.tolist() == [1]
    assert len(t) == 0 and len(t.step(none, 5.0).track_id) == 0


@pytest.mark.parametrize(("sticky", "expected"), [(False, TENTATIVE), (True, CONFIRMED)])
def test_a_miss_resets_confirmation_only_without_sticky(sticky: bool, expected: int) -> None:
    t = BoxTracker(max_age=5, min_hits=2, iou_threshold=0.3, sticky=sticky)
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    for ts in range(3):
        t.step(box, float(ts))
    assert t.step(np.zeros((0, 4)), 3.0).state.tolist() == [LOST]
    assert t.step(box, 4.0).state.tolist() == [expected]


def test_one_detection_overlapping_two_tracks_feeds_one_and_the_other_coasts() -> None:
    t = BoxTracker(max_age=5, min_hits=0, iou_threshold=0.3)
    t.step(np.array([[0.0, 0, 10, 10], [6.0, 0, 16, 10]]), 0.0)
    table = t.step(np.array([[1.0, 0, 11, 10]]), 1.0)  # overlaps both, the first one more
    assert table.track_id.tolist() == [1, 2]
    assert table.matched.tolist() == [True, False]
    assert table.state.tolist() == [CONFIRMED, LOST]


def test_two_detections_on_one_track_start_a_new_track_for_the_weaker() -> None:
    t = BoxTracker(max_age=5, min_hits=0, iou_threshold=0.3)
    t.step(np.array([[0.0, 0, 10, 10]]), 0.0)
    table = t.step(np.array([[4.0, 0, 14, 10], [1.0, 0, 11, 10]]), 1.0)
    assert table.track_id.tolist() == [1, 2]
    np.testing.assert_allclose(table.xyxy[1], [4.0, 0, 14, 10])  # the new track is the weaker
    assert table.matched.tolist() == [True, True]


@pytest.mark.parametrize("empty_box", [[50.0, 0, 50, 40], [50.0, 20, 70, 20], [50.0, 20, 50, 20]])
def test_an_empty_box_starts_a_track_that_goes_without_harming_the_others(
    empty_box: list[float],
) -> None:
    """Guards against a zero-size box's infinite or NaN aspect leaking into the other tracks
    (one matrix product steps them all) or raising numpy warnings."""
    t = BoxTracker(max_age=5, min_hits=0, iou_threshold=0.3)
    real = [0.0, 0, 20, 40]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.step(np.array([real, empty_box]), 0.0)
        table = t.step(np.array([real]), 1.0)
    assert table.track_id.tolist() == [1]
    np.testing.assert_allclose(table.xyxy[0], real, atol=1e-6)


def test_ids_are_counted_per_instance() -> None:
    a, b = Sort(min_hits=0), Sort(min_hits=0)
    a.update(np.array([_det(0), _det(100)]))
    assert b.update(np.array([_det(0)]))[:, 4].tolist() == [1.0]
    assert sorted(a.update(np.array([_det(0), _det(100)]))[:, 4].tolist()) == [1.0, 2.0]


@pytest.mark.parametrize(
    "bad",
    [
        [[0, 0, float("nan"), 10, 1]],
        [[0, 0, float("inf"), 10, 1]],
        [[10, 0, 0, 10, 1]],
        [[0, 0, 10, 10]],
    ],
)
def test_bad_detections_raise_a_clear_value_error(bad: list[list[float]]) -> None:
    s = Sort()
    with pytest.raises(ValueError, match=r"^Sort.update dets: expected .* got"):
        s.update(np.array(bad))
    assert s.frame_count == 0  # nothing half-applied


def test_timestamps_need_max_age_s_and_go_forward() -> None:
    with pytest.raises(ValueError, match="max_age_s"):
        Sort().update(np.zeros((0, 5)), ts_s=0.5)
    s = Sort(max_age_s=0.5)
    with pytest.raises(ValueError, match="max_age_s"):
        s.update(np.zeros((0, 5)))
    s.update(np.array([_det(0)]), ts_s=1.0)
    with pytest.raises(ValueError, match="previous"):
        s.update(np.zeros((0, 5)), ts_s=0.9)
    with pytest.raises(ValueError, match="finite"):
        s.update(np.zeros((0, 5)), ts_s=float("nan"))


def test_ages_in_seconds_do_not_depend_on_the_frame_rate() -> None:
    """A 0.4 s gap survives max_age 0.5 s at 10 fps and at 30 fps; deletion comes just past 0.5 s."""
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    for fps in (10.0, 30.0):
        t = BoxTracker(max_age=0.5, min_hits=0, iou_threshold=0.3)
        t.step(box, 0.0)
        n_gap = round(0.4 * fps)
        for i in range(1, n_gap + 1):
            t.step(np.zeros((0, 4)), i / fps)
        seen_at = (n_gap + 1) / fps
        table = t.step(box, seen_at)
        assert table.track_id.tolist() == [1] and table.state.tolist() == [CONFIRMED], fps
        i = 0
        while table.state.tolist() != [DELETED]:
            i += 1
            table = t.step(np.zeros((0, 4)), seen_at + i / fps)
        assert 0.5 < i / fps <= 0.5 + 1.0 / fps + 1e-9, fps


def test_runs_a_real_mot_sequence_with_sane_output() -> None:
    det_file = MOT15 / "TUD-Campus" / "det" / "det.txt"
    if not det_file.is_file():
        pytest.skip(f"MOT15 data not found at {det_file} (../shared/data is not in a user clone)")
    det = np.loadtxt(det_file, delimiter=",")
    s = Sort()
    ids: set[int] = set()
    for f in range(1, int(det[:, 0].max()) + 1):
        d = det[det[:, 0] == f, 2:7].copy()
        d[:, 2:4] += d[:, :2]
        out = s.update(d)
        assert out.shape[1] == 5 and np.all(np.isfinite(out))
        assert len(np.unique(out[:, 4])) == len(out)  # one box per id per frame
        assert len(out) <= len(d)  # SORT only reports tracks matched in this frame
        ids.update(out[:, 4].astype(int).tolist())
    assert 5 <= len(ids) <= len(det)


def test_tracker_boxes_equal_per_track_filterpy_through_misses_and_births() -> None:
    """The tracker's gathered / scattered batch path must give each track filterpy's numbers.

    Guards against a row mix-up when tracks are matched in a different order than stored,
    when some miss, when new ones are appended and when dead ones are dropped.
    """
    from smartshelf.tracking import kalman

    rng = np.random.default_rng(7)
    n_obj, n_steps = 6, 40
    corner = np.array([[300.0 * i, 50.0 * i] for i in range(n_obj)])
    starts = np.hstack([corner, corner + [40.0, 90.0]])  # far apart: no ambiguous matches
    t = BoxTracker(max_age=3, min_hits=1, iou_threshold=0.3)
    filters: dict[int, KalmanFilter] = {}
    owner: dict[int, int] = {}  # object index -> its live track's id
    next_id = 1
    for step in range(n_steps):
        present = [o for o in range(n_obj) if step >= o and rng.random() > 0.2]
        rng.shuffle(present)  # detection order differs from track order
        boxes = starts[present] + step * 2.0 + rng.normal(0, 1.0, (len(present), 4))
        for kf in filters.values():
            if kf.x[6, 0] + kf.x[2, 0] <= 0:
                kf.x[6, 0] = 0.0
            kf.predict()
        table = t.step(boxes, float(step))
        for o, box in zip(present, boxes, strict=True):  # new tracks get ids in detection order
            z = kalman.measure(box_rows("box", box[None])[CENTRE_SIZE])[:, 0]
            if owner.get(o) in filters:
                filters[owner[o]].update(z)
            else:
                kf = kalman.box_filter()
                kf.x[:4, 0] = z
                owner[o], filters[next_id] = next_id, kf
                next_id += 1
        assert sorted(table.track_id.tolist()) == sorted(filters)
        rows = zip(table.track_id.tolist(), table.xyxy, table.state.tolist(), strict=True)
        for tid, xyxy, state in rows:
            kf = filters[tid]
            want = kalman.boxes(kf.x)[:, 0]
            np.testing.assert_allclose(xyxy, want, rtol=1e-9, atol=1e-6, err_msg=f"{step} {tid}")
            if state == DELETED:
                del filters[tid]
    assert next_id > n_obj + 1  # some objects lost their track and started a new one
