"""Talking to systemd: readiness and watchdog (sd_notify), and logging to journald.

A stdlib implementation of the sd_notify(3) protocol: one datagram of newline-separated
``KEY=value`` assignments sent to ``$NOTIFY_SOCKET``. Outside systemd every call is a
no-op that returns False, so the daemon runs the same on a laptop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger(__name__)

# A busy PID 1 can leave its queue full; give up on that message rather than stall the
# main loop (the next watchdog ping comes within WatchdogSec/2).
SEND_TIMEOUT_S = 1.0


class _Notifier:
    """One lazily created datagram socket per process, shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def send(self, address: str, payload: bytes) -> None:
        """Send one datagram to address; raises OSError."""
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.settimeout(SEND_TIMEOUT_S)
            self._sock.sendto(payload, address)

    def close(self) -> None:
        """Close the socket; the next send opens a new one."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def after_fork(self) -> None:
        """Drop the parent's socket and lock in a forked child."""
        self._lock = threading.Lock()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


_notifier = _Notifier()
os.register_at_fork(after_in_child=_notifier.after_fork)


def _notify_address() -> str | None:
    """The socket address named by $NOTIFY_SOCKET, or None when not usable."""
    name = os.environ.get("NOTIFY_SOCKET", "")
    if name.startswith("/"):
        return name
    if name.startswith("@") and len(name) > 1:
        return "\0" + name[1:]
    if name:
        log.debug("unsupported NOTIFY_SOCKET %r", name)
    return None


def notify(message: str) -> bool:
    """Send an sd_notify message; True if it was sent, False outside systemd or on error."""
    address = _notify_address()
    if address is None:
        return False
    try:
        _notifier.send(address, message.encode("utf-8", "replace"))
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", message, exc)
        return False
    return True


def _one_line(text: str) -> str:
    """Text with line breaks replaced, so it stays one assignment."""
    return " ".join(text.splitlines())


def ready(status: str = "") -> bool:
    """Tell systemd start-up is complete (READY=1), with an optional status line."""
    message = "READY=1"
    if status:
        message += "\nSTATUS=" + _one_line(status)
    return notify(message)


def status(text: str) -> bool:
    """Set the one-line status shown by `systemctl status`."""
    return notify("STATUS=" + _one_line(text))


def stopping() -> bool:
    """Tell systemd a clean shutdown has begun (STOPPING=1)."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """Ping the service watchdog (WATCHDOG=1)."""
    return notify("WATCHDOG=1")


def close() -> None:
    """Close the notification socket (it reopens on the next message)."""
    _notifier.close()


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects a ping, or None when no watchdog is ours.

    Ping at least every half of this, as sd_watchdog_enabled(3) advises.
    """
    usec = _positive_int(os.environ.get("WATCHDOG_USEC", ""))
    if usec is None:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and _positive_int(pid) != os.getpid():
        return None
    return usec / 1_000_000


def _positive_int(text: str) -> int | None:
    """text as a positive integer, or None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None


def under_journal(fd: int = 2) -> bool:
    """True when fd (stderr by default) is connected to journald ($JOURNAL_STREAM)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"
