"""A simulated MCU on a serial port, for fast tests and demos without a board.

`McuSimulator` runs `SimulatedMcu` against any pyserial URL or device path (one end of
`NullModem`, a pseudo-terminal, `socket://`) on one thread it owns. Run as a program it is a
drop-in for the C host build, with the same arguments, stdin commands and stdout lines:

    python -m firmware_bridge.simulator /dev/pts/5 --power-off-ms 300
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable

from firmware_bridge.link import PORT_ERRORS, Port, PortOpener, open_port
from firmware_bridge.mcu import INPUT_NAMES, SimulatedMcu

log = logging.getLogger(__name__)

POLL_S = 0.005
Line = Callable[[str], None]


class McuSimulator:
    """Plays the MCU on `url` from one thread until `stop`."""

    def __init__(
        self,
        url: str,
        *,
        power_off_s: float = 5.0,
        boot_grace_s: float = 180.0,
        on_line: Line | None = None,
        serial_for_url: PortOpener = open_port,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._clock = clock
        self._on_line = on_line or (lambda line: log.debug("simulated MCU: %s", line))
        self._open_port = serial_for_url
        self._inputs: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.mcu = SimulatedMcu(now=clock(), power_off_s=power_off_s, boot_grace_s=boot_grace_s)

    def start(self) -> None:
        """Open the port and start the thread."""
        port = self._open_port(self.url, baudrate=115200, timeout=POLL_S, write_timeout=1.0)
        self._thread = threading.Thread(target=self._run, args=(port,), name="mcu-simulator")
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> McuSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_input(self, name: str, value: float) -> None:
        """Change an input (see `SimulatedMcu.set_input`) from any thread."""
        if name not in INPUT_NAMES:
            raise ValueError(f"unknown MCU input {name!r}; known: {', '.join(INPUT_NAMES)}")
        self._inputs.put((name, value))

    def read(self, look: Callable[[SimulatedMcu], object]) -> object:
        """Look at the simulated MCU from another thread, e.g. `sim.read(lambda m: m.modes)`."""
        with self._lock:
            return look(self.mcu)

    def _run(self, port: Port) -> None:
        try:
            while not self._stop.is_set():
                data = port.read(max(1, port.in_waiting))
                with self._lock:
                    self._step(port, data)
        except PORT_ERRORS as error:
            log.warning("simulated MCU lost its port %s: %s", self.url, error)
        finally:
            port.close()

    def _step(self, port: Port, data: bytes) -> None:
        now = self._clock()
        while not self._inputs.empty():
            name, value = self._inputs.get_nowait()
            self.mcu.set_input(name, value, now)
        if data:
            self.mcu.receive(data, now)
        self.mcu.tick(now)
        out = self.mcu.take_output()
        if out:
            port.write(out)
        for line in self.mcu.notices:
            self._on_line(line)
        self.mcu.notices.clear()


def stats_line(mcu: SimulatedMcu) -> str:
    """The `stats` line, as the C host build prints it."""
    counters = mcu.counters.as_dict() | {"watchdog_fires": mcu.watchdog.fires}
    return "stats " + " ".join(f"{name}={value}" for name, value in counters.items())


def _command(sim: McuSimulator, line: str) -> None:
    words = line.split()
    if words == ["stats"]:
        print(sim.read(stats_line), flush=True)
        return
    try:
        sim.set_input(words[0], float(words[1]))
    except (IndexError, ValueError):
        print(f'error: cannot understand "{line}"', file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator on a device path, driven by stdin like the C host build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("device")
    parser.add_argument("--power-off-ms", type=int, default=5000)
    parser.add_argument("--boot-grace-ms", type=int, default=180_000)
    args = parser.parse_args(argv)
    sim = McuSimulator(
        args.device,
        power_off_s=args.power_off_ms / 1000,
        boot_grace_s=args.boot_grace_ms / 1000,
        on_line=lambda line: print(line, flush=True),
    )
    with sim:
        print(f"ready {args.device}", flush=True)
        for raw in sys.stdin:
            line = raw.strip()
            if line == "quit":
                break
            if line:
                _command(sim, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
