"""The embedded amqtt broker: loopback only, round-trips a message, clear error on a taken port."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartshelf.errors import UserError
from smartshelf.publishers.broker import EmbeddedBroker, free_port


def test_embedded_broker_round_trips_on_loopback_only() -> None:
    broker = EmbeddedBroker(port=free_port())
    broker.start(timeout_s=10)
    try:
        addresses = broker.addresses()
        assert addresses and all(host == "127.0.0.1" for host, _ in addresses)
        assert {port for _, port in addresses} == {broker.port}

        got: list[bytes] = []
        done = threading.Event()
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rt")
        client.on_connect = lambda c, *a: c.subscribe("smartshelf/t", qos=1)
        client.on_subscribe = lambda *a: subscribed.set()

        def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
            got.append(msg.payload)
            done.set()

        client.on_message = on_message
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            assert subscribed.wait(10)
            client.publish("smartshelf/t", b"hello", qos=1).wait_for_publish(10)
            assert done.wait(10)
            assert got == [b"hello"]
        finally:
            client.disconnect()
            client.loop_stop()
    finally:
        broker.stop(timeout_s=10)
    with pytest.raises(OSError):  # stopped: nothing listens any more
        socket.create_connection(("127.0.0.1", broker.port), timeout=1).close()


def test_port_taken_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"127.0.0.1:{port} is already in use"):
            EmbeddedBroker(port=port).start()
