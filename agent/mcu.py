"""The post's microcontroller as the agent sees it: link events in, outbox events out.

`McuLink` (firmware_bridge) owns the serial port and its thread. `Mcu` owns the link and one
thread that drains `link.events` into the outbox, hands SOS presses the MCU latched while
the Pi was down to the alarm, and drives the MCU's outputs (`mcu_outputs`). Every event is
priority 1; its `data` fields:

- `tamper`, `door`: `{"open": bool}`; phase `new` when it opens, `end` when it closes.
- `power` (phase `info`): `{"change": "mains" | "battery" | "shutdown", "mains": bool,
  "battery_v": float, "battery": "ok" | "low" | "critical", "temperature_c": float}`;
  `shutdown` adds `delay_s` and `min_off_s`.
- `mcu` (phase `info`), by `data.event`: `link_up` (`port`, `firmware`, `protocol`,
  `reset_cause`, `pi_power_cause`, `watchdog_fires`, `mcu_uptime_s`), `link_down` (`port`,
  `reason`), `faults` (`faults`, `raised`, `cleared`: fault names), `command_failed`
  (`command`, `reason`).

The first input snapshot after the agent starts is a baseline: only what is abnormal in it
(open, no mains, low battery, faults) is reported.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from agent.config import McuConfig
from agent.events import PRIORITY_FAULT, Event
from agent.mcu_outputs import McuOutputs, mode_names
from firmware_bridge import (
    CommandFailed,
    Fault,
    FirmwareInfo,
    InputChanged,
    LatchedSos,
    LinkConfig,
    LinkDown,
    LinkUp,
    McuEvent,
    McuLink,
    PongReceived,
)

log = logging.getLogger(__name__)

TICK_S = 0.5
DISARM_WAIT_S = 2.0
# How long the MCU may stay silent after the agent starts before that is reported.
FIRST_ANSWER_S = 10.0


class Store(Protocol):
    """The outbox as the MCU sees it."""

    def add(self, event: Event, *, state: dict[str, Any] | None = None) -> object: ...


def battery_state(volts: float, previous: str, config: McuConfig) -> str:
    """`ok`, `low` or `critical`; a state is left upwards only `hysteresis` above its line."""
    low, critical, margin = (
        config.battery_low_v,
        config.battery_critical_v,
        config.battery_hysteresis_v,
    )
    if volts <= critical or (previous == "critical" and volts < critical + margin):
        return "critical"
    if volts <= low or (previous in ("low", "critical") and volts < low + margin):
        return "low"
    return "ok"


def fault_names(bits: int) -> list[str]:
    """The MCU's fault bit mask as names (`brownout`, `siren_driver`, ...)."""
    return [str(fault.name).lower() for fault in Fault if bits & fault]


class Mcu:
    """Owns the MCU link: its events become outbox events; it shows the alarm's state."""

    def __init__(
        self,
        *,
        config: McuConfig,
        store: Store,
        stop: threading.Event,
        on_latched: Callable[[int, float], None],
        alarm_active: Callable[[], bool],
        link: McuLink | None = None,
    ) -> None:
        assert config.port is not None, "the MCU is only built when [mcu] port is set"
        self._config = config
        self._port = config.port
        self._store = store
        self._stop = stop
        self._on_latched = on_latched
        self._alarm_active = alarm_active
        self._link = link or McuLink(
            config.port,
            baudrate=config.baudrate,
            config=LinkConfig(
                heartbeat_s=config.heartbeat_s,
                missed_heartbeats=config.missed_heartbeats,
                watchdog_s=config.watchdog_s,
            ),
        )
        self._inputs: dict[str, bool | float | int] = {}
        self._battery = "ok"
        self._faults = 0
        self._shutdown_asked = False
        self._ever_up = self._silence_reported = False
        self._pong = threading.Event()
        self._rtt_s = 0.0
        self._started = time.monotonic()
        self.outputs = McuOutputs(link=self._link, config=config)
        self._thread = threading.Thread(target=self._run, name="mcu")

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the link and the thread that drains its events."""
        self._started = time.monotonic()
        self._link.start()
        self._thread.start()

    def close(self) -> None:
        """After the stop event: disarm the watchdog (a clean stop is no hang), stop the link."""
        self._thread.join()
        if self._config.watchdog_s and self._link.status().up:
            self._link.set_watchdog(0)
            # The ping travels behind SET_WATCHDOG: its answer means the MCU has it.
            if self._ping(DISARM_WAIT_S, drain=True):
                log.info("disarmed the MCU's watchdog for a clean stop")
        self._link.stop()

    def alive(self) -> bool:
        """Whether both the link thread and the event thread are running."""
        return self._thread.is_alive() and self._link.alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                event = self._next_event(TICK_S)
                if event is not None:
                    self._handle(event)
                self._check_first_answer()
                self._check_shutdown()
        except Exception:
            log.exception("the MCU event thread failed")
            raise

    # --- what the MCU reports ----------------------------------------------------------------

    def _handle(self, event: McuEvent) -> None:
        if isinstance(event, LinkUp):
            self._on_link_up(event.firmware)
        elif isinstance(event, LinkDown):
            log.warning("MCU link down: %s", event.reason)
            self._report("link_down", port=self._port, reason=event.reason)
        elif isinstance(event, InputChanged):
            self._on_input(event.name, event.value)
        elif isinstance(event, LatchedSos):
            log.warning("the MCU latched %d SOS press(es) %.1f s ago", event.presses, event.age_s)
            self._on_latched(event.presses, event.age_s)
        elif isinstance(event, CommandFailed):
            self._on_failed(event)
        elif isinstance(event, PongReceived):
            self._rtt_s = event.rtt_s
            self._pong.set()

    def _on_link_up(self, firmware: FirmwareInfo) -> None:
        self._ever_up = True
        log.info("MCU link up: firmware %s, protocol %s", firmware.firmware, firmware.protocol)
        self._report(
            "link_up",
            port=self._port,
            firmware=firmware.firmware,
            protocol=firmware.protocol,
            reset_cause=firmware.reset_cause,
            pi_power_cause=firmware.pi_power_cause,
            watchdog_fires=firmware.watchdog_fires,
            mcu_uptime_s=round(firmware.uptime_s, 1),
        )

    def _on_input(self, name: str, value: bool | float | int) -> None:
        first = name not in self._inputs
        self._inputs[name] = value
        if name in ("tamper", "door") and (value or not first):
            self._add(name, "new" if value else "end", {"open": bool(value)})
        elif name == "mains" and (not value or not first):
            self._power("mains")
        elif name == "battery_v":
            state = battery_state(float(value), self._battery, self._config)
            if state != self._battery:
                self._battery = state
                self._power("battery")
        elif name == "faults" and int(value) != self._faults:
            old, self._faults = self._faults, int(value)
            self._report(
                "faults",
                faults=fault_names(self._faults),
                raised=fault_names(self._faults & ~old),
                cleared=fault_names(old & ~self._faults),
            )
        # `button` mirrors the GPIO button (the alarm's own input); `temperature_c` is status.

    def _on_failed(self, event: CommandFailed) -> None:
        log.warning("MCU command %s failed: %s", event.command, event.reason)
        if event.command == "shutdown" and event.reason == "link down":
            self._shutdown_asked = False  # asked again when the link is back
        self._report("command_failed", command=event.command, reason=event.reason)

    def _check_first_answer(self) -> None:
        if self._ever_up or self._silence_reported:
            return
        if time.monotonic() - self._started >= FIRST_ANSWER_S:
            self._silence_reported = True
            opened = self._link.status().port_open
            reason = "no answer from the MCU" if opened else f"cannot open {self._port}"
            log.warning("MCU link down since start: %s", reason)
            self._report("link_down", port=self._port, reason=reason)

    # --- power -------------------------------------------------------------------------------

    def _check_shutdown(self) -> None:
        if self._battery != "critical" or self._inputs.get("mains") is not False:
            self._shutdown_asked = False
            return
        if self._shutdown_asked or not self._link.status().up or self._alarm_active():
            return  # an SOS alarm outranks the battery: it waits (DESIGN §3.4)
        self._shutdown_asked = True
        delay, off = self._config.shutdown_delay_s, self._config.shutdown_min_off_s
        self._link.request_shutdown(delay_s=delay, min_off_s=off)
        log.warning("battery critical on no mains: the MCU cuts the Pi's power in %d s", delay)
        self._power("shutdown", delay_s=delay, min_off_s=off)

    def _power(self, change: str, **extra: Any) -> None:
        inputs = {**self._link.status().inputs, **self._inputs}
        data = {
            "change": change,
            "mains": inputs.get("mains"),
            "battery_v": inputs.get("battery_v"),
            "battery": self._battery,
            "temperature_c": inputs.get("temperature_c"),
            **extra,
        }
        self._add("power", "info", data)

    def _report(self, what: str, **data: Any) -> None:
        self._add("mcu", "info", {"event": what, **data})

    def _add(self, kind: str, phase: str, data: Mapping[str, Any]) -> None:
        self._store.add(Event(kind=kind, priority=PRIORITY_FAULT, phase=phase, data=data))

    # --- status and self-test ----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The MCU for `edge-agent status`, `mcu status` and telemetry."""
        link = self._link.status()
        firmware = link.firmware
        return {
            "port": self._port,
            "up": link.up,
            "port_open": link.port_open,
            "firmware": firmware.firmware if firmware else None,
            "protocol": firmware.protocol if firmware else None,
            "reset_cause": firmware.reset_cause if firmware else None,
            "pi_power_cause": firmware.pi_power_cause if firmware else None,
            "watchdog_fires": firmware.watchdog_fires if firmware else None,
            "watchdog_s": self._config.watchdog_s,
            "inputs": dict(link.inputs),
            "battery": self._battery,
            "faults": fault_names(self._faults),
            "outputs": None if link.outputs is None else mode_names(link.outputs),
            "shutdown_requested": self._shutdown_asked,
            "reconnects": link.reconnects,
            "last_down_reason": link.last_down_reason,
            "counters": dict(link.counters),
        }

    def check(self, timeout: float = 2.0) -> tuple[bool, str]:
        """For `selftest`: whether the MCU answers a ping now, and a one-line detail."""
        link = self._link.status()
        if not link.up or link.firmware is None:
            reason = link.last_down_reason or "no answer yet"
            return False, f"MCU link down on {self._port}: {reason}"
        if not self._ping(timeout, drain=False):
            return False, f"MCU on {self._port} did not answer a ping within {timeout:g} s"
        firmware = link.firmware
        return True, (
            f"MCU firmware {firmware.firmware} (protocol {firmware.protocol}) on {self._port}, "
            f"round trip {self._rtt_s * 1000:.1f} ms"
        )

    def _ping(self, timeout: float, *, drain: bool) -> bool:
        """Ping and wait for the answer; `drain` when the event thread no longer runs."""
        self._pong.clear()
        self._link.ping()
        if not drain:
            return self._pong.wait(timeout)
        deadline = time.monotonic() + timeout
        while not self._pong.is_set() and (left := deadline - time.monotonic()) > 0:
            event = self._next_event(left)
            if event is not None:
                self._handle(event)
        return self._pong.is_set()

    def _next_event(self, timeout: float) -> McuEvent | None:
        try:
            return self._link.events.get(timeout=timeout)
        except queue.Empty:
            return None
