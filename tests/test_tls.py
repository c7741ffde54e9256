"""TLS to the broker with client certificates, against a real mosquitto TLS listener."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.config import MqttConfig
from agent.events import PRIORITY_SOS, Event
from agent.outbox import Outbox
from agent.publisher import Publisher
from tests.broker import MOSQUITTO, Broker, wait_until

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(
    OPENSSL is None or MOSQUITTO is None, reason="needs openssl and mosquitto"
)


def openssl(*args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], check=True, capture_output=True)


def issue(pki: Path, name: str, ca: str, *extensions: str) -> None:
    """A key and a certificate for `name`, signed by the CA called `ca`."""
    key, csr, cert = (pki / f"{name}.{suffix}" for suffix in ("key", "csr", "pem"))
    openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={name}",
    )
    extfile = pki / f"{name}.ext"
    extfile.write_text("\n".join(extensions) + "\n")
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki / f"{ca}.pem"),
        "-CAkey",
        str(pki / f"{ca}.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(extfile),
        "-out",
        str(cert),
    )


def authority(pki: Path, name: str) -> None:
    """A self-signed certificate authority."""
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(pki / f"{name}.key"),
        "-out",
        str(pki / f"{name}.pem"),
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the broker's certificate for 127.0.0.1, the pole's client certificate, a rogue CA."""
    pki = tmp_path_factory.mktemp("pki")
    authority(pki, "ca")
    authority(pki, "rogue")
    issue(pki, "broker", "ca", "subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth")
    issue(pki, "pole-test", "ca", "extendedKeyUsage=clientAuth")
    return pki


@pytest.fixture
def tls_broker(make_broker: Callable[..., Broker], pki: Path) -> Broker:
    """mosquitto that speaks only TLS and requires a client certificate from our CA."""
    return make_broker(
        listener_options=[
            f"cafile {pki / 'ca.pem'}",
            f"certfile {pki / 'broker.pem'}",
            f"keyfile {pki / 'broker.key'}",
            "require_certificate true",
            "use_identity_as_username true",
        ]
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox.open(
        tmp_path / "outbox.db",
        device="pole-test",
        site="lab",
        max_bytes=10_000_000,
        retention_s=3600,
    )
    yield box
    box.close()


def publish_one(outbox: Outbox, broker: Broker, **tls: Path) -> Publisher:
    """Store an SOS and start a publisher with the given TLS files."""
    config = MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        tls=True,
        reconnect_min_s=0.1,
        reconnect_max_s=0.3,
        connect_timeout_s=3.0,
        **tls,
    )
    outbox.add(Event(kind="sos", priority=PRIORITY_SOS, phase="new"))
    publisher = Publisher(
        config=config,
        prefix="ssz/v1/lab/pole-test",
        client_id="pole-test",
        outbox=outbox,
        boot=outbox.boot,
        version="test",
    )
    publisher.start()
    return publisher


def test_event_is_delivered_over_tls_with_client_certificate(
    tls_broker: Broker, outbox: Outbox, pki: Path
) -> None:
    publisher = publish_one(
        outbox,
        tls_broker,
        ca_file=pki / "ca.pem",
        cert_file=pki / "pole-test.pem",
        key_file=pki / "pole-test.key",
    )
    try:
        wait_until(lambda: outbox.stats().pending == 0, 10, "delivery over TLS")
        assert publisher.link()["connected"]
    finally:
        publisher.stop()


def test_broker_with_an_untrusted_certificate_is_refused(
    tls_broker: Broker, outbox: Outbox, pki: Path
) -> None:
    publisher = publish_one(
        outbox,
        tls_broker,
        ca_file=pki / "rogue.pem",
        cert_file=pki / "pole-test.pem",
        key_file=pki / "pole-test.key",
    )
    try:
        wait_until(lambda: publisher.link()["last_error"] is not None, 10, "a refused handshake")
        assert "CERTIFICATE_VERIFY_FAILED" in str(publisher.link()["last_error"])
        assert outbox.stats().pending == 1
    finally:
        publisher.stop()


def test_connection_without_client_certificate_delivers_nothing(
    tls_broker: Broker, outbox: Outbox, pki: Path
) -> None:
    publisher = publish_one(outbox, tls_broker, ca_file=pki / "ca.pem")
    try:
        wait_until(lambda: _refused(publisher), 10, "a refused connection")
        assert outbox.stats().pending == 1
    finally:
        publisher.stop()


def _refused(publisher: Publisher) -> bool:
    link = publisher.link()
    return bool(link["disconnects"] >= 1 or link["last_error"] is not None)
