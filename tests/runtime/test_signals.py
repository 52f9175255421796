"""Real signals sent to this process: the handlers set flags and nothing else."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from smartshelf.runtime.signals import StopFlag, install_signal_handlers


@pytest.fixture
def flag() -> Iterator[StopFlag]:
    installed = install_signal_handlers()
    yield installed
    installed.restore()


def deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # Python runs the handler between bytecodes of the main thread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_first_signal_stops_second_forces(flag: StopFlag, signum: int) -> None:
    assert not flag.stop
    deliver(signum)
    assert flag.stop and not flag.force  # the process is still alive: nothing exited
    deliver(signal.SIGTERM)
    assert flag.stop and flag.force
    assert flag.signals == [signum, signal.SIGTERM]


def test_sighup_asks_for_a_reload_once(flag: StopFlag) -> None:
    deliver(signal.SIGHUP)
    assert flag.reload and not flag.stop
    assert flag.take_reload() is True
    assert flag.take_reload() is False


def test_wait_returns_when_a_signal_arrives(flag: StopFlag) -> None:
    killer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM))
    killer.start()
    t0 = time.monotonic()
    assert flag.wait(10.0) is True
    assert time.monotonic() - t0 < 2.0
    killer.join()


def test_wait_times_out_without_a_signal(flag: StopFlag) -> None:
    t0 = time.monotonic()
    assert flag.wait(0.15) is False
    assert time.monotonic() - t0 >= 0.14 and not flag.stop


def test_restore_puts_back_the_previous_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    flag = install_signal_handlers()
    assert signal.getsignal(signal.SIGTERM) == flag.handle
    flag.restore()
    assert signal.getsignal(signal.SIGTERM) == before
