"""The model backend of shelf occupancy (`detectors.shelf.type: tf_od`): a TF OD API product
detector whose boxes are counted per zone, and the factory that picks the configured backend.

A product belongs to the zone its box CENTRE lies in, so a box straddling two facings is counted
once. The counts go to the same `OccupancyTracker` as the reference backend's patches: it owns
settling, hand occlusion and the before/after comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smartshelf.config import CameraConfig, ShelfDetectorConfig, ZoneConfig
from smartshelf.detectors.nms import greedy_nms
from smartshelf.detectors.occupancy import ZoneSampler, make_sampler
from smartshelf.errors import ModelError
from smartshelf.fusion.zones import Point
from smartshelf.types import Detections, Frame, ShelfMeasurement, ZoneChange

if TYPE_CHECKING:
    from smartshelf.detectors.shelf import ReferenceShelfDetector
    from smartshelf.detectors.tf_od import TfOdDetector

log = logging.getLogger(__name__)

# Boxes of different classes overlapping this much are one product (an OD model's NMS is per
# class: a can scored as both "can" and "bottle" would otherwise count twice).
SAME_PRODUCT_IOU = 0.6


def points_in_polygon(xy: npt.ArrayLike, polygon: Sequence[Point]) -> npt.NDArray[np.bool_]:
    """Which of the (N, 2) points lie inside the polygon (crossing-number rule). Pure.

    Half-open on edges, so a point on an edge shared by two neighbouring zones belongs to
    exactly one of them.
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    inside = np.zeros(len(pts), dtype=bool)
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        spans = (y1 > y) != (y2 > y)
        if not spans.any():
            continue
        x_cross = x1 + (y - y1) * (x2 - x1) / ((y2 - y1) if y2 != y1 else 1.0)
        inside ^= spans & (x < x_cross)
    return inside


def count_per_zone(boxes_xyxy: npt.ArrayLike, zones: Sequence[ZoneConfig]) -> dict[str, int]:
    """Boxes whose centre lies in each zone's polygon, by zone name. Pure."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    centres = np.stack([(b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0], axis=1)
    return {z.name: int(points_in_polygon(centres, z.polygon).sum()) for z in zones}


def merge_classes(dets: Detections, iou: float = SAME_PRODUCT_IOU) -> Detections:
    """One box per product across classes (class-agnostic greedy NMS). Pure."""
    if len(dets) < 2:
        return dets
    return dets.select(greedy_nms(dets.xyxy, dets.score, iou))


def count_fill(count: int, capacity: int | None) -> float:
    """Fill 0..1 from an item count: count / capacity; without a capacity only "any goods" (0/1)."""
    if capacity:
        return min(1.0, count / capacity)
    return 1.0 if count > 0 else 0.0


def count_change(before: int, after: int, capacity: int | None) -> ZoneChange:
    """The change between two settled counts of one zone. Pure.

    A counting model either sees a different number of goods or it does not, so the changed
    fraction is 1 or 0; the direction is the signed count difference (items added > 0).
    """
    return ZoneChange(
        fill_before=count_fill(before, capacity), fill_after=count_fill(after, capacity),
        changed_fraction=1.0 if after != before else 0.0, direction=float(after - before),
        count_before=before, count_after=after)


def measurement_due(last_ts_s: float | None, ts_s: float, interval_s: float) -> bool:
    """Whether a detector running every `interval_s` measures the frame at `ts_s`. Pure."""
    return last_ts_s is None or interval_s <= 0.0 or ts_s - last_ts_s >= interval_s - 1e-9


class ModelShelfDetector:
    """Counts the products a TF OD API model finds in every zone of one camera."""

    def __init__(self, camera: CameraConfig, cfg: ShelfDetectorConfig,
                 resolve: Callable[[str], Path]) -> None:
        from smartshelf.detectors.tf_od import TfOdDetector

        if not cfg.model:
            raise ModelError("detectors.shelf.model", "type tf_od needs a model path")
        path = resolve(cfg.model)
        if not path.exists():
            raise ModelError(str(path), "not found (expected a TF OD API SavedModel folder or .tflite)")
        self._zones = camera.zones
        self._cfg = cfg
        self._detector: TfOdDetector = TfOdDetector(path, cfg.score_threshold, cfg.classes)
        self._last_ts: float | None = None
        self._samplers: dict[str, ZoneSampler] = {}
        self._frame_wh: tuple[int, int] | None = None
        log.info("shelf detector: %s on %d zones", path, len(self._zones),
                 extra={"camera": camera.name})

    def model_digests(self) -> dict[str, str]:
        return self._detector.model_digests()

    def samplers(self, frame_wh: tuple[int, int]) -> dict[str, ZoneSampler]:
        """Zone samplers for the OccupancyTracker (which keeps one per zone; counts need no pixels)."""
        if self._frame_wh != frame_wh:
            self._samplers = {z.name: make_sampler(z.name, z.polygon, self._cfg.patch_size_px,
                                                   frame_wh) for z in self._zones}
            self._frame_wh = frame_wh
        return self._samplers

    def detect(self, frame: Frame) -> Detections:
        """The products in the frame (class filter and threshold applied, one box per product)."""
        return merge_classes(self._detector.detect(frame.image_bgr))

    def measure(self, frame: Frame) -> ShelfMeasurement:
        if not measurement_due(self._last_ts, frame.ts_s, self._cfg.interval_s):
            return ShelfMeasurement(ts_s=frame.ts_s)
        self._last_ts = frame.ts_s
        return ShelfMeasurement(ts_s=frame.ts_s,
                                counts=count_per_zone(self.detect(frame).xyxy, self._zones))


def build_shelf_detector(camera: CameraConfig, cfg: ShelfDetectorConfig,
                         resolve: Callable[[str], Path]
                         ) -> ReferenceShelfDetector | ModelShelfDetector:
    """The configured shelf backend for one camera; a model problem surfaces as a ModelError.

    `resolve` turns a config path into an absolute one (Config.resolve).
    """
    if cfg.type == "tf_od":
        return ModelShelfDetector(camera, cfg, resolve)
    if cfg.type == "reference":
        from smartshelf.detectors.shelf import ReferenceShelfDetector

        return ReferenceShelfDetector(camera, cfg)
    raise ModelError("detectors.shelf.type",
                     f"unknown shelf detector type {cfg.type!r} (expected reference or tf_od)")
