"""The constant-velocity Kalman box model (SORT's) and its batched predict / update.

The model matrices come from one filterpy `KalmanFilter` built by `box_filter()`: that filter is
the single source of truth, and `BoxModel` only copies its F, H, Q, R and initial P so that many
tracks can be stepped at once with numpy (one call per frame instead of one per track).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from filterpy.kalman import KalmanFilter

F64 = npt.NDArray[np.float64]

DIM_X = 7  # [cx, cy, area, aspect, vcx, vcy, varea]
DIM_Z = 4  # [cx, cy, area, aspect]


def box_filter() -> KalmanFilter:
    """A filterpy filter holding SORT's box model (state zeroed); the source of `BoxModel`.

    State x = [cx, cy, s, r, vcx, vcy, vs]: box centre (px), area s = w*h (px^2), aspect
    r = w/h, and the per-step velocities of the first three. The aspect ratio has no velocity:
    a walking person (or a hand) changes size as it moves in depth but keeps its shape, so r is
    modelled as constant and only drifts through process noise. Area rather than (w, h) keeps
    scale changes linear in one variable. One step is one tracker update (one processed frame).
    """
    kf = KalmanFilter(dim_x=DIM_X, dim_z=DIM_Z)
    # F: constant velocity. cx += vcx, cy += vcy, s += vs; r and the velocities carry over.
    kf.F = np.array(
        [
            [1, 0, 0, 0, 1, 0, 0],
            [0, 1, 0, 0, 0, 1, 0],
            [0, 0, 1, 0, 0, 0, 1],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
        ],
        dtype=np.float64,
    )
    # H: a detection measures the box itself, [cx, cy, s, r]; velocities are never observed.
    kf.H = np.eye(DIM_Z, DIM_X, dtype=np.float64)
    # R: detector noise. Centre jitter ~1 px^2; area and aspect are 10x noisier (box edges
    # move more than box centres, and area grows with the square of the edge error).
    kf.R = np.diag([1.0, 1.0, 10.0, 10.0])
    # P0: a new track knows its box (variance 10) but not its velocity (variance 10 * 1000): the
    # first matched detection then sets the velocity almost alone.
    kf.P = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
    # Q: process noise. Position / area / aspect may wander by 1 per step; velocities are
    # assumed smooth (0.01 per step), and the area velocity smoother still (1e-4): a box that
    # grows fast for one frame must not keep growing.
    kf.Q = np.diag([1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4])
    return kf


@dataclass(frozen=True, eq=False)
class BoxModel:
    """F, H, Q, R, P0 copied from a filterpy filter, for the batched kernels below."""

    F: F64
    H: F64
    Q: F64
    R: F64
    P0: F64

    @classmethod
    def from_filter(cls, kf: KalmanFilter) -> BoxModel:
        def frozen(a: object) -> F64:
            arr = np.array(a, dtype=np.float64)
            arr.setflags(write=False)
            return arr

        return cls(F=frozen(kf.F), H=frozen(kf.H), Q=frozen(kf.Q), R=frozen(kf.R), P0=frozen(kf.P))

    @classmethod
    def sort(cls) -> BoxModel:
        return cls.from_filter(box_filter())


def xyxy_to_z(xyxy: F64) -> F64:
    """(N, 4) boxes [x1, y1, x2, y2] -> (N, 4) measurements [cx, cy, area, aspect]. Pure.

    A box of zero height gives an infinite or NaN aspect: check boxes before (see
    `association.check_boxes`).
    """
    z = np.empty((xyxy.shape[0], DIM_Z))
    wh = np.subtract(xyxy[:, 2:4], xyxy[:, 0:2], out=z[:, 2:4])
    np.multiply(wh, 0.5, out=z[:, 0:2])
    z[:, 0:2] += xyxy[:, 0:2]
    w, h = wh[:, 0].copy(), wh[:, 1]
    np.multiply(w, h, out=z[:, 2])
    if np.logical_and.reduce(h != 0.0):
        np.divide(w, h, out=z[:, 3])
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(w, h, out=z[:, 3])
    return z


def x_to_xyxy(x: F64) -> F64:
    """(N, >=4) states -> (N, 4) boxes. NaN where area * aspect < 0 (a collapsed box). Pure."""
    n = x.shape[0]
    out = np.empty((n, 4))
    half = out[:, 2:4]
    s = x[:, 2]
    np.multiply(s, x[:, 3], out=half[:, 0])
    if n and np.minimum.reduce(half[:, 0]) > 0.0:  # the usual case: no warnings to silence
        np.sqrt(half[:, 0], out=half[:, 0])
        np.divide(s, half[:, 0], out=half[:, 1])
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            np.sqrt(half[:, 0], out=half[:, 0])
            np.divide(s, half[:, 0], out=half[:, 1])
    half *= 0.5
    np.subtract(x[:, 0:2], half, out=out[:, 0:2])
    half += x[:, 0:2]
    return out


def initial_state(model: BoxModel, xyxy: F64) -> tuple[F64, F64]:
    """States (N, 7) and covariances (N, 7, 7) for new tracks started from boxes."""
    return initial_state_z(model, xyxy_to_z(xyxy))


def initial_state_z(model: BoxModel, z: F64) -> tuple[F64, F64]:
    """States (N, 7) and covariances (N, 7, 7) for new tracks started from measurements."""
    n = z.shape[0]
    x = np.zeros((n, DIM_X))
    x[:, :DIM_Z] = z
    return x, np.broadcast_to(model.P0, (n, DIM_X, DIM_X)).copy()


def predict(model: BoxModel, x: F64, P: F64) -> tuple[F64, F64]:
    """One step for every track: x = F x, P = F P F' + Q. Returns new arrays. Pure.

    Like SORT, an area velocity that would drive the area to or below zero is dropped first,
    so a shrinking box stops shrinking instead of collapsing.
    """
    if x.shape[0] and np.minimum.reduce(x[:, 6] + x[:, 2]) <= 0:
        collapsing = (x[:, 6] + x[:, 2]) <= 0
        x = x.copy()
        x[collapsing, 6] = 0.0
    F = model.F
    P_new = F @ P @ F.T
    P_new += model.Q
    return x @ F.T, P_new


def update(model: BoxModel, x: F64, P: F64, z: F64) -> tuple[F64, F64]:
    """Correct M tracks with M measurements z (M, 4). Returns new arrays. Pure.

    Same equations as filterpy's `KalmanFilter.update`: y = z - Hx, S = HPH' + R,
    K = PH'S^-1, x += Ky. For P we use (I - KH)P = P - K(HP), which equals filterpy's Joseph
    form for the optimal gain (to rounding) and costs one batched product instead of four.
    """
    H = model.H
    y = z - x @ H.T
    PHT = P @ H.T  # (M, 7, 4)
    S = H @ PHT
    S += model.R
    K = PHT @ np.linalg.inv(S)  # (M, 7, 4)
    x_new = (K @ y[:, :, None])[:, :, 0]
    x_new += x
    P_new = P - K @ PHT.transpose(0, 2, 1)  # HP = (PH')' since P is symmetric
    return x_new, P_new
