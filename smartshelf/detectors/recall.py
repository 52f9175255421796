"""Second look for hands the detector just lost: where to look again. Pure, plus a tiny memory.

BlazePalm sees a whole 640x480 frame at 192x192; a hand it found a moment ago and misses now is
often found again in a zoomed-in crop around where it was (MediaPipe's own hand pipeline crops
around the previous frame's hand for the same reason).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np
import numpy.typing as npt

from smartshelf.tracking.association import iou_matrix
from smartshelf.types import Detections

FloatArray = npt.NDArray[np.float32]


class NearDetector(Protocol):
    """A hand detector that can look again in regions around given boxes."""

    def detect_near(self, image_bgr: npt.NDArray[np.uint8],
                    boxes_xyxy: FloatArray) -> Detections: ...


def boxes_to_retry(recent: FloatArray, found: FloatArray, iou: float = 0.1) -> FloatArray:
    """The recent hand boxes that no box found now overlaps by `iou` or more."""
    if len(recent) == 0:
        return np.zeros((0, 4), np.float32)
    if len(found) == 0:
        return recent
    overlap = iou_matrix(recent.astype(np.float64), found.astype(np.float64))
    return recent[overlap.max(axis=1) < iou].astype(np.float32)


# The second look keeps a hand only if it is about the size of the one it looked for (this
# factor either way): a hand does not halve or double between two frames, while the zoomed-in
# crop also shows the detector palm-like marks on the goods, much smaller than a hand.
SIZE_RATIO = 2.0


def _side(b: FloatArray) -> FloatArray:
    return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])


def _centre(b: FloatArray) -> FloatArray:
    return (b[:, 0:2] + b[:, 2:4]) / 2.0


def _nearest(found: FloatArray, looked_for: FloatArray) -> npt.NDArray[np.intp]:
    """Per found box: the index of the looked-for box whose centre is nearest to its own."""
    dist = ((_centre(found)[:, None, :] - _centre(looked_for)[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(dist.argmin(axis=1))


def same_size(found: FloatArray, looked_for: FloatArray, ratio: float = SIZE_RATIO) -> npt.NDArray[np.bool_]:
    """Per found box: is its longer side within `ratio` of the looked-for box nearest to it?"""
    if len(found) == 0 or len(looked_for) == 0:
        return np.zeros(len(found), dtype=bool)
    nearest = _side(looked_for)[_nearest(found, looked_for)]
    size = _side(found)
    return (size * ratio >= nearest) & (size <= nearest * ratio)


def at_size_of(found: FloatArray, looked_for: FloatArray) -> FloatArray:
    """Each found box, about its own centre, at the width and height of the looked-for box
    nearest to it."""
    if len(found) == 0 or len(looked_for) == 0:
        return np.asarray(found, np.float32).reshape(-1, 4)
    ref = looked_for[_nearest(found, looked_for)]
    half = (ref[:, 2:4] - ref[:, 0:2]) / 2.0
    c = _centre(found)
    return np.concatenate([c - half, c + half], axis=1).astype(np.float32)


def overlaps_any(boxes: FloatArray, regions: FloatArray) -> npt.NDArray[np.bool_]:
    """Per box: does it overlap any region (by a positive area)?"""
    if len(boxes) == 0 or len(regions) == 0:
        return np.zeros(len(boxes), dtype=bool)
    b, r = boxes[:, None, :], regions[None, :, :]
    w = np.minimum(b[..., 2], r[..., 2]) - np.maximum(b[..., 0], r[..., 0])
    h = np.minimum(b[..., 3], r[..., 3]) - np.maximum(b[..., 1], r[..., 1])
    return np.asarray(((w > 0) & (h > 0)).any(axis=1))


def merge(a: Detections, b: Detections) -> Detections:
    """Both records as one (b holds boxes a did not have)."""
    if len(b) == 0:
        return a
    if len(a) == 0:
        return b

    def cat(x: FloatArray | None, y: FloatArray | None) -> FloatArray | None:
        return None if x is None or y is None else np.concatenate([x, y])

    return Detections(xyxy=np.concatenate([a.xyxy, b.xyxy]), score=np.concatenate([a.score, b.score]),
                      class_id=np.concatenate([a.class_id, b.class_id]),
                      keypoints_xy=cat(a.keypoints_xy, b.keypoints_xy),
                      palm_xyxy=cat(a.palm_xyxy, b.palm_xyxy))


class RecentHands:
    """Hand boxes seen in the last `window_s` of stream time (newest box per place)."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._seen: deque[tuple[float, FloatArray]] = deque()

    def add(self, ts_s: float, boxes: FloatArray) -> None:
        if len(boxes):
            self._seen.append((ts_s, boxes))
        while self._seen and ts_s - self._seen[0][0] > self._window_s + 1e-9:
            self._seen.popleft()

    def boxes(self) -> FloatArray:
        """Newest first, a box dropped where a newer one overlaps it."""
        out: list[npt.NDArray[np.float32]] = []
        for _, boxes in reversed(self._seen):
            for b in boxes:
                if not out or boxes_to_retry(b[None], np.stack(out)).shape[0]:
                    out.append(b)
        return np.stack(out).astype(np.float32) if out else np.zeros((0, 4), np.float32)
