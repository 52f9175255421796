"""SORT: Kalman-predicted boxes matched to detections by IoU, with a track lifecycle.

`BoxTracker` is the engine (ages on a caller-given clock, all tracks stepped at once with
numpy); `Sort` is the MOTChallenge-shaped front end with the reference's defaults and I/O.
Imports numpy, scipy and filterpy only (no OpenCV, no TensorFlow).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from smartshelf.tracking import kalman
from smartshelf.tracking.association import F64, I64, check_boxes, iou_matrix, match_pairs
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

_T = TypeVar("_T")


def _pick(col: list[_T], keep: list[int]) -> list[_T]:
    return [col[i] for i in keep]


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
        # Kalman states (N, 7) and covariances (N, 7, 7) in arrays, stepped in one call each;
        # the lifecycle scalars in plain lists, one entry per track in the same order: with a
        # handful of tracks a Python loop over them costs less than one numpy call per field.
        self._x = np.zeros((0, kalman.DIM_X))
        self._P = np.zeros((0, kalman.DIM_X, kalman.DIM_X))
        self._ids: list[int] = []
        self._streak: list[int] = []  # matches in a row since the track last missed (hit_streak)
        self._seen: list[float] = []  # clock time of the last match (or of the start)
        self._missed: list[bool] = []  # not matched in the previous step
        self._sticky_ok: list[bool] = []  # sticky mode: has been confirmed

    def __len__(self) -> int:
        return len(self._ids)

    def step(self, boxes: F64, ts: float) -> TrackTable:
        """Advance all tracks to `ts` and match them to `boxes` (D, 4) xyxy, already checked.

        `ts` must not go backwards. Call once per frame, with an empty array when nothing was
        detected.
        """
        xyxy, ids, matched, state, confirmed = self._step(boxes, ts)
        return TrackTable(
            xyxy=xyxy,
            track_id=np.array(ids, dtype=np.int64),
            matched=np.array(matched, dtype=bool),
            state=np.array(state, dtype=np.int8),
            confirmed=np.array(confirmed, dtype=bool),
        )

    def _step(self, boxes: F64, ts: float) -> tuple[F64, list[int], list[bool], list[int], list[bool]]:
        """`step`'s work; returns the TrackTable's columns with lists for the small ones."""
        if not math.isfinite(ts):
            raise ValueError(f"ts: expected a finite time, got {ts}")
        if self._last_ts is not None and ts < self._last_ts:
            raise ValueError(f"ts: expected a time >= the previous {self._last_ts}, got {ts}")
        self._last_ts = ts
        self._steps += 1
        model = self.model
        x, P = self._x, self._P
        ids, streak, seen = self._ids, self._streak, self._seen
        missed, sticky_ok = self._missed, self._sticky_ok
        n = len(ids)

        # Predict. A track whose area or aspect went to zero or below has no box left: drop it.
        if n:
            x, P = kalman.predict(model, x, P)
            if np.minimum.reduce(x[:, 2:4], axis=None) <= 0.0:
                keep = np.flatnonzero((x[:, 2] > 0) & (x[:, 3] > 0)).tolist()
                log.debug("dropping %d tracks whose box collapsed", n - len(keep))
                x, P = x[keep], P[keep]
                ids, streak, seen = _pick(ids, keep), _pick(streak, keep), _pick(seen, keep)
                missed, sticky_ok = _pick(missed, keep), _pick(sticky_ok, keep)
                n = len(keep)

        # Associate and correct the matched tracks.
        n_det = boxes.shape[0]
        if n and n_det:
            dets, tracks = match_pairs(iou_matrix(boxes, kalman.x_to_xyxy(x)), self.iou_threshold)
        else:
            dets, tracks = [], []
        matched = [False] * n
        if n_det:
            z = kalman.xyxy_to_z(boxes)
        if tracks:
            x[tracks], P[tracks] = kalman.update(model, x[tracks], P[tracks], z[dets])
            for t in tracks:
                matched[t] = True

        # Start a track for every detection left over.
        if len(dets) < n_det:
            taken = set(dets)
            new = [d for d in range(n_det) if d not in taken]
            k = len(new)
            x0, P0 = kalman.initial_state_z(model, z[new])
            x = np.concatenate([x, x0]) if n else x0
            P = np.concatenate([P, P0]) if n else P0
            ids = ids + list(range(self._next_id, self._next_id + k))
            self._next_id += k
            streak = streak + [0] * k
            seen = seen + [ts] * k
            missed = missed + [False] * k
            sticky_ok = sticky_ok + [False] * k
            matched += [True] * k

        # Lifecycle: the one place where states change.
        min_hits, max_age, sticky = self.min_hits, self.max_age, self.sticky
        warm = self.warmup and self._steps <= min_hits
        state: list[int] = []
        confirmed: list[bool] = []
        dead = False
        for i, hit in enumerate(matched):
            if i < n:  # a miss in the previous step breaks the streak (SORT's hit_streak)
                if missed[i]:
                    streak[i] = 0
                if hit:
                    streak[i] += 1
                    seen[i] = ts
            missed[i] = not hit
            ok = hit and (warm or streak[i] >= min_hits)
            if sticky:
                if ok:
                    sticky_ok[i] = True
                code = (CONFIRMED if sticky_ok[i] else TENTATIVE) if hit else LOST
            else:
                code = (CONFIRMED if ok else TENTATIVE) if hit else LOST
            if ts - seen[i] > max_age:
                code = DELETED
                dead = True
            state.append(code)
            confirmed.append(sticky_ok[i] if sticky else code == CONFIRMED)
        xyxy = kalman.x_to_xyxy(x)
        out_ids = ids
        if dead:
            keep = [i for i, code in enumerate(state) if code != DELETED]
            x, P = x[keep], P[keep]
            ids, streak, seen = _pick(ids, keep), _pick(streak, keep), _pick(seen, keep)
            missed, sticky_ok = _pick(missed, keep), _pick(sticky_ok, keep)
        self._x, self._P = x, P
        self._ids, self._streak, self._seen = ids, streak, seen
        self._missed, self._sticky_ok = missed, sticky_ok
        return xyxy, out_ids, matched, state, confirmed


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
        xyxy, ids, _, state, _ = self._tracker._step(boxes[:, :4], ts)
        keep = [i for i, code in enumerate(state) if code == CONFIRMED]
        out = np.empty((len(keep), 5))
        out[:, :4] = xyxy[keep]
        out[:, 4] = [ids[i] for i in keep]
        return out
