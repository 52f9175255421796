"""One camera's processing path: detectors (hands | shelf, concurrently) -> tracking -> fusion.

`CameraPipeline.process(frame)` is the whole path for one frame and returns a `FrameResult`;
the daemon and replay only differ in where frames come from and where results go.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from smartshelf.config import CameraConfig, Config
from smartshelf.detectors.base import HandDetector
from smartshelf.detectors.recall import (
    FloatArray,
    RecentHands,
    at_size_of,
    boxes_to_retry,
    merge,
    overlaps_any,
    same_size,
)
from smartshelf.detectors.shelf import OccupancyTracker
from smartshelf.detectors.shelf_model import ModelShelfDetector, build_shelf_detector
from smartshelf.detectors.still import FrameMemory, judge, thumbnail
from smartshelf.events.record import Event, ZoneState
from smartshelf.fusion.monitor import CameraFusion
from smartshelf.fusion.zones import box_near_zone, polygon_bounds
from smartshelf.publishers.base import Publisher
from smartshelf.recorders.clips import clip_folder
from smartshelf.tracking.hands import HandTracker
from smartshelf.types import Detections, Frame, Occupancy, ShelfMeasurement, SurfaceState, Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FrameResult:
    """What one frame produced: the record that crosses pipeline -> publishers / recorders."""

    frame: Frame
    hands: Detections
    tracks: Tracks
    occupancy: dict[str, Occupancy]
    outputs: tuple[Event | ZoneState, ...]
    hands_s: float  # wall seconds spent in the hand detector (metrics only, never in events)
    shelf_s: float
    still_hands: int = 0  # detections dropped as hands in a picture (detectors/still.py)

    @property
    def events(self) -> list[Event]:
        return [o for o in self.outputs if isinstance(o, Event)]


class CameraPipeline:
    """Owns one camera's detectors, tracker, occupancy and fusion state."""

    def __init__(self, camera: CameraConfig, cfg: Config, hands: HandDetector, *,
                 parallel: bool = True, epoch_s: float = 0.0) -> None:
        self.camera = camera
        self._cfg = cfg
        self._hands = hands
        self._shelf = build_shelf_detector(camera, cfg.detectors.shelf, cfg.resolve)
        self._tracker = HandTracker(cfg.tracker)
        self._recent = RecentHands(cfg.detectors.hands.redetect_s)
        self._frames = FrameMemory(cfg.detectors.hands.still_after_s)
        self._real = RecentHands(cfg.tracker.max_age_s)  # hands judged real, not in a picture
        self._occupancy: OccupancyTracker | None = None
        # zone -> where it moved with no hand near, in the frame before: looked at again, zoomed in
        self._moving: dict[str, tuple[float, float, float, float]] = {}
        digests = dict(hands.model_digests())
        if isinstance(self._shelf, ModelShelfDetector):  # events name every model that decided them
            digests.update(self._shelf.model_digests())
        self._fusion = CameraFusion(camera, cfg.fusion, digests, epoch_s=epoch_s)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"shelf-{camera.name}") if parallel else None
        self._calibration_dir = (cfg.resolve(camera.calibration_dir)
                                 if camera.calibration_dir else None)

    def _occupancy_for(self, frame: Frame) -> OccupancyTracker:
        if self._occupancy is None:
            samplers = self._shelf.samplers(frame.size_wh)
            self._occupancy = OccupancyTracker(self.camera, self._cfg.detectors.shelf, samplers,
                                               self._calibration_dir)
        return self._occupancy

    def process(self, frame: Frame) -> FrameResult:
        occupancy_tracker = self._occupancy_for(frame)
        t0 = time.perf_counter()
        if self._pool is not None:
            shelf_future = self._pool.submit(self._timed_measure, frame)
            hands = self._hands.detect(frame.image_bgr)
            hands_s = time.perf_counter() - t0
            shelf, shelf_s = shelf_future.result()
        else:
            hands = self._hands.detect(frame.image_bgr)
            hands_s = time.perf_counter() - t0
            shelf, shelf_s = self._timed_measure(frame)
        hands, remembered = self._second_look(frame, hands)
        keep = self._not_still(frame, hands)
        still = int(len(keep) - keep.sum())
        if still:
            log.debug("%d hand(s) in a picture dropped at %.2f s", still, frame.ts_s,
                      extra={"camera": self.camera.name})
            hands, remembered = hands.select(keep), remembered[keep]
        self._recent.add(frame.ts_s, remembered)
        tracks = self._tracker.update(hands, frame.ts_s)
        # What covers the shelf: every detected hand, confirmed or not. A track coasting on its
        # prediction does not: after a hand leaves through the frame edge its prediction would
        # hold the zone "occluded" for the tracker's whole max_age and delay every decision.
        boxes = hands.xyxy
        occupancy = occupancy_tracker.update(shelf, boxes)
        self._moving = {n: box for n, o in occupancy.items() if o.state is SurfaceState.CHANGING
                        and (box := occupancy_tracker.moved_xyxy(n)) is not None}
        outputs = tuple(self._with_snapshots(self._fusion.update(
            frame.ts_s, tracks, occupancy, occupancy_tracker, frame.size_wh)))
        return FrameResult(frame, hands, tracks, occupancy, outputs, hands_s, shelf_s, still)

    def _with_snapshots(self, outputs: list[Event | ZoneState]) -> list[Event | ZoneState]:
        """Events flagged for review name the snapshot the clip recorder writes for them."""
        rec = self._cfg.recording
        if not rec.enabled:
            return outputs
        base = self._cfg.resolve(rec.dir)
        return [dataclasses.replace(o, snapshot=str(clip_folder(base, o.camera, o) / f"{o.event_id}.jpg"))
                if isinstance(o, Event) and o.review else o for o in outputs]

    def _second_look(self, frame: Frame, hands: Detections) -> tuple[Detections, FloatArray]:
        """Look again, zoomed in, where a hand was in the last moment but is missing now.

        Also returns, row for row, the box to remember each hand by for the next second look:
        a hand found by a second look is remembered at the size of the hand it continues, so
        that one look cannot accept a find half the size, the next a quarter, and so on.
        """
        remembered = hands.xyxy
        detect_near = getattr(self._hands, "detect_near", None)
        if detect_near is None or not self._cfg.detectors.hands.redetect_s:
            return hands, remembered
        retry = boxes_to_retry(self._recent.boxes(), hands.xyxy)
        if len(retry):
            found = detect_near(frame.image_bgr, retry)
            found = found.select(same_size(found.xyxy, retry))
            hands = merge(hands, found)
            remembered = np.concatenate([remembered, at_size_of(found.xyxy, retry)])
        if self._cfg.detectors.hands.look_at_moving_zones and self._moving:
            in_zones = self._zone_look(frame, hands, detect_near)
            hands = merge(hands, in_zones)
            remembered = np.concatenate([remembered, in_zones.xyxy])
        return hands, remembered

    def _not_still(self, frame: Frame, hands: Detections) -> npt.NDArray[np.bool_]:
        """Per hand: False for a new hand where the picture has not changed in `still_after_s`."""
        keep = np.ones(len(hands), dtype=bool)
        if not self._cfg.detectors.hands.still_after_s:
            return keep
        real = np.zeros(len(hands), dtype=bool)
        frames = self._frames
        if len(hands) or frames.wants(frame.ts_s):  # a frame with no hand is only remembered
            thumb = thumbnail(frame.image_bgr)
            if len(hands):
                keep, real = judge(hands.xyxy, self._real.boxes(), thumb,
                                   frames.before(frame.ts_s, thumb.shape))
            frames.add(frame.ts_s, thumb)
        self._real.add(frame.ts_s, hands.xyxy[real])
        return keep

    def _zone_look(self, frame: Frame, hands: Detections, detect_near: Callable[..., Detections]
                   ) -> Detections:
        """Look, zoomed in, at zones that moved with no hand near; keep hands where it moved."""
        margin = self._cfg.detectors.shelf.near_margin_px
        zones = [z for z in self.camera.zones if z.name in self._moving
                 and not any(box_near_zone(b, z.polygon, margin) for b in hands.xyxy)]
        if not zones:
            return Detections.empty()
        found = detect_near(frame.image_bgr,
                            np.array([polygon_bounds(z.polygon) for z in zones], np.float32))
        moved = np.array([self._moving[z.name] for z in zones], np.float32)
        return found.select(overlaps_any(found.xyxy, moved))

    def _timed_measure(self, frame: Frame) -> tuple[ShelfMeasurement, float]:
        t = time.perf_counter()
        m = self._shelf.measure(frame)
        return m, time.perf_counter() - t

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def dispatch(outputs: tuple[Event | ZoneState, ...], sinks: list[Publisher]) -> None:
    """Hand every output to every sink; one failing sink never starves the others."""
    for out in outputs:
        for sink in sinks:
            try:
                if isinstance(out, Event):
                    sink.publish(out)
                else:
                    sink.publish_state(out)
            except Exception:
                log.exception("publisher %s failed", type(sink).__name__)


def snapshot_name(directory: Path, event: Event) -> Path:
    return directory / event.camera / f"{event.event_id}.jpg"
