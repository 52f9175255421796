"""Local MQTT brokers: amqtt embedded in the daemon (demo default) and a Mosquitto child process.

Both listen on loopback only; neither is meant to be reachable from the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from smartshelf.errors import UserError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether something already listens on host:port (or it cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def wait_for_port(port: int, timeout_s: float, host: str = LOOPBACK) -> bool:
    """Poll until host:port accepts a TCP connection; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.02)
    return False


class EmbeddedBroker:
    """amqtt 0.12 running in this process, in its own thread with its own asyncio loop.

    Bound to 127.0.0.1:``port`` only, anonymous clients allowed (loopback demo broker; use a
    real broker with TLS and passwords for anything else).
    """

    def __init__(self, port: int = 1883) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    def config(self) -> dict[str, Any]:
        """The amqtt 0.12 BrokerConfig dict: one TCP listener on loopback, no $SYS chatter."""
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening; raises UserError if the port is taken or startup times out."""
        if self._thread is not None:
            return
        if port_in_use(self.port):
            raise UserError(f"embedded MQTT broker: {LOOPBACK}:{self.port} is already in use "
                            "(another broker running? set mqtt.port or mqtt.embedded: false)")
        from amqtt.broker import Broker  # heavy import, only when the broker is wanted

        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="amqtt-broker",
                                        daemon=True)
        self._thread.start()

        async def _start() -> Any:
            broker = Broker(self.config(), loop=loop)
            await broker.start()
            return broker

        future = asyncio.run_coroutine_threadsafe(_start(), loop)
        try:
            self._broker = future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()
            self._stop_loop(timeout_s)
            raise UserError(f"embedded MQTT broker: did not start within {timeout_s:g} s") from None
        except Exception as exc:
            self._stop_loop(timeout_s)
            raise UserError(f"embedded MQTT broker on {LOOPBACK}:{self.port}: cannot start: "
                            f"{exc}") from None
        log.info("embedded MQTT broker listening on %s:%d", LOOPBACK, self.port)

    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) of every listening socket (tests check they are loopback)."""
        out: list[tuple[str, int]] = []
        if self._broker is None:
            return out
        for server in self._broker._servers.values():  # amqtt keeps no public accessor
            instance = getattr(server, "instance", None)
            for sock in getattr(instance, "sockets", None) or ():
                host, port = sock.getsockname()[:2]
                out.append((str(host), int(port)))
        return out

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the broker down and join its thread; idempotent."""
        if self._loop is None:
            return
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                future.result(timeout=timeout_s)
            except Exception as exc:  # still stop the loop; report why shutdown was unclean
                log.warning("embedded MQTT broker: unclean shutdown: %r", exc)
            self._broker = None
        self._stop_loop(timeout_s)
        log.info("embedded MQTT broker stopped")

    def _stop_loop(self, timeout_s: float) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=timeout_s)
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None


class MosquittoProcess:
    """A Mosquitto broker as a child process on a loopback port (tests, benches, demos).

    ``stop()`` and ``start()`` may be called repeatedly; the port and the persistence folder
    stay the same, so persistent sessions survive a restart.
    """

    def __init__(self, workdir: str | Path, port: int | None = None,
                 extra_conf: Iterable[str] = (), binary: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.binary = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.conf_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        lines = [f"listener {self.port} {LOOPBACK}", "persistence true",
                 f"persistence_location {self.workdir}/", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot write here
        extra = list(extra_conf)
        if not any(line.startswith(("allow_anonymous", "password_file")) for line in extra):
            lines.append("allow_anonymous true")
        self.conf_path.write_text("\n".join(lines + extra) + "\n", encoding="utf-8")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        if not Path(self.binary).exists():
            raise UserError(f"mosquitto not found at {self.binary}")
        with open(self.log_path, "ab") as logf:
            self._proc = subprocess.Popen([self.binary, "-c", str(self.conf_path)],
                                          stdout=logf, stderr=logf)
        deadline = time.monotonic() + timeout_s
        while not wait_for_port(self.port, 0.1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{tail}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (mosquitto saves its persistence file) and wait; SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)
