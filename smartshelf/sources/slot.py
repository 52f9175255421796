"""A latest-frame slot: the capture thread overwrites, the pipeline takes. Never grows."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item; `put` over an item nobody took counts it in `dropped`.

    `close()` wakes every waiter at once; an item still in the slot can be taken after it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def take(self, timeout_s: float) -> T | None:
        """The latest item; None after `timeout_s`, or at once when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed,
                                timeout=max(0.0, timeout_s))
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
