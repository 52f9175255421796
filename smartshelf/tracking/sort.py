"""SORT: Kalman-predicted boxes matched to detections by IoU, with a track lifecycle.

`BoxTracker` is the engine (ages on a caller-given clock, all tracks stepped at once with
numpy); `Sort` is the MOTChallenge-shaped front end with the reference's defaults and I/O.
Imports numpy, scipy and filterpy only (no OpenCV, no TensorFlow).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smartshelf.tracking import kalman
from smartshelf.tracking.association import CENTRE_SIZE, F64, I64, SIGNED, box_rows, iou_rows, match_pairs
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

# The tracker's own rows below the Kalman rows of its state block (one column per track):
# stepping, dropping and appending tracks then moves one array, not one list per field.
ID, STICKY, STREAK, SEEN = range(kalman.KF_ROWS, kalman.KF_ROWS + 4)
ROWS = SEEN + 1
# STICKY: 1.0 once confirmed, in sticky mode; STREAK: matches in a row (SORT's hit_streak; a
# miss sets it to 0); SEEN: clock time of the last match (or of the start).
BoolArray = npt.NDArray[np.bool_]


def _matched_mask(total: int, m: int, n: int) -> BoolArray:
    """Tracks matched or started in a step, for columns [matched (m) | not matched | new]."""
    mask = np.zeros(total, dtype=bool)
    mask[:m] = True
    mask[n:] = True
    return mask


@dataclass(frozen=True, eq=False)
class TrackTable:
    """Every track after one step, in column arrays.

    `xyxy` is the filtered box (the posterior where a detection matched, else the prediction);
    `matched` is True where a detection updated (or started) the track in this step; `state`
    holds codes into `STATE_BY_CODE` (a LOST track is one coasting on its prediction; in
    sticky mode `confirmed` says whether it had been confirmed before). Tracks deleted in this
    step are included once, with state DELETED, so callers see them leave. Rows come in no
    fixed order (matched tracks first): key on `track_id`.
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
        self._state = np.zeros((ROWS, 0))
        # One new track's column, less its box, id and start time.
        self._birth = kalman.new_tracks(self.model, np.zeros((kalman.DIM_Z, 1)), ROWS)
        self._transition = kalman.transition(self.model, ROWS)

    def __len__(self) -> int:
        return int(self._state.shape[1])

    def step(self, boxes: F64, ts: float) -> TrackTable:
        """Advance all tracks to `ts` and match them to `boxes` (D, 4) xyxy, already checked.

        `ts` must not go backwards. Call once per frame, with an empty array when nothing was
        detected.
        """
        table, m, n, ok, dead_old = self._step(box_rows("BoxTracker.step boxes", boxes), ts)
        hit = _matched_mask(table.shape[1], m, n)
        if self.sticky:
            confirmed = table[5] > 0.0
            code = np.where(hit, confirmed, LOST)
        else:
            confirmed = ok
            code = np.where(hit, ok, LOST)
        if dead_old is not None:
            code[m:n][dead_old] = DELETED
        return TrackTable(
            xyxy=np.ascontiguousarray(table[0:4].T),
            track_id=table[4].astype(np.int64),
            matched=hit,
            state=code.astype(np.int8),
            confirmed=confirmed,
        )

    def _step(self, dets_rows: F64, ts: float) -> tuple[F64, int, int, BoolArray, BoolArray | None]:
        """`step` for detections as `association.box_rows` gives them (8, D).

        Returns the tracks as rows x1, y1, x2, y2, id, sticky-confirmed (6, N) in columns
        [matched in this step (m) | not matched (up to n) | new], then m, n, which tracks are
        confirmed in this step (before stickiness), and which of the not matched ones were
        deleted (None if none were).
        """
        if not math.isfinite(ts):
            raise ValueError(f"ts: expected a finite time, got {ts}")
        if self._last_ts is not None and ts < self._last_ts:
            raise ValueError(f"ts: expected a time >= the previous {self._last_ts}, got {ts}")
        self._last_ts = ts
        self._steps += 1
        model = self.model
        state = self._state
        n = state.shape[1]
        n_det = dets_rows.shape[1]

        # Predict. Every track keeps a box with area and aspect > 0: a track starts only from a
        # box with an area, the area never shrinks to zero, and an update moves the area and
        # aspect between positive values.
        if n:
            state = kalman.predict(self._transition, state)

        # Associate and correct the matched tracks. Matched tracks move to the front, in their
        # own order, so that from one step to the next they are usually there already; new
        # tracks go at the end. (Row operations on a strided block of columns cost more than a
        # contiguous copy: the update always works on a contiguous block.)
        m = 0
        if n_det:
            z = kalman.measure(dets_rows[CENTRE_SIZE])
            if n:
                tracks_signed = kalman.boxes(state, kalman.SIGNED_CORNERS)
                iou = iou_rows(tracks_signed, dets_rows[SIGNED], state[2], z[2])
                tracks, dets = match_pairs(iou, self.iou_threshold)
                m = len(tracks)
            if m:
                z_matched = z.take(dets, axis=1)
                if m == n and tracks[-1] == n - 1:  # every track, in order
                    kalman.update(model, state, z_matched)
                elif tracks[-1] == m - 1:  # the first m tracks, in order
                    head = state[:, :m].copy()
                    kalman.update(model, head, z_matched)
                    state[:, :m] = head
                else:
                    matched = state.take(tracks, axis=1)
                    kalman.update(model, matched, z_matched)
                    taken = set(tracks)
                    rest = state.take([i for i in range(n) if i not in taken], axis=1)
                    state = np.concatenate([matched, rest], axis=1)
            if m < n_det:
                if m:
                    taken = set(dets)
                    z = z.take([d for d in range(n_det) if d not in taken], axis=1)
                if not np.minimum.reduce(z[2]) > 0.0:  # an empty box overlaps nothing: no track
                    z = z[:, z[2] > 0.0]
                k = z.shape[1]
                if k:
                    born = np.repeat(self._birth, k, axis=1)
                    born[kalman.POS] = z
                    born[ID] = np.arange(self._next_id, self._next_id + k)
                    self._next_id += k
                    born[SEEN] = ts
                    state = np.concatenate([state, born], axis=1) if n else born

        # Lifecycle: the one place where states change, for all tracks at once. Columns are
        # [matched (m) | not matched (n - m) | new], so "matched in this step" is two slices.
        total = state.shape[1]
        streak = state[STREAK]
        streak[:m] += 1.0  # new tracks stay at 0: their first detection counts as no hit
        streak[m:n] = 0.0
        seen_at = state[SEEN]
        seen_at[:m] = ts
        if (self.warmup and self._steps <= self.min_hits) or self.min_hits == 0:
            ok = _matched_mask(total, m, n)
        else:  # tracks not matched in this step have a streak of 0, and so do new ones
            ok = streak >= self.min_hits
        if self.sticky:
            np.maximum(state[STICKY], ok, out=state[STICKY])

        table = np.empty((6, total))
        kalman.boxes(state, out=table[0:4])
        table[4:6] = state[ID : STICKY + 1]
        dead_old = None
        if m < n:
            dead_old = (ts - seen_at[m:n]) > self.max_age
            if dead_old.any():
                keep = np.ones(total, dtype=bool)
                keep[m:n] = ~dead_old
                state = state[:, keep]
            else:
                dead_old = None
        self._state = state
        return table, m, n, ok, dead_old


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
        rows = box_rows("Sort.update dets", () if dets is None else dets, 5)
        if (ts_s is None) != (self.max_age_s is None):
            raise ValueError(
                "Sort.update ts_s: expected a timestamp exactly when the tracker was built with "
                f"max_age_s (max_age_s={self.max_age_s}), got ts_s={ts_s}"
            )
        self.frame_count += 1
        ts = float(self.frame_count) if ts_s is None else float(ts_s)
        table, _, _, ok, _ = self._tracker._step(rows, ts)
        return table[0:5].T[ok]
