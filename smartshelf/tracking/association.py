"""Box checks, IoU and gated one-to-one association (Hungarian). Pure functions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


_TINY = float(np.finfo(np.float64).tiny)


def check_boxes(name: str, boxes: object, columns: int = 4) -> F64:
    """`boxes` as a float64 (N, columns) array whose first four columns are xyxy.

    Raises ValueError naming `name`, what was expected and what arrived: a wrong shape,
    NaN / inf anywhere, or a box with x2 < x1 or y2 < y1. Zero-size boxes are allowed (they
    overlap nothing). An empty input of any shape gives (0, columns).
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, columns))
    if arr.ndim != 2 or arr.shape[1] != columns:
        raise ValueError(f"{name}: expected an (N, {columns}) array, got shape {arr.shape}")
    # Called once per frame: two whole-array checks, and the row-by-row search only on failure.
    # A comparison with NaN is False, so the first check also fails on NaN corners.
    if np.logical_and.reduce(arr[:, 2:4] >= arr[:, 0:2], axis=None) and np.isfinite(
        np.add.reduce(arr, axis=None)
    ):
        return arr
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
    return arr  # finite boxes whose sum overflowed to inf


def box_areas(xyxy: F64) -> F64:
    """(N,) areas of (N, 4) xyxy boxes. Pure."""
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


def iou_matrix(a: F64, b: F64) -> F64:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy: (N, M). Pure.

    Boxes with no area overlap nothing: their IoU is 0 (not NaN).
    """
    lo = np.maximum(a[:, None, 0:2], b[None, :, 0:2])
    wh = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    wh -= lo
    np.maximum(wh, 0.0, out=wh)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = box_areas(a)[:, None] + box_areas(b)
    union -= inter
    # union >= inter >= 0, and union is 0 only where inter is: dividing by at least the
    # smallest normal float turns 0/0 into 0 without a branch or an errstate block.
    np.maximum(union, _TINY, out=union)
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
    r, c = linear_sum_assignment(np.where(ok, iou, 0.0), maximize=True)
    keep = ok[r, c]
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
