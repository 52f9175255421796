"""Events as JSON lines: on stdout (the CLI's own output) or appended to a file."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TextIO

from smartshelf.config import Config
from smartshelf.events.record import Event, ZoneState, to_json


class JsonlPublisher:
    """Writes each event as one line; zone states are not written (they are MQTT retained state).

    Lines are flushed as written, so a consumer tailing the file sees events at once and a crash
    loses none that were written.
    """

    def __init__(self, stream: TextIO | None = None, path: Path | None = None) -> None:
        if (stream is None) == (path is None):
            raise ValueError("JsonlPublisher needs exactly one of stream or path")
        self._own = path is not None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._stream: TextIO = path.open("a", encoding="utf-8")
        else:
            assert stream is not None
            self._stream = stream
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def stdout(cls) -> JsonlPublisher:
        return cls(stream=sys.stdout)

    def publish(self, event: Event) -> None:
        line = to_json(event) + "\n"
        with self._lock:
            if not self._closed:
                self._stream.write(line)
                self._stream.flush()

    def publish_state(self, state: ZoneState) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._own:
                self._stream.close()
            else:
                self._stream.flush()


def output_sinks(cfg: Config, *, stdout: bool) -> list[JsonlPublisher]:
    """The JSON-lines outputs a config asks for: stdout (when `stdout`) and `output.jsonl`."""
    sinks = [JsonlPublisher.stdout()] if stdout else []
    if cfg.output.jsonl:
        sinks.append(JsonlPublisher(path=cfg.resolve(cfg.output.jsonl)))
    return sinks
