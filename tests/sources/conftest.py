"""Fixtures for source tests: small videos written here, and a real MJPEG-over-HTTP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.sources import LiveSource
from smartshelf.types import Frame

BOUNDARY = "smartshelfframe"


def gray_for(i: int) -> int:
    """The grey level of frame i in the test videos (distinct and far apart, survives mp4v)."""
    return (i * 23) % 200 + 20


def write_video(path: Path, n: int, fps: float, size_wh: tuple[int, int] = (96, 64)) -> Path:
    """n flat grey frames (level gray_for(i)) as an mp4v .mp4."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size_wh)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(n):
        writer.write(np.full((size_wh[1], size_wh[0], 3), gray_for(i), np.uint8))
    writer.release()
    return path


@pytest.fixture
def gray_level() -> Callable[[int], int]:
    """gray_for, for tests (test modules do not import conftest)."""
    return gray_for


def read_frames(source: LiveSource, n: int, timeout_s: float = 10.0) -> list[Frame]:
    """Up to n frames from a live source, giving up after timeout_s."""
    frames: list[Frame] = []
    end = time.monotonic() + timeout_s
    while len(frames) < n and time.monotonic() < end:
        frame = source.read(timeout_s=0.5)
        if frame is not None:
            frames.append(frame)
    return frames


@pytest.fixture
def take() -> Callable[..., list[Frame]]:
    """read_frames, for tests."""
    return read_frames


@pytest.fixture
def video_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(n: int = 20, fps: float = 25.0, name: str = "clip.mp4") -> Path:
        return write_video(tmp_path / name, n, fps)

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MjpegServer:
    """Serves multipart MJPEG (`multipart/x-mixed-replace`) on 127.0.0.1:port at `fps`.

    `stop()` closes the listener and every open stream (the camera "dies"); `start()` brings it
    back on the same port. Frame k of a connection is a grey level that changes each frame.
    """

    def __init__(self, port: int, fps: float = 30.0) -> None:
        self.port = port
        self.fps = fps
        self.url = f"http://127.0.0.1:{port}/stream.mjpg"
        self._server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self.paused = threading.Event()  # set: streams stay open but send nothing (a stall)
        self.connections = 0

    def start(self) -> None:
        owner = self
        jpegs = [cv2.imencode(".jpg", np.full((48, 64, 3), gray_for(i), np.uint8))[1].tobytes()
                 for i in range(10)]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.end_headers()
                k = 0
                try:
                    while not owner._stopping.wait(1.0 / owner.fps):
                        if owner.paused.is_set():
                            continue
                        jpg = jpegs[k % len(jpegs)]
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(jpg)}\r\n\r\n".encode() + jpg + b"\r\n")
                        self.wfile.flush()
                        k += 1
                except OSError:
                    pass
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="mjpeg").start()

    def stop(self) -> None:
        self._stopping.set()  # open streams end: their handlers return and the sockets close
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    server = MjpegServer(free_port())
    server.start()
    yield server
    server.stop()
