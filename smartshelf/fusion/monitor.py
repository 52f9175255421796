"""Per-zone interaction state machine, driven only by frame timestamps.

idle -> entering (a tracked hand is in the zone) -> interacting (for >= enter_s) -> settling (no
hand in the zone for exit_s, or occlusion_grace_s when the hand vanished inside) -> decided when
the occupancy detector reports the zone stable again (or after settle_timeout_s, flagged).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from smartshelf.config import CameraConfig, FusionConfig, ZoneConfig
from smartshelf.events.record import Event, EventType, ZoneState, iso_utc, make_event_id
from smartshelf.fusion import rules
from smartshelf.fusion.zones import box_zone_overlap
from smartshelf.types import Occupancy, SurfaceState, Tracks, ZoneChange

log = logging.getLogger(__name__)


class Phase(enum.Enum):
    IDLE = "idle"
    ENTERING = "entering"
    INTERACTING = "interacting"
    SETTLING = "settling"


class SettledHistory(Protocol):
    """The occupancy tracker's memory: the zone's settled look before a time against now."""

    def compare(self, zone: str, before_s: float) -> ZoneChange | None: ...


MIN_SEEN_FRAMES = 2  # detections in the zone before an interaction starts
SPEED_WINDOW_S = 0.2  # hand speed is measured over this much stream time
BORDER_FRACTION = 0.05  # a track last seen this close to the frame edge left the picture


def hand_speeds(history: dict[int, deque[tuple[float, float, float, float]]]) -> dict[int, float]:
    """Speed of each track's box centre in box heights per second over SPEED_WINDOW_S. Pure."""
    out = {}
    for tid, samples in history.items():
        t1, x1, y1, h1 = samples[-1]
        old = [s for s in samples if t1 - s[0] <= SPEED_WINDOW_S + 1e-9]
        t0, x0, y0, _ = old[0]
        if t1 - t0 <= 0:
            out[tid] = 0.0
            continue
        dist = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        out[tid] = dist / max(h1, 1.0) / (t1 - t0)
    return out


def near_border(box: tuple[float, float, float, float], frame_wh: tuple[int, int]) -> bool:
    x1, y1, x2, y2 = box
    w, h = frame_wh
    mx, my = BORDER_FRACTION * w, BORDER_FRACTION * h
    return x1 <= mx or y1 <= my or x2 >= w - mx or y2 >= h - my


def assign_zones(tracks: Tracks, zones: tuple[ZoneConfig, ...],
                 min_overlap: float) -> dict[int, str | None]:
    """Each track's zone: the one holding the largest share of its box (>= min_overlap). Pure."""
    out: dict[int, str | None] = {}
    for box, tid in zip(tracks.xyxy, tracks.track_id, strict=True):
        best, best_share = None, min_overlap
        for z in zones:
            share = box_zone_overlap(box, z.polygon)
            if share >= best_share:
                best, best_share = z.name, share
        out[int(tid)] = best
    return out


@dataclass
class _Zone:
    cfg: ZoneConfig
    phase: Phase = Phase.IDLE
    in_since: float | None = None
    track_id: int | None = None
    frames: int = 0
    seen_frames: int = 0
    last_in_s: float | None = None
    last_seen_s: float | None = None  # while entering: the last frame a detected hand was in it
    first_out_s: float | None = None
    seen_leaving: bool = False
    track_ids: set[int] = field(default_factory=set)


class CameraFusion:
    """All zones of one camera. `update` returns the events and zone states to publish."""

    def __init__(self, camera: CameraConfig, cfg: FusionConfig, models: dict[str, str],
                 epoch_s: float = 0.0) -> None:
        self._camera = camera.name
        self._cfg = cfg
        self._zones = {z.name: _Zone(z) for z in camera.zones}
        self._zone_cfgs = camera.zones
        self._models = dict(models)
        self._epoch_s = epoch_s
        self._picked_from: dict[int, str] = {}
        self._centres: dict[int, deque[tuple[float, float, float, float]]] = {}
        self._last_box: dict[int, tuple[float, float, float, float]] = {}
        self._last_state: dict[str, tuple[str, int | None]] = {}
        self._last_event: dict[str, Event] = {}

    def phase(self, zone: str) -> Phase:
        return self._zones[zone].phase

    def update(self, ts_s: float, tracks: Tracks, occupancy: dict[str, Occupancy],
               history: SettledHistory | None = None,
               frame_wh: tuple[int, int] | None = None) -> list[Event | ZoneState]:
        """One frame. `history` answers before/after comparisons (without it, the occupancy
        records' own comparison is used); `frame_wh` lets a hand leave through the frame edge."""
        cfg = self._cfg
        where = assign_zones(tracks, self._zone_cfgs, cfg.min_overlap)
        matched = {int(t): bool(m) for t, m in zip(tracks.track_id, tracks.matched, strict=True)}
        speeds = self._speeds(ts_s, tracks)
        # A hand last detected at the edge of the picture and not detected now has left it.
        left_picture = {t for t, box in self._last_box.items()
                        if not matched.get(t, False) and frame_wh is not None
                        and near_border(box, frame_wh)}
        live = set(matched)
        self._last_box = {t: b for t, b in self._last_box.items() if t in live}
        for t, b, m in zip(tracks.track_id, tracks.xyxy, tracks.matched, strict=True):
            if m:
                self._last_box[int(t)] = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        out: list[Event | ZoneState] = []
        for name, z in self._zones.items():
            inside = sorted(t for t, zn in where.items() if zn == name)
            slow = [t for t in inside if speeds.get(t, 0.0) <= cfg.max_reach_speed]
            occ = occupancy.get(name)
            event = self._step(z, ts_s, inside, slow, where, matched, left_picture, occ, history)
            if event is not None:
                out.append(event)
            state = self._zone_state(z, ts_s, occ)
            key = (state.state, state.count_estimate)
            if event is not None or self._last_state.get(name) != key:
                self._last_state[name] = key
                out.append(state)
        return out

    def _speeds(self, ts: float, tracks: Tracks) -> dict[int, float]:
        live = set()
        for box, tid in zip(tracks.xyxy, tracks.track_id, strict=True):
            t = int(tid)
            live.add(t)
            x1, y1, x2, y2 = (float(v) for v in box)
            q = self._centres.setdefault(t, deque(maxlen=32))
            q.append((ts, (x1 + x2) / 2.0, (y1 + y2) / 2.0, y2 - y1))
            while q and ts - q[0][0] > SPEED_WINDOW_S + 1e-9:
                q.popleft()
        for t in list(self._centres):
            if t not in live:
                del self._centres[t]
        return hand_speeds(self._centres)

    def _step(self, z: _Zone, ts: float, inside: list[int], slow: list[int],
              where: dict[int, str | None], matched: dict[int, bool], left_picture: set[int],
              occ: Occupancy | None, history: SettledHistory | None) -> Event | None:
        cfg = self._cfg
        if z.phase is Phase.IDLE:
            # Only a detected hand starts an interaction: a track coasting on its prediction
            # (the detector lost it at the frame edge, say) drifts slowly through lower zones.
            seen = [t for t in slow if matched.get(t, False)]
            if not seen:
                return None
            z.phase, z.in_since, z.track_id, z.last_seen_s = Phase.ENTERING, ts, seen[0], ts
            z.frames, z.seen_frames, z.track_ids = 0, 0, set(slow)
        if z.phase is Phase.ENTERING:
            seen_now = any(matched.get(t, False) for t in inside)
            if seen_now:
                z.last_seen_s = ts
            # A hand passing in front: too fast, or seen in the zone too briefly. A prediction
            # coasting through (the detector lost a withdrawing hand) keeps nothing open.
            assert z.in_since is not None and z.last_seen_s is not None  # set on entering
            if not slow or ts - z.last_seen_s > cfg.exit_s + 1e-9:
                z.phase = Phase.IDLE
                return None
            z.track_ids.update(inside)
            z.frames += 1
            z.seen_frames += seen_now
            z.last_in_s = ts
            if (z.last_seen_s - z.in_since >= cfg.enter_s - 1e-9
                    and z.seen_frames >= MIN_SEEN_FRAMES):
                z.phase = Phase.INTERACTING
                log.debug("hand in zone", extra={"camera": self._camera, "zone": z.cfg.name,
                                                 "track_id": z.track_id})
            return None
        if z.phase is Phase.INTERACTING:
            z.frames += 1
            z.track_ids.update(inside)
            # Only a detection keeps the hand "in": a prediction coasting in place is not
            # evidence, and the exit time is the first frame the hand was not seen in the zone.
            if any(matched.get(t, False) for t in inside):
                z.seen_frames += 1
                z.last_in_s, z.first_out_s, z.seen_leaving = ts, None, False
                return None
            if z.first_out_s is None:
                z.first_out_s = ts
            # Seen leaving: the detector finds one of the zone's hands elsewhere, it vanished at
            # the edge of the picture, or the detector finds hands only outside the zone (a fast
            # withdrawal starts a new track: IoU cannot follow it). A prediction drifting out is
            # no evidence: the detector may simply have lost a hand that is still in the shelf.
            z.seen_leaving = z.seen_leaving or any(t in left_picture for t in z.track_ids) or any(
                m and where.get(t) != z.cfg.name for t, m in matched.items())
            waited = ts - z.first_out_s
            if (z.seen_leaving and waited >= cfg.exit_s - 1e-9) or (
                    waited >= cfg.occlusion_grace_s - 1e-9):
                z.phase = Phase.SETTLING
            else:
                return None
        if z.phase is Phase.SETTLING:
            # Came back before the zone settled: the same interaction goes on. Only a detection
            # says so: the prediction of a track the detector just lost on a fast withdrawal
            # lags behind, still "in" the zone, and would reopen it until the occlusion grace.
            if any(matched.get(t, False) for t in inside):
                z.phase, z.first_out_s, z.seen_leaving = Phase.INTERACTING, None, False
                z.track_ids.update(inside)
                z.last_in_s = ts
                return None
            assert z.first_out_s is not None and z.in_since is not None
            # Stable since after the interaction began: the occupancy tracker only lets a zone
            # settle once no detected hand is near it, so this is the look after the hand.
            settled = (occ is not None and occ.state is SurfaceState.STABLE
                       and occ.stable_since_s is not None
                       and occ.stable_since_s >= z.in_since - 1e-9)
            change = None
            if settled:
                assert occ is not None
                if history is None:
                    change = rules.change_from_occupancy(occ)
                else:
                    change = history.compare(z.cfg.name, z.in_since)
            timed_out = ts - z.first_out_s >= cfg.settle_timeout_s - 1e-9
            if change is not None or timed_out:
                return self._decide(z, ts, change, occ, timed_out=change is None)
        return None

    def _decide(self, z: _Zone, ts: float, change: ZoneChange | None, occ: Occupancy | None, *,
                timed_out: bool) -> Event:
        cfg = self._cfg
        assert z.in_since is not None and z.first_out_s is not None
        if change is None:  # never settled: nothing can be said about the goods
            fill = None if occ is None else occ.fill
            change = ZoneChange(fill or 0.0, fill or 0.0, 0.0, 0.0)
        kind = rules.classify(change, cfg)
        hand_share = z.seen_frames / max(1, z.frames)
        conf = rules.confidence(kind, change, cfg, hand_share, timed_out)
        track_id = z.track_id
        misplaced, origin = False, None
        if track_id is not None:
            if kind is EventType.PICK:
                self._picked_from[track_id] = z.cfg.name
            elif kind is EventType.RETURN:
                origin_zone = self._picked_from.pop(track_id, None)
                if origin_zone is not None and origin_zone != z.cfg.name:
                    misplaced, origin = True, origin_zone
        event = Event(
            event_id=make_event_id(self._camera, z.cfg.name, z.in_since),
            type=kind,
            camera=self._camera,
            zone=z.cfg.name,
            sku=z.cfg.sku,
            count=rules.item_count(kind, change, z.cfg.capacity),
            confidence=conf,
            track_id=track_id,
            started_at=iso_utc(self._epoch_s + z.in_since),
            ended_at=iso_utc(self._epoch_s + z.first_out_s),
            t_start_s=round(z.in_since, 3),
            t_end_s=round(z.first_out_s, 3),
            occupancy_before=round(change.fill_before, 3),
            occupancy_after=round(change.fill_after, 3),
            models=self._models,
            review=conf < cfg.review_below or timed_out,
            misplaced=misplaced,
            origin_zone=origin,
            timed_out=timed_out,
            t_emit_s=round(ts, 3),
        )
        log.info("%s in %s (confidence %.2f)", kind.value, z.cfg.name, conf,
                 extra={"camera": self._camera, "zone": z.cfg.name, "track_id": track_id,
                        "event_id": event.event_id})
        self._last_event[z.cfg.name] = event
        z.phase, z.in_since, z.first_out_s, z.track_id = Phase.IDLE, None, None, None
        z.track_ids = set()
        return event

    def _zone_state(self, z: _Zone, ts: float, occ: Occupancy | None) -> ZoneState:
        last = self._last_event.get(z.cfg.name)
        label = {Phase.IDLE: "idle", Phase.ENTERING: "idle", Phase.INTERACTING: "interacting",
                 Phase.SETTLING: "settling"}[z.phase]
        return ZoneState(
            camera=self._camera, zone=z.cfg.name, state=label,
            fill=None if occ is None else round(occ.fill, 3),
            count_estimate=None if occ is None else occ.count_estimate,
            ts_s=round(ts, 3),
            last_event_id=None if last is None else last.event_id,
            last_event_type=None if last is None else last.type.value,
        )

