"""The constant-velocity Kalman box model (SORT's), stepped for all tracks at once, per axis.

The model matrices come from one filterpy `KalmanFilter` built by `box_filter()`: that filter is
the single source of truth. `BoxModel` copies its F, H, Q, R and initial P, checks that they
never couple two axes, and keeps the few numbers the per-axis kernels below need.

Why per axis: SORT's F moves each of cx, cy and area by its own velocity, H reads each of them
alone, and Q, R and P0 are diagonal. The 7x7 covariance then never gains a term between two
axes: it is three 2x2 blocks (cx, cy and area, each with its velocity) and one variance (the
aspect). Keeping those 10 numbers per track instead of 49, in rows with one column per track,
turns a step into a few numpy calls on small contiguous rows, whatever the number of tracks.
Both x = F x and P = F P F' + Q are then linear in those rows, so a predict is one matrix
product with a constant 18 x 18 `transition` (a constant row of ones carries Q).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from filterpy.kalman import KalmanFilter

F64 = npt.NDArray[np.float64]

DIM_X = 7  # [cx, cy, area, aspect, vcx, vcy, varea]
DIM_Z = 4  # [cx, cy, area, aspect]

# Rows of a state block; one column per track. Rows from KF_ROWS on belong to the caller and
# are carried along untouched.
POS = slice(0, 4)  # cx, cy, s, r (what a detection measures)
VEL = slice(4, 7)  # vcx, vcy, vs
P_PP = slice(7, 11)  # variances of cx, cy, s, r
P_PV = slice(11, 14)  # covariances of cx, cy, s with their velocities
P_VV = slice(14, 17)  # variances of vcx, vcy, vs
P_ALL = slice(7, 17)
_BY_AXIS = np.array([0, 1, 2, 3, 0, 1, 2])  # the axis of each of rows 0-6 (and of rows 7-13)
ONE = 17  # always 1.0: carries Q into the one matrix product that is a predict step
KF_ROWS = 18
_AREA, _AREA_VEL = 2, 6


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


# Where a covariance may be non-zero without coupling two axes: each variance, and each of the
# first three quantities with its own velocity.
_PAIRS = [(i, i) for i in range(DIM_X)] + [(i, 4 + i) for i in range(3)] + [(4 + i, i) for i in range(3)]
_AXIS_ONLY = np.zeros((DIM_X, DIM_X), dtype=bool)
_AXIS_ONLY[tuple(np.array(_PAIRS).T)] = True


def _cov_rows(name: str, m: F64) -> F64:
    """A per-axis covariance as the 10 rows P_PP, P_PV, P_VV of a state block."""
    if m.shape != (DIM_X, DIM_X) or np.any(m[~_AXIS_ONLY] != 0.0) or np.any(m != m.T):
        raise ValueError(
            f"BoxModel {name}: expected a symmetric 7x7 matrix that couples each of cx, cy, area "
            f"only with its own velocity, got {m.tolist()}"
        )
    idx = np.arange(3)
    return np.concatenate([np.diag(m)[:4], m[idx, 4 + idx], np.diag(m)[4:]])


def _transition(F: F64, q_rows: F64) -> F64:
    """The matrix T with rows' = T @ rows for x = F x, P = F P F' + Q, read off F column by column.

    Column j is the step applied to a state block whose row j alone is 1 (F and P = F P F' are
    linear); the ONE row's column adds Q. Valid because F maps a per-axis P to a per-axis P
    (checked by `_cov_rows`).
    """
    t = np.zeros((KF_ROWS, KF_ROWS))
    for j in range(ONE):
        unit = np.zeros((KF_ROWS, 1))
        unit[j] = 1.0
        x, P = full_state(unit)
        t[0:DIM_X, j] = F @ x[0]
        t[P_ALL, j] = _cov_rows("F P F'", F @ P[0] @ F.T) if j >= P_PP.start else 0.0
    t[P_ALL, ONE] = q_rows
    t[ONE, ONE] = 1.0
    return t


@dataclass(frozen=True, eq=False)
class BoxModel:
    """F, H, Q, R, P0 copied from a filterpy filter, and the per-axis numbers taken from them.

    Raises ValueError when the filter's matrices are not the constant-velocity, per-axis shape
    that the kernels below compute: a changed `box_filter()` must come with changed kernels.
    """

    F: F64
    H: F64
    Q: F64
    R: F64
    P0: F64
    r_rows: F64 = field(init=False)  # (4, 1): the measurement variances of cx, cy, s, r
    p0_rows: F64 = field(init=False)  # (10,): P0 as rows P_ALL, for new tracks
    transition: F64 = field(init=False)  # (KF_ROWS, KF_ROWS): one predict step on the rows

    def __post_init__(self) -> None:
        want_f = np.eye(DIM_X)
        want_f[range(3), range(4, 7)] = 1.0
        if self.F.shape != (DIM_X, DIM_X) or np.any(self.F != want_f):
            raise ValueError(
                f"BoxModel F: expected SORT's constant velocity {want_f.tolist()}, got {self.F.tolist()}"
            )
        if self.H.shape != (DIM_Z, DIM_X) or np.any(self.H != np.eye(DIM_Z, DIM_X)):
            raise ValueError(
                f"BoxModel H: expected the first four states measured, got {self.H.tolist()}"
            )
        r = np.diag(self.R) if self.R.shape == (DIM_Z, DIM_Z) else np.zeros(0)
        if r.size != DIM_Z or np.any(self.R != np.diag(r)) or not np.all(r > 0):
            raise ValueError(f"BoxModel R: expected a positive 4x4 diagonal, got {self.R.tolist()}")
        for name, value in (
            ("transition", _transition(self.F, _cov_rows("Q", self.Q))),
            ("r_rows", r[:, None]),
            ("p0_rows", _cov_rows("P0", self.P0)),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

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


# Box corners x1, y1, x2, y2 are linear in centre-size cx, cy, w, h: one matrix product converts
# all boxes. SIGNED_CORNERS gives x1, y1, -x2, -y2, the form in which one elementwise maximum of
# two boxes is their intersection (see `association.iou_rows`).
def _constant(rows: list[list[float]]) -> F64:
    arr = np.array(rows, dtype=np.float64)
    arr.setflags(write=False)
    return arr


CORNERS = _constant([[1, 0, -0.5, 0], [0, 1, 0, -0.5], [1, 0, 0.5, 0], [0, 1, 0, 0.5]])
SIGNED_CORNERS = _constant([[1, 0, -0.5, 0], [0, 1, 0, -0.5], [-1, 0, -0.5, 0], [0, -1, 0, -0.5]])


def measure(centre_size: F64) -> F64:
    """(4, N) box rows cx, cy, w, h -> (4, N) measurements, rows cx, cy, area, aspect. Pure.

    Sizes must be finite and >= 0 (see `association.box_rows`). An empty box (no width or no
    height) measures area 0 and aspect 0.
    """
    z = centre_size.copy()
    w, h = z[2], z[3]
    area = w * h
    if np.minimum.reduce(area) > 0.0:
        np.divide(w, h, out=h)
    else:  # no inf or NaN aspect from an empty box
        np.divide(w, h, out=h, where=area > 0.0)
        h[area <= 0.0] = 0.0
    z[2] = area
    return z


def boxes(state: F64, corners: F64 = CORNERS, out: F64 | None = None) -> F64:
    """(4, N) corner rows of the boxes of a state block (>= 4 rows), into `out` if given.

    `corners` picks the form: `CORNERS` (x1, y1, x2, y2) or `SIGNED_CORNERS`. Every column
    must have area > 0 and aspect > 0 (as a tracker's tracks do). Pure (apart from `out`).
    """
    cwh = np.empty((4, state.shape[1]))
    cwh[0:2] = state[0:2]
    w = np.multiply(state[2], state[3], out=cwh[2])
    np.sqrt(w, out=w)
    np.divide(state[2], w, out=cwh[3])
    return np.matmul(corners, cwh, out=out)


def new_tracks(model: BoxModel, z: F64, rows: int = KF_ROWS) -> F64:
    """A (rows, N) state block for tracks started from (4, N) measurements: zero velocity, P0."""
    state = np.zeros((rows, z.shape[1]))
    state[POS] = z
    state[P_ALL] = model.p0_rows[:, None]
    state[ONE] = 1.0
    return state


def transition(model: BoxModel, rows: int = KF_ROWS) -> F64:
    """`model.transition` for a state block of `rows` rows: rows from KF_ROWS on carry over."""
    t = np.eye(rows)
    t[0:KF_ROWS, 0:KF_ROWS] = model.transition
    t.setflags(write=False)
    return t


def predict(transition: F64, state: F64) -> F64:
    """One step for every column of a state block: x = F x, P = F P F' + Q. Pure.

    `transition` comes from `transition()` for the block's number of rows. Like SORT, an area
    velocity that would drive the area to or below zero is dropped (the area then stays where
    it was), so a shrinking box stops shrinking instead of collapsing: a positive area stays
    positive.
    """
    new = transition @ state
    if not np.minimum.reduce(new[_AREA]) > 0.0:
        gone = ~(new[_AREA] > 0.0)
        new[_AREA, gone] = state[_AREA, gone]
        new[_AREA_VEL, gone] = 0.0
    return new


def update(model: BoxModel, state: F64, z: F64) -> None:
    """Correct every column of `state` with the same column of `z` (4, N), in place.

    filterpy's `KalmanFilter.update`, per axis. With innovation y = z - p and its variance
    Ppp + r, the gains are Ppp / (Ppp + r) for the position and Ppv / (Ppp + r) for the
    velocity, so p += Ppp w and v += Ppv w with w = y / (Ppp + r); and P = (I - KH) P gives
    Ppp and Ppv times r / (Ppp + r), and Pvv - Ppv^2 / (Ppp + r). That equals filterpy's
    Joseph form for the optimal gain, to rounding. Positions and velocities (rows 0-6) and
    their covariances with the position (rows 7-13) line up, so each pair is one operation.
    """
    var = state[P_PP] + model.r_rows  # of the innovation
    w = z - state[POS]
    w /= var
    state[0:7] += state[7:14] * w.take(_BY_AXIS, axis=0)
    g = state[P_PV] * state[P_PV]
    g /= var[0:3]
    state[P_VV] -= g
    np.divide(model.r_rows, var, out=var)
    state[7:14] *= var.take(_BY_AXIS, axis=0)


def full_state(state: F64) -> tuple[F64, F64]:
    """A state block as filterpy holds it: x (N, 7) and P (N, 7, 7). For checks and tests."""
    n = state.shape[1]
    x = np.ascontiguousarray(state[0:DIM_X].T)
    P = np.zeros((n, DIM_X, DIM_X))
    d = np.arange(DIM_X)
    P[:, d, d] = np.concatenate([state[P_PP], state[P_VV]]).T
    a = np.arange(3)
    P[:, a, a + 4] = state[P_PV].T
    P[:, a + 4, a] = state[P_PV].T
    return x, P
