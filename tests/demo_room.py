"""`make demo`'s narration: headings, CLI commands as typed, and the control room's screen.

The control room is an independent MQTT subscriber on the device's whole topic tree; it
prints every message as it arrives (media as topic and size, not bytes) and publishes the
operator's commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.broker import Broker, Received, Subscriber
from tests.daemon import ROOT

PREFIX = "ssz/v1/lab/pole-test"
Until = str | Callable[[Received], bool]


def say(text: str) -> None:
    """A narration line."""
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def cli(config: Path, *args: str) -> None:
    """Run `edge-agent ARGS --config CONFIG` and show it as a technician would type it."""
    print(f"$ edge-agent {' '.join(args)}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "agent", *args, "--config", str(config)], cwd=ROOT, check=False
    )


def show(message: Received) -> None:
    """One message as the control room receives it; a media file as its topic and size."""
    retained = " (retained)" if message.retain else ""
    if "/media/" in message.topic:
        size = f"{len(message.payload):,} bytes"
        print(f"  control room <- {message.topic}{retained}  [{size}]", flush=True)
        return
    try:
        body = json.dumps(json.loads(message.payload), ensure_ascii=False)
    except ValueError:
        body = repr(message.payload)
    print(f"  control room <- {message.topic}{retained}\n     {body}", flush=True)


def matches(message: Received, until: Until) -> bool:
    """Whether `message` is the one awaited: its payload contains a text, or a test passes."""
    if isinstance(until, str):
        return until in message.payload.decode(errors="replace")
    return until(message)


class Room:
    """The control room: prints what arrives and answers the alarm."""

    def __init__(self, broker: Broker) -> None:
        self.sub = Subscriber(broker, [f"{PREFIX}/#"], name="control-room")
        self.shown = 0

    def follow(self, until: Until, timeout: float = 10.0) -> Received:
        """Print messages until one that `until` matches; return it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            messages = self.sub.received()
            for message in messages[self.shown :]:
                self.shown += 1
                if "/cmd/" in message.topic and not message.topic.endswith("/result"):
                    continue  # the room's own commands, echoed by the broker
                show(message)
                if matches(message, until):
                    return message
            time.sleep(0.05)
        raise TimeoutError(f"nothing matching {until!r} arrived")

    def follow_event(self, until: Until, timeout: float = 10.0) -> dict[str, object]:
        """`follow`, then the matching message's JSON payload."""
        found: dict[str, object] = json.loads(self.follow(until, timeout).payload)
        return found

    def command(self, name: str, body: dict[str, object]) -> None:
        """Publish a command as the control room's operator console would."""
        print(f"  control room -> {PREFIX}/cmd/{name} {json.dumps(body)}", flush=True)
        self.sub.publish(f"{PREFIX}/cmd/{name}", json.dumps(body).encode())
