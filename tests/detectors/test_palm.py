"""The palm detector: pure geometry (anchors, decode, letterbox, tiles, NMS, hand boxes) and the
real BlazePalm model on real images, plus the ModelErrors a bad model file must give."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.config import HandDetectorConfig
from smartshelf.detectors.anchors import AnchorOptions, decode_boxes, sigmoid_scores, ssd_anchors
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.detectors.letterbox import (
    Letterbox,
    clip_region,
    letterbox_for,
    letterbox_image,
    tile_regions,
)
from smartshelf.detectors.nms import greedy_nms, weighted_nms
from smartshelf.detectors.palm import PalmDetector, hand_boxes
from smartshelf.errors import ModelError
from smartshelf.models import PALM_FULL, PALM_LITE

# ---------------------------------------------------------------------------------------------
# anchors and decoding


def test_palm_anchors_match_mediapipe_layout() -> None:
    a = ssd_anchors()
    assert a.shape == (2016, 4)
    # layer 0: 24x24 cells, 2 anchors each (aspect 1.0 + the interpolated one); then 12x12 x 6
    np.testing.assert_allclose(a[0], [0.5 / 24, 0.5 / 24, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 24, 0.5 / 24, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[1151], [23.5 / 24, 23.5 / 24, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[1152], [0.5 / 12, 0.5 / 12, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[1157], a[1152])
    np.testing.assert_allclose(a[1158], [1.5 / 12, 0.5 / 12, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[-1], [11.5 / 12, 11.5 / 12, 1, 1], atol=1e-7)


def test_anchor_sizes_when_not_fixed() -> None:
    opts = AnchorOptions(input_size=32, strides=(16, 32), min_scale=0.2, max_scale=0.6,
                         fixed_anchor_size=False)
    a = ssd_anchors(opts)
    assert a.shape == (2 * 2 * 2 + 1 * 1 * 2, 4)
    np.testing.assert_allclose(a[0, 2:], [0.2, 0.2], rtol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [np.sqrt(0.2 * 0.6)] * 2, rtol=1e-6)  # interpolated
    np.testing.assert_allclose(a[-1, 2:], [np.sqrt(0.6 * 1.0)] * 2, rtol=1e-6)  # last: next is 1.0


def test_decode_boxes_offsets_from_anchor_centre() -> None:
    anchors = np.asarray([[0.25, 0.5, 1.0, 1.0]], np.float32)
    raw = np.zeros((1, 18), np.float32)
    raw[0, :4] = [19.2, -9.6, 96.0, 48.0]  # x, y, w, h in input pixels (192 = 1.0)
    raw[0, 4:6] = [0.0, 19.2]  # keypoint 0
    boxes, kp = decode_boxes(raw, anchors, 192.0, 7)
    np.testing.assert_allclose(boxes[0], [0.35 - 0.25, 0.45 - 0.125, 0.35 + 0.25, 0.45 + 0.125], atol=1e-6)
    np.testing.assert_allclose(kp[0, 0], [0.25, 0.6], atol=1e-6)
    np.testing.assert_allclose(kp[0, 1], [0.25, 0.5], atol=1e-6)


def test_sigmoid_scores_clip_and_stay_finite() -> None:
    s = sigmoid_scores(np.asarray([-1e9, 0.0, 1e9], np.float32))
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s, [1 / (1 + np.exp(100.0)), 0.5, 1 / (1 + np.exp(-100.0))],
                               rtol=1e-6, atol=1e-40)


# ---------------------------------------------------------------------------------------------
# letterbox and tiles


@pytest.mark.parametrize(("region", "expected"), [
    ((0, 0, 640, 480), Letterbox(0, -80, 640)),
    ((0, 0, 480, 640), Letterbox(-80, 0, 640)),
    ((100, 50, 300, 250), Letterbox(100, 50, 200)),
    ((10, 20, 110, 60), Letterbox(10, -10, 100)),
])
def test_letterbox_for_centres_the_square(region: tuple[float, float, float, float],
                                          expected: Letterbox) -> None:
    assert letterbox_for(region) == expected


def test_letterbox_round_trip() -> None:
    box = letterbox_for((30.0, 40.0, 670.0, 520.0))
    pts = np.asarray([[30, 40], [670, 520], [350.5, 280.25]], np.float32)
    np.testing.assert_allclose(box.to_frame(box.to_norm(pts)), pts, atol=1e-3)
    # the region's corners land inside the square, centred: 640x480 -> padding 1/8 each side
    np.testing.assert_allclose(box.to_norm(pts[:2]), [[0, 0.125], [1, 0.875]], atol=1e-6)


def test_letterbox_image_puts_pixels_where_the_map_says() -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:200, 300:400] = (255, 0, 0)  # blue in BGR
    tensor, box = letterbox_image(img, (0, 0, 640, 480), 192)
    assert tensor.shape == (192, 192, 3) and tensor.dtype == np.float32
    cx, cy = box.to_norm(np.asarray([350, 150], np.float32)) * 192
    assert tensor[int(cy), int(cx)].tolist() == pytest.approx([0.0, 0.0, 1.0])  # RGB now
    assert tensor[:23].max() == 0.0 and tensor[-23:].max() == 0.0  # 24 px zero padding rows
    # an ROI crop never shows what is around it
    tensor2, box2 = letterbox_image(img, (0, 0, 320, 240), 192)
    assert tensor2.max() == 1.0
    tensor3, _ = letterbox_image(img, (0, 0, 290, 240), 192)
    assert tensor3.max() == 0.0


def test_clip_region() -> None:
    assert clip_region((-10.5, 5.2, 700, 300.1), (640, 480)) == (0, 5, 640, 301)
    assert clip_region((700, 0, 800, 100), (640, 480)) is None


def test_tiles_cover_a_1080p_frame_with_overlap() -> None:
    tiles = tile_regions((0, 0, 1920, 1080), 640, 0.25)
    assert len(tiles) == 8
    covered = np.zeros((1080, 1920), bool)
    for x1, y1, x2, y2 in tiles:
        assert x2 - x1 == 640 and y2 - y1 == 640
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    assert all(b - a <= 640 * 0.75 for a, b in itertools.pairwise(xs))
    assert tile_regions((10, 10, 500, 400), 640, 0.25) == [(10, 10, 500, 400)]


# ---------------------------------------------------------------------------------------------
# NMS and hand boxes


def test_weighted_nms_blends_overlapping_boxes() -> None:
    boxes = np.asarray([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.asarray([0.9, 0.3, 0.6], np.float32)
    kps = np.asarray([[[0, 0]], [[4, 4]], [[55, 55]]], np.float32)
    b, s, k = weighted_nms(boxes, scores, kps, 0.3)
    assert s.tolist() == pytest.approx([0.9, 0.6])
    np.testing.assert_allclose(b[0], [0.25, 0.25, 10.25, 10.25], atol=1e-5)  # 0.9:0.3 blend
    np.testing.assert_allclose(b[1], [50, 50, 60, 60])
    assert k is not None
    np.testing.assert_allclose(k[0, 0], [1, 1], atol=1e-5)
    assert boxes[0].tolist() == [0, 0, 10, 10]  # inputs untouched


def test_weighted_nms_keeps_boxes_below_the_overlap_threshold() -> None:
    boxes = np.asarray([[0, 0, 10, 10], [6, 0, 16, 10]], np.float32)  # IoU 0.25
    b, s, _ = weighted_nms(boxes, np.asarray([0.8, 0.7], np.float32), None, 0.3)
    assert len(b) == 2 and s.tolist() == pytest.approx([0.8, 0.7])
    b, _, _ = weighted_nms(boxes, np.asarray([0.8, 0.7], np.float32), None, 0.2)
    assert len(b) == 1


def test_greedy_nms() -> None:
    boxes = np.asarray([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    assert greedy_nms(boxes, np.asarray([0.5, 0.9, 0.6]), 0.3).tolist() == [1, 2]


@pytest.mark.parametrize(("wrist", "middle", "expected"), [
    ((5, 10), (5, 0), (-5, -10, 15, 10)),  # fingers up: box reaches one palm above it
    ((0, 5), (10, 5), (0, -5, 20, 15)),  # fingers to the right
    ((5, 5), (5, 5), (-5, -10, 15, 10)),  # no direction: assume up
])
def test_hand_boxes_grow_towards_the_fingers(wrist: tuple[float, float], middle: tuple[float, float],
                                             expected: tuple[float, ...]) -> None:
    kp = np.zeros((1, 7, 2), np.float32)
    kp[0, 0], kp[0, 2] = wrist, middle
    np.testing.assert_allclose(hand_boxes(np.asarray([[0, 0, 10, 10]], np.float32), kp, 2.0)[0],
                               expected, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# the real model on real images


@pytest.fixture(scope="module")
def palm(models_dir: Path) -> PalmDetector:
    return PalmDetector(HandDetectorConfig(), models_dir / PALM_FULL)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _each_region_has_its_own_palm(centres: np.ndarray, regions: list[tuple[int, ...]]) -> bool:
    inside = [[r[0] <= x <= r[2] and r[1] <= y <= r[3] for (x, y) in centres] for r in regions]
    return any(all(inside[i][j] for i, j in enumerate(perm))
               for perm in itertools.permutations(range(len(centres)), len(regions)))


# Hand regions drawn from the images by eye (crops with the detections were looked at).
EYEBALLED = {
    "hands/handtrackjs/0.jpg": [(280, 180, 390, 320), (20, 170, 150, 320)],
    "hands/handtrackjs/4.jpg": [(0, 60, 125, 240), (130, 95, 290, 255), (65, 170, 220, 325),
                                (250, 165, 430, 345)],
    "hands/hagrid/call/0413d5c5-f5ba-476f-a921-ea5e967692a9.jpg": [(295, 105, 375, 185)],
}


@pytest.mark.parametrize("name", sorted(EYEBALLED))
def test_palms_lie_on_the_hands(palm: PalmDetector, shared_data: Path, name: str) -> None:
    img = cv2.imread(str(shared_data / name))
    det = palm.detect(img)
    regions = EYEBALLED[name]
    assert len(det) == len(regions)
    assert det.palm_xyxy is not None and det.keypoints_xy is not None
    assert det.keypoints_xy.shape == (len(det), 7, 2)
    assert _each_region_has_its_own_palm(_centres(det.palm_xyxy), regions)
    # the hand box holds the palm and stays inside the image
    p, h = det.palm_xyxy, det.xyxy
    assert np.all(h[:, :2] <= p[:, :2] + 1) and np.all(h[:, 2:] >= p[:, 2:] - 1)
    assert np.all(h >= 0) and np.all(h[:, 2] <= img.shape[1]) and np.all(h[:, 3] <= img.shape[0])
    assert np.all((det.score >= 0.5) & (det.score <= 1.0))


def _found(detector: PalmDetector, files: list[Path]) -> int:
    return sum(len(detector.detect(cv2.imread(str(f)))) > 0 for f in files)


def test_hands_found_on_real_hand_images(palm: PalmDetector, shared_data: Path) -> None:
    hagrid = sorted((shared_data / "hands" / "hagrid").glob("*/*.jpg"))
    htjs = sorted((shared_data / "hands" / "handtrackjs").glob("*.jpg"))
    assert len(hagrid) == 40 and len(htjs) == 11
    assert _found(palm, hagrid) >= 35
    assert _found(palm, htjs) >= 10


def test_no_hands_on_shelf_photos(palm: PalmDetector, shared_data: Path) -> None:
    shelves = sorted((shared_data / "shelves" / "sku110k" / "images").glob("*.jpg"))
    assert len(shelves) == 12
    assert _found(palm, shelves) == 0


@pytest.fixture(scope="module")
def small_hands_1080p(shared_data: Path) -> np.ndarray:
    """handtrackjs/0.jpg shrunk to 250x216 on a dark 1920x1080 frame at (1200, 700)."""
    img = cv2.imread(str(shared_data / "hands" / "handtrackjs" / "0.jpg"))
    frame = np.full((1080, 1920, 3), 40, np.uint8)
    frame[700:916, 1200:1450] = cv2.resize(img, (250, 216), interpolation=cv2.INTER_AREA)
    return frame


def test_tiles_find_small_hands_the_full_frame_misses(models_dir: Path,
                                                      small_hands_1080p: np.ndarray) -> None:
    path = models_dir / PALM_FULL
    assert len(PalmDetector(HandDetectorConfig(), path).detect(small_hands_1080p)) == 0
    det = PalmDetector(HandDetectorConfig(tile=True), path).detect(small_hands_1080p)
    assert det.palm_xyxy is not None
    assert _each_region_has_its_own_palm(_centres(det.palm_xyxy), [(1340, 790, 1395, 860),
                                                                    (1210, 785, 1275, 860)])
    assert len(det) == 2


def test_roi_crops_before_detecting(models_dir: Path, small_hands_1080p: np.ndarray) -> None:
    path = models_dir / PALM_FULL
    det = PalmDetector(HandDetectorConfig(roi=(1100, 600, 1600, 1000)), path).detect(small_hands_1080p)
    assert len(det) == 2 and det.palm_xyxy is not None
    assert _each_region_has_its_own_palm(_centres(det.palm_xyxy), [(1340, 790, 1395, 860),
                                                                    (1210, 785, 1275, 860)])
    assert len(PalmDetector(HandDetectorConfig(roi=(0, 0, 800, 600)), path).detect(small_hands_1080p)) == 0
    # an ROI outside the frame finds nothing rather than failing mid-stream
    outside = PalmDetector(HandDetectorConfig(roi=(3000, 0, 3100, 100)), path)
    assert len(outside.detect(small_hands_1080p)) == 0


def test_model_digest_is_the_pinned_sha(palm: PalmDetector) -> None:
    from smartshelf.models import PINNED_SHA256

    assert palm.model_digests() == {PALM_FULL: PINNED_SHA256[PALM_FULL]}


def test_detect_rejects_a_non_image(palm: PalmDetector) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        palm.detect(np.zeros((10, 10), np.uint8))


# ---------------------------------------------------------------------------------------------
# bad models: every problem is a ModelError at construction that names the file


def test_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.tflite"
    with pytest.raises(ModelError, match="nope.tflite.*not found"):
        PalmDetector(HandDetectorConfig(), path)


def test_truncated_model_file(tmp_path: Path, models_dir: Path) -> None:
    data = (models_dir / PALM_FULL).read_bytes()
    path = tmp_path / "half.tflite"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="half.tflite.*cannot load"):
        PalmDetector(HandDetectorConfig(), path)


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real but wrong-shaped .tflite: one conv on a 64x64 input."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32)])
    def f(x: tf.Tensor) -> tf.Tensor:
        return tf.nn.avg_pool2d(x, 8, 8, "VALID")

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()])
    path = tmp_path_factory.mktemp("tiny") / "tiny.tflite"
    path.write_bytes(converter.convert())
    return path


def test_wrong_shaped_model(tiny_tflite: Path) -> None:
    with pytest.raises(ModelError, match=r"tiny.tflite.*expected input \[1,192,192,3\] float32, "
                                         r"got \[1, 64, 64, 3\] float32"):
        PalmDetector(HandDetectorConfig(), tiny_tflite)


# ---------------------------------------------------------------------------------------------
# factory


def test_factory_defaults_to_palm_full(models_dir: Path) -> None:
    det = build_hand_detector(HandDetectorConfig(), models_dir, lambda p: Path(p))
    assert isinstance(det, PalmDetector) and list(det.model_digests()) == [PALM_FULL]


def test_factory_resolves_a_configured_model(models_dir: Path, tmp_path: Path) -> None:
    shutil.copy(models_dir / PALM_LITE, tmp_path / PALM_LITE)
    det = build_hand_detector(HandDetectorConfig(model=PALM_LITE), Path("/nonexistent"),
                              lambda p: tmp_path / p)
    assert list(det.model_digests()) == [PALM_LITE]


def test_factory_without_models_says_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"palm_detection_full.tflite.*smartshelf models fetch"):
        build_hand_detector(HandDetectorConfig(), tmp_path, lambda p: Path(p))


def test_factory_rejects_a_stale_default_model(tmp_path: Path, models_dir: Path) -> None:
    shutil.copy(models_dir / PALM_LITE, tmp_path / PALM_FULL)  # right shape, wrong file
    with pytest.raises(ModelError, match=r"palm_detection_full.tflite.*sha256"):
        build_hand_detector(HandDetectorConfig(), tmp_path, lambda p: Path(p))


def test_factory_wrong_shape_names_the_file(tiny_tflite: Path) -> None:
    with pytest.raises(ModelError, match=r"tiny.tflite.*expected input"):
        build_hand_detector(HandDetectorConfig(model=str(tiny_tflite)), Path("."), lambda p: Path(p))
