"""IoU, box checks and gated Hungarian association: parametrised tables and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartshelf.tracking.association import associate, box_rows, iou_matrix


def _b(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),  # apart
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),  # inside
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # two points: 0, not NaN
        ([0, 0, 0, 10], [0, 0, 10, 10], 0.0),  # zero width
    ],
)
def test_iou_table(a: list[float], b: list[float], expected: float) -> None:
    got = iou_matrix(_b(a), _b(b))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected)
    assert iou_matrix(_b(b), _b(a))[0, 0] == pytest.approx(expected)  # symmetric


@pytest.mark.parametrize(("n", "m"), [(0, 0), (0, 3), (3, 0)])
def test_iou_of_empty_sets_has_the_right_shape(n: int, m: int) -> None:
    a = np.tile(_b([0, 0, 1, 1]), (n, 1))
    b = np.tile(_b([0, 0, 1, 1]), (m, 1))
    assert iou_matrix(a, b).shape == (n, m)


box = st.tuples(
    st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(0, 500), st.floats(0, 500)
).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@settings(max_examples=200, deadline=None)
@given(a=st.lists(box, max_size=6), b=st.lists(box, max_size=6))
def test_iou_is_bounded_and_finite(a: list[list[float]], b: list[list[float]]) -> None:
    iou = iou_matrix(_b(*a), _b(*b))
    assert iou.shape == (len(a), len(b))
    assert np.all(np.isfinite(iou)) and np.all(iou >= 0) and np.all(iou <= 1 + 1e-12)


def test_associate_with_nothing_on_one_side() -> None:
    m, ur, uc = associate(np.zeros((0, 3)), 0.3)
    assert m.shape == (0, 2) and ur.tolist() == [] and uc.tolist() == [0, 1, 2]
    m, ur, uc = associate(np.zeros((2, 0)), 0.3)
    assert m.shape == (0, 2) and ur.tolist() == [0, 1] and uc.tolist() == []


@pytest.mark.parametrize(
    ("iou", "threshold", "pairs"),
    [
        ([[0.9, 0.0], [0.0, 0.8]], 0.3, [(0, 0), (1, 1)]),  # clean one-to-one
        ([[0.2]], 0.3, []),  # below the gate
        ([[0.3]], 0.3, [(0, 0)]),  # at the gate
        # one detection overlapping two tracks: it takes the better one, the other stays free
        ([[0.6, 0.5]], 0.3, [(0, 0)]),
        # two detections overlapping one track: only one of them can have it
        ([[0.4], [0.7]], 0.3, [(1, 0)]),
        # greedy would take (0,0)=0.9 and leave (1,1) out; the Hungarian maximises the total
        ([[0.9, 0.8], [0.85, 0.0]], 0.3, [(0, 1), (1, 0)]),
        # gating: the below-threshold 0.29 must not steer the assignment away from 0.5 + 0.4
        ([[0.5, 0.45], [0.4, 0.29]], 0.3, [(0, 1), (1, 0)]),
        ([[0.0, 0.0]], 0.0, []),  # threshold 0 never matches boxes that do not touch
    ],
)
def test_association_table(iou: list[list[float]], threshold: float, pairs: list[tuple]) -> None:
    arr = np.array(iou, dtype=np.float64)
    matches, urows, ucols = associate(arr, threshold)
    assert sorted(map(tuple, matches.tolist())) == sorted(pairs)
    used_r = {r for r, _ in pairs}
    used_c = {c for _, c in pairs}
    assert urows.tolist() == [r for r in range(arr.shape[0]) if r not in used_r]
    assert ucols.tolist() == [c for c in range(arr.shape[1]) if c not in used_c]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.integers(0, 6),
    cols=st.integers(0, 6),
    seed=st.integers(0, 2**31 - 1),
    threshold=st.floats(0.0, 0.95),
)
def test_association_is_one_to_one_and_gated(
    rows: int, cols: int, seed: int, threshold: float
) -> None:
    iou = np.random.default_rng(seed).uniform(0, 1, (rows, cols))
    before = iou.copy()
    matches, urows, ucols = associate(iou, threshold)
    np.testing.assert_array_equal(iou, before)  # pure
    r, c = matches[:, 0], matches[:, 1]
    assert len(set(r.tolist())) == len(r) and len(set(c.tolist())) == len(c)
    assert np.all(iou[r, c] >= threshold)
    assert sorted(r.tolist() + urows.tolist()) == list(range(rows))
    assert sorted(c.tolist() + ucols.tolist()) == list(range(cols))
    # nothing left over could still have been paired
    assert not np.any(iou[np.ix_(urows, ucols)] >= max(threshold, 1e-300))


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([[0, 0, float("nan"), 1, 0.5]], "finite"),
        ([[0, 0, float("inf"), 1, 0.5]], "finite"),
        ([[0, float("-inf"), 1, 1, 0.5]], "finite"),
        ([[10, 0, 5, 10, 0.5]], "x1 <= x2"),  # negative width
        ([[0, 10, 5, 0, 0.5]], "y1 <= y2"),  # negative height
        ([[0, 0, 1, 1]], "(N, 5)"),  # wrong column count
        ([0, 0, 1, 1, 0.5], "(N, 5)"),  # 1-D
    ],
)
def test_bad_boxes_are_rejected_with_what_was_expected_and_what_arrived(
    rows: object, needle: str
) -> None:
    with pytest.raises(ValueError) as err:
        box_rows("dets", rows, 5)
    text = str(err.value)
    assert text.startswith("dets: expected") and needle in text and "got" in text


def test_empty_boxes_of_any_shape_are_accepted() -> None:
    empties: list[object] = [[], np.zeros((0,)), np.zeros((0, 5)), np.zeros((0, 4))]
    for empty in empties:
        assert box_rows("dets", empty, 5).shape == (8, 0)
