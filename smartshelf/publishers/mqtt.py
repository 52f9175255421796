"""MQTT publisher (paho-mqtt 2.x): events through a durable outbox, retained zone state, status.

Topics (``prefix`` = ``mqtt.topic_prefix``, default ``smartshelf``):

- ``<prefix>/<node>/status``  retained: ``online`` on connect, ``offline`` (last will) when the
  process dies or loses the network, ``stopped`` after a clean ``close()``.
- ``<prefix>/<camera>/events``  not retained: one event JSON (``smartshelf.events.record``).
- ``<prefix>/<camera>/<zone>/state``  retained: the zone's latest ZoneState JSON.
- ``<prefix>/<node>/stats``  not retained: a JSON object the caller publishes periodically.

Delivery of events is **at least once**: each event is fsynced to the outbox before
``publish()`` returns and leaves it only on PUBACK (QoS 1/2) or once written to the socket
(QoS 0). After a reconnect or a restart the remaining events are sent again in order, so a
consumer may see an event twice and must de-duplicate by ``event_id``. When the outbox is full
the oldest events are dropped and counted (``smartshelf.publishers.outbox``).

Zone states are "latest value wins": they are kept in memory, published while connected and
republished (all of them) on every reconnect. They go out at QoS 0 on purpose: a QoS 1 state
queued before a disconnect would be re-sent by paho *after* the reconnect's fresher state and
leave a stale retained value on the broker.

One paho client per daemon; its network thread reconnects with exponential backoff
(1 s .. 30 s). ``publish()`` never waits for the network: a sender thread moves events from the
outbox to paho. The broker password (``password_file`` or the ``password_env`` variable) never
appears in a log line.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from smartshelf.config import MqttConfig, OutboxConfig
from smartshelf.errors import UserError
from smartshelf.events.record import Event, ZoneState, to_json
from smartshelf.publishers.discovery import discovery_messages
from smartshelf.publishers.outbox import Outbox

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# Events handed to paho and not yet acknowledged, at most. Bounds paho's in-memory queue while
# the broker is away (the rest waits on disk); raising it helps throughput on slow links.
SEND_WINDOW = 256
_UNSAFE_TOPIC_CHARS = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


def topic_segment(name: str) -> str:
    """A camera or zone name as one topic level: '/', '+', '#' and NUL become '_'. Pure."""
    return name.translate(_UNSAFE_TOPIC_CHARS) or "_"


@dataclass(frozen=True)
class Topics:
    """The topic layout of one node (see the module docstring)."""

    prefix: str
    node: str

    @property
    def status(self) -> str:
        return f"{self.prefix}/{topic_segment(self.node)}/status"

    @property
    def stats(self) -> str:
        return f"{self.prefix}/{topic_segment(self.node)}/stats"

    def events(self, camera: str) -> str:
        return f"{self.prefix}/{topic_segment(camera)}/events"

    def state(self, camera: str, zone: str) -> str:
        return f"{self.prefix}/{topic_segment(camera)}/{topic_segment(zone)}/state"


def read_password(cfg: MqttConfig, resolve: Callable[[str], Path]) -> str | None:
    """The broker password from ``password_file`` (first line) or the ``password_env`` variable."""
    if cfg.password_file:
        path = resolve(cfg.password_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"mqtt.password_file {path}: cannot read: {exc.strerror}") from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise UserError(f"mqtt.password_file {path}: the first line (the password) is empty")
        return lines[0]
    return os.environ.get(cfg.password_env) or None


class _RedactSecret(logging.Filter):
    """Replaces a secret in every record that passes through the logger it is attached to."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg = message.replace(self.secret, "***")
            record.args = None
        return True


class MqttPublisher:
    """Publishes events, zone states, status and stats of one node to one MQTT broker.

    Implements ``smartshelf.publishers.base.Publisher``. Thread-safe; ``publish`` and
    ``publish_state`` return without waiting for the network.
    """

    def __init__(self, mqtt_cfg: MqttConfig, outbox_cfg: OutboxConfig, node: str,
                 resolve: Callable[[str], Path], *, zones: Iterable[tuple[str, str]] = (),
                 on_acked: Callable[[list[str]], None] | None = None) -> None:
        """``on_acked`` (optional) gets the event_ids the broker acknowledged, from the sender
        thread (or ``close()``); keep it quick (benchmarks and metrics use it)."""
        self.cfg = mqtt_cfg
        self.node = node
        self.topics = Topics(mqtt_cfg.topic_prefix.rstrip("/"), node)
        self.qos = mqtt_cfg.qos
        self._zones: list[tuple[str, str]] = list(dict.fromkeys(zones))
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], bytes] = {}
        self._connected = False
        self._closed = False
        self._on_acked = on_acked
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._acked_mids: collections.deque[int] = collections.deque()
        self._reset_requested = False
        # Owned by the sender thread (and close() once it has stopped):
        # paho mid -> (outbox seq, event_id), handed and not acked
        self._inflight: dict[int, tuple[int, str]] = {}
        self._handed = 0  # highest outbox seq handed to paho by this process
        self.connects = 0
        self.sent = 0
        self.acked = 0
        self.failed_writes = 0

        self._password = read_password(mqtt_cfg, resolve)
        self._redactor: _RedactSecret | None = None
        self._paho_log = logging.getLogger(__name__ + ".paho")
        if self._password:
            self._redactor = _RedactSecret(self._password)
            log.addFilter(self._redactor)
            self._paho_log.addFilter(self._redactor)

        self.outbox = Outbox(resolve(outbox_cfg.path), outbox_cfg.max_events)
        try:
            self._client = self._make_client(resolve)
        except BaseException:
            self.outbox.close()
            self._remove_redactor()
            raise
        log.info("mqtt: connecting to %s:%d as %s (tls=%s, user=%s, qos=%d)", mqtt_cfg.host,
                 mqtt_cfg.port, self._client_id, mqtt_cfg.tls is not None,
                 mqtt_cfg.username or "-", self.qos)
        self._client.connect_async(mqtt_cfg.host, mqtt_cfg.port, keepalive=mqtt_cfg.keepalive_s)
        self._client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-outbox", daemon=True)
        self._sender.start()

    # -- setup -----------------------------------------------------------------------------

    def _make_client(self, resolve: Callable[[str], Path]) -> mqtt.Client:
        cfg = self.cfg
        self._client_id = cfg.client_id or f"smartshelf-{self.node}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id,
                             clean_session=True, protocol=mqtt.MQTTv311)
        client.enable_logger(self._paho_log)
        client.max_inflight_messages_set(SEND_WINDOW)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.will_set(self.topics.status, "offline", qos=1, retain=True)
        if cfg.username:
            client.username_pw_set(cfg.username, self._password)
        if cfg.tls is not None:
            tls = cfg.tls
            files = {key: str(resolve(value)) if value else None for key, value in
                     (("ca_file", tls.ca_file), ("cert_file", tls.cert_file),
                      ("key_file", tls.key_file))}
            try:
                client.tls_set(ca_certs=files["ca_file"], certfile=files["cert_file"],
                               keyfile=files["key_file"], cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError, ValueError) as exc:
                shown = ", ".join(f"{k}={v}" for k, v in files.items() if v)
                raise UserError(f"mqtt.tls: cannot load the TLS files ({shown}): {exc}") from None
            if tls.insecure:
                client.tls_insecure_set(True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # -- Publisher protocol ----------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Store the event durably in the outbox and return; the sender thread delivers it."""
        payload = to_json(event).encode("utf-8")
        try:
            self.outbox.put(event.event_id, self.topics.events(event.camera), payload)
        except Exception:
            # Disk full or the like: the event is only in the other outputs (JSONL) now.
            self.failed_writes += 1
            log.exception("mqtt: could not store event_id=%s in the outbox", event.event_id)
            return
        self._wake.set()

    def publish_state(self, state: ZoneState) -> None:
        """Remember the zone's latest state (retained); send it now if connected."""
        key = (state.camera, state.zone)
        payload = to_json(state).encode("utf-8")
        announce = False
        with self._lock:
            self._states[key] = payload
            if key not in self._zones:
                self._zones.append(key)
                announce = self.cfg.discovery
            connected = self._connected
        if connected:
            if announce:
                self._publish_discovery([key])
            self._client.publish(self.topics.state(*key), payload, qos=0, retain=True)

    def publish_stats(self, stats: dict[str, Any]) -> None:
        """Send a stats JSON object (not retained, QoS 0); dropped while disconnected."""
        if self._connected:
            payload = json.dumps(stats, sort_keys=True, separators=(",", ":"))
            self._client.publish(self.topics.stats, payload, qos=0, retain=False)

    def outbox_depth(self) -> int:
        """Events stored and not yet acknowledged by the broker."""
        return self.outbox.depth()

    def counters(self) -> dict[str, int]:
        """Numbers for the stats topic / metrics."""
        return {"outbox_depth": self.outbox.depth(), "outbox_dropped": self.outbox.dropped,
                "sent": self.sent, "acked": self.acked, "connects": self.connects,
                "failed_writes": self.failed_writes, "connected": int(self._connected)}

    @property
    def connected(self) -> bool:
        return self._connected

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (every event acknowledged); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.depth() > 0:
            if time.monotonic() >= deadline or self._closed:
                return self.outbox.depth() == 0
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout_s``, say ``stopped``, disconnect.

        Undelivered events stay in the outbox for the next start. Idempotent.
        """
        if self._closed:
            return
        if self._connected:
            self.wait_drained(timeout_s)
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._sender.join(timeout=max(timeout_s, 1.0))
        if self._connected:
            info = self._client.publish(self.topics.status, "stopped", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=min(timeout_s, 2.0))
            except (RuntimeError, ValueError):
                log.warning("mqtt: could not publish the 'stopped' status")
        # paho's loop thread may log a spurious "not connected" error while it winds down.
        self._client.disable_logger()
        self._client.disconnect()
        self._client.loop_stop()
        self._flush_acks()
        remaining = self.outbox.depth()
        self.outbox.close()
        log.info("mqtt: closed (%d events left in the outbox for the next start)", remaining)
        self._remove_redactor()

    # -- paho callbacks (paho's network thread) --------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason_code: ReasonCode, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("mqtt: %s:%d refused the connection: %s (retrying)", self.cfg.host,
                      self.cfg.port, reason_code)
            return
        self.connects += 1
        log.info("mqtt: connected to %s:%d (connection %d)", self.cfg.host, self.cfg.port,
                 self.connects)
        client.publish(self.topics.status, "online", qos=1, retain=True)
        with self._lock:
            self._connected = True
            states = list(self._states.items())
            zones = list(self._zones)
        if self.cfg.discovery:
            self._publish_discovery(zones)
        for (camera, zone), payload in states:
            client.publish(self.topics.state(camera, zone), payload, qos=0, retain=True)
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("mqtt: cannot reach %s:%d (retrying with backoff)", self.cfg.host,
                    self.cfg.port)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: ReasonCode, properties: Any) -> None:
        with self._lock:
            was = self._connected
            self._connected = False
            self._reset_requested = True
        if was and not self._closed:
            log.warning("mqtt: lost the connection to %s:%d: %s (reconnecting)", self.cfg.host,
                        self.cfg.port, reason_code)
        self._wake.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Any) -> None:
        # Called with paho's message lock held: only hand the mid to the sender thread.
        self._acked_mids.append(mid)
        self._wake.set()

    # -- sender thread ---------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._send_once()
            except Exception:
                log.exception("mqtt: outbox sender failed; retrying")
                self._stop.wait(1.0)

    def _send_once(self) -> None:
        self._flush_acks()
        with self._lock:
            reset, self._reset_requested = self._reset_requested, False
            connected = self._connected
        if reset and self.qos == 0:
            # QoS 0 messages not yet written are gone from paho: send them again.
            self._inflight.clear()
            self._handed = 0
        room = SEND_WINDOW - len(self._inflight)
        if not connected or room <= 0:
            return
        for item in self.outbox.pending(after_seq=self._handed, limit=room):
            info = self._client.publish(item.topic, item.payload, qos=self.qos)
            self._inflight[info.mid] = (item.seq, item.event_id)
            self._handed = item.seq
            self.sent += 1
        if len(self._inflight) < SEND_WINDOW and self.outbox.depth() > len(self._inflight):
            self._wake.set()  # more waiting on disk

    def _flush_acks(self) -> None:
        """Delete acknowledged events from the outbox (sender thread, or close() after it)."""
        done = []
        while self._acked_mids:
            entry = self._inflight.pop(self._acked_mids.popleft(), None)
            if entry is not None:
                done.append(entry)
        if done:
            self.acked += len(done)
            self.outbox.ack(seq for seq, _ in done)
            if self._on_acked is not None:
                self._on_acked([event_id for _, event_id in done])

    def _publish_discovery(self, zones: list[tuple[str, str]]) -> None:
        for msg in discovery_messages(self.node, zones, self.topics,
                                      discovery_prefix=self.cfg.discovery_prefix):
            self._client.publish(msg.topic, msg.payload, qos=1, retain=True)

    def _remove_redactor(self) -> None:
        if self._redactor is not None:
            log.removeFilter(self._redactor)
            self._paho_log.removeFilter(self._redactor)
