"""Source addresses: classify them and keep credentials out of logs. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(source: str | int) -> str:
    """`rtsp://user:secret@cam/x` -> `rtsp://user:***@cam/x`; anything else unchanged."""
    text = str(source)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None and parts.username is None:
        return text
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_file(source: str | int) -> bool:
    return isinstance(source, str) and "://" not in source
