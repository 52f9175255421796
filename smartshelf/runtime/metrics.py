"""Prometheus metrics and a health endpoint, on a private registry (no global state).

`/metrics` is the Prometheus text format; `/healthz` answers 200 while every camera delivered a
frame within `stale_after_s`, else 503, with a small JSON body either way.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)


# Rates wobble by a few percent from frame to frame: only a shortfall beyond this is an overload.
OVERLOAD_TOLERANCE = 0.9


def is_overloaded(input_fps: float, processed_fps: float, target_fps: float) -> bool:
    """Processing falls short of what it should keep up with: the target, or the camera's own rate
    when that is lower (a 10 fps camera processed at 10 fps is not overloaded at target 15).
    A camera delivering nothing is not overloaded (health reports it instead). Pure."""
    if input_fps <= 0 and processed_fps <= 0:
        return False
    should = min(target_fps, input_fps) if input_fps > 0 else target_fps
    return processed_fps < should * OVERLOAD_TOLERANCE


class Metrics:
    """Every number the daemon exports. Methods are cheap and thread-safe."""

    def __init__(self, cameras: list[str], stale_after_s: float = 10.0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.input_fps = Gauge("smartshelf_input_fps", "Frames per second read from the camera",
                               ["camera"], registry=r)
        self.processed_fps = Gauge("smartshelf_processed_fps",
                                   "Frames per second through the whole pipeline", ["camera"], registry=r)
        self.frames_in = Counter("smartshelf_frames_read", "Frames read from the source", ["camera"],
                                 registry=r)
        self.frames = Counter("smartshelf_frames_processed", "Frames processed", ["camera"], registry=r)
        self.dropped = Counter("smartshelf_frames_dropped",
                               "Frames overwritten in the latest-frame slot before processing",
                               ["camera"], registry=r)
        self.errors = Counter("smartshelf_frame_errors", "Frames whose processing failed",
                              ["camera"], registry=r)
        self.reconnects = Counter("smartshelf_reconnects", "Source reconnects", ["camera"], registry=r)
        self.still_hands = Counter("smartshelf_still_hands_dropped",
                                   "Hand detections dropped as hands in a picture (nothing moved there)",
                                   ["camera"], registry=r)
        self.connected = Gauge("smartshelf_source_connected", "1 while the camera's source is connected",
                               ["camera"], registry=r)
        self.latency = Histogram("smartshelf_detector_seconds", "Detector time per frame",
                                 ["camera", "detector"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.events = Counter("smartshelf_events", "Events decided", ["camera", "type"], registry=r)
        self.outbox_depth = Gauge("smartshelf_outbox_depth", "Events waiting in the MQTT outbox",
                                  registry=r)
        self.overloaded = Gauge("smartshelf_overloaded",
                                "1 while a camera's processed fps is below its target_fps",
                                ["camera"], registry=r)
        self._last_frame: dict[str, float] = {c: 0.0 for c in cameras}
        self._stale_after_s = stale_after_s
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for c in cameras:  # export zeros from the start, so dashboards see every camera
            for m in (self.frames_in, self.frames, self.dropped, self.errors, self.reconnects,
                      self.still_hands):
                m.labels(camera=c)
            for g in (self.overloaded, self.connected, self.input_fps, self.processed_fps):
                g.labels(camera=c).set(0)

    # -- called by the pipeline ------------------------------------------------------------

    def frame_in(self, camera: str, n: int = 1) -> None:
        """`n` frames read from the source (before the latest-frame slot)."""
        if n > 0:
            self.frames_in.labels(camera=camera).inc(n)

    def set_connected(self, camera: str, connected: bool) -> None:
        self.connected.labels(camera=camera).set(1 if connected else 0)

    def frame_done(self, camera: str, hands_s: float, shelf_s: float) -> None:
        self.frames.labels(camera=camera).inc()
        self.latency.labels(camera=camera, detector="hands").observe(hands_s)
        self.latency.labels(camera=camera, detector="shelf").observe(shelf_s)
        self._last_frame[camera] = time.monotonic()

    def frame_failed(self, camera: str) -> None:
        self.errors.labels(camera=camera).inc()

    def add_dropped(self, camera: str, n: int) -> None:
        if n > 0:
            self.dropped.labels(camera=camera).inc(n)

    def add_still_hands(self, camera: str, n: int) -> None:
        if n > 0:
            self.still_hands.labels(camera=camera).inc(n)

    def add_reconnects(self, camera: str, n: int) -> None:
        if n > 0:
            self.reconnects.labels(camera=camera).inc(n)

    def event(self, camera: str, kind: str) -> None:
        self.events.labels(camera=camera, type=kind).inc()

    def set_rates(self, camera: str, input_fps: float, processed_fps: float, target_fps: float) -> None:
        """Export both rates and whether the camera is overloaded (see `is_overloaded`)."""
        self.input_fps.labels(camera=camera).set(input_fps)
        self.processed_fps.labels(camera=camera).set(processed_fps)
        self.overloaded.labels(camera=camera).set(int(is_overloaded(input_fps, processed_fps, target_fps)))

    def set_outbox_depth(self, n: int) -> None:
        self.outbox_depth.set(n)

    # -- health and HTTP ---------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, object]]:
        """(ok, body): ok while every camera finished a frame within `stale_after_s`."""
        now = time.monotonic()
        ages = {c: (round(now - t, 1) if t else None) for c, t in list(self._last_frame.items())}
        ok = all(a is not None and a <= self._stale_after_s for a in ages.values())
        return ok, {"ok": ok, "last_frame_age_s": ages}

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics and /healthz in a daemon thread; returns the bound port."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body = generate_latest(metrics.registry)
                    self._reply(200, CONTENT_TYPE_LATEST, body)
                elif self.path.startswith("/healthz"):
                    ok, data = metrics.health()
                    self._reply(200 if ok else 503, "application/json", json.dumps(data).encode())
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics http: %s", format % args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,),
                                        name="metrics", daemon=True)
        self._thread.start()
        bound = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
