"""SORT: Kalman-predicted boxes matched to detections by IoU, with a track lifecycle.

`BoxTracker` is the engine (ages on a caller-given clock, all tracks stepped at once with
numpy); `Sort` is the MOTChallenge-shaped front end with the reference's defaults and I/O.
Imports numpy, scipy and filterpy only (no OpenCV, no TensorFlow).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smartshelf.tracking import kalman
from smartshelf.tracking.association import F64, I64, associate, check_boxes, iou_matrix
from smartshelf.types import TrackState

log = logging.getLogger(__name__)

# Track states live in int8 arrays (one per track); this tuple maps codes to the Enum.
STATE_BY_CODE: tuple[TrackState, ...] = (
    TrackState.TENTATIVE,
    TrackState.CONFIRMED,
    TrackState.LOST,
    TrackState.DELETED,
)
TENTATIVE, CONFIRMED, LOST, DELETED = range(4)

# Columns of BoxTracker's per-track array: the Kalman state, then the lifecycle scalars.
_X = slice(0, kalman.DIM_X)
_ID, _STREAK, _SEEN, _MISSED, _CONFIRMED = range(kalman.DIM_X, kalman.DIM_X + 5)
_COLS = kalman.DIM_X + 5


@dataclass(frozen=True, eq=False)
class TrackTable:
    """Every track after one step, in column arrays.

    `xyxy` is the filtered box (the posterior where a detection matched, else the prediction);
    `matched` is True where a detection updated (or started) the track in this step; `state`
    holds codes into `STATE_BY_CODE` (a LOST track is one coasting on its prediction; in
    sticky mode `confirmed` says whether it had been confirmed before). Tracks deleted in this
    step are included once, with state DELETED, so callers see them leave.
    """

    xyxy: F64
    track_id: I64
    matched: npt.NDArray[np.bool_]
    state: npt.NDArray[np.int8]
    confirmed: npt.NDArray[np.bool_]  # has met min_hits (and, unless sticky, still does)

    def states(self) -> list[TrackState]:
        return [STATE_BY_CODE[c] for c in self.state.tolist()]


class BoxTracker:
    """Multi-object box tracker (SORT) on a caller-given clock; one instance per camera.

    `max_age` is in the clock's unit (frames for `Sort`, seconds for `HandTracker`): a track
    not matched for longer than that is deleted. A track is CONFIRMED in a step where it is
    matched and has been matched in `min_hits` consecutive steps since it started (the
    detection that starts it counts as zero, as in SORT). With `sticky=False` (SORT) a single
    miss sends a track back through that count; with `sticky=True` a confirmed track stays
    confirmed while it lives. `warmup=True` confirms every matched track in the first
    `min_hits` steps (SORT does, so that tracks exist from the first frame).
    Ids are ints from 1, counted per instance.
    """

    def __init__(
        self,
        max_age: float,
        min_hits: int,
        iou_threshold: float,
        *,
        sticky: bool = False,
        warmup: bool = False,
        model: kalman.BoxModel | None = None,
    ) -> None:
        if not max_age >= 0:
            raise ValueError(f"max_age: expected a number >= 0, got {max_age!r}")
        if min_hits < 0:
            raise ValueError(f"min_hits: expected an integer >= 0, got {min_hits!r}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold: expected 0 <= x <= 1, got {iou_threshold!r}")
        self.max_age = float(max_age)
        self.min_hits = int(min_hits)
        self.iou_threshold = float(iou_threshold)
        self.sticky = sticky
        self.warmup = warmup
        self.model = model if model is not None else kalman.BoxModel.sort()
        self._next_id = 1
        self._steps = 0
        self._last_ts: float | None = None
        # One row per live track. Scalars share one float64 array (ids are exact below 2**53)
        # so that dropping or adding tracks costs two array operations, not seven.
        self._s = np.zeros((0, _COLS))
        self._P = np.zeros((0, kalman.DIM_X, kalman.DIM_X))

    def __len__(self) -> int:
        return int(self._s.shape[0])

    def step(self, boxes: F64, ts: float) -> TrackTable:
        """Advance all tracks to `ts` and match them to `boxes` (D, 4) xyxy, already checked.

        `ts` must not go backwards. Call once per frame, with an empty array when nothing was
        detected.
        """
        if not np.isfinite(ts):
            raise ValueError(f"ts: expected a finite time, got {ts}")
        if self._last_ts is not None and ts < self._last_ts:
            raise ValueError(f"ts: expected a time >= the previous {self._last_ts}, got {ts}")
        self._last_ts = ts
        self._steps += 1
        model = self.model
        s, P = self._s, self._P

        # Predict. A miss in the previous step breaks the streak (SORT's hit_streak).
        if s.shape[0]:
            s[s[:, _MISSED] > 0, _STREAK] = 0.0
            s[:, _X], P = kalman.predict(model, s[:, _X], P)
            # A track whose area or aspect went to zero or below has no box left: drop it.
            valid = (s[:, 2] > 0) & (s[:, 3] > 0)
            if not valid.all():
                log.debug("dropping %d tracks whose box collapsed", int((~valid).sum()))
                s, P = s[valid], P[valid]
            pred = kalman.x_to_xyxy(s)
        else:
            pred = np.zeros((0, 4))

        # Associate and correct the matched tracks.
        matches, new_rows, _ = associate(iou_matrix(boxes, pred), self.iou_threshold)
        n_old = s.shape[0]
        matched = np.zeros(n_old + new_rows.shape[0], dtype=bool)
        if matches.shape[0]:
            d, t = matches[:, 0], matches[:, 1]
            s[t, _X], P[t] = kalman.update(model, s[t, _X], P[t], kalman.xyxy_to_z(boxes[d]))
            s[t, _STREAK] += 1.0
            s[t, _SEEN] = ts
            matched[t] = True

        # Start a track for every detection left over.
        n_new = new_rows.shape[0]
        if n_new:
            x0, P0 = kalman.initial_state(model, boxes[new_rows])
            rows = np.zeros((n_new, _COLS))
            rows[:, _X] = x0
            rows[:, _ID] = np.arange(self._next_id, self._next_id + n_new)
            rows[:, _SEEN] = ts
            self._next_id += n_new
            s = np.concatenate([s, rows])
            P = np.concatenate([P, P0])
            matched[n_old:] = True
        s[:, _MISSED] = ~matched

        # Lifecycle: the one place where states change.
        if self.warmup and self._steps <= self.min_hits:
            ok = matched
        else:
            ok = matched & (s[:, _STREAK] >= self.min_hits)
        state = np.full(s.shape[0], LOST, dtype=np.int8)
        if self.sticky:
            s[ok, _CONFIRMED] = 1.0
            state[matched] = TENTATIVE
            state[matched & (s[:, _CONFIRMED] > 0)] = CONFIRMED
        else:
            state[matched] = TENTATIVE
            state[ok] = CONFIRMED
        dead = (ts - s[:, _SEEN]) > self.max_age
        state[dead] = DELETED

        table = TrackTable(
            xyxy=kalman.x_to_xyxy(s),
            track_id=s[:, _ID].astype(np.int64),
            matched=matched,
            state=state,
            confirmed=s[:, _CONFIRMED] > 0 if self.sticky else state == CONFIRMED,
        )
        if dead.any():
            s, P = s[~dead], P[~dead]
        self._s, self._P = s, P
        return table


class Sort:
    """SORT with the reference's defaults and I/O, for MOTChallenge files.

    `update(dets, ts_s=None)` takes (N, 5) `[x1, y1, x2, y2, score]` (the score is not used)
    and returns (M, 5) `[x1, y1, x2, y2, track_id]` for the tracks confirmed in this frame.
    Call it once per frame, empty frames included. Ages count frames (`max_age`), or seconds
    of `ts_s` when the tracker is built with `max_age_s`.
    """

    def __init__(
        self,
        max_age: int = 1,
        min_hits: int = 3,
        iou_threshold: float = 0.3,
        *,
        max_age_s: float | None = None,
    ) -> None:
        self.max_age = max_age
        self.max_age_s = max_age_s
        self.min_hits = min_hits
        self.iou_threshold = iou_threshold
        self.frame_count = 0
        self._tracker = BoxTracker(
            max_age if max_age_s is None else max_age_s,
            min_hits,
            iou_threshold,
            warmup=True,
        )

    def update(self, dets: object = None, ts_s: float | None = None) -> F64:
        boxes = check_boxes("Sort.update dets", np.zeros((0, 5)) if dets is None else dets, 5)
        if (ts_s is None) != (self.max_age_s is None):
            raise ValueError(
                "Sort.update ts_s: expected a timestamp exactly when the tracker was built with "
                f"max_age_s (max_age_s={self.max_age_s}), got ts_s={ts_s}"
            )
        self.frame_count += 1
        ts = float(self.frame_count) if ts_s is None else float(ts_s)
        table = self._tracker.step(boxes[:, :4], ts)
        out = table.state == CONFIRMED
        return np.concatenate([table.xyxy[out], table.track_id[out, None]], axis=1)
