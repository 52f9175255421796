"""Source addresses: credentials never reach a log line."""

from __future__ import annotations

import pytest

from smartshelf.sources import is_file, is_stream, redact_url


@pytest.mark.parametrize(("source", "expected"), [
    ("rtsp://admin:hunter2@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101"),
    ("rtsp://admin:p%40ss:w0rd@cam.local/live", "rtsp://admin:***@cam.local/live"),
    ("rtsp://user@cam/live", "rtsp://user@cam/live"),  # no password: nothing to hide
    ("http://cam/snap.mjpg?user=bob&password=secret&res=hd", "http://cam/snap.mjpg?user=bob&password=***&res=hd"),
    ("https://cam/s?token=abc123", "https://cam/s?token=***"),
    ("rtsp://cam.local/live", "rtsp://cam.local/live"),
    ("/videos/shelf.mp4", "/videos/shelf.mp4"),
    ("/videos/we@ird:name.mp4", "/videos/we@ird:name.mp4"),  # a path is never rewritten
    (0, "0"),
])
def test_redact_url(source: str | int, expected: str) -> None:
    assert redact_url(source) == expected


@pytest.mark.parametrize("secret", ["hunter2", "p%40ss:w0rd", "secret", "abc123"])
def test_no_secret_survives(secret: str) -> None:
    urls = ["rtsp://admin:hunter2@10.0.0.5:554/Streaming/101", "rtsp://admin:p%40ss:w0rd@cam.local/live",
            "http://cam/snap.mjpg?user=bob&password=secret&res=hd", "https://cam/s?token=abc123"]
    assert all(secret not in redact_url(u) for u in urls)


@pytest.mark.parametrize(("source", "file", "stream"), [
    ("/a/b.mp4", True, False), ("rtsp://x/y", False, True), ("http://x/y", False, True), (2, False, False),
])
def test_classify(source: str | int, file: bool, stream: bool) -> None:
    assert is_file(source) is file and is_stream(source) is stream
