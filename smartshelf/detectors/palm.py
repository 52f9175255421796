"""The palm (hand) detector: MediaPipe BlazePalm .tflite run the way MediaPipe's own graph runs it.

palm_detection_cpu.pbtxt (0.10.x): letterbox to 192x192 RGB in 0..1 -> model -> 2016 SSD anchors
-> sigmoid scores (logits clipped at +-100) -> weighted NMS at IoU 0.3 -> letterbox removed.
Then each palm box is grown into a hand box (see `hand_boxes`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from smartshelf.config import HandDetectorConfig
from smartshelf.detectors.anchors import PALM_ANCHORS, decode_boxes, sigmoid_scores, ssd_anchors
from smartshelf.detectors.letterbox import clip_region, letterbox_image, tile_regions
from smartshelf.detectors.litert import TensorSpec, TfLiteModel
from smartshelf.detectors.nms import greedy_nms, weighted_nms
from smartshelf.models import sha256_file
from smartshelf.types import Detections, FloatArray

log = logging.getLogger(__name__)

INPUT_SIZE = 192
NUM_ANCHORS = 2016
NUM_KEYPOINTS = 7
# NonMaxSuppressionCalculator min_suppression_threshold in the palm graph.
MIN_SUPPRESSION_IOU = 0.3
# Tiling (opt-in, `tile: true`): square tiles this big, overlapping by this share. At 640 px a
# palm of ~30 px (a hand ~80 px across) is still ~10 px at the model's 192 px input.
TILE_PX = 640
TILE_OVERLAP = 0.25
# Tiles merge with plain NMS: a hand seen whole in two tiles is one hand.
TILE_MERGE_IOU = 0.3
# MediaPipe's palm -> hand rect shifts the centre by half the palm size towards the fingers
# (RectTransformationCalculator shift_y -0.5 in the rotated frame), keypoint 0 (wrist) -> 2
# (middle-finger knuckle) giving the direction.
HAND_SHIFT = 0.5
WRIST, MIDDLE_MCP = 0, 2

PALM_INPUT = TensorSpec((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
PALM_OUTPUTS = (TensorSpec((1, NUM_ANCHORS, 4 + 2 * NUM_KEYPOINTS), np.float32),
                TensorSpec((1, NUM_ANCHORS, 1), np.float32))


def hand_boxes(palm_xyxy: FloatArray, keypoints_xy: FloatArray, scale: float,
               shift: float = HAND_SHIFT) -> FloatArray:
    """Axis-aligned hand boxes grown from palm boxes. Pure.

    A square of `scale` x the palm's longer side, centred on the palm centre moved `shift` palm
    sizes from the wrist towards the middle-finger knuckle. MediaPipe grows a rotated square by
    2.6 to crop for its landmark model (generous margins); for deciding which shelf zone a hand
    is in we want the tightest box that still holds the fingers: with 2.0 and shift 0.5 the box
    reaches exactly the wrist edge of the palm and one palm length past the knuckles.
    """
    palm = np.asarray(palm_xyxy, dtype=np.float32).reshape(-1, 4)
    if palm.shape[0] == 0:
        return np.zeros((0, 4), np.float32)
    kp = np.asarray(keypoints_xy, dtype=np.float32)
    centre = (palm[:, 0:2] + palm[:, 2:4]) / 2
    side = np.max(palm[:, 2:4] - palm[:, 0:2], axis=1)
    d = kp[:, MIDDLE_MCP] - kp[:, WRIST]
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    up = np.asarray([[0.0, -1.0]], np.float32)  # no direction: assume fingers point up
    d = np.where(norm > 1e-6, d / np.maximum(norm, 1e-6), up)
    c = centre + shift * side[:, None] * d
    half = (scale * side / 2)[:, None]
    return np.concatenate([c - half, c + half], axis=1).astype(np.float32)


def clip_boxes(xyxy: FloatArray, size_wh: tuple[int, int]) -> FloatArray:
    """Boxes clipped to the image (0..w, 0..h). Pure."""
    w, h = size_wh
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    b[:, 0::2] = np.clip(b[:, 0::2], 0, w)
    b[:, 1::2] = np.clip(b[:, 1::2], 0, h)
    return b


# Re-detection region around a hand's last box, as a multiple of the box's longer side.
REDETECT_SCALE = 2.0


class PalmDetector:
    """HandDetector on a BlazePalm model (palm_detection_full / _lite .tflite)."""

    def __init__(self, cfg: HandDetectorConfig, model_path: Path) -> None:
        self.cfg = cfg
        self.model_path = Path(model_path)
        self._model = TfLiteModel(self.model_path, threads=cfg.threads, inputs=[PALM_INPUT],
                                  outputs=PALM_OUTPUTS)
        self._anchors = ssd_anchors(PALM_ANCHORS)
        self._digests = {self.model_path.name: sha256_file(self.model_path)}
        self._warned_roi = False

    def model_digests(self) -> dict[str, str]:
        return dict(self._digests)

    def regions(self, size_wh: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        """The image regions one `detect` runs the model on (ROI, then tiles if enabled)."""
        w, h = size_wh
        roi = self.cfg.roi if self.cfg.roi is not None else (0.0, 0.0, float(w), float(h))
        region = clip_region(roi, size_wh)
        if region is None:
            return []
        if not self.cfg.tile:
            return [region]
        tiles = tile_regions(region, TILE_PX, TILE_OVERLAP)
        # the whole region too: a hand close to the camera can be bigger than a tile
        return [region] if len(tiles) == 1 else [region, *tiles]

    def detect_palms(self, image_bgr: npt.NDArray[np.uint8], region: tuple[int, int, int, int]
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Palm boxes (frame px), scores, keypoints (N, 7, 2 frame px) from one model run."""
        tensor, box = letterbox_image(image_bgr, region, INPUT_SIZE)
        raw_boxes, raw_scores = self._model.run(tensor[None])
        scores = sigmoid_scores(raw_scores[0, :, 0])
        keep = scores >= self.cfg.score_threshold
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 7, 2), np.float32)
        boxes, kps = decode_boxes(raw_boxes[0][keep], self._anchors[keep], float(INPUT_SIZE), NUM_KEYPOINTS)
        boxes, scores_k, kps_k = weighted_nms(boxes, scores[keep], kps, MIN_SUPPRESSION_IOU)
        assert kps_k is not None
        return box.boxes_to_frame(boxes), scores_k, box.to_frame(kps_k)

    def detect_near(self, image_bgr: npt.NDArray[np.uint8],
                    boxes_xyxy: npt.NDArray[np.float32]) -> Detections:
        """Look again, zoomed in, around where hands just were (one model run per box).

        A square region of REDETECT_SCALE x the box's longer side, centred on it, is letterboxed
        to the model's input: the hand fills far more of it than of the whole frame.
        """
        img = np.asarray(image_bgr)
        size_wh = (int(img.shape[1]), int(img.shape[0]))
        parts = []
        for x1, y1, x2, y2 in np.asarray(boxes_xyxy, np.float32):
            half = REDETECT_SCALE * max(x2 - x1, y2 - y1) / 2.0
            cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
            region = clip_region((cx - half, cy - half, cx + half, cy + half), size_wh)
            if region is not None:
                parts.append(self.detect_palms(img, region))
        return self._merge(parts, size_wh)

    def _merge(self, parts: list[tuple[FloatArray, FloatArray, FloatArray]],
               size_wh: tuple[int, int]) -> Detections:
        """Palms from several model runs as one record: NMS across runs, hand boxes grown."""
        if not parts:
            return Detections.empty()
        palm = np.concatenate([p[0] for p in parts])
        score = np.concatenate([p[1] for p in parts])
        kps = np.concatenate([p[2] for p in parts])
        if len(parts) > 1 and palm.shape[0] > 1:
            keep = greedy_nms(palm, score, TILE_MERGE_IOU)
            palm, score, kps = palm[keep], score[keep], kps[keep]
        hand = clip_boxes(hand_boxes(palm, kps, self.cfg.hand_scale), size_wh)
        return Detections(xyxy=hand, score=score, keypoints_xy=kps,
                          palm_xyxy=clip_boxes(palm, size_wh))

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        img = np.asarray(image_bgr)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"PalmDetector.detect: expected an HxWx3 uint8 BGR image, got "
                             f"shape {img.shape} {img.dtype}")
        size_wh = (int(img.shape[1]), int(img.shape[0]))
        regions = self.regions(size_wh)
        if not regions:
            if not self._warned_roi:
                log.warning("hand ROI %s lies outside the %dx%d frame: no hands will be found",
                            self.cfg.roi, *size_wh)
                self._warned_roi = True
            return Detections.empty()
        return self._merge([self.detect_palms(img, r) for r in regions], size_wh)
