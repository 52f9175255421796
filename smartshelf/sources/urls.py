"""Source addresses: classify them and keep credentials out of logs. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(source: str | int) -> str:
    """`rtsp://user:secret@cam/x` -> `rtsp://user:***@cam/x`; anything else unchanged.

    Also hides secrets passed as query parameters some cameras use (`?password=..`, `?token=..`).
    """
    text = str(source)
    if not is_stream(source):
        return text
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if sep else f"{user}@{host}"
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "passwd", "token", "key", "secret", "auth"})


def _redact_param(param: str) -> str:
    name, sep, _value = param.partition("=")
    return f"{name}=***" if sep and name.lower() in _SECRET_PARAMS else param


def is_stream(source: str | int) -> bool:
    """A URL (`scheme://...`) that OpenCV opens through FFmpeg."""
    return isinstance(source, str) and "://" in source


def is_file(source: str | int) -> bool:
    """A path to a video file (not a URL, not a device index)."""
    return isinstance(source, str) and "://" not in source
