"""Durable outbox: a bounded, ordered SQLite (WAL) queue of messages waiting for their PUBACK.

Every event is written here (and fsynced: ``synchronous=FULL``) before it is handed to MQTT, and
its row is deleted only once the broker acknowledged it. After a lost connection or a crash the
rows still here are sent again, oldest first. Delivery is therefore *at least once*: a message
whose PUBACK was lost, or whose row was not yet deleted when the process died, is sent twice.
Consumers de-duplicate by ``event_id`` (deterministic, see ``smartshelf.events.record``).

Bounded-drop policy: the outbox holds at most ``max_events`` rows. When a new message arrives
and it is full, the *oldest* rows are deleted to make room (the newest state of the shelf is
worth more than a week-old pick), each drop is counted in ``dropped`` and logged (first drop,
then at most once per ``_DROP_LOG_EVERY_S`` with the running total). Nothing is dropped for any
other reason.

All methods are thread-safe (one connection guarded by one lock).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from smartshelf.errors import UserError

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_DROP_LOG_EVERY_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused, so order is total
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_s REAL NOT NULL
)
"""


@dataclass(frozen=True)
class OutboxItem:
    """One queued message; ``seq`` increases with insertion order and is never reused."""

    seq: int
    event_id: str
    topic: str
    payload: bytes


class Outbox:
    """A bounded FIFO of messages on disk. See the module docstring for the guarantees."""

    def __init__(self, path: str | Path, max_events: int) -> None:
        if max_events < 1:
            raise ValueError(f"outbox max_events must be >= 1, got {max_events}")
        self.path = Path(path)
        self.max_events = max_events
        self._lock = threading.Lock()
        self._closed = False
        self._dropped = 0
        self._last_drop_log = -float("inf")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"outbox {self.path}: cannot open: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced on every commit, so an event put() survives power loss too.
            # Costs one fsync per event (~0.15 ms on the dev box); events are rare.
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise UserError(f"outbox {self.path}: schema version {version} is not "
                                f"{_SCHEMA_VERSION} (written by a newer smartshelf?)")
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            self._depth = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except (sqlite3.DatabaseError, UserError) as exc:
            self._db.close()
            if isinstance(exc, UserError):
                raise
            raise UserError(f"outbox {self.path}: not a usable SQLite database: {exc}") from None
        if self._depth:
            log.info("outbox %s: %d undelivered messages from an earlier run",
                     self.path, self._depth)

    # -- writing ---------------------------------------------------------------------------

    def put(self, event_id: str, topic: str, payload: bytes) -> int:
        """Append one message durably and return its ``seq``. Drops the oldest when full."""
        row = (event_id, topic, payload, time.time())
        insert = "INSERT INTO outbox(event_id, topic, payload, created_s) VALUES (?, ?, ?, ?)"
        with self._lock:
            self._check_open()
            dropped = 0
            overflow = self._depth + 1 - self.max_events
            if overflow <= 0:
                cur = self._db.execute(insert, row)  # one statement: its own transaction
            else:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._db.execute(
                        "DELETE FROM outbox WHERE seq IN "
                        "(SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (overflow,))
                    dropped = max(cur.rowcount, 0)
                    cur = self._db.execute(insert, row)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            seq = int(cur.lastrowid or 0)
            self._depth += 1 - dropped
            if dropped:
                self._dropped += dropped
                now = time.monotonic()
                if self._dropped == dropped or now - self._last_drop_log >= _DROP_LOG_EVERY_S:
                    self._last_drop_log = now
                    log.warning("outbox %s is full (%d messages): dropped the oldest, "
                                "%d dropped so far", self.path, self.max_events, self._dropped)
            return seq

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged messages; unknown seqs (already dropped) are ignored."""
        rows = [(int(s),) for s in seqs]
        if not rows:
            return 0
        with self._lock:
            self._check_open()
            # An ack lost in a power cut only means the message is sent once more (consumers
            # de-duplicate), so deletes skip the fsync; the next put()'s fsync covers them.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", rows)
                removed = self._db.total_changes - before
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
            self._depth -= removed
            return removed

    # -- reading ---------------------------------------------------------------------------

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxItem]:
        """Up to ``limit`` queued messages with ``seq > after_seq``, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload FROM outbox WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
        return [OutboxItem(int(s), str(e), str(t), bytes(p)) for s, e, t, p in rows]

    def depth(self) -> int:
        """Messages waiting for an acknowledgement (kept in memory, O(1))."""
        with self._lock:
            return self._depth

    @property
    def dropped(self) -> int:
        """Messages deleted by the bounded-drop policy since this Outbox was opened."""
        with self._lock:
            return self._dropped

    def close(self) -> None:
        """Close the database; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"outbox {self.path} is closed")
