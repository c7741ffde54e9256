"""A control room for tests: MQTT 5 requests with a response topic and correlation data."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.broker import Broker, Received, Subscriber
from tests.daemon import Daemon, write_config

PREFIX = "ssz/v1/lab/pole-test"


def answer_to(messages: list[Received], correlation: bytes) -> dict[str, Any] | None:
    """The reply carrying `correlation`, if it has arrived."""
    for message in messages:
        correlated = getattr(message.properties, "CorrelationData", None) == correlation
        if correlated and message.topic.startswith("replies/"):  # not the request's echo
            found: dict[str, Any] = json.loads(message.payload)
            return found
    return None


class Room(Subscriber):
    """A subscriber to everything of the device that also sends requests and waits for replies."""

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker, [f"{PREFIX}/#", "replies/#"], name="room")

    def send(
        self, topic: str, body: dict[str, Any] | bytes, *, response: str | None = "replies/x"
    ) -> bytes:
        """Publish a request; returns its correlation data."""
        correlation = os.urandom(8)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if response is not None:
            props.ResponseTopic = response
            props.CorrelationData = correlation
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.publish(f"{PREFIX}/{topic}", payload, props)
        return correlation

    def request(
        self, topic: str, body: dict[str, Any] | bytes, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Publish a request and wait for its reply."""
        correlation = self.send(topic, body)
        messages = self.wait_for(lambda ms: answer_to(ms, correlation) is not None, timeout)
        found = answer_to(messages, correlation)
        assert found is not None
        return found

    def command(self, name: str, **body: Any) -> dict[str, Any]:
        """Run a command and return its reply."""
        return self.request(f"cmd/{name}", body)

    def desired(self, version: Any, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Offer a desired configuration and return the report."""
        return self.request("config/desired", {"version": version, "config": config, **extra})

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Events of one kind received so far."""
        found = [json.loads(m.payload) for m in self.received(f"{PREFIX}/event/{kind}")]
        return [e for e in found if e["kind"] == kind]


def wait_online(daemon: Daemon, timeout: float = 15.0) -> None:
    """Until the daemon reports a broker connection."""
    end = time.monotonic() + timeout
    while not daemon.call("status")["broker"].get("connected"):
        assert time.monotonic() < end, "the daemon did not connect"
        time.sleep(0.05)


def wait_status(
    daemon: Daemon, check: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> dict[str, Any]:
    """Until `check(status)` holds; returns that status."""
    end = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = daemon.call("status")
        if check(status):
            return status
        assert time.monotonic() < end, f"status never matched: {status.get('remote')}"
        time.sleep(0.05)


@contextmanager
def running(
    directory: Path, broker: Broker, *, extra: str = "", **sos: Any
) -> Iterator[tuple[Daemon, Room]]:
    """A daemon connected to `broker` and a control room watching it."""
    with (
        Room(broker) as room,
        Daemon(write_config(directory, port=broker.port, extra=extra, **sos)) as daemon,
    ):
        wait_online(daemon)
        room.wait_for(lambda ms: any(m.topic.endswith("/config/reported") for m in ms))
        yield daemon, room
