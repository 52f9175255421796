"""The model backend of shelf occupancy (`detectors.shelf.type: tf_od`).

What this proves: a REAL SavedModel, exported here with TF from a `tf.Module` whose
`serving_default` signature takes uint8 [1, H, W, 3] and returns the OD API outputs
(detection_boxes / detection_scores / detection_classes / num_detections), is loaded through
`TfOdDetector`; its outputs are computed from the pixels (bright blobs on a dark background
scored over a fixed grid of candidate boxes, then TF's NMS), decoded to frame pixels, filtered
by class and score, counted per zone by box centre, and turned by the `OccupancyTracker` into
counts, fills, hand occlusion and a before/after `ZoneChange` (a pick: the count drops by one).
The factory picks the backend from the config, and the pipeline carries the counts and the
shelf model's digest.

What it does not prove: the accuracy of any real product detector on real shelves. The blob
model only stands in for one so the whole model path runs for real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartshelf.config import (
    CameraConfig,
    Config,
    DetectorsConfig,
    FusionConfig,
    HandDetectorConfig,
    ShelfDetectorConfig,
    ZoneConfig,
)
from smartshelf.detectors.shelf import OccupancyTracker, ReferenceShelfDetector
from smartshelf.detectors.shelf_model import (
    ModelShelfDetector,
    build_shelf_detector,
    count_change,
    count_fill,
    count_per_zone,
    measurement_due,
    merge_classes,
    points_in_polygon,
)
from smartshelf.errors import ModelError
from smartshelf.models import sha256_file
from smartshelf.types import Detections, Frame, SurfaceState

W, H = 320, 240
MODEL_W, MODEL_H = 160, 120  # the blob model looks at the frame at half size
BOX_W, BOX_H = 12, 16  # candidate box in model pixels = a 24 x 32 product in the frame
STRIDE = 2
MAX_DETECTIONS = 20

ZONE_A = ((10.0, 20.0), (150.0, 20.0), (150.0, 110.0), (10.0, 110.0))
ZONE_B = ((170.0, 20.0), (310.0, 20.0), (310.0, 110.0), (170.0, 110.0))
ZONE_C = ((10.0, 130.0), (310.0, 130.0), (160.0, 230.0))  # a triangle
BLUE = (250, 200, 160)  # BGR: bright, more blue than red -> class 1
RED = (150, 190, 250)  # BGR: bright, more red than blue -> class 2


def export_blob_model(path: Path) -> Path:
    """A SavedModel that finds 24 x 32 bright blobs: class 1 bluish, class 2 reddish."""
    import tensorflow as tf

    class BlobDetector(tf.Module):  # type: ignore[misc]
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
        def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            rgb = tf.image.resize(tf.cast(images, tf.float32), (MODEL_H, MODEL_W), method="area")
            bright = tf.cast(tf.reduce_mean(rgb, axis=-1, keepdims=True) > 128.0, tf.float32)
            blue_minus_red = rgb[..., 2:3] - rgb[..., 0:1]
            pool = {"ksize": (BOX_H, BOX_W), "strides": STRIDE, "padding": "VALID"}
            score_map = tf.nn.avg_pool2d(bright, **pool)[0, :, :, 0]
            hue_map = tf.nn.avg_pool2d(blue_minus_red, **pool)[0, :, :, 0]
            gy = tf.cast(tf.range(tf.shape(score_map)[0]) * STRIDE, tf.float32)
            gx = tf.cast(tf.range(tf.shape(score_map)[1]) * STRIDE, tf.float32)
            yy, xx = tf.meshgrid(gy, gx, indexing="ij")
            boxes = tf.stack([yy / MODEL_H, xx / MODEL_W, (yy + BOX_H) / MODEL_H,
                              (xx + BOX_W) / MODEL_W], axis=-1)
            boxes = tf.reshape(boxes, (-1, 4))
            scores = tf.reshape(score_map, (-1,))
            keep, kept_scores = tf.image.non_max_suppression_with_scores(
                boxes, scores, MAX_DETECTIONS, iou_threshold=0.3, score_threshold=0.5)
            classes = tf.where(tf.gather(tf.reshape(hue_map, (-1,)), keep) > 0.0, 1.0, 2.0)
            n = tf.shape(keep)[0]
            pad = MAX_DETECTIONS - n
            return {
                "detection_boxes": tf.pad(tf.gather(boxes, keep), [[0, pad], [0, 0]])[None],
                "detection_scores": tf.pad(kept_scores, [[0, pad]])[None],
                "detection_classes": tf.pad(classes, [[0, pad]])[None],
                "num_detections": tf.cast(n, tf.float32)[None],
            }

    module = BlobDetector()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


@pytest.fixture(scope="module")
def blob_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_blob_model(tmp_path_factory.mktemp("shelf_model") / "blobs")


def product(img: np.ndarray, x: int, y: int, colour: tuple[int, int, int] = BLUE) -> None:
    """A 24 x 32 product, top-left at (x, y): multiples of 4 fill one model candidate exactly."""
    img[y:y + 32, x:x + 24] = colour


# Products in A (3 blue), B (2 blue + 1 red), C (1 blue), and one blue product whose box
# overlaps A but whose centre (x 152) lies between A and B: it belongs to no zone.
A_SLOTS = [(20, 40), (60, 40), (100, 40)]
B_SLOTS = [(180, 40), (220, 40)]


def shelf_frame(a_items: int = 3, hand_over_a: bool = False) -> np.ndarray:
    img = np.full((H, W, 3), 40, np.uint8)
    for x, y in A_SLOTS[:a_items]:
        product(img, x, y)
    for x, y in B_SLOTS:
        product(img, x, y)
    product(img, 260, 40, RED)
    product(img, 140, 72)
    product(img, 148, 152)
    if hand_over_a:
        img[30:120, 50:130] = 100  # a hand (not bright: the blob model does not see it) over A
    return img


def camera(*zones: ZoneConfig) -> CameraConfig:
    return CameraConfig("shelf", "rtsp://camera.local/stream", zones)


ZONES = (ZoneConfig("A", ZONE_A, capacity=6), ZoneConfig("B", ZONE_B), ZoneConfig("C", ZONE_C))
HAND_OVER_A = np.array([[50, 30, 130, 120]], np.float32)
NO_HANDS = np.zeros((0, 4), np.float32)


# ---------------------------------------------------------------------------------------------
# Pure parts


SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
TRIANGLE = ((0.0, 0.0), (10.0, 0.0), (0.0, 10.0))


@pytest.mark.parametrize(("polygon", "point", "inside"), [
    (SQUARE, (5.0, 5.0), True),
    (SQUARE, (11.0, 5.0), False),
    (SQUARE, (5.0, -0.1), False),
    (TRIANGLE, (2.0, 2.0), True),
    (TRIANGLE, (6.0, 6.0), False),  # inside the bounding box, outside the triangle
    (((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 3.0), (0.0, 10.0)), (5.0, 8.0), False),  # notch
    (((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 3.0), (0.0, 10.0)), (2.0, 5.0), True),
])
def test_points_in_polygon(polygon, point, inside) -> None:
    assert points_in_polygon(np.array([point]), polygon).tolist() == [inside]


def test_a_point_on_a_shared_edge_belongs_to_exactly_one_zone() -> None:
    left = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
    right = ((10.0, 0.0), (20.0, 0.0), (20.0, 10.0), (10.0, 10.0))
    on_edge = np.array([[10.0, 5.0]])
    assert int(points_in_polygon(on_edge, left)[0]) + int(points_in_polygon(on_edge, right)[0]) == 1


@pytest.mark.parametrize(("boxes", "expected"), [
    ([], {"A": 0, "B": 0, "C": 0}),
    ([[20, 40, 44, 72]], {"A": 1, "B": 0, "C": 0}),
    ([[140, 70, 164, 102]], {"A": 0, "B": 0, "C": 0}),  # overlaps A, centre between A and B
    ([[130, 40, 160, 72]], {"A": 1, "B": 0, "C": 0}),  # sticks out of A, centre (145) inside
    ([[20, 40, 44, 72], [60, 40, 84, 72], [180, 40, 204, 72], [148, 150, 172, 182]],
     {"A": 2, "B": 1, "C": 1}),
    ([[150, 190, 170, 210]], {"A": 0, "B": 0, "C": 1}),  # in C's triangle
    ([[260, 190, 280, 210]], {"A": 0, "B": 0, "C": 0}),  # in C's bounding box, not its triangle
])
def test_count_per_zone_counts_box_centres(boxes, expected) -> None:
    assert count_per_zone(np.array(boxes, np.float32).reshape(-1, 4), ZONES) == expected


def test_count_per_zone_does_not_change_its_input() -> None:
    boxes = np.array([[20, 40, 44, 72], [148, 150, 172, 182]], np.float32)
    before = boxes.copy()
    assert count_per_zone(boxes, ZONES) == {"A": 1, "B": 0, "C": 1}
    np.testing.assert_array_equal(boxes, before)


@pytest.mark.parametrize(("count", "capacity", "fill"), [
    (0, 6, 0.0), (3, 6, 0.5), (6, 6, 1.0), (8, 6, 1.0), (0, None, 0.0), (4, None, 1.0)])
def test_count_fill(count, capacity, fill) -> None:
    assert count_fill(count, capacity) == pytest.approx(fill)


@pytest.mark.parametrize(("before", "after", "capacity", "changed", "direction"), [
    (3, 2, 6, 1.0, -1.0), (2, 4, 6, 1.0, 2.0), (3, 3, 6, 0.0, 0.0), (1, 0, None, 1.0, -1.0)])
def test_count_change(before, after, capacity, changed, direction) -> None:
    ch = count_change(before, after, capacity)
    assert (ch.count_before, ch.count_after) == (before, after)
    assert ch.changed_fraction == changed and ch.direction == direction
    assert ch.fill_before == pytest.approx(count_fill(before, capacity))
    assert ch.fill_after == pytest.approx(count_fill(after, capacity))


@pytest.mark.parametrize(("last", "ts", "interval", "due"), [
    (None, 0.0, 0.5, True), (0.0, 0.4, 0.5, False), (0.0, 0.5, 0.5, True), (0.0, 0.1, 0.0, True)])
def test_measurement_due(last, ts, interval, due) -> None:
    assert measurement_due(last, ts, interval) is due


def test_merge_classes_keeps_one_box_per_product() -> None:
    dets = Detections(xyxy=np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 0, 40, 10]], np.float32),
                      score=np.array([0.9, 0.8, 0.7], np.float32), class_id=np.array([1, 2, 1]))
    merged = merge_classes(dets)
    assert merged.xyxy.tolist() == [[0, 0, 10, 10], [30, 0, 40, 10]]
    assert merged.class_id.tolist() == [1, 1]


# ---------------------------------------------------------------------------------------------
# The real SavedModel


def shelf_cfg(model: Path, **kw: object) -> ShelfDetectorConfig:
    """Class 1 only, and a threshold that drops candidates a product only half fills."""
    args: dict[str, object] = {"score_threshold": 0.8, "classes": (1,), **kw}
    return ShelfDetectorConfig(type="tf_od", model=str(model), **args)  # type: ignore[arg-type]


def test_blob_model_boxes_follow_the_pixels(blob_model: Path) -> None:
    det = ModelShelfDetector(camera(*ZONES), shelf_cfg(blob_model), lambda p: Path(p))
    found = det.detect(Frame("shelf", 0, 0.0, shelf_frame()))
    # 3 in A, 2 in B, the straddler, the one in C (the red one is filtered by class)
    assert len(found) == 7
    assert set(found.class_id.tolist()) == {1}
    tops = sorted((round(float(b[0])), round(float(b[1]))) for b in found.xyxy)
    assert (20, 40) in tops and (260, 40) not in tops and (148, 152) in tops
    everything = ModelShelfDetector(camera(*ZONES), shelf_cfg(blob_model, classes=()),
                                    lambda p: Path(p)).detect(Frame("shelf", 0, 0.0, shelf_frame()))
    assert sorted(everything.class_id.tolist()) == [1] * 7 + [2]


def test_counts_per_zone_and_a_pick(blob_model: Path) -> None:
    cam = camera(*ZONES)
    cfg = shelf_cfg(blob_model, settle_s=0.3)
    det = ModelShelfDetector(cam, cfg, lambda p: Path(p))
    tracker = OccupancyTracker(cam, cfg, det.samplers((W, H)))
    ts = 0.0
    history = []

    def step(img: np.ndarray, hands: np.ndarray) -> dict:
        nonlocal ts
        m = det.measure(Frame("shelf", 0, ts, img))
        out = tracker.update(m, hands)
        history.append((ts, m.counts, out))
        ts += 0.1
        return out

    for _ in range(6):
        occ = step(shelf_frame(), NO_HANDS)
    assert history[0][1] == {"A": 3, "B": 2, "C": 1}
    assert occ["A"].state is SurfaceState.STABLE and occ["A"].count_estimate == 3
    assert occ["A"].fill == pytest.approx(3 / 6)
    assert occ["B"].count_estimate == 2 and occ["B"].fill == 1.0  # no capacity: stocked or not
    t_in = ts
    for _ in range(5):  # the hand hides the middle product of A: counts under it are not trusted
        occ = step(shelf_frame(hand_over_a=True), HAND_OVER_A)
        assert history[-1][1]["A"] < 3
        assert occ["A"].state is SurfaceState.OCCLUDED
        assert occ["A"].count_estimate == 3  # still the settled count
        assert tracker.compare("A", t_in) is None
    for _ in range(6):  # the hand left with the last product of A
        occ = step(shelf_frame(a_items=2), NO_HANDS)
    assert occ["A"].state is SurfaceState.STABLE
    assert occ["A"].count_estimate == 2 and occ["A"].fill == pytest.approx(2 / 6)
    assert occ["A"].direction < 0 and occ["A"].fill_before == pytest.approx(3 / 6)
    change = tracker.compare("A", t_in)
    assert change is not None
    assert (change.count_before, change.count_after) == (3, 2)
    assert change.direction == -1.0
    assert change.changed_fraction >= FusionConfig().min_changed_fraction
    assert occ["B"].state is SurfaceState.STABLE and occ["B"].count_estimate == 2
    assert tracker.compare("B", t_in) is None  # B never left its settled look


def test_measure_honours_interval_s(blob_model: Path) -> None:
    det = ModelShelfDetector(camera(*ZONES), shelf_cfg(blob_model, interval_s=0.5), lambda p: Path(p))
    measured = [bool(det.measure(Frame("shelf", i, i * 0.1, shelf_frame())).counts)
                for i in range(11)]
    assert measured == [True, False, False, False, False, True, False, False, False, False, True]


def test_factory_picks_the_backend(blob_model: Path, tmp_path: Path) -> None:
    cam = camera(*ZONES)
    assert isinstance(build_shelf_detector(cam, ShelfDetectorConfig(), Path), ReferenceShelfDetector)
    det = build_shelf_detector(cam, ShelfDetectorConfig(type="tf_od", model="blobs"),
                               lambda p: blob_model.parent / p)
    assert isinstance(det, ModelShelfDetector)
    assert list(det.model_digests()) == ["blobs"]
    with pytest.raises(ModelError, match="absent.*not found"):
        build_shelf_detector(cam, ShelfDetectorConfig(type="tf_od", model="absent"),
                             lambda p: tmp_path / p)


def test_pipeline_runs_the_model_backend(blob_model: Path, models_dir: Path) -> None:
    from smartshelf.detectors.factory import build_hand_detector
    from smartshelf.runtime.pipeline import CameraPipeline

    cam = camera(*ZONES)
    cfg = Config(cameras=(cam,), detectors=DetectorsConfig(
        hands=HandDetectorConfig(), shelf=shelf_cfg(blob_model)))
    hands = build_hand_detector(cfg.detectors.hands, models_dir, cfg.resolve)
    pipe = CameraPipeline(cam, cfg, hands, parallel=True)
    try:
        results = [pipe.process(Frame("shelf", i, i * 0.1, shelf_frame())) for i in range(5)]
    finally:
        pipe.close()
    last = results[-1].occupancy
    assert {z: o.count_estimate for z, o in last.items()} == {"A": 3, "B": 2, "C": 1}
    # events name the shelf model beside the palm model (read off the fusion stage's state)
    assert pipe._fusion._models["blobs"] == sha256_file(blob_model / "saved_model.pb")
