"""The command line: every command has help, usage errors exit 2, failures exit 1 in one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import build_parser, main
from tests.daemon import ROOT, write_config


def commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((*prefix, name))
                found.extend(commands(child, (*prefix, name)))
    return found


ALL = commands(build_parser())


def test_the_documented_commands_exist() -> None:
    expected = {
        ("run",),
        ("status",),
        ("events",),
        ("sos", "test"),
        ("sos", "reset"),
        ("sim", "press"),
        ("config", "check"),
        ("config", "show"),
        ("queue", "stats"),
        ("selftest",),
        ("camera", "snapshot"),
        ("models", "list"),
        ("models", "fetch"),
        ("models", "verify"),
        ("faces", "detect"),
    }
    assert expected <= set(ALL)


@pytest.mark.parametrize("command", ALL, ids=" ".join)
def test_every_command_has_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: edge-agent " + " ".join(command))
    assert len(out.splitlines()) > 3


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["sos"],
        ["events", "--limit", "0"],
        ["sim", "press", "--hold", "-1"],
        ["sim", "events", "--priority", "0"],
        ["status", "--bogus"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "commands" in capsys.readouterr().err


def test_live_command_without_daemon_fails_in_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, port=1)
    done = subprocess.run(
        [sys.executable, "-m", "agent", "sim", "press", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "cannot reach the daemon" in done.stderr


def test_status_without_daemon_says_so_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, port=1)
    assert main(["status", "--config", str(path)]) == 1
    assert "not running" in capsys.readouterr().out


def test_history_without_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, port=1)
    assert main(["events", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edge-agent: ") and err.count("\n") == 1
