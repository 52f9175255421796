"""The source seam: what a camera hands to its pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from smartshelf.types import Frame


class EndOfStream(Exception):
    """A file source (not looping) has delivered its last frame."""


@dataclass
class SourceStats:
    """Counters of one source; read by metrics and stats (written by the source only)."""

    frames_read: int = 0
    frames_dropped: int = 0  # overwritten in the latest-frame slot before the pipeline took them
    frames_corrupt: int = 0  # grabbed but not decodable
    reconnects: int = 0
    connected: bool = False
    last_frame_ts_s: float | None = None


class FrameSource(Protocol):
    camera: str
    stats: SourceStats

    def read(self, timeout_s: float) -> Frame | None:
        """The next frame; None when none came within `timeout_s`; EndOfStream at a file's end."""
        ...

    def close(self) -> None: ...


def frames(source: FrameSource, timeout_s: float) -> Iterator[Frame]:
    """Every frame of a source, in order, until a file ends or nothing came for `timeout_s`.

    For tools that read a source to its end (replay, detect, calibrate, snapshots); the daemon's
    camera loop waits on its own terms instead.
    """
    while True:
        try:
            frame = source.read(timeout_s=timeout_s)
        except EndOfStream:
            return
        if frame is None:
            return
        yield frame
