"""Test helpers around a real broker: mosquitto on a free loopback port, a subscriber that
records what arrives, and a gate that can cut or stall one client's connection."""

from __future__ import annotations

import itertools
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
)
HOST = "127.0.0.1"
_client_numbers = itertools.count(1)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Broker:
    """A mosquitto process on a free loopback port, restartable on the same port."""

    def __init__(
        self,
        directory: Path,
        *,
        max_inflight: int | None = None,
        acl: str | None = None,
        persistent: bool = False,
        listener_options: Sequence[str] = (),
        max_packet_size: int | None = None,
    ) -> None:
        if MOSQUITTO is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.host = HOST
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "mosquitto.log"
        self._conf = directory / "mosquitto.conf"
        self._acl = directory / "acl"
        self._max_inflight = max_inflight
        self._persistent = persistent
        self._max_packet_size = max_packet_size
        self._listener_options = list(listener_options)  # e.g. TLS: cafile, certfile, ...
        self._process: subprocess.Popen[bytes] | None = None
        self.write_acl(acl)

    def write_acl(self, acl: str | None) -> None:
        """Set the ACL file (None: no ACL); takes effect at the next (re)start."""
        if acl is None:
            self._acl.unlink(missing_ok=True)
        else:
            self._acl.write_text(acl)

    def _config(self) -> str:
        lines = [
            f"listener {self.port} {HOST}",
            *self._listener_options,
            "allow_anonymous true",
            f"persistence {'true' if self._persistent else 'false'}",
            f"persistence_location {self.directory}/",
            f"log_dest file {self.log}",
            "log_type all",
            # When run as root mosquitto drops to the `mosquitto` user, which cannot write here.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            # Keep QoS 1 messages for slow subscribers instead of dropping past 1000. Not 0
            # (unlimited): mosquitto 2.0.11 then drops a client after a 0x87 PUBACK.
            "max_queued_messages 1000000",
            # Deliver small packets at once, as fleet brokers (EMQX, HiveMQ) do by default.
            "set_tcp_nodelay true",
        ]
        if self._max_inflight is not None:
            lines.append(f"max_inflight_messages {self._max_inflight}")  # = Receive Maximum
        if self._max_packet_size is not None:  # a global option: no per-listener form
            lines.append(f"max_packet_size {self._max_packet_size}")  # sent in CONNACK
        if self._acl.exists():
            lines.append(f"acl_file {self._acl}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start mosquitto and wait until it accepts TCP connections."""
        assert MOSQUITTO is not None and self._process is None
        self._conf.write_text(self._config())
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self._conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        end = time.monotonic() + 10
        while not self._accepting():
            if self._process.poll() is not None or time.monotonic() > end:
                self._reap()
                raise RuntimeError(f"mosquitto did not start: {self.log_text()[-2000:]}")
            time.sleep(0.02)

    def _accepting(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (mosquitto saves persistence), then wait."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without closing anything."""
        self._signal(signal.SIGKILL)

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its ACL file without dropping clients."""
        assert self._process is not None
        self._conf.write_text(self._config())
        self._process.send_signal(signal.SIGHUP)

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def _signal(self, signum: int) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signum)
        self._reap()

    def _reap(self) -> None:
        assert self._process is not None
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def log_text(self) -> str:
        """What mosquitto logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Received:
    """One message as a subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool
    properties: Any


class Subscriber:
    """A paho MQTT 5 client that records every message it receives, for assertions."""

    def __init__(
        self, broker: Broker, topics: Sequence[str], *, session: bool = False, name: str = "sub"
    ) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topics = list(topics)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{name}-{os.getpid()}-{next(_client_numbers)}",
            protocol=mqtt.MQTTv5,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 1)
        properties = None
        if session:  # survive a broker restart: the broker queues what arrives meanwhile
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 3600
        # mosquitto 2.0.11 does not save a session begun with Clean Start, whatever its expiry.
        self._client.connect(
            broker.host, broker.port, clean_start=not session, properties=properties
        )
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise AssertionError("subscriber did not get its SUBACK")

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, _rc: Any, _p: Any) -> None:
        if not flags.session_present:
            client.subscribe([(topic, 1) for topic in self._topics])
        else:
            self._subscribed.set()

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, _rc: list[ReasonCode], _p: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        received = Received(message.topic, payload, bool(message.retain), message.properties)
        with self._lock:
            self.messages.append(received)

    def received(self, topic_part: str = "") -> list[Received]:
        """Messages so far whose topic contains `topic_part`."""
        with self._lock:
            return [m for m in self.messages if topic_part in m.topic]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0
    ) -> list[Received]:
        """Wait until `predicate(messages)` holds; return the messages, or fail the test."""
        end = time.monotonic() + timeout
        while True:
            messages = self.received()
            if predicate(messages):
                return messages
            if time.monotonic() > end:
                topics = [m.topic for m in messages[-10:]]
                raise AssertionError(f"timed out; {len(messages)} received, last: {topics}")
            time.sleep(0.02)

    def publish(self, topic: str, payload: bytes, properties: Properties | None = None) -> None:
        """Publish QoS 1 and wait for the PUBACK."""
        self._client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(10)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Gate:
    """A TCP relay in front of the broker that can stall or cut its clients' connections.

    Stalling (`hold`) leaves bytes unread, so a publisher's PUBLISH packets never reach the
    broker; cutting then closes everything, as a network outage would.
    """

    def __init__(self, broker: Broker) -> None:
        self.host = HOST
        self._upstream = (broker.host, broker.port)
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._flowing = threading.Event()
        self._flowing.set()
        self._refusing = False
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gate")
        self._thread.start()

    def hold(self) -> None:
        """Stop relaying bytes in both directions; connections stay open."""
        self._flowing.clear()

    def cut(self) -> None:
        """Close every relayed connection and refuse new ones until `open()`."""
        with self._lock:
            self._refusing = True
            self._drop_all()

    def open(self) -> None:
        """Accept and relay again."""
        with self._lock:
            self._refusing = False
        self._flowing.set()

    def close(self) -> None:
        """Stop the relay thread and close every socket."""
        self._closing = True
        self._thread.join()
        with self._lock:
            self._drop_all()
        self._selector.close()
        self._listener.close()

    def _run(self) -> None:
        while not self._closing:
            events = self._selector.select(timeout=0.05)
            with self._lock:
                for key, _mask in events:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peers and self._flowing.is_set():
                        self._relay(sock)
            if not self._flowing.is_set():
                time.sleep(0.02)  # data waits unread; don't spin on readable sockets

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        if self._refusing:
            client.close()
            return
        try:
            upstream = socket.create_connection(self._upstream, timeout=2)
        except OSError:
            client.close()
            return
        for one, other in ((client, upstream), (upstream, client)):
            one.setblocking(False)
            self._peers[one] = other
            self._selector.register(one, selectors.EVENT_READ)

    def _relay(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
            if data:
                self._peers[sock].setblocking(True)
                self._peers[sock].sendall(data)
                self._peers[sock].setblocking(False)
                return
        except OSError:
            pass
        self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for one in (sock, other):
            if one is not None:
                self._peers.pop(one, None)
                self._selector.unregister(one)
                one.close()

    def _drop_all(self) -> None:
        while self._peers:
            self._drop(next(iter(self._peers)))

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
