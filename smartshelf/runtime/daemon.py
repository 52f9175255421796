"""The long-running daemon: one worker thread per camera, shared publishers, a boring lifecycle.

Start: models are loaded and warmed, publishers connect, READY=1. Run: each camera thread reads
its latest-frame slot, runs the pipeline, hands outputs to the publishers; one camera's failure
never stops another. Stop (SIGTERM/SIGINT): stop intake, join workers, flush publishers, publish
`stopped`, exit 0; a second signal forces exit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from smartshelf.config import CameraConfig, Config
from smartshelf.publishers.base import Publisher
from smartshelf.publishers.broker import EmbeddedBroker
from smartshelf.publishers.mqtt import MqttPublisher
from smartshelf.recorders.clips import ClipRecorder
from smartshelf.runtime import sdnotify
from smartshelf.runtime.metrics import Metrics
from smartshelf.runtime.pipeline import CameraPipeline, FrameResult, dispatch
from smartshelf.runtime.signals import StopFlag, install_signal_handlers
from smartshelf.sources import EndOfStream, FrameSource, open_source

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 3.0


@dataclass
class MqttHandle:
    """The MQTT publisher and, for the embedded default, the broker it talks to."""

    publisher: MqttPublisher
    broker: EmbeddedBroker | None = None

    def close(self) -> None:
        self.publisher.close()
        if self.broker is not None:
            self.broker.stop()


def start_mqtt(cfg: Config) -> MqttHandle | None:
    """Start the embedded broker (if configured) and the publisher; None when MQTT is off."""
    if not cfg.mqtt.enabled:
        return None
    broker = None
    if cfg.mqtt.embedded:
        broker = EmbeddedBroker(port=cfg.mqtt.port)
        broker.start()
    zones = [(c.name, z.name) for c in cfg.cameras for z in c.zones]
    try:
        publisher = MqttPublisher(cfg.mqtt, cfg.outbox, cfg.node, cfg.resolve, zones=zones)
    except BaseException:
        if broker is not None:
            broker.stop()
        raise
    return MqttHandle(publisher, broker)


@dataclass
class CameraStatus:
    frames: int = 0
    errors: int = 0
    events: int = 0
    dropped: int = 0
    reconnects: int = 0
    done: bool = False
    last_frame_wall: float = 0.0
    processed_fps: float = 0.0


class CameraWorker(threading.Thread):
    """Reads one camera and runs its pipeline until asked to stop or the file ends."""

    def __init__(self, camera: CameraConfig, cfg: Config, sinks: list[Publisher],
                 stop: threading.Event, metrics: Metrics | None) -> None:
        super().__init__(name=f"camera-{camera.name}", daemon=True)
        self.camera = camera
        self._cfg = cfg
        self._sinks = sinks
        self._halt = stop
        self._metrics = metrics
        self.status = CameraStatus()
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._source: FrameSource | None = None
        from smartshelf.detectors.factory import build_hand_detector
        from smartshelf.models import default_models_dir

        # Built here, in the caller, so a bad model stops start-up with a clear error.
        self._hands = build_hand_detector(cfg.detectors.hands, default_models_dir(), cfg.resolve)
        self._hands.detect(np.zeros((240, 320, 3), np.uint8))  # warm the interpreter

    def run(self) -> None:
        source: FrameSource
        try:
            source = open_source(self.camera, mode="live")
            self._source = source
        except Exception as exc:
            log.error("camera cannot start: %s", exc, extra={"camera": self.camera.name})
            self.failed = exc
            self.status.done = True
            return
        pipeline: CameraPipeline | None = None
        clips = (ClipRecorder(self.camera.name, self._cfg.recording,
                              self._cfg.resolve(self._cfg.recording.dir),
                              fps_hint=self.camera.target_fps)
                 if self._cfg.recording.enabled else None)
        try:
            while not self._halt.is_set():
                try:
                    frame = source.read(timeout_s=0.5)
                except EndOfStream:
                    log.info("end of file", extra={"camera": self.camera.name})
                    break
                if frame is None:
                    continue
                if pipeline is None:
                    pipeline = CameraPipeline(self.camera, self._cfg, self._hands,
                                              epoch_s=frame.epoch_s)
                try:
                    result = pipeline.process(frame)
                except Exception:
                    self.status.errors += 1
                    if self._metrics is not None:
                        self._metrics.frame_failed(self.camera.name)
                    log.exception("frame %d failed", frame.index, extra={"camera": self.camera.name})
                    continue
                dispatch(result.outputs, self._sinks)
                if clips is not None:
                    clips.push(result)
                self._account(source, result, [e.type.value for e in result.events])
        finally:
            source.close()
            if pipeline is not None:
                pipeline.close()
            if clips is not None:
                clips.close(timeout_s=10.0)
            self.status.done = True

    def frames_read(self) -> int:
        return 0 if self._source is None else self._source.stats.frames_read

    def _account(self, source: FrameSource, result: FrameResult, types: list[str]) -> None:
        st = self.status
        now = time.monotonic()
        st.frames += 1
        st.events += len(types)
        stats = source.stats
        new_drops, st.dropped = stats.frames_dropped - st.dropped, stats.frames_dropped
        new_reconnects, st.reconnects = stats.reconnects - st.reconnects, stats.reconnects
        st.last_frame_wall = now
        if self._metrics is not None:
            m = self._metrics
            m.frame_done(self.camera.name, result.hands_s, result.shelf_s)
            m.add_dropped(self.camera.name, new_drops)
            m.add_still_hands(self.camera.name, result.still_hands)
            m.add_reconnects(self.camera.name, new_reconnects)
            for t in types:
                m.event(self.camera.name, t)


@dataclass
class _Rates:
    """Input and processed frame rates of one camera, from counters sampled by the main loop."""

    at: float = field(default_factory=time.monotonic)
    read: int = 0
    done: int = 0
    input_fps: float = 0.0
    processed_fps: float = 0.0

    def sample(self, now: float, read: int, done: int) -> None:
        dt = now - self.at
        if dt < 2.0:
            return
        self.input_fps = (read - self.read) / dt
        self.processed_fps = (done - self.done) / dt
        self.at, self.read, self.done = now, read, done


def run_daemon(cfg: Config, config_path: str) -> int:
    """Run until SIGTERM/SIGINT (or every file source ended). Exit 0 on a clean stop."""
    from smartshelf.publishers.jsonl import output_sinks

    flags = install_signal_handlers()
    stop = threading.Event()
    metrics = Metrics([c.name for c in cfg.cameras]) if cfg.metrics.port else None
    sinks: list[Publisher] = list(output_sinks(cfg, stdout=cfg.output.stdout))
    # Models first: a bad model stops start-up (exit 2) before anything connects.
    workers = [CameraWorker(cam, cfg, sinks, stop, metrics) for cam in cfg.cameras]
    mqtt = start_mqtt(cfg)
    if mqtt is not None:
        sinks.append(mqtt.publisher)
    if metrics is not None:
        metrics.serve(cfg.metrics.host, cfg.metrics.port)
    for w in workers:
        w.start()
    sdnotify.ready()
    log.info("running %d camera(s) from %s (pid %d)", len(workers), config_path, os.getpid())
    rates = {w.camera.name: _Rates() for w in workers}
    last_stats = time.monotonic()
    try:
        while not flags.wait(0.2):
            if flags.take_reload():
                log.warning("SIGHUP: reloading is not supported; restart the service to apply "
                            "a changed config (the outbox keeps undelivered events)")
            now = time.monotonic()
            if any(now - w.status.last_frame_wall < 10.0 for w in workers):
                sdnotify.watchdog()  # only while frames flow: a stuck pipeline gets restarted
            for w in workers:
                r = rates[w.camera.name]
                r.sample(now, w.frames_read(), w.status.frames)
                w.status.processed_fps = r.processed_fps
                if metrics is not None:
                    metrics.set_rates(w.camera.name, r.input_fps, r.processed_fps,
                                      w.camera.target_fps)
            if metrics is not None and mqtt is not None:
                metrics.set_outbox_depth(mqtt.publisher.outbox_depth())
            if mqtt is not None and now - last_stats >= cfg.mqtt.stats_interval_s:
                last_stats = now
                mqtt.publisher.publish_stats(_stats(workers, mqtt))
            if all(w.status.done for w in workers):
                log.info("every camera has ended")
                flags.request_stop()
    finally:
        _shutdown(flags, stop, workers, sinks, mqtt, metrics)
    failed = [w for w in workers if w.failed is not None]
    return 1 if failed and len(failed) == len(workers) else 0


def _shutdown(flags: StopFlag, stop: threading.Event, workers: list[CameraWorker],
              sinks: list[Publisher], mqtt: MqttHandle | None, metrics: Metrics | None) -> None:
    """Stop intake, join the cameras, flush the publishers, in reverse start order.

    A second SIGTERM/SIGINT while this runs skips what is left (the outbox keeps what was not
    delivered) and exits at once.
    """
    sdnotify.stopping()
    stop.set()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for w in reversed(workers):
        while w.is_alive() and time.monotonic() < deadline and not flags.force:
            w.join(timeout=0.05)
        if w.is_alive():
            log.warning("camera thread did not stop in time", extra={"camera": w.camera.name})
    if flags.force:
        log.warning("second signal: exiting now; undelivered events stay in the outbox")
        os._exit(1)
    if metrics is not None:
        metrics.close()
    if mqtt is not None:
        mqtt.close()  # delivers what it can within its timeout, then publishes `stopped`
    for sink in sinks:
        if mqtt is None or sink is not mqtt.publisher:
            sink.close()


def _stats(workers: list[CameraWorker], mqtt: MqttHandle) -> dict[str, object]:
    return {
        "cameras": {w.camera.name: {"frames": w.status.frames, "errors": w.status.errors,
                                    "events": w.status.events,
                                    "processed_fps": round(w.status.processed_fps, 2)}
                    for w in workers},
        "outbox_depth": mqtt.publisher.outbox_depth(),
    }
