"""Signal handling: the handlers only set flags; the main loop acts on them.

SIGTERM / SIGINT set `stop` (a second one also sets `force`: the main loop should then skip
draining and exit); SIGHUP sets `reload`. Nothing else happens inside a handler: no logging, no
locks (a lock held by the interrupted main thread would deadlock), no exit.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

_Handler = Callable[[int, FrameType | None], object] | int | None

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopFlag:
    """Flags set by signals (or by code: `request_stop()`), read by the main loop."""

    def __init__(self) -> None:
        self.stop = False
        self.force = False
        self.reload = False
        self.signals: list[int] = []  # what arrived, in order (for the main loop to log)
        self._previous: dict[int, _Handler] = {}

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signals.append(signum)
        if signum == signal.SIGHUP:
            self.reload = True
            return
        if self.stop:
            self.force = True
        self.stop = True

    def request_stop(self) -> None:
        """Stop as if SIGTERM had arrived (e.g. every camera ended)."""
        self.stop = True

    def take_reload(self) -> bool:
        """True once per SIGHUP (clears the flag)."""
        reload, self.reload = self.reload, False
        return reload

    def wait(self, timeout_s: float, step_s: float = 0.05) -> bool:
        """Sleep up to `timeout_s`, returning early (True) once `stop` is set.

        Polls, because a signal handler must not touch the lock behind a threading.Event.
        """
        end = time.monotonic() + timeout_s
        while not self.stop:
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(step_s, left))
        return True

    def restore(self) -> None:
        """Put back the handlers that were there before `install_signal_handlers`."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def install_signal_handlers() -> StopFlag:
    """Install the flag-setting handlers for SIGTERM, SIGINT and SIGHUP (main thread only)."""
    flag = StopFlag()
    for signum in (*STOP_SIGNALS, signal.SIGHUP):
        flag._previous[signum] = signal.signal(signum, flag.handle)
    return flag
