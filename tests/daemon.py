"""A real `edge-agent run` in a child process, configured for tests (mock GPIO, temp files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent import control
from agent.errors import ControlError

ROOT = Path(__file__).resolve().parent.parent


def write_config(directory: Path, *, port: int, extra: str = "", **sos: Any) -> Path:
    """A config with simulated GPIO, state in `directory`, and the broker on `port`."""
    directory.mkdir(parents=True, exist_ok=True)
    sos_lines = "\n".join(f"{key} = {value!r}" for key, value in sos.items())
    text = f"""
[device]
id = "pole-test"
site = "lab"

[mqtt]
host = "127.0.0.1"
port = {port}
reconnect_min_s = 0.1
reconnect_max_s = 0.5
connect_timeout_s = 2.0

[storage]
dir = "{directory / "state"}"
max_bytes = 50_000_000

[control]
socket = "{directory / "control.sock"}"

[gpio]
pin_factory = "mock"

[sos]
{sos_lines}

{extra}
"""
    path = directory / "config.toml"
    path.write_text(text)
    return path


def _without_systemd(environ: os._Environ[str]) -> dict[str, str]:
    """The test's environment, minus what would make the child talk to a real systemd."""
    ignored = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"}
    return {key: value for key, value in environ.items() if key not in ignored}


class Daemon:
    """Starts, signals and kills one daemon; talks to it over its control socket."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.socket = config_path.parent / "control.sock"
        self.log = config_path.parent / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.command = [sys.executable, "-m", "agent", "run", "--config", str(config_path)]

    def start(self, timeout: float = 15.0, env: dict[str, str] | None = None) -> Daemon:
        """Start and wait until the control socket answers; `env` adds to the environment."""
        env = {**_without_systemd(os.environ), "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited {self.process.returncode}:\n{self.output()}")
            try:
                self.call("status")
                return self
            except ControlError:
                time.sleep(0.05)
        raise TimeoutError(f"daemon did not answer within {timeout} s:\n{self.output()}")

    def call(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        """One control-socket request."""
        return control.call(self.socket, cmd, args, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a power cut of the process."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait for a clean exit."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def output(self) -> str:
        """What the daemon logged."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
