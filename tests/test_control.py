"""The control socket: permissions, stale sockets, one daemon per socket, bad requests."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import control
from agent.control import ControlServer
from agent.errors import CommandError, ControlError


def boom(args: dict[str, Any]) -> Any:
    raise RuntimeError("handler bug")


def refuse(args: dict[str, Any]) -> Any:
    raise CommandError("hold must be positive")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ControlServer]:
    handlers = {"echo": lambda args: args, "boom": boom, "refuse": refuse}
    srv = ControlServer(path=tmp_path / "run" / "control.sock", group=None, handlers=handlers)
    srv.start()
    yield srv
    srv.stop()


def test_socket_is_group_accessible_only(server: ControlServer, tmp_path: Path) -> None:
    mode = stat.S_IMODE((tmp_path / "run" / "control.sock").stat().st_mode)
    assert mode == 0o660


def test_request_reaches_handler_and_reply_returns(tmp_path: Path, server: ControlServer) -> None:
    assert control.call(tmp_path / "run" / "control.sock", "echo", {"a": 1}) == {"a": 1}


def test_handler_errors_are_answered_and_server_keeps_serving(
    tmp_path: Path, server: ControlServer
) -> None:
    path = tmp_path / "run" / "control.sock"
    with pytest.raises(CommandError, match="hold must be positive"):
        control.call(path, "refuse")
    with pytest.raises(CommandError, match="internal error: handler bug"):
        control.call(path, "boom")
    with pytest.raises(CommandError, match="unknown command 'nope'"):
        control.call(path, "nope")
    assert control.call(path, "echo", {"still": "here"}) == {"still": "here"}
    assert server.rejected == 2


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json\n", "request is not JSON"),
        (b"[1, 2]\n", "must be an object with a string 'cmd'"),
        (b'{"cmd": "echo", "args": 5}\n', "'args' must be an object"),
        (b"\xff\xfe\n", "request is not JSON"),
    ],
)
def test_malformed_requests_are_rejected(
    tmp_path: Path, server: ControlServer, raw: bytes, error: str
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(tmp_path / "run" / "control.sock"))
        sock.sendall(raw)
        reply = sock.makefile("rb").read()
    assert error.encode() in reply
    assert b'"ok": false' in reply


def test_stale_socket_from_killed_daemon_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a SIGKILL leaves behind
    srv = ControlServer(path=path, group=None, handlers={"echo": lambda args: args})
    srv.start()
    try:
        assert control.call(path, "echo", {"x": 1}) == {"x": 1}
    finally:
        srv.stop()
    assert not path.exists()


def test_second_server_on_a_live_socket_is_refused(tmp_path: Path, server: ControlServer) -> None:
    other = ControlServer(path=tmp_path / "run" / "control.sock", group=None, handlers={})
    with pytest.raises(ControlError, match="already serving"):
        other.start()


def test_unreachable_daemon_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="cannot reach the daemon"):
        control.call(tmp_path / "absent.sock", "status")
