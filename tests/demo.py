"""`make demo`: the daemon on a laptop, an SOS pressed, and what the control room sees.

Runs the real `edge-agent run` with simulated GPIO and SQLite in a temporary folder, a local
mosquitto on a free port when one is installed, and an independent MQTT subscriber standing
in for the control room. Without mosquitto it shows the alarm waiting in the outbox. Then
tests/demo_vision.py plays a sample clip through the vision pipeline.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests import demo_vision
from tests.broker import MOSQUITTO, Broker, free_port
from tests.daemon import Daemon, write_config
from tests.demo_room import Room, cli, say


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
        alarm = room.follow_event('"phase":"new"')
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
            print("With it, the demo also plays a sample clip through the vision pipeline.")
        else:
            with_broker(Path(folder))
            demo_vision.run(Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
