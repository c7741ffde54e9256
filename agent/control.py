"""The control socket: how the technician CLI talks to the running daemon.

One JSON request per connection, one JSON reply: `{"cmd": "status", "args": {...}}` →
`{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`. The socket is mode 0660 so
only root, the service user and the technicians' group can reach it.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent.errors import AgentError, CommandError, ControlError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Any]
MAX_REQUEST = 64 * 1024


class ControlServer:
    """Serves the control socket on its own thread; each request on a thread of its own."""

    def __init__(self, *, path: Path, group: str | None, handlers: Mapping[str, Handler]) -> None:
        self._path = path
        self._group = group
        self._handlers = dict(handlers)
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0
        self.rejected = 0

    def start(self) -> None:
        """Bind the socket (refusing if another daemon answers there) and start serving."""
        _claim(self._path)
        handler = _request_handler(self)
        server = socketserver.ThreadingUnixStreamServer(str(self._path), handler)
        server.daemon_threads = False
        server.block_on_close = True  # request threads are joined on close
        os.chmod(self._path, 0o660)
        if self._group:
            os.chown(self._path, -1, grp.getgrnam(self._group).gr_gid)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="control")
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, join every request thread and remove the socket."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
        self._path.unlink(missing_ok=True)

    def alive(self) -> bool:
        """Whether the serving thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def answer(self, raw: bytes) -> dict[str, Any]:
        """Decode one request, run its handler, and build the reply."""
        self.requests += 1
        try:
            name, args = _decode(raw, self._handlers)
            return {"ok": True, "result": self._handlers[name](args)}
        except AgentError as exc:
            self.rejected += 1
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a handler bug must not take the daemon down
            log.exception("control request failed")
            return {"ok": False, "error": f"internal error: {exc}"}


def _decode(raw: bytes, handlers: Mapping[str, Handler]) -> tuple[str, dict[str, Any]]:
    try:
        request = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"request is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise CommandError("request must be an object with a string 'cmd'")
    args = request.get("args", {})
    if not isinstance(args, dict):
        raise CommandError("'args' must be an object")
    if request["cmd"] not in handlers:
        raise CommandError(f"unknown command {request['cmd']!r}")
    return request["cmd"], args


def _request_handler(server: ControlServer) -> type[socketserver.StreamRequestHandler]:
    class _Request(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            raw = self.rfile.readline(MAX_REQUEST)
            reply = server.answer(raw)
            self.wfile.write(json.dumps(reply).encode() + b"\n")

    return _Request


def _claim(path: Path) -> None:
    """Remove a stale socket left by a killed daemon; refuse if a live one answers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise ControlError(f"another edge-agent is already serving {path}")


def call(path: Path, cmd: str, args: Mapping[str, Any] | None = None, timeout: float = 30.0) -> Any:
    """Send one request to the daemon and return its result; errors raise."""
    request = json.dumps({"cmd": cmd, "args": dict(args or {})}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(request)
            reply = _read_reply(sock)
    except OSError as exc:
        raise ControlError(f"cannot reach the daemon at {path}: {exc.strerror or exc}") from None
    if not reply.get("ok"):
        raise CommandError(str(reply.get("error", "request failed")))
    return reply.get("result")


def _read_reply(sock: socket.socket) -> dict[str, Any]:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise ControlError(f"the daemon sent an unreadable reply: {exc}") from None
    if not isinstance(reply, dict):
        raise ControlError("the daemon sent an unreadable reply")
    return reply
