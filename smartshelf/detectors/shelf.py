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
    cell_changes,
    cell_motion,
    cells_xyxy,
    change_direction,
    changed_fraction,
    fill_estimate,
    make_sampler,
    motion,
    moved_cells,
    sample_patch,
)
from smartshelf.detectors.shelf_model import count_change, count_fill
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
    """One stretch of time in which the zone was stable; its latest look is `patch` (reference
    backend) or `count` (model backend)."""

    start_s: float
    end_s: float
    patch: FloatArray | None
    count: int | None = None
    # Worked out once, on the period's first look: the look barely moves while it is stable, and
    # redoing them every frame for every zone cost 2 ms a frame on the demo.
    change: ZoneChange | None = None  # against the period before
    fill: tuple[float, int | None] | None = None


@dataclass
class _ZoneTrack:
    sampler: ZoneSampler
    capacity: int | None
    calibration: Calibration
    last_patch: FloatArray | None = None
    moved_xyxy: tuple[float, float, float, float] | None = None  # the cells that moved last step
    last_count: int | None = None
    still_since: float | None = None
    periods: deque[_Period] = field(default_factory=lambda: deque(maxlen=MAX_PERIODS))
    stable: bool = False
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
            count = shelf.counts.get(name)
            if patch is None and count is None:
                if tr.last is not None:
                    out[name] = tr.last
                continue
            out[name] = tr.last = self._step(name, tr, patch, count, shelf.ts_s, hand_boxes_xyxy)
        return out

    def _step(self, name: str, tr: _ZoneTrack, patch: FloatArray | None, count: int | None,
              ts: float, boxes: npt.NDArray[np.float32]) -> Occupancy:
        cfg = self._cfg
        polygon = self._zones[name].polygon
        occluded = any(box_near_zone(b, polygon, cfg.near_margin_px)
                       or (cfg.arm_shadow and box_shadows_zone(b, polygon, cfg.near_margin_px))
                       for b in boxes)
        tr.moved_xyxy = None
        if patch is not None:
            moved = False
            if tr.last_patch is not None:
                changes = cell_changes(tr.last_patch, patch, tr.sampler)
                moved = (motion(tr.last_patch, patch, tr.sampler) > cfg.motion_threshold
                         or cell_motion(changes, tr.sampler) > cfg.cell_motion_threshold)
                if moved:
                    tr.moved_xyxy = cells_xyxy(
                        moved_cells(changes, tr.sampler, cfg.cell_motion_threshold), tr.sampler)
            tr.last_patch = patch
        else:  # a model's count: any change of it is movement
            moved = tr.last_count is not None and count != tr.last_count
            tr.last_count = count
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
                tr.periods[-1].end_s, tr.periods[-1].patch, tr.periods[-1].count = ts, patch, count
            else:
                tr.periods.append(_Period(tr.still_since, ts, patch, count))
        tr.stable = state is SurfaceState.STABLE
        changed, direction, fill_before = 0.0, 0.0, None
        if len(tr.periods) >= 2 and tr.stable:
            latest = tr.periods[-1]
            if latest.change is None:
                latest.change = self._change(tr, tr.periods[-2], latest)
            change = latest.change
            changed, direction, fill_before = (change.changed_fraction, change.direction,
                                               change.fill_before)
            fill, count_estimate = change.fill_after, change.count_after
        elif tr.periods:
            latest = tr.periods[-1]
            if latest.fill is None:
                latest.fill = self._fill(tr, latest)
            fill, count_estimate = latest.fill
        else:
            fill, count_estimate = self._fill(tr, _Period(ts, ts, patch, count))
        return Occupancy(
            zone=name, fill=fill, count_estimate=count_estimate, changed_fraction=changed,
            state=state, ts_s=ts, fill_before=fill_before, direction=direction,
            stable_since_s=(tr.still_since if state is SurfaceState.STABLE else None),
        )

    @staticmethod
    def _count(tr: _ZoneTrack, fill: float) -> int | None:
        return round(fill * tr.capacity) if tr.capacity else None

    def _fill(self, tr: _ZoneTrack, look: _Period) -> tuple[float, int | None]:
        """Fill and item count of one look: counted by the model, or estimated from the patch."""
        if look.count is not None:
            return count_fill(look.count, tr.capacity), look.count
        assert look.patch is not None
        fill = fill_estimate(look.patch, tr.sampler, tr.calibration)
        return fill, self._count(tr, fill)

    def _change(self, tr: _ZoneTrack, before: _Period, after: _Period) -> ZoneChange:
        if before.count is not None and after.count is not None:
            return count_change(before.count, after.count, tr.capacity)
        assert before.patch is not None and after.patch is not None
        cfg = self._cfg
        fb = fill_estimate(before.patch, tr.sampler, tr.calibration)
        fa = fill_estimate(after.patch, tr.sampler, tr.calibration)
        return ZoneChange(
            fill_before=fb, fill_after=fa,
            changed_fraction=changed_fraction(before.patch, after.patch, tr.sampler,
                                              cfg.change_threshold, cfg.texture_change_threshold),
            direction=change_direction(before.patch, after.patch, tr.sampler, cfg.change_threshold,
                                       cfg.texture_change_threshold, tr.calibration),
            count_before=self._count(tr, fb), count_after=self._count(tr, fa))

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
        return self._change(tr, earlier[-1], after)

    def moved_xyxy(self, zone: str) -> tuple[float, float, float, float] | None:
        """Frame-pixel bounds of the zone's cells that moved in the last step (None: none did)."""
        return self._tracks[zone].moved_xyxy

    def settled_patch(self, zone: str) -> FloatArray | None:
        """The zone's current settled appearance (for `smartshelf calibrate`)."""
        periods = self._tracks[zone].periods
        return periods[-1].patch if periods else None
