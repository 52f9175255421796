"""The per-axis batched Kalman kernels against per-track filterpy, step for step."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from hypothesis import given, settings
from hypothesis import strategies as st

from smartshelf.tracking import kalman
from smartshelf.tracking.association import CENTRE_SIZE, box_rows


def measure(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (4, N) measurements, the way the tracker takes them."""
    return kalman.measure(box_rows("boxes", boxes)[CENTRE_SIZE])


def _filters_for(boxes: np.ndarray) -> list[KalmanFilter]:
    out = []
    for z in measure(boxes).T:
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


def _coupled(name: str) -> KalmanFilter:
    kf = kalman.box_filter()
    if name == "Q":
        kf.Q[0, 1] = kf.Q[1, 0] = 0.5  # cx noise correlated with cy noise
    elif name == "P0":
        kf.P[2, 3] = kf.P[3, 2] = 1.0  # area correlated with aspect
    elif name == "F":
        kf.F[0, 4] = 2.0  # a two-step predict
    elif name == "H":
        kf.H = np.eye(4, 7)[[1, 0, 2, 3]]  # cx and cy swapped
    else:
        kf.R[0, 0] = 0.0  # a perfect detector: the per-axis gain would divide by zero
    return kf


@pytest.mark.parametrize("name", ["Q", "P0", "F", "H", "R"])
def test_a_model_the_kernels_do_not_compute_is_refused_by_name(name: str) -> None:
    """Guards against kernels silently dropping a coupling that a changed box_filter() added."""
    with pytest.raises(ValueError, match=f"BoxModel {name}"):
        kalman.BoxModel.from_filter(_coupled(name))


def test_transition_is_one_filterpy_predict() -> None:
    """The transition matrix must be filterpy's x = Fx, P = FPF' + Q on a per-axis state."""
    rng = np.random.default_rng(3)
    model = kalman.BoxModel.sort()
    state = kalman.new_tracks(model, measure(np.array([[10.0, 20.0, 50.0, 90.0]])))
    state[kalman.VEL] = rng.normal(0, 3, (3, 1))
    state[kalman.P_PP] += rng.uniform(0, 2, (4, 1))
    state[kalman.P_PV] = rng.uniform(-1, 1, (3, 1))
    state[kalman.P_VV] += rng.uniform(0, 2, (3, 1))
    x, P = kalman.full_state(state)
    kf = kalman.box_filter()
    kf.x, kf.P = x[0][:, None].copy(), P[0].copy()
    kf.predict()
    state = kalman.predict(kalman.transition(model), state)
    x2, P2 = kalman.full_state(state)
    np.testing.assert_allclose(x2[0], kf.x[:, 0], rtol=1e-12)
    np.testing.assert_allclose(P2[0], kf.P, rtol=1e-12)
    assert state[kalman.ONE, 0] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 12),
    steps=st.integers(1, 25),
)
def test_batched_predict_update_equal_per_track_filterpy(seed: int, n: int, steps: int) -> None:
    """Any predict / update sequence, each track seen or not, gives filterpy's numbers."""
    rng = np.random.default_rng(seed)
    model = kalman.BoxModel.sort()
    xy = rng.uniform(0, 1000, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(5, 200, (n, 2))])
    state = kalman.new_tracks(model, measure(boxes))
    kfs = _filters_for(boxes)
    for step in range(steps):
        state = kalman.predict(kalman.transition(model), state)
        for kf in kfs:
            if kf.x[6, 0] + kf.x[2, 0] <= 0:  # SORT's guard, as the reference applies it
                kf.x[6, 0] = 0.0
            kf.predict()
        seen = np.flatnonzero(rng.random(n) < 0.7)
        moved = boxes + step * rng.normal(0, 3, (n, 4)).clip(-5, 5)
        moved[:, 2:] = np.maximum(moved[:, 2:], moved[:, :2] + 1.0)
        z = measure(moved)
        sub = state[:, seen]
        kalman.update(model, sub, z[:, seen])
        state[:, seen] = sub
        for i in seen:
            kfs[i].update(z[:, i])
        x, P = kalman.full_state(state)
        np.testing.assert_allclose(x, [kf.x[:, 0] for kf in kfs], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(P, [kf.P for kf in kfs], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize(
    "box",
    [[0, 0, 10, 20], [-5.5, 3.25, 100.0, 3.5], [1e4, 1e4, 1e4 + 1, 1e4 + 1000]],
)
def test_box_to_measurement_and_back(box: list[float]) -> None:
    b = np.array([box], dtype=np.float64)
    z = measure(b)
    w, h = box[2] - box[0], box[3] - box[1]
    np.testing.assert_allclose(z[:, 0], [box[0] + w / 2, box[1] + h / 2, w * h, w / h])
    np.testing.assert_allclose(kalman.boxes(z).T, b, atol=1e-9)


def test_shrinking_box_stops_at_zero_velocity_instead_of_collapsing() -> None:
    model = kalman.BoxModel.sort()
    state = kalman.new_tracks(model, measure(np.array([[0.0, 0.0, 10.0, 10.0]])))
    state[6, 0] = -150.0  # area 100 would go to -50 in one step
    state = kalman.predict(kalman.transition(model), state)
    assert state[2, 0] == pytest.approx(100.0)
    assert state[6, 0] == 0.0
