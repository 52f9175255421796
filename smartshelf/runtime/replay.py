"""Replay a recorded file through the real pipeline: every frame in order, stream time only.

Deterministic: the same file and config give the same events, byte for byte. `speed="realtime"`
only adds sleeps between frames; what is computed does not change.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartshelf.config import CameraConfig, Config
from smartshelf.detectors.base import HandDetector
from smartshelf.errors import UserError
from smartshelf.publishers.base import Publisher
from smartshelf.runtime.pipeline import CameraPipeline, FrameResult, dispatch
from smartshelf.sources import ReplayFileSource, frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayStats:
    frames: int
    stream_s: float
    wall_s: float
    events: int

    @property
    def speed_x(self) -> float:
        return self.stream_s / self.wall_s if self.wall_s > 0 else 0.0


def replay_camera(cfg: Config, video: Path | None, camera: str | None) -> CameraConfig:
    """The camera to replay as: the named one (or the first), reading from `video` if given."""
    if camera is None:
        cam = cfg.cameras[0]
    else:
        try:
            cam = cfg.camera(camera)
        except KeyError:
            names = ", ".join(c.name for c in cfg.cameras)
            raise UserError(f"{cfg.path}: no camera named {camera!r} (cameras: {names})") from None
    if video is not None:
        if not video.is_file():
            raise UserError(f"{video}: video file not found")
        cam = dataclasses.replace(cam, source=str(video.resolve()), loop=False)
    elif not isinstance(cam.source, str) or "://" in cam.source:
        raise UserError(f"{cfg.path}: camera {cam.name!r} is not a file; give a VIDEO to replay")
    return cam


def replay(cfg: Config, cam: CameraConfig, hands: HandDetector, sinks: list[Publisher], *,
           speed: str = "max", on_result: Callable[[FrameResult], None] | None = None,
           progress: bool = False, parallel: bool = True) -> ReplayStats:
    source = ReplayFileSource(cam)
    pipeline = CameraPipeline(cam, cfg, hands, parallel=parallel)
    total = source.frame_count()
    done = events = 0
    last_ts = 0.0
    wall0 = time.perf_counter()
    show = progress and sys.stderr.isatty()
    try:
        for frame in frames(source, timeout_s=5.0):
            if speed == "realtime":
                ahead = frame.ts_s - (time.perf_counter() - wall0)
                if ahead > 0:
                    time.sleep(ahead)
            result = pipeline.process(frame)
            dispatch(result.outputs, sinks)
            if on_result is not None:
                on_result(result)
            done += 1
            events += len(result.events)
            last_ts = frame.ts_s
            if show and done % 15 == 0:
                _progress(done, total, time.perf_counter() - wall0)
    finally:
        source.close()
        pipeline.close()
        if show:
            sys.stderr.write("\n")
    wall = time.perf_counter() - wall0
    fps = source.fps
    return ReplayStats(done, last_ts + (1.0 / fps if fps else 0.0), wall, events)


def _progress(done: int, total: int, wall_s: float) -> None:
    fps = done / wall_s if wall_s > 0 else 0.0
    if total > 0:
        eta = (total - done) / fps if fps > 0 else 0.0
        sys.stderr.write(f"\r{done}/{total} frames  {fps:6.1f} fps  ETA {eta:5.1f} s ")
    else:
        sys.stderr.write(f"\r{done} frames  {fps:6.1f} fps ")
    sys.stderr.flush()
