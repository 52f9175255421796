"""Metrics scraped from the real HTTP endpoint, parsed with prometheus_client's own parser."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartshelf.runtime.metrics import Metrics, is_overloaded


@pytest.fixture
def served() -> Iterator[tuple[Metrics, str]]:
    metrics = Metrics(["left", "right"], stale_after_s=0.3)
    port = metrics.serve("127.0.0.1", 0)
    yield metrics, f"http://127.0.0.1:{port}"
    metrics.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(base + "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_counters_gauges_and_histograms(served: tuple[Metrics, str]) -> None:
    metrics, base = served
    before = scrape(base)
    # Every camera is exported from the start, at zero, so dashboards see it before it works.
    assert before[("smartshelf_frames_dropped_total", (("camera", "right"),))] == 0
    assert before[("smartshelf_overloaded", (("camera", "left"),))] == 0

    metrics.frame_in("left", 3)
    for hands_s, shelf_s in ((0.004, 0.001), (0.030, 0.002)):
        metrics.frame_done("left", hands_s, shelf_s)
    metrics.add_dropped("left", 2)
    metrics.add_dropped("left", 0)
    metrics.add_reconnects("right", 1)
    metrics.add_still_hands("left", 2)
    metrics.add_still_hands("left", 0)
    metrics.set_connected("right", True)
    metrics.event("left", "pick")
    metrics.event("left", "pick")
    metrics.event("left", "return")
    metrics.frame_failed("right")
    metrics.set_outbox_depth(7)
    metrics.set_rates("left", 15.0, 6.0, 15.0)
    metrics.set_rates("right", 10.0, 10.0, 15.0)

    m = scrape(base)
    assert m[("smartshelf_frames_read_total", (("camera", "left"),))] == 3
    assert m[("smartshelf_frames_processed_total", (("camera", "left"),))] == 2
    assert m[("smartshelf_frames_dropped_total", (("camera", "left"),))] == 2
    assert m[("smartshelf_reconnects_total", (("camera", "right"),))] == 1
    assert m[("smartshelf_still_hands_dropped_total", (("camera", "left"),))] == 2
    assert m[("smartshelf_still_hands_dropped_total", (("camera", "right"),))] == 0
    assert m[("smartshelf_source_connected", (("camera", "right"),))] == 1
    assert m[("smartshelf_frame_errors_total", (("camera", "right"),))] == 1
    assert m[("smartshelf_events_total", (("camera", "left"), ("type", "pick")))] == 2
    assert m[("smartshelf_events_total", (("camera", "left"), ("type", "return")))] == 1
    assert m[("smartshelf_outbox_depth", ())] == 7
    assert m[("smartshelf_input_fps", (("camera", "left"),))] == 15
    assert m[("smartshelf_processed_fps", (("camera", "left"),))] == 6
    assert m[("smartshelf_overloaded", (("camera", "left"),))] == 1
    assert m[("smartshelf_overloaded", (("camera", "right"),))] == 0  # keeps up with its camera
    hands = (("camera", "left"), ("detector", "hands"))
    assert m[("smartshelf_detector_seconds_count", hands)] == 2
    assert m[("smartshelf_detector_seconds_sum", hands)] == pytest.approx(0.034)
    assert m[("smartshelf_detector_seconds_bucket", (*hands, ("le", "0.005")))] == 1
    assert m[("smartshelf_detector_seconds_count", (("camera", "left"), ("detector", "shelf")))] == 2


def test_two_instances_do_not_share_state() -> None:
    a, b = Metrics(["x"]), Metrics(["x"])
    a.event("x", "pick")
    assert a.registry.get_sample_value("smartshelf_events_total", {"camera": "x", "type": "pick"}) == 1
    assert b.registry.get_sample_value("smartshelf_events_total", {"camera": "x", "type": "pick"}) is None


def test_healthz_follows_the_freshest_frame_of_every_camera(served: tuple[Metrics, str]) -> None:
    metrics, base = served
    status, body = get(base + "/healthz")
    assert status == 503 and json.loads(body)["last_frame_age_s"] == {"left": None, "right": None}
    metrics.frame_done("left", 0.01, 0.01)
    assert get(base + "/healthz")[0] == 503  # "right" has delivered nothing yet
    metrics.frame_done("right", 0.01, 0.01)
    status, body = get(base + "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    time.sleep(0.45)  # past stale_after_s
    metrics.frame_done("left", 0.01, 0.01)
    status, body = get(base + "/healthz")
    assert status == 503 and json.loads(body)["last_frame_age_s"]["right"] >= 0.3
    assert get(base + "/nope")[0] == 404


def test_close_stops_the_server() -> None:
    metrics = Metrics(["a"])
    base = f"http://127.0.0.1:{metrics.serve('127.0.0.1', 0)}"
    assert get(base + "/metrics")[0] == 200
    metrics.close()
    metrics.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/metrics", timeout=2)


@pytest.mark.parametrize(("input_fps", "processed_fps", "target_fps", "expected"), [
    (15.0, 15.0, 15.0, False),
    (15.0, 14.0, 15.0, False),  # within tolerance
    (15.0, 12.0, 15.0, True),
    (30.0, 14.0, 15.0, False),  # keeps its target; the camera is just faster
    (10.0, 10.0, 15.0, False),  # a 10 fps camera cannot be processed faster than 10 fps
    (10.0, 5.0, 15.0, True),
    (0.0, 0.0, 15.0, False),  # nothing arriving: health, not overload
    (0.0, 5.0, 15.0, True),  # input rate unknown: judged against the target
])
def test_is_overloaded(input_fps: float, processed_fps: float, target_fps: float, expected: bool) -> None:
    assert is_overloaded(input_fps, processed_fps, target_fps) is expected
