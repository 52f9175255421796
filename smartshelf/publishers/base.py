"""The publisher seam: where events and zone states go."""

from __future__ import annotations

from typing import Protocol

from smartshelf.events.record import Event, ZoneState


class Publisher(Protocol):
    """Receives every event and zone-state change. Must not block the processing path."""

    def publish(self, event: Event) -> None: ...

    def publish_state(self, state: ZoneState) -> None: ...

    def close(self) -> None:
        """Flush what can be flushed and release resources; idempotent."""
        ...
