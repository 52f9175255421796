"""Pick the source for a camera and a mode."""

from __future__ import annotations

from smartshelf.config import CameraConfig
from smartshelf.sources.live import LiveSource
from smartshelf.sources.replay import ReplayFileSource


def open_source(camera: CameraConfig, *, mode: str,
                epoch_s: float | None = None) -> ReplayFileSource | LiveSource:
    """`replay`: every frame of a file on the caller's thread (ts = index / fps, or the times
    `smartshelf record` kept beside the file; epoch from those, else 0.0, unless given).
    `live`: a capture thread and a latest-frame slot (files paced at their fps, streams and
    devices reconnected). Raises UserError for a file that cannot be opened, ValueError for any
    other mode (a plain str, so callers may pass a computed mode)."""
    if mode == "replay":
        return ReplayFileSource(camera, epoch_s=epoch_s)
    if mode == "live":
        return LiveSource(camera, epoch_s=epoch_s)
    raise ValueError(f"mode must be 'replay' or 'live', got {mode!r}")
