"""The generic TF Object Detection API detector, run on a real model: the handtrack.js SSD
converted from TF.js into a SavedModel by our own converter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.config import HandDetectorConfig
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.detectors.tf_od import (
    HANDTRACK_HAND_CLASSES,
    HANDTRACK_LABELS,
    TfOdDetector,
    od_to_detections,
    parse_label_map,
)
from smartshelf.detectors.tfjs_convert import dequantize, od_output_names
from smartshelf.errors import ModelError

# ---------------------------------------------------------------------------------------------
# pure parts


def test_dequantize_uint8_and_float16() -> None:
    q = np.asarray([0, 1, 255], np.uint8).tobytes()
    got = dequantize(q, "float32", {"dtype": "uint8", "scale": 0.5, "min": -1.0})
    assert got.dtype == np.float32 and got.tolist() == [-1.0, -0.5, 126.5]
    half = np.asarray([1.5, -2.0], np.float16).tobytes()
    assert dequantize(half, "float32", {"dtype": "float16"}).tolist() == [1.5, -2.0]
    assert dequantize(np.asarray([7], np.int32).tobytes(), "int32", None).tolist() == [7]
    with pytest.raises(ValueError, match="quantization dtype 'int4'"):
        dequantize(b"\0", "float32", {"dtype": "int4", "scale": 1.0})


def test_od_output_names_follow_the_export_order() -> None:
    def shape(*dims: int) -> dict[str, object]:
        return {"tensorShape": {"dim": [{"size": str(d)} for d in dims]}}

    sig = {"outputs": {"Identity_2:0": shape(1, 100), "Identity:0": shape(1, 100, 4),
                       "Identity_3:0": shape(1), "Identity_1:0": shape(1, 100)}}
    assert od_output_names(sig, "m") == {"detection_boxes": "Identity:0", "detection_classes": "Identity_1:0",
                                         "detection_scores": "Identity_2:0", "num_detections": "Identity_3:0"}
    sig["outputs"]["Identity:0"] = shape(1, 100)
    with pytest.raises(ModelError, match="Identity:0 should be detection_boxes"):
        od_output_names(sig, "m")


@pytest.mark.parametrize(("text", "expected"), [
    ("item {\n  id: 1\n  name: 'open'\n}\nitem { name: \"closed\" id: 2 }", {1: "open", 2: "closed"}),
    ("item { id: 3 name: 'n03' display_name: 'pinch' }", {3: "pinch"}),
    ("open\nclosed\n\npinch\n", {1: "open", 2: "closed", 3: "pinch"}),
    ("0 person\n1: bicycle\n", {0: "person", 1: "bicycle"}),
])
def test_parse_label_map(text: str, expected: dict[int, str]) -> None:
    assert parse_label_map(text) == expected


def test_parse_label_map_rejects_an_item_without_an_id() -> None:
    with pytest.raises(ModelError, match="labels.pbtxt: label map item without id"):
        parse_label_map("item { name: 'x' }", "labels.pbtxt")


def test_od_to_detections_scales_filters_and_rounds_classes() -> None:
    boxes = np.asarray([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.2, 1.0], [0.3, 0.3, 0.4, 0.4]], np.float32)
    scores = np.asarray([0.9, 0.8, 0.2], np.float32)
    classes = np.asarray([1.988, 5.0, 1.0], np.float32)
    det = od_to_detections(boxes, scores, classes, 3, (200, 100), 0.5, ())
    np.testing.assert_allclose(det.xyxy, [[40, 10, 120, 50], [0, 0, 200, 100]], atol=1e-4)
    assert det.class_id.tolist() == [2, 5]
    assert od_to_detections(boxes, scores, classes, 3, (200, 100), 0.5, (1, 2, 3, 4)).class_id.tolist() == [2]
    assert len(od_to_detections(boxes, scores, classes, 0, (200, 100), 0.0, ())) == 0  # count wins


def test_importing_smartshelf_does_not_import_tensorflow() -> None:
    code = ("import sys, smartshelf, smartshelf.models, smartshelf.detectors.tf_od, "
            "smartshelf.detectors.tfjs_convert, smartshelf.detectors.factory, smartshelf.detectors.palm; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# the real handtrack.js SSD


@pytest.fixture(scope="session")
def handtrack_savedmodel(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TF.js model converted once per session into a SavedModel under tmp."""
    from smartshelf.detectors.tfjs_convert import convert

    src = shared_data / "models" / "handtrackjs_ssd320fpnlite_int8"
    if not (src / "model.json").is_file():
        pytest.skip(f"handtrack.js model not found at {src}")
    return convert(src, tmp_path_factory.mktemp("handtrack") / "savedmodel")


@pytest.fixture(scope="module")
def handtrack(handtrack_savedmodel: Path) -> TfOdDetector:
    return TfOdDetector(handtrack_savedmodel, 0.5, HANDTRACK_HAND_CLASSES, None, 2)


def test_converted_ssd_finds_hands_in_the_handtrack_images(handtrack: TfOdDetector,
                                                            shared_data: Path) -> None:
    files = sorted((shared_data / "hands" / "handtrackjs").glob("*.jpg"))
    assert len(files) == 11
    found = 0
    for f in files:
        det = handtrack.detect(cv2.imread(str(f)))
        assert set(det.class_id.tolist()) <= set(HANDTRACK_HAND_CLASSES)
        found += len(det) > 0
    assert found >= 9


def test_converted_ssd_boxes_lie_on_the_hands(handtrack: TfOdDetector, shared_data: Path) -> None:
    img = cv2.imread(str(shared_data / "hands" / "handtrackjs" / "0.jpg"))
    det = handtrack.detect(img)
    assert len(det) == 2
    centres = sorted(((det.xyxy[:, :2] + det.xyxy[:, 2:]) / 2).tolist())
    # by eye: the left hand spans x ~20-150, the right one x ~280-390, both y ~170-320
    assert 20 <= centres[0][0] <= 150 and 150 <= centres[0][1] <= 320
    assert 280 <= centres[1][0] <= 400 and 150 <= centres[1][1] <= 320
    # without the class filter the face (class 5) shows up too
    everything = TfOdDetector(handtrack.model_path, 0.5, (), None, 2).detect(img)
    assert 5 in everything.class_id.tolist()


def test_factory_builds_a_tf_od_hand_detector(handtrack_savedmodel: Path, tmp_path: Path,
                                              shared_data: Path) -> None:
    labels = tmp_path / "labels.pbtxt"
    labels.write_text("".join(f"item {{ id: {i} name: '{n}' }}\n" for i, n in HANDTRACK_LABELS.items()))
    cfg = HandDetectorConfig(type="tf_od", model=str(handtrack_savedmodel), classes=(1, 2, 3, 4),
                             labels="labels.pbtxt")
    det = build_hand_detector(cfg, Path("."), lambda p: tmp_path / p)
    assert isinstance(det, TfOdDetector) and det.labels[1] == "open"
    assert list(det.model_digests()) == ["savedmodel"]
    img = cv2.imread(str(shared_data / "hands" / "handtrackjs" / "4.jpg"))
    assert len(det.detect(img)) >= 3


def test_bad_tf_od_models_name_the_file(tmp_path: Path, handtrack_savedmodel: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="empty: not a SavedModel folder"):
        TfOdDetector(tmp_path / "empty")
    with pytest.raises(ModelError, match="absent.*not found"):
        build_hand_detector(HandDetectorConfig(type="tf_od", model="absent"), tmp_path,
                            lambda p: tmp_path / p)
    labels = tmp_path / "labels.txt"
    labels.write_text("open\nclosed\n")
    with pytest.raises(ModelError, match=r"labels.txt: classes \[7\] are not in the label map"):
        TfOdDetector(handtrack_savedmodel, 0.5, (1, 7), labels)
