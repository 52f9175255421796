"""Logging set-up: plain text for people, JSON lines for log shippers (journald, Loki, ...).

Context travels in `extra=` under fixed keys: `log.info("pick", extra={"camera": "a", "zone": "z1"})`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

CONTEXT_KEYS = ("camera", "zone", "track_id", "event_id")
FORMATS = ("text", "json")


def _context(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k in CONTEXT_KEYS if (v := getattr(record, k, None)) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO 8601), level, logger, message, context keys, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger [camera=.. zone=..] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        ctx = " ".join(f"{k}={v}" for k, v in _context(record).items())
        text = super().formatMessage(record)
        if not ctx:
            return text
        head, sep, message = text.partition(f" {record.name} ")
        return f"{head}{sep}[{ctx}] {message}"


CHATTY_LOGGERS = ("amqtt", "transitions")


def setup_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger on `stream` (default stderr: stdout is the CLI's own output).

    Replaces handlers a previous call installed; raises ValueError for an unknown level or format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # The embedded broker's libraries narrate every state change at INFO: keep them to warnings
    # unless the user asked for DEBUG.
    quiet = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(quiet)
