"""Frame sources: video files, RTSP/HTTP streams and V4L2 devices, with reconnect."""

from smartshelf.sources.base import EndOfStream, FrameSource, SourceStats
from smartshelf.sources.urls import is_file, redact_url
from smartshelf.sources.video import LiveSource, ReplayFileSource, open_source

__all__ = ["EndOfStream", "FrameSource", "LiveSource", "ReplayFileSource", "SourceStats",
           "is_file", "open_source", "redact_url"]
