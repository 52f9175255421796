"""Shared fixtures. The Mosquitto ones start a real broker on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartshelf import models
from smartshelf.publishers.broker import MosquittoProcess

MOSQUITTO = Path("/usr/sbin/mosquitto")


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoProcess]]:
    """Make (and start) Mosquitto brokers with extra config lines; all stopped at teardown.

    Each broker has `persistence true` in its own folder, so a persistent-session subscriber
    survives `stop()` + `start()` (same port).
    """
    if not MOSQUITTO.exists():
        pytest.skip(f"mosquitto is not installed at {MOSQUITTO}")
    made: list[MosquittoProcess] = []

    def make(*extra_conf: str, name: str = "broker") -> MosquittoProcess:
        broker = MosquittoProcess(tmp_path / f"{name}-{len(made)}", extra_conf=extra_conf,
                                  binary=str(MOSQUITTO))
        made.append(broker)
        broker.start()
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoProcess]) -> MosquittoProcess:
    """A running anonymous Mosquitto on 127.0.0.1:<free port>; `.stop()` / `.start()` it."""
    return mosquitto_factory()


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The repo's models/ folder with the pinned palm models (fetched once if absent)."""
    target = models.default_models_dir()
    models.fetch(target)
    return target
