"""Shelf occupancy per zone: the measuring step (runs beside the hand detector) and the
per-zone settle tracker (runs after both, because it needs to know where the hands are).

The reference backend keeps, per zone, a settled appearance that is refreshed only while no hand
is in or near the zone and nothing has moved there for `settle_s`. When a zone settles after a
disturbance, the settled appearance before is compared with the one after.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from smartshelf.config import CameraConfig, ShelfDetectorConfig, ZoneConfig
from smartshelf.detectors.occupancy import (
    Calibration,
    FloatArray,
    ZoneSampler,
    change_direction,
    changed_fraction,
    fill_estimate,
    make_sampler,
    motion,
    sample_patch,
)
from smartshelf.fusion.zones import box_near_zone, box_shadows_zone
from smartshelf.types import Frame, Occupancy, ShelfMeasurement, SurfaceState, ZoneChange

log = logging.getLogger(__name__)


def calibration_path(base: Path, camera: str, zone: str, kind: str) -> Path:
    return base / camera / f"{zone}.{kind}.npy"


def load_calibration(base: Path | None, camera: str, zone: str) -> Calibration:
    if base is None:
        return Calibration()
    loaded: dict[str, FloatArray | None] = {}
    for kind in ("empty", "full"):
        p = calibration_path(base, camera, zone, kind)
        loaded[kind] = np.load(p).astype(np.float32) if p.is_file() else None
    return Calibration(empty=loaded["empty"], full=loaded["full"])


class ReferenceShelfDetector:
    """Samples every zone of one camera from a frame, at most once per `interval_s`."""

    def __init__(self, camera: CameraConfig, cfg: ShelfDetectorConfig) -> None:
        self._zones = camera.zones
        self._cfg = cfg
        self._samplers: dict[str, ZoneSampler] = {}
        self._frame_wh: tuple[int, int] | None = None
        self._last_ts: float | None = None

    def samplers(self, frame_wh: tuple[int, int]) -> dict[str, ZoneSampler]:
        if self._frame_wh != frame_wh:
            self._samplers = {
                z.name: make_sampler(z.name, z.polygon, self._cfg.patch_size_px, frame_wh)
                for z in self._zones
            }
            self._frame_wh = frame_wh
        return self._samplers

    def measure(self, frame: Frame) -> ShelfMeasurement:
        due = (self._last_ts is None or self._cfg.interval_s <= 0.0
               or frame.ts_s - self._last_ts >= self._cfg.interval_s - 1e-9)
        if not due:
            return ShelfMeasurement(ts_s=frame.ts_s)
        self._last_ts = frame.ts_s
        samplers = self.samplers(frame.size_wh)
        patches = {name: sample_patch(frame.image_bgr, s) for name, s in samplers.items()}
        return ShelfMeasurement(ts_s=frame.ts_s, patches=patches)


@dataclass
class _Period:
    """One stretch of time in which the zone was stable; `patch` is its latest look."""

    start_s: float
    end_s: float
    patch: FloatArray


@dataclass
class _ZoneTrack:
    sampler: ZoneSampler
    capacity: int | None
    calibration: Calibration
    last_patch: FloatArray | None = None
    still_since: float | None = None
    periods: deque[_Period] = field(default_factory=lambda: deque(maxlen=MAX_PERIODS))
    stable: bool = False
    disturbed_at: float | None = None
    last: Occupancy | None = None


# Stable periods remembered per zone: enough to reach back over one interaction (a hand's arm
# resting over a zone makes short stable periods that must not hide the look before).
MAX_PERIODS = 32


class OccupancyTracker:
    """Turns per-frame zone samples plus hand boxes into one `Occupancy` per zone, and answers
    `compare(zone, before_s)`: the settled look before a time against the current one."""

    def __init__(self, camera: CameraConfig, cfg: ShelfDetectorConfig,
                 samplers: dict[str, ZoneSampler], calibration_dir: Path | None = None) -> None:
        self._cfg = cfg
        self._zones: dict[str, ZoneConfig] = {z.name: z for z in camera.zones}
        self._tracks = {
            z.name: _ZoneTrack(samplers[z.name], z.capacity,
                               load_calibration(calibration_dir, camera.name, z.name))
            for z in camera.zones
        }

    def update(self, shelf: ShelfMeasurement,
               hand_boxes_xyxy: npt.NDArray[np.float32]) -> dict[str, Occupancy]:
        """One step. Zones not sampled this frame repeat their last record."""
        out: dict[str, Occupancy] = {}
        for name, tr in self._tracks.items():
            patch = shelf.patches.get(name)
            if patch is None:
                if tr.last is not None:
                    out[name] = tr.last
                continue
            out[name] = tr.last = self._step(name, tr, patch, shelf.ts_s, hand_boxes_xyxy)
        return out

    def _step(self, name: str, tr: _ZoneTrack, patch: FloatArray, ts: float,
              boxes: npt.NDArray[np.float32]) -> Occupancy:
        cfg = self._cfg
        polygon = self._zones[name].polygon
        occluded = any(box_near_zone(b, polygon, cfg.near_margin_px)
                       or (cfg.arm_shadow and box_shadows_zone(b, polygon, cfg.near_margin_px))
                       for b in boxes)
        moved = (tr.last_patch is not None
                 and motion(tr.last_patch, patch, tr.sampler) > cfg.motion_threshold)
        tr.last_patch = patch
        if occluded or moved:
            tr.still_since = None
            state = SurfaceState.OCCLUDED if occluded else SurfaceState.CHANGING
        else:
            if tr.still_since is None:
                tr.still_since = ts
            settled_now = ts - tr.still_since >= cfg.settle_s - 1e-9
            state = SurfaceState.STABLE if settled_now else SurfaceState.CHANGING
        if state is SurfaceState.STABLE:
            assert tr.still_since is not None
            if tr.stable and tr.periods:
                tr.periods[-1].end_s, tr.periods[-1].patch = ts, patch
            else:
                tr.periods.append(_Period(tr.still_since, ts, patch))
            tr.stable = True
        elif tr.stable:
            tr.stable = False
            tr.disturbed_at = ts
        fill = fill_estimate(tr.periods[-1].patch if tr.periods else patch, tr.sampler,
                             tr.calibration)
        changed, direction, fill_before = 0.0, 0.0, None
        if len(tr.periods) >= 2 and tr.stable:
            before, after = tr.periods[-2].patch, tr.periods[-1].patch
            fill_before = fill_estimate(before, tr.sampler, tr.calibration)
            changed = changed_fraction(before, after, tr.sampler, cfg.change_threshold)
            direction = change_direction(before, after, tr.sampler, cfg.change_threshold,
                                         tr.calibration)
        return Occupancy(
            zone=name, fill=fill, count_estimate=self._count(tr, fill), changed_fraction=changed,
            state=state, ts_s=ts, fill_before=fill_before, direction=direction,
            stable_since_s=(tr.still_since if state is SurfaceState.STABLE else None),
            disturbed_at_s=tr.disturbed_at,
        )

    @staticmethod
    def _count(tr: _ZoneTrack, fill: float) -> int | None:
        return round(fill * tr.capacity) if tr.capacity else None

    def compare(self, zone: str, before_s: float) -> ZoneChange | None:
        """The last look settled before `before_s` against the zone's current settled look.

        None while the zone is not stable now or never settled before `before_s`.
        """
        tr = self._tracks[zone]
        if not tr.stable or not tr.periods:
            return None
        after = tr.periods[-1]
        earlier = [p for p in list(tr.periods)[:-1] if p.end_s <= before_s + 1e-9]
        if not earlier:
            return None
        before = earlier[-1].patch
        cfg = self._cfg
        fb = fill_estimate(before, tr.sampler, tr.calibration)
        fa = fill_estimate(after.patch, tr.sampler, tr.calibration)
        return ZoneChange(
            fill_before=fb, fill_after=fa,
            changed_fraction=changed_fraction(before, after.patch, tr.sampler, cfg.change_threshold),
            direction=change_direction(before, after.patch, tr.sampler, cfg.change_threshold,
                                       tr.calibration),
            count_before=self._count(tr, fb), count_after=self._count(tr, fa))

    def settled_patch(self, zone: str) -> FloatArray | None:
        """The zone's current settled appearance (for `smartshelf calibrate`)."""
        periods = self._tracks[zone].periods
        return periods[-1].patch if periods else None
