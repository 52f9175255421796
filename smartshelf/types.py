"""The typed records that cross each stage boundary (see docs/architecture.md).

Column arrays for many boxes, validated when built; field names carry format and unit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _as_boxes(name: str, value: object) -> FloatArray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name}: expected an (N, 4) xyxy array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: boxes must be finite, got {arr[~np.isfinite(arr).all(1)][:3]}")
    if np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1]):
        raise ValueError(f"{name}: boxes need x2 >= x1 and y2 >= y1 (xyxy), got a negative size")
    return arr


def _as_column(name: str, value: object, n: int, dtype: type) -> npt.NDArray:
    arr: npt.NDArray = np.asarray(value, dtype=dtype).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per box), got {arr.shape[0]}")
    return arr


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded image and the stream time it was taken at.

    `ts_s` is seconds since the stream began (the frame's own timestamp, never wall clock);
    `epoch_s` is the UTC wall time that stream time 0 corresponds to, used only to print
    ISO 8601 times on events.
    """

    camera: str
    index: int
    ts_s: float
    image_bgr: npt.NDArray[np.uint8]
    epoch_s: float = 0.0

    def __post_init__(self) -> None:
        img = self.image_bgr
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                f"Frame.image_bgr: expected HxWx3 uint8, got shape {img.shape} {img.dtype}"
            )
        if not np.isfinite(self.ts_s):
            raise ValueError(f"Frame.ts_s: expected a finite time, got {self.ts_s}")

    @property
    def size_wh(self) -> tuple[int, int]:
        return int(self.image_bgr.shape[1]), int(self.image_bgr.shape[0])


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes found by a detector in one frame, in source-frame pixels.

    `xyxy` is the object box (for the palm detector: the hand box grown from the palm box),
    `palm_xyxy` the raw palm box where the detector has one, `keypoints_xy` (N, K, 2) landmarks.
    """

    xyxy: FloatArray
    score: FloatArray
    class_id: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    keypoints_xy: FloatArray | None = None
    palm_xyxy: FloatArray | None = None

    def __post_init__(self) -> None:
        xyxy = _as_boxes("Detections.xyxy", self.xyxy)
        n = xyxy.shape[0]
        object.__setattr__(self, "xyxy", xyxy)
        score = _as_column("Detections.score", self.score, n, np.float32)
        if n and (not np.all(np.isfinite(score))):
            raise ValueError("Detections.score: scores must be finite")
        object.__setattr__(self, "score", score)
        cls = self.class_id
        if np.asarray(cls).size == 0 and n:
            cls = np.zeros(n, dtype=np.int64)
        object.__setattr__(self, "class_id", _as_column("Detections.class_id", cls, n, np.int64))
        if self.keypoints_xy is not None:
            kp = np.asarray(self.keypoints_xy, dtype=np.float32)
            if kp.size == 0:
                kp = kp.reshape(n, 0, 2)
            if kp.ndim != 3 or kp.shape[0] != n or kp.shape[2] != 2:
                raise ValueError(
                    f"Detections.keypoints_xy: expected ({n}, K, 2), got shape {kp.shape}"
                )
            object.__setattr__(self, "keypoints_xy", kp)
        if self.palm_xyxy is not None:
            palm = _as_boxes("Detections.palm_xyxy", self.palm_xyxy)
            if palm.shape[0] != n:
                raise ValueError(f"Detections.palm_xyxy: expected {n} boxes, got {palm.shape[0]}")
            object.__setattr__(self, "palm_xyxy", palm)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4), np.float32), score=np.zeros(0, np.float32))

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Detections:
        """A new record with the rows picked by a boolean mask or an index array."""
        return Detections(
            xyxy=self.xyxy[mask],
            score=self.score[mask],
            class_id=self.class_id[mask],
            keypoints_xy=None if self.keypoints_xy is None else self.keypoints_xy[mask],
            palm_xyxy=None if self.palm_xyxy is None else self.palm_xyxy[mask],
        )


class TrackState(enum.Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    DELETED = "deleted"


@dataclass(frozen=True, eq=False)
class Tracks:
    """Confirmed hand tracks after one tracker update.

    `matched` is True where the track was updated by a detection in this frame (False while it
    is coasting on its prediction).
    """

    xyxy: FloatArray
    track_id: IntArray
    matched: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        xyxy = _as_boxes("Tracks.xyxy", self.xyxy)
        n = xyxy.shape[0]
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "track_id", _as_column("Tracks.track_id", self.track_id, n, np.int64))
        object.__setattr__(self, "matched", _as_column("Tracks.matched", self.matched, n, np.bool_))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Tracks:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.bool_))


class SurfaceState(enum.Enum):
    """What the occupancy detector can say about a zone right now."""

    STABLE = "stable"  # settled: nothing moving, nothing covering it
    OCCLUDED = "occluded"  # a hand or arm is in or near the zone: not measured
    CHANGING = "changing"  # moving pixels without a hand (settling after one, or a person)


@dataclass(frozen=True)
class Occupancy:
    """The occupancy of one zone at `ts_s`.

    `fill` 0..1 is the share of the zone that looks stocked; `count_estimate` the item count
    where the zone has a capacity or a calibration; `changed_fraction` the share of the zone
    that differs from the settled appearance before the last interaction.
    """

    zone: str
    fill: float
    count_estimate: int | None
    changed_fraction: float
    state: SurfaceState
    ts_s: float
    # The fill of the settled appearance the zone had before it was last disturbed.
    fill_before: float | None = None
    # Signed evidence of goods added (> 0) or removed (< 0) since then (0: no change).
    direction: float = 0.0
    # Stream time since which the zone has been stable (None while it is not).
    stable_since_s: float | None = None


@dataclass(frozen=True)
class ZoneChange:
    """A zone's settled look before an interaction against the one after it (occupancy -> fusion)."""

    fill_before: float
    fill_after: float
    changed_fraction: float
    direction: float  # > 0 goods added, < 0 removed, 0 nothing changed
    count_before: int | None = None
    count_after: int | None = None


@dataclass(frozen=True, eq=False)
class ShelfMeasurement:
    """Per-zone appearance samples taken from one frame by the shelf detector.

    `patches` maps zone name to an illumination-normalised, downscaled float32 image of the zone
    (reference backend), `counts` maps zone name to a product count (model backend).
    Either may be empty when the detector skipped this frame (it runs at its own rate).
    """

    ts_s: float
    patches: dict[str, FloatArray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
