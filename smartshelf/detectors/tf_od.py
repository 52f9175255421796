"""Any TF Object Detection API model as a detector: a SavedModel folder or a post-processed .tflite SSD.

TensorFlow is imported only when a SavedModel is loaded (importing smartshelf never imports TF).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.detectors.litert import TensorSpec, TfLiteModel
from smartshelf.errors import ModelError
from smartshelf.models import sha256_file
from smartshelf.types import Detections, FloatArray

log = logging.getLogger(__name__)

# The handtrack.js SSD's classes; `HANDTRACK_HAND_CLASSES` are the ones that are a hand (face,
# tip and pinchtip are not: a fingertip box would make a second, tiny "hand" on the same hand).
HANDTRACK_LABELS = {1: "open", 2: "closed", 3: "pinch", 4: "point", 5: "face", 6: "tip", 7: "pinchtip"}
HANDTRACK_HAND_CLASSES = (1, 2, 3, 4)

_REQUIRED = ("detection_boxes", "detection_scores", "detection_classes")


def parse_label_map(text: str, path: str = "<labels>") -> dict[int, str]:
    """Class id -> name from a label map. Pure.

    Either pbtxt (`item { id: 1 name: 'open' }`, display_name preferred), or plain lines: `ID NAME`
    or just `NAME`, where the Nth non-empty line is id N (OD API ids start at 1).
    """
    if re.search(r"\bitem\s*\{", text):
        out: dict[int, str] = {}
        for block in re.findall(r"item\s*\{(.*?)\}", text, flags=re.S):
            m_id = re.search(r"\bid\s*:\s*(-?\d+)", block)
            m_name = (re.search(r"\bdisplay_name\s*:\s*[\"']([^\"']*)[\"']", block)
                      or re.search(r"\bname\s*:\s*[\"']([^\"']*)[\"']", block))
            if not m_id or not m_name:
                raise ModelError(path, f"label map item without id or name: {block.strip()[:60]!r}")
            out[int(m_id.group(1))] = m_name.group(1)
        return out
    out = {}
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for n, line in enumerate(lines, start=1):
        m = re.fullmatch(r"(\d+)[\s:]+(.+)", line)
        if m:
            out[int(m.group(1))] = m.group(2).strip()
        else:
            out[n] = line
    return out


def od_to_detections(boxes_yxyx: FloatArray, scores: FloatArray, classes: FloatArray,
                     count: int, size_wh: tuple[int, int], score_threshold: float,
                     keep_classes: Sequence[int]) -> Detections:
    """OD API outputs (normalised [ymin, xmin, ymax, xmax]) -> Detections in frame pixels. Pure.

    Class ids are rounded: int8 TF.js models carry them as slightly-off floats (1.988 for 2).
    """
    w, h = size_wh
    b = np.asarray(boxes_yxyx, dtype=np.float32).reshape(-1, 4)[:count]
    s = np.asarray(scores, dtype=np.float32).reshape(-1)[:count]
    c = np.rint(np.asarray(classes, dtype=np.float32).reshape(-1)[:count]).astype(np.int64)
    keep = s >= score_threshold
    if keep_classes:
        keep &= np.isin(c, np.asarray(keep_classes, dtype=np.int64))
    b, s, c = b[keep], s[keep], c[keep]
    xyxy = np.stack([b[:, 1] * w, b[:, 0] * h, b[:, 3] * w, b[:, 2] * h], axis=1)
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, w)
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, h)
    xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2])
    return Detections(xyxy=xyxy.astype(np.float32), score=s, class_id=c)


class _SavedModelRunner:
    def __init__(self, path: Path, threads: int) -> None:
        if not (path / "saved_model.pb").is_file():
            raise ModelError(str(path), "not a SavedModel folder (no saved_model.pb in it)")
        import tensorflow as tf  # heavy: only for SavedModels

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TF already initialised by an earlier model: keep its setting
            log.debug("TF thread counts already fixed; threads=%d not applied", threads)
        try:
            loaded = tf.saved_model.load(str(path))
        except Exception as exc:  # TF raises many types for a bad SavedModel
            raise ModelError(str(path), f"cannot load the SavedModel: {str(exc).splitlines()[0]}") from None
        fn = loaded.signatures.get("serving_default")
        if fn is None:
            raise ModelError(str(path), f"no serving_default signature (has {list(loaded.signatures)})")
        args, kwargs = fn.structured_input_signature
        if args or len(kwargs) != 1:
            raise ModelError(str(path), f"expected one image input, got {kwargs}")
        (self._input_name, spec), = kwargs.items()
        if spec.dtype != tf.uint8 or spec.shape.rank != 4:
            raise ModelError(str(path), f"expected input [1,H,W,3] uint8, got {spec.shape} {spec.dtype.name}")
        missing = [k for k in _REQUIRED if k not in fn.structured_outputs]
        if missing:
            raise ModelError(str(path), f"expected OD API outputs {list(_REQUIRED)}, missing {missing}")
        self._loaded = loaded  # keeps the function's variables alive
        self._fn = fn
        self._tf = tf

    def run(self, rgb: npt.NDArray[np.uint8]) -> tuple[Any, Any, Any, int | None]:
        out = self._fn(**{self._input_name: self._tf.constant(rgb[None])})
        num = out.get("num_detections")
        count = None if num is None else int(num.numpy().reshape(-1)[0])
        return (out["detection_boxes"].numpy()[0], out["detection_scores"].numpy()[0],
                out["detection_classes"].numpy()[0], count)


class _TfLiteSsdRunner:
    """A .tflite SSD ending in TFLite_Detection_PostProcess: boxes, classes, scores, count."""

    def __init__(self, path: Path, threads: int) -> None:
        self._model = TfLiteModel(path, threads=threads, outputs=[
            TensorSpec((1, None, 4), np.float32), TensorSpec((1, None), np.float32),
            TensorSpec((1, None), np.float32), TensorSpec((1,), np.float32)])
        shape = self._model.input_shape
        dtype = self._model.input_details[0]["dtype"]
        if len(shape) != 4 or shape[3] != 3 or np.dtype(dtype) not in (np.uint8, np.float32):
            raise ModelError(str(path), f"expected input [1,H,W,3] uint8 or float32, got {list(shape)} "
                                        f"{np.dtype(dtype).name}")
        self._size = (shape[2], shape[1])
        self._float = np.dtype(dtype) == np.float32

    def run(self, rgb: npt.NDArray[np.uint8]) -> tuple[Any, Any, Any, int | None]:
        x = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        # float SSD inputs take [-1, 1] (the OD API's MobileNet preprocessing)
        arr = (x.astype(np.float32) - 127.5) / 127.5 if self._float else x
        boxes, first, second, num = self._model.run(arr[None])
        # PostProcess order is classes then scores; class ids are whole numbers, scores are not
        classes, scores = first[0], second[0]
        if np.allclose(second, np.rint(second)) and not np.allclose(first, np.rint(first)):
            classes, scores = scores, classes
        return boxes[0], scores, classes, int(num.reshape(-1)[0])


class TfOdDetector:
    """BoxDetector (and HandDetector) on a TF Object Detection API model."""

    def __init__(self, model_path: Path, score_threshold: float = 0.5, classes: Sequence[int] = (),
                 labels: Path | None = None, threads: int = 2) -> None:
        self.model_path = Path(model_path)
        self.score_threshold = float(score_threshold)
        self.classes = tuple(int(c) for c in classes)
        self.labels: dict[int, str] = {}
        if labels is not None:
            try:
                text = Path(labels).read_text(encoding="utf-8")
            except OSError as exc:
                raise ModelError(str(labels), f"cannot read the label map: {exc.strerror}") from None
            self.labels = parse_label_map(text, str(labels))
            unknown = [c for c in self.classes if c not in self.labels]
            if unknown:
                raise ModelError(str(labels), f"classes {unknown} are not in the label map "
                                              f"(it has {sorted(self.labels)})")
        runner: _SavedModelRunner | _TfLiteSsdRunner
        if self.model_path.is_dir():
            runner = _SavedModelRunner(self.model_path, threads)
            digest_file = self.model_path / "saved_model.pb"
        elif self.model_path.suffix == ".tflite" or self.model_path.is_file():
            runner = _TfLiteSsdRunner(self.model_path, threads)
            digest_file = self.model_path
        else:
            raise ModelError(str(self.model_path),
                             "not found (expected a SavedModel folder or a .tflite file)")
        self._runner = runner
        self._digests = {self.model_path.name: sha256_file(digest_file)}

    def model_digests(self) -> dict[str, str]:
        return dict(self._digests)

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        img = np.asarray(image_bgr)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"TfOdDetector.detect: expected an HxWx3 uint8 BGR image, got "
                             f"shape {img.shape} {img.dtype}")
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        boxes, scores, classes, count = self._runner.run(rgb)
        n = len(scores) if count is None else min(count, len(scores))
        return od_to_detections(boxes, scores, classes, n, (img.shape[1], img.shape[0]),
                                self.score_threshold, self.classes)
