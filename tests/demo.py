"""`make demo`: the daemon on a laptop, an SOS pressed, and what the control room sees.

Runs the real `edge-agent run` with simulated GPIO and SQLite in a temporary folder, a local
mosquitto on a free port when one is installed, and an independent MQTT subscriber standing
in for the control room. Without mosquitto it shows the alarm waiting in the outbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.broker import MOSQUITTO, Broker, Received, Subscriber, free_port
from tests.daemon import ROOT, Daemon, write_config

PREFIX = "ssz/v1/lab/pole-test"


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
    """One message as the control room receives it."""
    try:
        body = json.dumps(json.loads(message.payload), ensure_ascii=False)
    except ValueError:
        body = repr(message.payload)
    retained = " (retained)" if message.retain else ""
    print(f"  control room <- {message.topic}{retained}\n     {body}", flush=True)


class Room:
    """The control room: prints what arrives and answers the alarm."""

    def __init__(self, broker: Broker) -> None:
        self.sub = Subscriber(broker, [f"{PREFIX}/#"], name="control-room")
        self.shown = 0

    def follow(self, until: str, timeout: float = 10.0) -> dict[str, object]:
        """Print messages until one whose payload contains `until`; return it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            messages = self.sub.received()
            for message in messages[self.shown :]:
                self.shown += 1
                if "/cmd/" in message.topic and not message.topic.endswith("/result"):
                    continue  # the room's own commands, echoed by the broker
                show(message)
                if until in message.payload.decode(errors="replace"):
                    found: dict[str, object] = json.loads(message.payload)
                    return found
            time.sleep(0.05)
        raise TimeoutError(f"nothing with {until!r} arrived")

    def command(self, name: str, body: dict[str, object]) -> None:
        """Publish a command as the control room's operator console would."""
        print(f"  control room -> {PREFIX}/cmd/{name} {json.dumps(body)}", flush=True)
        self.sub.publish(f"{PREFIX}/cmd/{name}", json.dumps(body).encode())


def with_broker(folder: Path) -> None:
    """The whole cycle through a local mosquitto."""
    broker = Broker(folder / "broker")
    broker.start()
    room = Room(broker)
    config = write_config(folder / "agent", port=broker.port, resend_s=5.0)
    daemon = Daemon(config)
    try:
        say("Starting the daemon (simulated GPIO, SQLite, local mosquitto)")
        daemon.start()
        room.follow('"online"')
        say("A citizen presses the SOS button (edge-agent sim press drives the GPIO pin)")
        cli(config, "sim", "press", "--hold", "0.3")
        alarm = room.follow('"phase":"new"')
        say("Nobody has answered yet: the alarm is re-sent every sos.resend_s (5 s here)")
        room.follow('"resend":true', timeout=8)
        say("The operator acknowledges: the caller's green lamp lights")
        room.command("sos_ack", {"id": alarm["id"], "by": "operator-7"})
        room.follow('"acked":true')
        cli(config, "status")
        say("Help has arrived; the control room ends the alarm")
        room.command("sos_reset", {"id": alarm["id"], "by": "operator-7"})
        room.follow('"phase":"end"')
        say("The technician's view of the history")
        cli(config, "events", "--kind", "sos")
        say("Stopping the daemon: the retained status says 'stopped'")
        daemon.stop()
        room.follow('"stopped"')
    finally:
        daemon.__exit__()
        room.sub.close()
        broker.stop()


def without_broker(folder: Path) -> None:
    """No mosquitto here: the alarm is stored and waits in the outbox, as on a cut-off pole."""
    config = write_config(folder / "agent", port=free_port())
    with Daemon(config) as daemon:
        say("mosquitto is not installed: the daemon runs with its broker unreachable")
        cli(config, "sim", "press", "--hold", "0.3")
        time.sleep(0.5)
        say("The alarm is durable in SQLite, waiting for the link to come back")
        cli(config, "events", "--pending")
        cli(config, "status")
        daemon.stop()
    print("\nInstall mosquitto (apt-get install mosquitto) to see the control room's side.")


def main() -> int:
    """Run the demo in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-demo-") as folder:
        if MOSQUITTO is None:
            without_broker(Path(folder))
        else:
            with_broker(Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
