"""Box checks, IoU and gated one-to-one association (Hungarian). Pure functions."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


_TINY = float(np.finfo(np.float64).tiny)


# Detection rows from box corners x1, y1, x2, y2 in one matrix product: centre and size
# (cx, cy, w, h) for the Kalman measurement, and signed corners (x1, y1, -x2, -y2) for `iou_rows`.
_DETECTION_ROWS = np.array(
    [
        [0.5, 0, 0.5, 0],
        [0, 0.5, 0, 0.5],
        [-1, 0, 1, 0],
        [0, -1, 0, 1],
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, -1, 0],
        [0, 0, 0, -1],
    ]
)
CENTRE_SIZE, SIGNED = slice(0, 4), slice(4, 8)


def box_rows(name: str, boxes: object, columns: int = 4) -> F64:
    """`boxes`, an (N, columns) array whose first four columns are xyxy, checked and turned into
    rows (8, N): cx, cy, w, h (`CENTRE_SIZE`), then x1, y1, -x2, -y2 (`SIGNED`).

    Raises ValueError naming `name`, what was expected and what arrived: a wrong shape,
    NaN / inf anywhere, or a box with x2 < x1 or y2 < y1. Zero-size boxes are allowed (they
    overlap nothing). An empty input of any shape gives (8, 0).
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((8, 0))
    if arr.ndim != 2 or arr.shape[1] != columns:
        raise ValueError(f"{name}: expected an (N, {columns}) array, got shape {arr.shape}")
    # Called once per frame: two whole-array checks (all finite, no negative size), and the
    # row-by-row search only on failure.
    if math.isfinite(np.add.reduce(arr, axis=None)):
        rows = _DETECTION_ROWS @ arr.T[0:4]
        if np.minimum.reduce(rows[2:4], axis=None) >= 0.0:
            return rows
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name}: expected finite numbers, got row {row} = {arr[row].tolist()}")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: expected x1 <= x2 and y1 <= y2 (xyxy), got row {row} = {arr[row].tolist()}"
        )
    return _DETECTION_ROWS @ arr.T[0:4]  # finite boxes whose sum overflowed to inf


def box_areas(xyxy: F64) -> F64:
    """(N,) areas of (N, 4) xyxy boxes. Pure."""
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


_SIGNS = np.array([[1.0], [1.0], [-1.0], [-1.0]])


def signed_rows(rows: F64) -> F64:
    """Box rows x1, y1, x2, y2 (4, N) -> x1, y1, -x2, -y2, the form `iou_rows` takes. Pure."""
    return rows * _SIGNS


def iou_matrix(a: F64, b: F64) -> F64:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy: (N, M). Pure.

    Boxes with no area overlap nothing: their IoU is 0 (not NaN).
    """
    # A positive floor under a's areas keeps 0 / 0 (two empty boxes) out of `iou_rows`.
    area_a = np.maximum(box_areas(a), _TINY)
    return iou_rows(signed_rows(a.T), signed_rows(b.T), area_a, box_areas(b))


def iou_rows(a: F64, b: F64, area_a: F64, area_b: F64) -> F64:
    """`iou_matrix` for boxes as signed rows x1, y1, -x2, -y2: a (4, N), b (4, M), and their areas.

    In that form one elementwise maximum of two boxes is their intersection (its x1, y1,
    -x2, -y2); the tracker holds boxes so, and knows their areas (a detection's is its
    measurement, a track's is its state). Every area in `area_a` must be > 0. Pure.
    """
    inter_box = np.maximum(a[:, :, None], b[:, None, :])  # (4, N, M)
    wh = np.add(inter_box[0:2], inter_box[2:4])  # minus the width and height of the intersection
    np.minimum(wh, 0.0, out=wh)
    inter = np.multiply(wh[0], wh[1])
    union = area_a[:, None] + area_b
    union -= inter  # >= area_a > 0
    inter /= union
    return inter


def match_pairs(iou: F64, threshold: float) -> tuple[list[int], list[int]]:
    """`associate`'s matches as two lists, rows ascending, for callers that loop in Python.

    Pairs below the threshold, or with no overlap at all, are forbidden (they can neither match
    nor steer the assignment); among the rest the total IoU is maximised with the Hungarian
    method. When every row and column has at most one admissible pair (the common case
    between two frames) the answer is read off directly. Pure.
    """
    if iou.size == 0:
        return [], []
    ok = iou >= threshold
    if threshold <= 0.0:
        ok &= iou > 0.0  # boxes that do not overlap never match
    r, c = ok.nonzero()
    rows, cols = r.tolist(), c.tolist()
    if len(set(rows)) == len(rows) and len(set(cols)) == len(cols):
        return rows, cols
    cost = np.where(ok, iou, 0.0)
    np.negative(cost, out=cost)  # maximise the total IoU of admissible pairs
    r, c = linear_sum_assignment(cost)
    keep = cost[r, c] < 0.0  # drop forbidden pairs the assignment was free to make
    return r[keep].tolist(), c[keep].tolist()


def associate(iou: F64, threshold: float) -> tuple[I64, I64, I64]:
    """One-to-one matches between rows and columns of an IoU matrix, gated at `threshold`.

    See `match_pairs` for the rule. Returns (matches (K, 2) [row, col], unmatched rows,
    unmatched cols), each sorted. Pure.
    """
    n_rows, n_cols = iou.shape
    rows, cols = match_pairs(iou, threshold)
    matches = np.array([rows, cols], dtype=np.int64).T.reshape(-1, 2)
    row_free = np.ones(n_rows, dtype=bool)
    row_free[rows] = False
    col_free = np.ones(n_cols, dtype=bool)
    col_free[cols] = False
    return matches, np.flatnonzero(row_free), np.flatnonzero(col_free)
