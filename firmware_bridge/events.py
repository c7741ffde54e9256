"""What the host link reports to the agent: link changes, inputs, outputs, latched SOS presses.

The link puts these on a queue from its own thread; the agent drains the queue and turns
them into its own events (tamper, power, mcu) for the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_bridge.codes import INPUT_BUTTON, INPUT_DOOR, INPUT_MAINS, INPUT_TAMPER, Caps
from firmware_bridge.messages import Inputs, OutputState, Welcome

RESET_CAUSES = ("power_on", "mcu_watchdog", "brownout", "other")
PI_POWER_CAUSES = ("never", "watchdog", "shutdown")


@dataclass(frozen=True)
class FirmwareInfo:
    """What the MCU said about itself in WELCOME."""

    protocol: str
    firmware: str
    caps: Caps
    reset_cause: str
    pi_power_cause: str
    watchdog_fires: int
    uptime_s: float

    @classmethod
    def from_welcome(cls, welcome: Welcome) -> FirmwareInfo:
        """Readable names for the WELCOME fields."""
        return cls(
            protocol=f"{welcome.proto_major}.{welcome.proto_minor}",
            firmware=f"{welcome.fw_major}.{welcome.fw_minor}.{welcome.fw_patch}",
            caps=Caps(welcome.caps & 0x3FFF),
            reset_cause=_name(RESET_CAUSES, welcome.reset_cause),
            pi_power_cause=_name(PI_POWER_CAUSES, welcome.pi_power_cause),
            watchdog_fires=welcome.watchdog_fires,
            uptime_s=welcome.uptime_ms / 1000,
        )


def _name(names: tuple[str, ...], index: int) -> str:
    return names[index] if index < len(names) else f"unknown({index})"


@dataclass(frozen=True)
class LinkUp:
    """The handshake succeeded; the MCU is talking."""

    firmware: FirmwareInfo


@dataclass(frozen=True)
class LinkDown:
    """The link was lost: port gone, heartbeats missed, MCU restarted or incompatible."""

    reason: str


@dataclass(frozen=True)
class InputChanged:
    """One input has a new value: tamper, door, button, mains (bool), battery_v,
    temperature_c (float) or faults (int bit mask, see `messages.Fault`)."""

    name: str
    value: bool | float | int


@dataclass(frozen=True)
class OutputsReported:
    """The output modes the MCU says are in force."""

    outputs: OutputState


@dataclass(frozen=True)
class LatchedSos:
    """SOS presses the MCU kept while the host did not hear them; raise an alarm."""

    presses: int
    age_s: float


@dataclass(frozen=True)
class CommandFailed:
    """A command was rejected by the MCU, given up after retries, or dropped with the link."""

    command: str
    reason: str


@dataclass(frozen=True)
class PongReceived:
    """The answer to `ping()`, with the measured round trip."""

    token: int
    rtt_s: float


@dataclass(frozen=True)
class StatsReported:
    """The MCU's own counters, answering `request_stats()`."""

    counters: dict[str, int]


def inputs_by_name(message: Inputs) -> dict[str, bool | float | int]:
    """An INPUTS snapshot as the names `InputChanged` uses."""
    return {
        "tamper": bool(message.bits & INPUT_TAMPER),
        "door": bool(message.bits & INPUT_DOOR),
        "button": bool(message.bits & INPUT_BUTTON),
        "mains": bool(message.bits & INPUT_MAINS),
        "battery_v": message.battery_mv / 1000,
        "temperature_c": message.temperature_dc / 10,
        "faults": message.faults,
    }


McuEvent = (
    LinkUp
    | LinkDown
    | InputChanged
    | OutputsReported
    | LatchedSos
    | CommandFailed
    | PongReceived
    | StatsReported
)


@dataclass(frozen=True)
class LinkStatus:
    """A snapshot of the link for `edge-agent status` and selftest; `inputs` holds the
    `InputChanged` names plus `presses`, the MCU's count of SOS button presses."""

    up: bool = False
    port_open: bool = False
    firmware: FirmwareInfo | None = None
    inputs: dict[str, bool | float | int] = field(default_factory=dict)
    outputs: OutputState | None = None
    counters: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    last_down_reason: str = ""
