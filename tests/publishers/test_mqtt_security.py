"""TLS (CA + client certificate) and password auth against a real Mosquitto."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from smartshelf.config import TLSConfig
from smartshelf.errors import UserError

EVENTS = "smartshelf/cam1/events"
OPENSSL = shutil.which("openssl")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL or "openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    if OPENSSL is None:
        pytest.skip("the openssl CLI is not installed")
    d = tmp_path / "pki"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=smartshelf test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
                 f"{name}.key", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *ext, cwd=d)
    return d


def test_tls_with_client_certificate(mosquitto_factory, subscriber, publisher_factory,
                                     make_event, pki: Path, until) -> None:
    broker = mosquitto_factory(f"cafile {pki / 'ca.crt'}", f"certfile {pki / 'server.crt'}",
                               f"keyfile {pki / 'server.key'}", "require_certificate true")
    client_tls = {"ca_certs": str(pki / "ca.crt"), "certfile": str(pki / "client.crt"),
                  "keyfile": str(pki / "client.key")}
    sub = subscriber(broker.port, [EVENTS], tls=client_tls)

    pub = publisher_factory(broker.port, tls=TLSConfig(
        ca_file=str(pki / "ca.crt"), cert_file=str(pki / "client.crt"),
        key_file=str(pki / "client.key")))
    ev = make_event(1)
    pub.publish(ev)
    assert sub.wait_for(lambda: bool(sub.payloads(EVENTS)))
    assert json.loads(sub.payloads(EVENTS)[0])["event_id"] == ev.event_id
    assert pub.wait_drained(5)

    # Without a client certificate the broker refuses, and the event stays in the outbox.
    no_cert = publisher_factory(broker.port, outbox=pki / "other.sqlite",
                                tls=TLSConfig(ca_file=str(pki / "ca.crt")), node="node2")
    no_cert.publish(make_event(2))
    time.sleep(1.5)
    assert not no_cert.connected
    assert no_cert.outbox_depth() == 1


def test_unreadable_tls_files_are_a_clear_error(publisher_factory, tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-cert.pem"
    bogus.write_text("hello")
    with pytest.raises(UserError, match="mqtt.tls"):
        publisher_factory(1883, tls=TLSConfig(ca_file=str(bogus)))


def test_password_auth_from_file_and_env_never_logged(
        mosquitto_factory, subscriber, publisher_factory, make_event, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, until) -> None:
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed")
    secret = "s3cret-Pa55-word"
    passwd = tmp_path / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(passwd), "shelf", secret], check=True)
    broker = mosquitto_factory("allow_anonymous false", f"password_file {passwd}")
    sub = subscriber(broker.port, [EVENTS], auth=("shelf", secret))
    (tmp_path / "pw.txt").write_text(secret + "\n")
    caplog.set_level(logging.DEBUG)

    from_file = publisher_factory(broker.port, username="shelf", password_file="pw.txt")
    from_file.publish(make_event(1))
    assert from_file.wait_drained(10)

    monkeypatch.setenv("TEST_MQTT_PW", secret)
    from_env = publisher_factory(broker.port, outbox=tmp_path / "o2.sqlite", node="node2",
                                 username="shelf", password_env="TEST_MQTT_PW")
    from_env.publish(make_event(2))
    assert from_env.wait_drained(10)
    assert sub.wait_for(lambda: len(sub.payloads(EVENTS)) >= 2)

    monkeypatch.setenv("TEST_MQTT_PW", "wrong")
    wrong = publisher_factory(broker.port, outbox=tmp_path / "o3.sqlite", node="node3",
                              username="shelf", password_env="TEST_MQTT_PW")
    wrong.publish(make_event(3))
    assert until(lambda: "refused" in caplog.text, 5)
    assert not wrong.connected and wrong.outbox_depth() == 1

    # A log line that carries the password (say, an exception text) is redacted too.
    logging.getLogger("smartshelf.publishers.mqtt").error("boom: %s", secret)
    assert "boom: ***" in caplog.text
    assert secret not in caplog.text
