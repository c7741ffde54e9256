"""systemd glue: sd_notify over real sockets, and the unit files checked by systemd's tools."""

from __future__ import annotations

import codecs
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import config, systemd

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "edge-agent.service"
SYSUSERS = REPO / "systemd" / "edge-agent.sysusers.conf"
TMPFILES = REPO / "systemd" / "edge-agent.tmpfiles.conf"
# Groups every Debian / Raspberry Pi OS system has (systemd's basic.conf, base-passwd).
BASE_GROUPS = {"video", "dialout"}


def _tool(name: str) -> str:
    """Path of a systemd tool, or skip the test."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def _unit_values(key: str) -> list[str]:
    """Every value assigned to key in the unit, in order."""
    lines = UNIT.read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(key + "=")]


# --- sd_notify -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_systemd_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts outside systemd and leaves no notification socket open."""
    for name in (
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "JOURNAL_STREAM",
        "CREDENTIALS_DIRECTORY",
    ):
        monkeypatch.delenv(name, raising=False)
    yield
    systemd.close()


@pytest.fixture(params=["path", "abstract"])
def listener(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, named by $NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(5)
    if request.param == "path":
        path = str(tmp_path / "notify.sock")
        sock.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
    else:
        name = f"edge-agent-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def _socket_inodes() -> set[str]:
    """The sockets this process has open, as /proc names them."""
    links = (os.readlink(f"/proc/self/fd/{fd}") for fd in _open_fds())
    return {link for link in links if link.startswith("socket:")}


def _open_fds() -> list[str]:
    """This process's open file descriptors that still exist when looked at."""
    fds = os.listdir("/proc/self/fd")
    return [fd for fd in fds if os.path.lexists(f"/proc/self/fd/{fd}")]


def test_ready_status_watchdog_and_stopping_arrive_at_notify_socket(
    listener: socket.socket,
) -> None:
    sent = [systemd.ready("outbox open"), systemd.status("3 pending")]
    sent += [systemd.watchdog(), systemd.stopping()]
    received = [listener.recv(4096) for _ in sent]
    assert sent == [True, True, True, True]
    assert received == [
        b"READY=1\nSTATUS=outbox open",
        b"STATUS=3 pending",
        b"WATCHDOG=1",
        b"STOPPING=1",
    ]


def test_ready_without_status_sends_only_ready(listener: socket.socket) -> None:
    assert systemd.ready()
    assert listener.recv(4096) == b"READY=1"


def test_status_with_line_breaks_stays_one_assignment(listener: socket.socket) -> None:
    systemd.status("broker down\nretrying")
    assert listener.recv(4096) == b"STATUS=broker down retrying"


def test_notify_returns_false_outside_systemd() -> None:
    assert systemd.notify("READY=1") is False
    assert systemd.ready("x") is False
    assert systemd.watchdog() is False
    assert systemd.stopping() is False


def test_notify_returns_false_when_the_socket_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert systemd.watchdog() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "@edge-agent-test-nobody-" + uuid.uuid4().hex)
    assert systemd.watchdog() is False


def test_notify_ignores_unsupported_socket_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert systemd.notify("READY=1") is False


def test_messages_share_one_socket_until_closed(listener: socket.socket) -> None:
    before = _socket_inodes()
    for _ in range(3):
        assert systemd.watchdog()
        listener.recv(4096)
    opened = _socket_inodes() - before
    assert len(opened) == 1
    systemd.close()
    assert not opened & _socket_inodes()


def test_messages_from_many_threads_all_arrive(listener: socket.socket) -> None:
    threads = [threading.Thread(target=systemd.watchdog) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [listener.recv(4096) for _ in threads] == [b"WATCHDOG=1"] * 8


def test_forked_child_notifies_on_its_own_socket(listener: socket.socket) -> None:
    if threading.active_count() > 1:
        pytest.skip("fork needs a single-threaded process")
    before = _socket_inodes()
    systemd.watchdog()
    listener.recv(4096)
    (parents,) = _socket_inodes() - before
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        sent = systemd.status("child")
        os._exit(0 if sent and parents not in _socket_inodes() else 1)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert listener.recv(4096) == b"STATUS=child"


# --- watchdog interval, journal, the MQTT password credential ---------------------------


def test_watchdog_interval_reads_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert systemd.watchdog_interval() == 30.0


def test_watchdog_interval_is_ours_when_watchdog_pid_is_us(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1500000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 1.5


def test_watchdog_interval_is_none_when_watchdog_pid_is_another_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getppid()))
    assert systemd.watchdog_interval() is None


@pytest.mark.parametrize("usec", [None, "", "0", "-5", "soon"])
def test_watchdog_interval_is_none_without_a_valid_watchdog_usec(
    usec: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    assert systemd.watchdog_interval() is None


def test_under_journal_when_the_stream_matches_journal_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal, other = socket.socketpair()
    with journal, other:
        st = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert systemd.under_journal(journal.fileno())
        assert not systemd.under_journal(other.fileno())
        assert not systemd.under_journal()  # pytest's stderr is not that socket


def test_not_under_journal_without_journal_stream() -> None:
    assert not systemd.under_journal()


def test_units_default_mqtt_password_means_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unit's SetCredential= default (used when the password file is absent),
    # unescaped the way systemd does (C escapes), as the agent's config reads it.
    (default,) = _unit_values("SetCredential")
    name, value = default.split(":", 1)
    (tmp_path / name).write_text(codecs.decode(value, "unicode_escape"))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert name == "mqtt-password"
    assert not config.password(config.MqttConfig(username="pole-0001"))


# --- the unit files --------------------------------------------------------------------


def test_exec_start_runs_the_console_script_declared_in_pyproject() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    (exec_start,) = _unit_values("ExecStart")
    program, *args = exec_start.split()
    assert scripts["edge-agent"] == "agent.entry:main"
    assert Path(program).name == "edge-agent"
    assert program.startswith("/")
    assert args == ["run", "--config", "/etc/edge-agent/config.toml"]


def test_unit_exposure_is_at_most_2() -> None:
    result = _run(_tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(UNIT))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= 2.0, result.stdout


@pytest.fixture
def unit_root(tmp_path: Path) -> Path:
    """A root holding the unit, a stand-in for its ExecStart and the host's system units.

    `verify` checks that ExecStart exists and resolves the default dependencies
    (sysinit.target, ...); with --root= it looks for both inside this root, so the real
    unit is verified unchanged without installing anything on the host.
    """
    host_units = next(
        (
            p
            for p in map(Path, ["/usr/lib/systemd/system", "/lib/systemd/system"])
            if (p / "sysinit.target").exists()
        ),
        None,
    )
    if host_units is None:
        pytest.skip("no systemd system unit directory")
    root = tmp_path / "root"
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
    program = root / _unit_values("ExecStart")[0].split()[0].lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return root


def _verify(root: Path) -> str:
    """Everything `systemd-analyze verify` says about the unit installed under root."""
    result = _run(_tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", UNIT.name)
    return result.stdout + result.stderr + ("" if result.returncode == 0 else "failed")


def test_unit_passes_systemd_analyze_verify_without_a_word(unit_root: Path) -> None:
    assert _verify(unit_root) == ""


def test_verify_reports_a_misspelt_directive(unit_root: Path) -> None:
    # Proves the check above can fail: verify only warns (exit 0) on a typo.
    installed = unit_root / "etc/systemd/system" / UNIT.name
    installed.write_text(installed.read_text().replace("\nProtectSystem=", "\nProtectSytem="))
    assert "ProtectSytem" in _verify(unit_root)


def test_sysusers_creates_the_user_and_every_group_the_unit_names(tmp_path: Path) -> None:
    sysusers = _tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    result = _run(sysusers, f"--root={tmp_path}", str(SYSUSERS))
    users = {line.split(":")[0] for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0] for line in (tmp_path / "etc/group").read_text().splitlines()}
    needed = {*_unit_values("Group"), *" ".join(_unit_values("SupplementaryGroups")).split()}
    assert result.returncode == 0, result.stderr
    assert set(_unit_values("User")) <= users
    assert needed - groups <= BASE_GROUPS


@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-tmpfiles needs root to chown")
def test_tmpfiles_lets_technicians_read_the_config_but_not_the_credentials(
    tmp_path: Path,
) -> None:
    sysusers, tmpfiles = _tool("systemd-sysusers"), _tool("systemd-tmpfiles")
    (tmp_path / "etc/edge-agent/credentials").mkdir(parents=True)
    settings = tmp_path / "etc/edge-agent/config.toml"
    password = tmp_path / "etc/edge-agent/credentials/mqtt-password"
    settings.write_text("")
    password.write_text("")
    settings.chmod(0o600)
    password.chmod(0o644)
    _run(sysusers, f"--root={tmp_path}", str(SYSUSERS))
    result = _run(tmpfiles, f"--root={tmp_path}", "--create", str(TMPFILES))
    tech_gid = _gid_in(tmp_path, _unit_values("Group")[0])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    assert (stat.S_IMODE(settings.stat().st_mode), settings.stat().st_gid) == (0o640, tech_gid)
    assert stat.S_IMODE(password.parent.stat().st_mode) == 0o700
    assert (stat.S_IMODE(password.stat().st_mode), password.stat().st_uid) == (0o600, 0)


def _gid_in(root: Path, group: str) -> int:
    """The gid of group in root's /etc/group."""
    for line in (root / "etc/group").read_text().splitlines():
        name, _, gid, *_ = line.split(":")
        if name == group:
            return int(gid)
    raise AssertionError(f"no group {group} in {root}/etc/group")
