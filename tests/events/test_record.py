import json

import pytest

from smartshelf.events.record import (
    Event,
    EventType,
    event_from_dict,
    iso_utc,
    make_event_id,
    to_dict,
    to_json,
)


def sample(**kw) -> Event:
    base = dict(event_id=make_event_id("cam", "A1", 4.1333), type=EventType.PICK, camera="cam",
                zone="A1", sku="x", count=1, confidence=0.912345, track_id=3,
                started_at=iso_utc(4.1333), ended_at=iso_utc(5.4667), t_start_s=4.133,
                t_end_s=5.467, occupancy_before=0.71, occupancy_after=0.52, models={"palm": "ab"})
    base.update(kw)
    return Event(**base)


@pytest.mark.parametrize(
    ("epoch", "text"),
    [(0.0, "1970-01-01T00:00:00.000Z"), (1.2345, "1970-01-01T00:00:01.234Z"),
     (1795520000.5, "2026-11-24T11:33:20.500Z")],
)
def test_iso_utc(epoch, text):
    assert iso_utc(epoch) == text


def test_event_id_is_deterministic_and_distinguishes_zone_and_time():
    assert make_event_id("c", "A", 1.0) == make_event_id("c", "A", 1.0004)  # same millisecond
    assert make_event_id("c", "A", 1.0) != make_event_id("c", "B", 1.0)
    assert make_event_id("c", "A", 1.0) != make_event_id("c", "A", 1.002)
    assert make_event_id("c1", "A", 1.0) != make_event_id("c", "1A", 1.0)


def test_json_is_sorted_compact_and_rounded():
    text = to_json(sample())
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert " " not in text.replace("A1", "")
    assert data["confidence"] == 0.9123 and data["type"] == "pick" and data["schema"] == 1


def test_round_trip():
    e = sample()
    back = event_from_dict(json.loads(to_json(e)))
    assert to_json(back) == to_json(e)


def test_other_schema_is_rejected():
    d = to_dict(sample())
    d["schema"] = 2
    with pytest.raises(ValueError, match="schema"):
        event_from_dict(d)
