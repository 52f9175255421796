"""Frame sources: video files, RTSP/HTTP streams and V4L2 devices, with reconnect."""

from smartshelf.sources.base import EndOfStream, FrameSource, SourceStats, frames
from smartshelf.sources.factory import open_source
from smartshelf.sources.live import LiveSource
from smartshelf.sources.replay import ReplayFileSource
from smartshelf.sources.urls import is_file, is_stream, redact_url

__all__ = ["EndOfStream", "FrameSource", "LiveSource", "ReplayFileSource", "SourceStats", "frames",
           "is_file", "is_stream", "open_source", "redact_url"]
