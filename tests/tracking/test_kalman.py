"""The batched Kalman kernels against per-track filterpy, step for step."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from hypothesis import given, settings
from hypothesis import strategies as st

from smartshelf.tracking import kalman


def _filters_for(boxes: np.ndarray) -> list[KalmanFilter]:
    out = []
    for z in kalman.xyxy_to_z(boxes):
        kf = kalman.box_filter()
        kf.x[:4, 0] = z
        out.append(kf)
    return out


def test_model_is_copied_from_the_filterpy_filter() -> None:
    kf = kalman.box_filter()
    model = kalman.BoxModel.from_filter(kf)
    for name, theirs in (("F", kf.F), ("H", kf.H), ("Q", kf.Q), ("R", kf.R), ("P0", kf.P)):
        np.testing.assert_array_equal(getattr(model, name), theirs, err_msg=name)
    with pytest.raises(ValueError):
        model.F[0, 0] = 2.0  # read-only: the filter stays the single source of truth


def test_filterpy_api_is_the_one_the_model_relies_on() -> None:
    """filterpy 2.0's KalmanFilter must still take dim_x/dim_z and expose x, P, F, H, Q, R."""
    kf = KalmanFilter(dim_x=7, dim_z=4)
    assert kf.x.shape == (7, 1) and kf.P.shape == (7, 7) and kf.H.shape == (4, 7)
    assert kf.R.shape == (4, 4) and kf.Q.shape == (7, 7) and kf.F.shape == (7, 7)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 12),
    pattern=st.lists(st.booleans(), min_size=1, max_size=25),
)
def test_batched_predict_update_equal_per_track_filterpy(
    seed: int, n: int, pattern: list[bool]
) -> None:
    """Any predict / (sometimes) update sequence gives filterpy's numbers, all tracks at once."""
    rng = np.random.default_rng(seed)
    model = kalman.BoxModel.sort()
    xy = rng.uniform(0, 1000, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(5, 200, (n, 2))])
    x, P = kalman.initial_state(model, boxes)
    kfs = _filters_for(boxes)
    for step, observed in enumerate(pattern):
        x, P = kalman.predict(model, x, P)
        for kf in kfs:
            if kf.x[6, 0] + kf.x[2, 0] <= 0:  # SORT's guard, as the reference applies it
                kf.x[6, 0] = 0.0
            kf.predict()
        if observed:
            moved = boxes + step * rng.normal(0, 3, (n, 4)).clip(-5, 5)
            moved[:, 2:] = np.maximum(moved[:, 2:], moved[:, :2] + 1.0)
            z = kalman.xyxy_to_z(moved)
            x, P = kalman.update(model, x, P, z)
            for kf, zz in zip(kfs, z, strict=True):
                kf.update(zz)
        np.testing.assert_allclose(x, [kf.x[:, 0] for kf in kfs], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(P, [kf.P for kf in kfs], rtol=1e-9, atol=1e-6)


def test_update_of_a_subset_leaves_inputs_untouched() -> None:
    model = kalman.BoxModel.sort()
    x, P = kalman.initial_state(model, np.array([[0.0, 0.0, 10.0, 20.0]]))
    x0, P0 = x.copy(), P.copy()
    kalman.update(model, x, P, np.array([[6.0, 11.0, 200.0, 0.5]]))
    kalman.predict(model, x, P)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(P, P0)


@pytest.mark.parametrize(
    "box",
    [[0, 0, 10, 20], [-5.5, 3.25, 100.0, 3.5], [1e4, 1e4, 1e4 + 1, 1e4 + 1000]],
)
def test_box_to_measurement_and_back(box: list[float]) -> None:
    b = np.array([box], dtype=np.float64)
    z = kalman.xyxy_to_z(b)
    w, h = box[2] - box[0], box[3] - box[1]
    np.testing.assert_allclose(z[0], [box[0] + w / 2, box[1] + h / 2, w * h, w / h])
    np.testing.assert_allclose(kalman.x_to_xyxy(z), b, atol=1e-9)


def test_shrinking_box_stops_at_zero_velocity_instead_of_collapsing() -> None:
    model = kalman.BoxModel.sort()
    x, P = kalman.initial_state(model, np.array([[0.0, 0.0, 10.0, 10.0]]))
    x[0, 6] = -150.0  # area 100 would go to -50 in one step
    x2, _ = kalman.predict(model, x, P)
    assert x2[0, 2] == pytest.approx(100.0)
    assert x2[0, 6] == 0.0
