"""The composition root: builds every part from the configuration and runs the daemon.

Read this module as the table of contents: what exists, who talks to whom, in which order
things start and stop. Nothing else imports sideways.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from agent import __version__, config, handlers, systemd
from agent.alarm import AllIndicators
from agent.control import ControlServer
from agent.control_room import ControlRoom, document_of, sos_timing, start_config
from agent.errors import StorageError
from agent.events import PRIORITY_FAULT, Event
from agent.gpio import Pins
from agent.mcu import Mcu
from agent.outbox import Outbox
from agent.publisher import Incoming, Publisher
from agent.remote import Request, subscriptions
from agent.sos import Sos

if TYPE_CHECKING:
    from agent.sightings import Sightings

log = logging.getLogger(__name__)

TICK_S = 1.0
PURGE_EVERY_S = 3600.0
STATUS_EVERY_S = 10.0
EXIT_THREAD_DIED = 70  # EX_SOFTWARE: Restart=always starts a clean process


def run(cfg: config.Config, *, local: dict[str, Any] | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT (or a restart); returns the process exit code.

    `local` is the config file as plain data: remote configuration layers merge over it.
    """
    with _storage_lock(cfg.storage.dir):
        agent = Agent(cfg, local=local)
        agent.start()
        try:
            agent.serve()
        finally:
            agent.shutdown()
    return agent.exit_code


class Agent:
    """Every part of the running daemon, wired together."""

    def __init__(self, cfg: config.Config, *, local: dict[str, Any] | None = None) -> None:
        local = document_of(cfg) if local is None else local
        cfg = self.cfg = start_config(cfg, local)  # the file with the remote layer over it
        self.exit_code = 0
        self.stop = threading.Event()
        self.started = time.time()
        self.requests: queue.Queue[Request] = queue.Queue(maxsize=1000)
        self.outbox = Outbox.open(
            cfg.database,
            device=cfg.device.id,
            site=cfg.device.site,
            max_bytes=cfg.storage.max_bytes,
            retention_s=cfg.storage.retention_days * 86400,
            on_added=lambda: self.publisher.wake(),
        )
        self.pins = Pins(
            factory_name=cfg.gpio.pin_factory,
            button_pin=cfg.sos.pin,
            registered_pin=cfg.sos.registered_led_pin,
            acknowledged_pin=cfg.sos.acknowledged_led_pin,
            on_edge=lambda pressed, at: self.sos.edge(pressed, at),
        )
        self.mcu = self._build_mcu() if cfg.mcu.port else None
        self.sos = Sos(
            store=self.outbox,
            indicators=AllIndicators(self.pins, *([self.mcu.outputs] if self.mcu else [])),
            stop=self.stop,
            timing=sos_timing(cfg.sos),
        )
        self.vision = self._build_vision() if cfg.vision.enabled else None
        self.publisher = self._publisher(cfg.mqtt)
        self.control = ControlServer(
            path=cfg.control.socket, group=cfg.control.group, handlers=handlers.table(self)
        )
        self.room = ControlRoom(agent=self, local=local)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start every thread; report a recovered database; tell systemd we are ready."""
        if self.outbox.recovered_from is not None:
            self.outbox.add(
                Event(
                    kind="storage",
                    priority=PRIORITY_FAULT,
                    phase="info",
                    data={
                        "problem": "corrupt database moved aside",
                        "moved_to": str(self.outbox.recovered_from),
                    },
                )
            )
        self.sos.start()
        if self.vision is not None:
            self.vision.start()
        if self.mcu is not None:
            self.mcu.start()
        self.publisher.start()
        self.room.start()
        self.control.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        systemd.ready(f"boot {self.outbox.boot}, {self.cfg.prefix}")
        log.info(
            "edge-agent %s started: boot %d, %s", __version__, self.outbox.boot, self.cfg.prefix
        )

    def serve(self) -> None:
        """The main loop: commands from MQTT, the watchdog, housekeeping."""
        interval = systemd.watchdog_interval()
        beat = min(TICK_S, interval / 2) if interval else TICK_S
        next_purge = next_status = 0.0
        while not self.stop.is_set():
            with contextlib.suppress(queue.Empty):
                self.room.handle(self.requests.get(timeout=beat))
            self.room.tick()
            if self.vision is not None:
                self.vision.tick()
            dead = [name for name, alive in self.threads().items() if not alive]
            if dead and not self.stop.is_set():  # threads end on purpose when stopping
                # A dead thread would silently stop alarms or deliveries: exit now and let
                # systemd start a clean process (the alarm latch survives in SQLite).
                log.critical("thread(s) %s stopped; exiting for a restart", ", ".join(dead))
                self.exit_code = EXIT_THREAD_DIED
                break
            systemd.watchdog()
            now = time.monotonic()
            if now >= next_status:
                systemd.status(self._status_line())
                next_status = now + STATUS_EVERY_S
            if now >= next_purge:
                self.outbox.purge_delivered()
                next_purge = now + PURGE_EVERY_S

    def shutdown(self) -> None:
        """Stop in reverse order of dependence; publish `stopped` last."""
        systemd.stopping()
        self.stop.set()
        self.control.stop()
        if self.vision is not None:
            self.vision.close()
        self.sos.join()
        if self.mcu is not None:
            self.mcu.close()
        self.publisher.stop()
        self.pins.close()
        self.outbox.close()
        log.info("edge-agent stopped")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop.set()

    def _build_mcu(self) -> Mcu:
        # An SOS the MCU latched while the Pi was down is raised like a press (source "mcu").
        return Mcu(
            config=self.cfg.mcu,
            store=self.outbox,
            stop=self.stop,
            on_latched=lambda presses, age_s: self.sos.raise_from(
                "mcu", presses=presses, details={"latched_age_s": round(age_s, 1)}
            ),
            alarm_active=lambda: bool(self.sos.state()["active"]),
        )

    def _build_vision(self) -> Sightings:
        # Imported here: the vision extra (numpy, OpenCV, LiteRT) is needed only when enabled.
        from agent.sightings import Sightings  # noqa: PLC0415

        cfg = self.cfg
        return Sightings(
            vision=cfg.vision,
            cameras=cfg.cameras,
            store=self.outbox,
            alarm=self.sos.state,
            attach=self.sos.attach,
        )

    # --- MQTT commands -----------------------------------------------------------------------

    def _incoming(self, message: Incoming) -> None:
        request = Request(
            message.topic, message.payload, message.response_topic, message.correlation_data
        )
        try:
            self.requests.put_nowait(request)
        except queue.Full:
            self.room.remote.count("dropped")
            log.debug("request queue full; dropping %s", message.topic)

    def _publisher(self, mqtt: config.MqttConfig) -> Publisher:
        cfg = self.cfg
        return Publisher(
            config=mqtt,
            prefix=cfg.prefix,
            outbox=self.outbox,
            boot=self.outbox.boot,
            client_id=mqtt.client_id or f"edge-agent-{cfg.device.site}-{cfg.device.id}",
            version=__version__,
            subscriptions=subscriptions(cfg.prefix),
            on_message=self._incoming,
        )

    def switch_broker(self, mqtt: config.MqttConfig) -> None:
        """Replace the broker connection (a remote change, tried and reverted by the rollout)."""
        old, self.publisher = self.publisher, self._publisher(mqtt)
        old.stop(final=False)  # rows it had in flight stay pending and go out on the new link
        self.publisher.start()

    # --- the control socket ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Everything `edge-agent status` shows."""
        return handlers.status(self)

    def threads(self) -> dict[str, bool]:
        """Whether each thread is alive."""
        alive = {
            "sos": self.sos.alive(),
            "publisher": self.publisher.alive(),
            "control": self.control.alive(),
        }
        if self.mcu is not None:
            alive["mcu"] = self.mcu.alive()
        if self.vision is not None:  # its child is restarted by this thread, not by exiting
            alive["vision"] = self.vision.alive()
        return alive

    def devices(self) -> dict[str, dict[str, Any]]:
        """The optional devices' state, for status and telemetry."""
        devices = {} if self.mcu is None else {"mcu": self.mcu.status()}
        return devices if self.vision is None else {**devices, "vision": self.vision.health()}

    def device_checks(self) -> dict[str, tuple[bool, str]]:
        """The optional devices' part of `selftest`."""
        checks = {} if self.mcu is None else {"mcu": self.mcu.check()}
        return checks if self.vision is None else {**checks, **self.vision.checks()}

    def _status_line(self) -> str:
        link = "online" if self.publisher.link().get("connected") else "offline"
        stats = self.outbox.stats().to_dict()
        alarm = "ALARM" if self.sos.state()["active"] else "idle"
        return f"broker {link}, {stats.get('pending', 0)} pending, SOS {alarm}"


@contextlib.contextmanager
def _storage_lock(directory: Path) -> Iterator[IO[str]]:
    """One daemon per state directory: a second one would be a second SQLite writer."""
    directory.mkdir(mode=0o750, parents=True, exist_ok=True)
    with open(directory / "lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StorageError(f"another edge-agent is using {directory}") from None
        yield handle
