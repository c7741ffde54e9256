"""The control socket's requests: what the technician CLI asks the running daemon
(`status`, `sos test`, `sos reset`, `sim press`, `mcu`, `selftest`, `camera snapshot`,
`camera aim`)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from agent import __version__
from agent.config import Config
from agent.control_room import ControlRoom
from agent.errors import CommandError
from agent.events import Event, clock_synchronised
from agent.gpio import Pins
from agent.mcu import Mcu
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.sos import Sos

if TYPE_CHECKING:
    from agent.sightings import Sightings

KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # an event kind is a topic level


class Parts(Protocol):
    """The parts of the agent the control socket's requests read and drive."""

    cfg: Config
    started: float
    outbox: Outbox
    pins: Pins
    sos: Sos
    publisher: Publisher
    room: ControlRoom
    mcu: Mcu | None
    vision: Sightings | None

    def threads(self) -> dict[str, bool]: ...


def table(agent: Parts) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """The control socket's request names and what answers each."""
    return {
        "status": lambda args: status(agent),
        "sos_test": lambda args: agent.sos.test(_text(args, "by", "technician")),
        "sos_reset": lambda args: agent.sos.reset(
            args.get("id"), _text(args, "by", "technician"), "technician"
        ),
        "sim_press": lambda args: _sim_press(agent, args),
        "config_rollback": lambda args: agent.room.rollback(args),
        "mcu_status": lambda args: _need_mcu(agent).status(),
        "mcu_set": lambda args: _need_mcu(agent).outputs.set(args),
        "sim_events": lambda args: _sim_events(agent, args),
        "selftest": lambda args: agent.room.telemetry.selftest(),
        "camera_snapshot": lambda args: _camera_snapshot(agent, args),
        "camera_aim": lambda args: _camera_aim(agent, args),
    }


def status(agent: Parts) -> dict[str, Any]:
    """Everything `edge-agent status` shows."""
    disk = shutil.disk_usage(agent.cfg.storage.dir)
    return {
        "device": agent.cfg.device.id,
        "site": agent.cfg.device.site,
        "prefix": agent.cfg.prefix,
        "version": __version__,
        "boot": agent.outbox.boot,
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "uptime_s": round(time.time() - agent.started, 1),
        "broker": {
            "host": agent.cfg.mqtt.host,
            "port": agent.cfg.mqtt.port,
            **agent.publisher.link(),
        },
        "outbox": agent.outbox.stats().to_dict(),
        "sos": agent.sos.state(),
        "mcu": agent.mcu.status() if agent.mcu is not None else None,
        "vision": agent.vision.health() if agent.vision is not None else None,
        "gpio": {
            "pin_factory": agent.cfg.gpio.pin_factory,
            "button_pin": agent.cfg.sos.pin,
            "pressed": agent.pins.is_pressed(),
            "indicators": agent.pins.indicators(),
        },
        "clock_synced": clock_synchronised(),
        "disk": {
            "path": str(agent.cfg.storage.dir),
            "free_bytes": disk.free,
            "total_bytes": disk.total,
        },
        "threads": agent.threads(),
        "remote": agent.room.status(),
    }


def _need_mcu(agent: Parts) -> Mcu:
    if agent.mcu is None:
        raise CommandError("no MCU on this device: [mcu] port is not set")
    return agent.mcu


def _camera_snapshot(agent: Parts, args: dict[str, Any]) -> dict[str, Any]:
    if agent.vision is None:
        raise CommandError("vision is off on this device: [vision] enabled = false")
    camera = None if args.get("camera") is None else _text(args, "camera", "")
    reply = agent.vision.snapshot(camera)
    about = {key: reply[key] for key in ("camera", "ts", "faces", "size")}
    return {**about, "jpeg": base64.b64encode(reply["jpeg"]).decode()}


def _camera_aim(agent: Parts, args: dict[str, Any]) -> dict[str, Any]:
    if agent.vision is None:
        raise CommandError("vision is off on this device: [vision] enabled = false")
    camera = None if args.get("camera") is None else _text(args, "camera", "")
    return {"cameras": agent.vision.aim(camera)}


def _sim_press(agent: Parts, args: dict[str, Any]) -> dict[str, Any]:
    hold = args.get("hold", 0.2)
    if not isinstance(hold, int | float) or not 0 < hold <= 30:
        raise CommandError(f"hold must be a number of seconds in (0, 30], got {hold!r}")
    edge = agent.pins.simulate_press(float(hold))
    return {"pressed_s": hold, "pin": agent.cfg.sos.pin, "edge_monotonic": edge}


def _sim_events(agent: Parts, args: dict[str, Any]) -> dict[str, Any]:
    """Store synthetic events (simulation only): demos and black-box tests."""
    if agent.cfg.gpio.pin_factory != "mock":
        raise CommandError("sim events needs gpio.pin_factory = 'mock'")
    count, priority = args.get("count", 1), args.get("priority", 2)
    kind = _text(args, "kind", "sim")
    if not KIND.match(kind):
        raise CommandError(f"kind must match {KIND.pattern}, got {kind!r}")
    if not isinstance(count, int) or not 1 <= count <= 100_000:
        raise CommandError(f"count must be an integer in 1..100000, got {count!r}")
    if not isinstance(priority, int) or not 1 <= priority <= 3:
        raise CommandError(f"priority must be 1, 2 or 3, got {priority!r}")
    ids = [
        agent.outbox.add(Event(kind=kind, priority=priority, data={"n": n})).id
        for n in range(count)
    ]
    return {"ids": ids}


def _text(args: dict[str, Any], key: str, default: str) -> str:
    value = args.get(key, default)
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not value.isprintable():
        raise CommandError(f"{key} must be a printable string of 1..128 characters")
    return value
