"""Log formats: JSON lines carry the fixed context keys; text shows them in brackets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from smartshelf.runtime.logs import setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_with_context(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    log = logging.getLogger("smartshelf.fusion")
    log.info("pick in %s", "z1", extra={"camera": "left", "zone": "z1", "track_id": 4, "event_id": "e-1"})
    log.debug("hidden at INFO")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed", extra={"camera": "left"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["level"] == "INFO" and first["logger"] == "smartshelf.fusion"
    assert first["message"] == "pick in z1"
    assert (first["camera"], first["zone"], first["track_id"], first["event_id"]) == ("left", "z1", 4, "e-1")
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert "zone" not in lines[1] and "RuntimeError: boom" in lines[1]["exc"]


def test_text_shows_context_in_brackets(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("DEBUG", "text", stream=out)
    logging.getLogger("smartshelf.sources").warning("lost %s", "cam", extra={"camera": "door"})
    logging.getLogger("smartshelf.x").debug("plain")
    first, second = out.getvalue().splitlines()
    assert first.endswith("WARNING smartshelf.sources [camera=door] lost cam")
    assert second.endswith("DEBUG   smartshelf.x plain")


@pytest.mark.parametrize(("level", "fmt", "message"), [("LOUD", "text", "LOUD"), ("INFO", "xml", "xml")])
def test_bad_level_or_format_is_named(restore_root: None, level: str, fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        setup_logging(level, fmt)
