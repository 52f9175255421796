"""Decision rules for one finished interaction: its type, item count and confidence. Pure."""

from __future__ import annotations

from smartshelf.config import FusionConfig
from smartshelf.events.record import EventType
from smartshelf.types import Occupancy, ZoneChange


def change_from_occupancy(occ: Occupancy) -> ZoneChange:
    """The change an occupancy record reports against the zone's previous settled look."""
    before = occ.fill if occ.fill_before is None else occ.fill_before
    return ZoneChange(before, occ.fill, occ.changed_fraction, occ.direction)


def classify(change: ZoneChange, cfg: FusionConfig) -> EventType:
    """`touch` when too little of the zone changed, else the direction of the change.

    The direction comes from the changed cells (texture or calibration margin); where that is
    undecided, from the fill estimate before and after.
    """
    if change.changed_fraction < cfg.min_changed_fraction:
        return EventType.TOUCH
    if change.direction < 0.0:
        return EventType.PICK
    if change.direction > 0.0:
        return EventType.RETURN
    delta = change.fill_after - change.fill_before
    if delta <= -cfg.min_fill_delta:
        return EventType.PICK
    if delta >= cfg.min_fill_delta:
        return EventType.RETURN
    return EventType.TOUCH


def item_count(kind: EventType, change: ZoneChange, capacity: int | None) -> int | None:
    """Items moved: from the count estimates, else fill change x capacity; None where unknown."""
    if kind is EventType.TOUCH:
        return 0
    if change.count_before is not None and change.count_after is not None:
        moved = abs(change.count_before - change.count_after)
        if moved:
            return moved
    if not capacity:
        return None
    return max(1, round(abs(change.fill_after - change.fill_before) * capacity))


def confidence(kind: EventType, change: ZoneChange, cfg: FusionConfig,
               hand_seen_share: float, timed_out: bool) -> float:
    """0..1 from how clearly the hand was seen and how clearly the zone did (not) change.

    `hand_seen_share` is the share of the interaction's frames in which a detector (not the
    tracker's prediction) put the hand in the zone.
    """
    if kind is EventType.TOUCH:
        clear = 1.0 - min(1.0, change.changed_fraction / max(cfg.min_changed_fraction, 1e-6))
    else:
        margin = min(1.0, change.changed_fraction / max(2.0 * cfg.min_changed_fraction, 1e-6))
        direction = min(1.0, abs(change.direction) / 0.2)
        clear = 0.5 * margin + 0.5 * direction
    value = 0.5 * max(0.0, min(1.0, hand_seen_share)) + 0.5 * clear
    if timed_out:
        value *= 0.5
    return round(max(0.0, min(1.0, value)), 3)
