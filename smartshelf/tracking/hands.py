"""Hand tracks for the pipeline: SORT on `Detections`, ages in seconds; one per camera."""

from __future__ import annotations

import logging

import numpy as np

from smartshelf.config import TrackerConfig
from smartshelf.tracking.sort import DELETED, BoxTracker
from smartshelf.types import Detections, Tracks

log = logging.getLogger(__name__)


class HandTracker:
    """Tracks hands from one camera; `update` once per processed frame, in stream time.

    Returns the confirmed tracks, both those matched in this frame and those coasting on their
    prediction for up to `max_age_s` since their last match (`Tracks.matched` tells which).
    A track is confirmed once `min_hits` detections in a row have fed it, and stays confirmed
    through short misses (a hand blurred for a frame must not lose its place in an
    interaction). The Kalman model steps once per processed frame.
    """

    def __init__(self, config: TrackerConfig, camera: str = "") -> None:
        self.config = config
        self.camera = camera
        # BoxTracker counts the matches after the starting detection; config counts detections.
        self._tracker = BoxTracker(
            config.max_age_s,
            max(config.min_hits - 1, 0),
            config.iou_threshold,
            sticky=True,
            warmup=False,
        )

    def update(self, dets: Detections, ts_s: float) -> Tracks:
        table = self._tracker.step(np.asarray(dets.xyxy, dtype=np.float64), float(ts_s))
        keep = table.confirmed & (table.state != DELETED) & np.isfinite(table.xyxy).all(axis=1)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "camera=%s ts_s=%.3f detections=%d tracks=%d",
                self.camera, ts_s, len(dets), int(keep.sum()),
            )
        return Tracks(
            xyxy=table.xyxy[keep].astype(np.float32),
            track_id=table.track_id[keep],
            matched=table.matched[keep],
        )
