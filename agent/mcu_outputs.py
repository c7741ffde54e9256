"""What the agent drives on the post's microcontroller: lamps, strobe, siren and relay.

`McuOutputs` is one of the SOS alarm's `Indicators`: the caller's yellow and green lamps,
the strobe while the alarm waits for the control room (slow once acknowledged, so the
post stays easy to find) and, if configured, the siren until acknowledged. It also carries
out the technician's `edge-agent mcu set OUTPUT STATE`. Every change is only queued for the
link thread, which re-sends the wanted state after each reconnect.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Protocol

from agent.config import McuConfig
from agent.errors import CommandError
from firmware_bridge.codes import Indicator, Output, Siren, Strobe
from firmware_bridge.messages import OutputState


def _modes(kind: type[IntEnum]) -> dict[str, int]:
    return {mode.name.lower(): mode.value for mode in kind}


# Output and state names for `edge-agent mcu set` (PROTOCOL.md §5, SET_OUTPUT).
OUTPUT_MODES: dict[str, dict[str, int]] = {
    "strobe": _modes(Strobe),
    "siren": _modes(Siren),
    "registered": _modes(Indicator),
    "acknowledged": _modes(Indicator),
    "relay": {"open": 0, "closed": 1},
}


class OutputLink(Protocol):
    """The part of `McuLink` that drives outputs."""

    def set_output(self, output: int, mode: int, *, duration_s: int = 0) -> None: ...


class McuOutputs:
    """The MCU's outputs: the alarm's indicators and the technician's switches."""

    def __init__(self, *, link: OutputLink, config: McuConfig) -> None:
        self._link = link
        self._config = config

    def show(self, *, registered: bool, acknowledged: bool) -> None:
        """Lamps, strobe and siren for the alarm's state."""
        waiting = registered and not acknowledged
        strobe = self._config.alarm_strobe if waiting else "off"
        if acknowledged and self._config.alarm_strobe != "off":
            strobe = "slow"
        siren = self._config.alarm_siren if waiting else "off"
        self._set("registered", "on" if registered else "off")
        self._set("acknowledged", "on" if acknowledged else "off")
        self._set("strobe", strobe)
        self._set("siren", siren, self._config.siren_s if siren != "off" else 0)

    def set(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A technician sets one output: `{"output", "state", "duration_s"}`, validated."""
        output, state = args.get("output"), args.get("state")
        duration = args.get("duration_s", 0)
        if not isinstance(output, str) or output not in OUTPUT_MODES:
            raise CommandError(f"output must be one of {', '.join(OUTPUT_MODES)}, got {output!r}")
        modes = OUTPUT_MODES[output]
        if not isinstance(state, str) or state not in modes:
            raise CommandError(f"{output} state must be one of {', '.join(modes)}, got {state!r}")
        if (
            not isinstance(duration, int)
            or isinstance(duration, bool)
            or not 0 <= duration <= 0xFFFF
        ):
            raise CommandError(f"duration_s must be a whole number 0..65535, got {duration!r}")
        self._set(output, state, duration)
        return {"output": output, "state": state, "duration_s": duration}

    def _set(self, output: str, state: str, duration_s: int = 0) -> None:
        mode = OUTPUT_MODES[output][state]
        self._link.set_output(Output[output.upper()], mode, duration_s=duration_s)


def mode_names(outputs: OutputState) -> dict[str, str]:
    """The modes an OUTPUT_STATE reports, by name: `{"strobe": "fast", ...}`."""
    names = {}
    for output, modes in OUTPUT_MODES.items():
        mode = getattr(outputs, output)
        names[output] = next((name for name, value in modes.items() if value == mode), str(mode))
    return names
