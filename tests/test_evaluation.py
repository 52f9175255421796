import json

import pytest

from smartshelf.errors import UserError
from smartshelf.evaluation import Label, load_labels, score
from smartshelf.events.record import Event, EventType


def ev(kind: str, zone: str, t_end: float, emit: float | None = None) -> Event:
    return Event(event_id=f"{zone}{t_end}", type=EventType(kind), camera="c", zone=zone, sku=None,
                 count=None, confidence=1.0, track_id=1, started_at="", ended_at="",
                 t_start_s=t_end - 1, t_end_s=t_end, occupancy_before=None, occupancy_after=None,
                 t_emit_s=t_end + 0.3 if emit is None else emit)


def test_perfect_match():
    labels = [Label("pick", "A", 5.0), Label("return", "B", 9.0)]
    s = score([ev("pick", "A", 5.2), ev("return", "B", 8.9)], labels)
    assert s.per_type["pick"].precision == 1.0 and s.per_type["pick"].recall == 1.0
    assert s.f1 == 1.0
    assert s.timing_errors_s == pytest.approx((0.1, 0.2))
    assert sorted(s.latencies_s) == pytest.approx([0.2, 0.5])


@pytest.mark.parametrize(
    ("events", "tp", "fp", "fn"),
    [
        ([ev("pick", "A", 6.5)], 0, 1, 1),  # too late (> 1 s)
        ([ev("pick", "B", 5.0)], 0, 1, 1),  # wrong zone
        ([ev("return", "A", 5.0)], 0, 0, 1),  # wrong type: a false return, a missed pick
        ([ev("pick", "A", 5.0), ev("pick", "A", 5.1)], 1, 1, 0),  # one-to-one
        ([], 0, 0, 1),
    ],
)
def test_mismatches(events, tp, fp, fn):
    s = score(events, [Label("pick", "A", 5.0)])
    p = s.per_type["pick"]
    assert (p.true_positives, p.false_positives, p.false_negatives) == (tp, fp, fn)


def test_closest_pairs_win():
    labels = [Label("pick", "A", 5.0), Label("pick", "A", 5.8)]
    s = score([ev("pick", "A", 5.7), ev("pick", "A", 5.05)], labels)
    assert s.per_type["pick"].true_positives == 2
    assert max(s.timing_errors_s) == pytest.approx(0.1)


def test_load_labels_rejects_bad_entries(tmp_path):
    p = tmp_path / "l.json"
    p.write_text(json.dumps({"video": "v.mp4", "events": [{"type": "grab", "zone": "A", "t_s": 1}]}))
    with pytest.raises(UserError, match=r"events\[0\]"):
        load_labels(p)
    p.write_text(json.dumps({"video": "v.mp4", "events": [{"type": "pick", "zone": "A", "t_s": 1}]}))
    assert load_labels(p) == [Label("pick", "A", 1.0)]
