"""sd_notify without a systemd library: one datagram to $NOTIFY_SOCKET per state; a no-op without it.

The daemon sends READY=1 once its models are warm, WATCHDOG=1 from its main loop while frames
flow, STATUS=<text> now and then, and STOPPING=1 on the way out.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send one state (e.g. `READY=1`, several lines allowed); False when not under systemd or on
    failure (never raises: a missing notify socket must not take the daemon down)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
        return True
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", state, exc)
        return False


def ready() -> bool:
    return notify("READY=1")


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def reloading() -> bool:
    return notify("RELOADING=1")


def status(text: str) -> bool:
    """A one-line status shown by `systemctl status` (newlines would start new states)."""
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_interval_s() -> float | None:
    """How often to send WATCHDOG=1: half of systemd's WatchdogSec, or None when there is no
    watchdog for this process (WATCHDOG_PID, when set, must be ours)."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec) if usec else 0
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number: no watchdog pings", usec)
        return None
    return value / 2e6 if value > 0 else None
