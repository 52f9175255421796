"""The durable outbox: order, bounded-drop policy, persistence across reopen, thread safety."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from smartshelf.errors import UserError
from smartshelf.publishers.outbox import Outbox


def test_pending_is_fifo_and_ack_removes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_events=100)
    seqs = [box.put(f"e{i}", "t/events", f"p{i}".encode()) for i in range(10)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10
    assert [it.event_id for it in box.pending(limit=100)] == [f"e{i}" for i in range(10)]
    assert box.ack([seqs[0], seqs[3]]) == 2
    assert box.ack([seqs[0]]) == 0  # already gone: ignored
    assert [it.event_id for it in box.pending(limit=100)] == [
        f"e{i}" for i in range(10) if i not in (0, 3)]
    assert [it.event_id for it in box.pending(after_seq=seqs[5], limit=2)] == ["e6", "e7"]
    assert box.depth() == 8
    box.close()


def test_full_outbox_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_events=5)
    for i in range(12):
        box.put(f"e{i}", "t", b"x")
    assert box.depth() == 5
    assert box.dropped == 7
    assert [it.event_id for it in box.pending(limit=100)] == ["e7", "e8", "e9", "e10", "e11"]
    box.close()


def test_survives_reopen_and_seq_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_events=100)
    first = [box.put(f"e{i}", "t", bytes([i])) for i in range(4)]
    box.ack(first)  # empty table: a plain rowid would restart at 1
    last = box.put("e4", "t", b"\x04")
    box.close()
    again = Outbox(path, max_events=100)
    items = again.pending(limit=10)
    assert [(it.event_id, it.payload) for it in items] == [("e4", b"\x04")]
    assert again.depth() == 1
    assert again.put("e5", "t", b"") > last > max(first)
    again.close()


def test_concurrent_puts_lose_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_events=10_000)

    def writer(k: int) -> None:
        for i in range(100):
            box.put(f"w{k}-{i}", "t", b"x")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [it.event_id for it in box.pending(limit=1000)]
    assert len(ids) == 400 == box.depth() and len(set(ids)) == 400
    for k in range(4):  # each writer's own events stay in its order
        mine = [i for i in ids if i.startswith(f"w{k}-")]
        assert mine == [f"w{k}-{i}" for i in range(100)]
    box.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match=str(path)):
        Outbox(path, max_events=10)


def test_uses_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    Outbox(path, max_events=10).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
