"""GPIO: the SOS button and the caller's indicators, through gpiozero.

The only module that imports gpiozero. Edges are handed to a callback that only enqueues;
debouncing happens in `agent.sos`, because gpiozero's mock pins ignore `bounce_time` and
lgpio's debounce differs between kernels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agent.errors import CommandError, HardwareError

log = logging.getLogger(__name__)

Edge = Callable[[bool, float], None]  # (pressed, monotonic time)


class Pins:
    """The SOS button (to ground, pulled up) and two indicator outputs on one pin factory."""

    def __init__(
        self,
        *,
        factory_name: str,
        button_pin: int,
        registered_pin: int | None,
        acknowledged_pin: int | None,
        on_edge: Edge,
    ) -> None:
        from gpiozero import LED, Button  # noqa: PLC0415 - keep `import agent` free of gpiozero

        self.factory_name = factory_name
        self._button_pin = button_pin
        self._factory = _make_factory(factory_name)
        try:
            self._button = Button(
                button_pin, pull_up=True, bounce_time=None, pin_factory=self._factory
            )
            self._leds = {
                name: LED(pin, pin_factory=self._factory)
                for name, pin in (
                    ("registered", registered_pin),
                    ("acknowledged", acknowledged_pin),
                )
                if pin is not None
            }
        except Exception as exc:
            self._factory.close()
            raise HardwareError(f"gpio: cannot claim pins on {factory_name}: {exc}") from exc
        self._button.when_pressed = lambda: on_edge(True, time.monotonic())
        self._button.when_released = lambda: on_edge(False, time.monotonic())

    @property
    def factory(self) -> Any:
        """The gpiozero pin factory (a `MockFactory` whose pins tests and `sim` drive)."""
        return self._factory

    def is_pressed(self) -> bool:
        """Whether the button is held right now."""
        return bool(self._button.is_pressed)

    def show(self, *, registered: bool, acknowledged: bool) -> None:
        """Drive the caller's indicators (yellow: registered, green: acknowledged)."""
        for name, lit in (("registered", registered), ("acknowledged", acknowledged)):
            led = self._leds.get(name)
            if led is not None:
                led.value = lit

    def indicators(self) -> dict[str, bool]:
        """The indicator outputs as driven now."""
        return {name: bool(led.value) for name, led in self._leds.items()}

    def simulate_press(self, hold_s: float) -> float:
        """Drive the mock button pin low for `hold_s`, exactly as a finger would.

        Returns the `time.monotonic()` of the press edge: one clock for every process on the
        host, so a benchmark can time the alarm from the edge rather than from its request.
        """
        if self.factory_name != "mock":
            used = self.factory_name
            raise CommandError(f"sim press needs gpio.pin_factory = 'mock' (this daemon: {used!r})")
        pin: Any = self._factory.pin(self._button_pin)
        edge = time.monotonic()
        pin.drive_low()
        time.sleep(hold_s)
        pin.drive_high()
        return edge

    def close(self) -> None:
        """Release the pins."""
        self._button.close()
        for led in self._leds.values():
            led.close()
        self._factory.close()


def _make_factory(name: str) -> Any:
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory  # noqa: PLC0415

            return MockFactory()
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory  # noqa: PLC0415

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory  # noqa: PLC0415

            return RPiGPIOFactory()
        from gpiozero.pins.native import NativeFactory  # noqa: PLC0415

        return NativeFactory()
    except Exception as exc:
        raise HardwareError(f"gpio.pin_factory {name!r} is not usable here: {exc}") from exc
