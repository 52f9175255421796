"""Decision rules for one finished interaction: its type, item count and confidence. Pure."""

from __future__ import annotations

from smartshelf.config import FusionConfig
from smartshelf.events.record import EventType
from smartshelf.types import Occupancy


def classify(occ: Occupancy, cfg: FusionConfig) -> EventType:
    """`touch` when too little of the zone changed, else the direction of the change.

    The direction comes from the changed cells (texture or calibration margin); where that is
    undecided, from the fill estimate before and after.
    """
    if occ.changed_fraction < cfg.min_changed_fraction:
        return EventType.TOUCH
    if occ.direction < 0.0:
        return EventType.PICK
    if occ.direction > 0.0:
        return EventType.RETURN
    delta = fill_delta(occ)
    if delta <= -cfg.min_fill_delta:
        return EventType.PICK
    if delta >= cfg.min_fill_delta:
        return EventType.RETURN
    return EventType.TOUCH


def fill_delta(occ: Occupancy) -> float:
    return 0.0 if occ.fill_before is None else occ.fill - occ.fill_before


def item_count(kind: EventType, occ: Occupancy, capacity: int | None) -> int | None:
    """Items moved: from the fill change and the zone's capacity; None where unknown."""
    if kind is EventType.TOUCH:
        return 0
    if not capacity:
        return None
    return max(1, round(abs(fill_delta(occ)) * capacity))


def confidence(kind: EventType, occ: Occupancy, cfg: FusionConfig,
               hand_seen_share: float, timed_out: bool) -> float:
    """0..1 from how clearly the hand was seen and how clearly the zone did (not) change.

    `hand_seen_share` is the share of the interaction's frames in which a detector (not the
    tracker's prediction) put the hand in the zone.
    """
    if kind is EventType.TOUCH:
        change = 1.0 - min(1.0, occ.changed_fraction / max(cfg.min_changed_fraction, 1e-6))
    else:
        margin = min(1.0, occ.changed_fraction / max(2.0 * cfg.min_changed_fraction, 1e-6))
        direction = min(1.0, abs(occ.direction) / 0.2)
        change = 0.5 * margin + 0.5 * direction
    value = 0.5 * max(0.0, min(1.0, hand_seen_share)) + 0.5 * change
    if timed_out:
        value *= 0.5
    return round(max(0.0, min(1.0, value)), 3)
