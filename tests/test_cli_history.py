"""History commands against a running daemon's database: events, --follow, queue stats."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import free_port
from tests.daemon import ROOT, Daemon, write_config


@pytest.fixture
def offline_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon whose broker is unreachable: everything it stores stays pending."""
    with Daemon(write_config(tmp_path, port=free_port())) as daemon:
        yield daemon


def edge_agent(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args, "--config", str(daemon.config_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_events_lists_pending_sos_and_filters_by_kind(offline_daemon: Daemon) -> None:
    offline_daemon.call("sim_events", {"count": 3, "kind": "plate", "priority": 2})
    offline_daemon.call("sim_press", {"hold": 0.2})
    done = edge_agent(offline_daemon, "events", "--json", "--pending", "--kind", "plate")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0
    assert [r["kind"] for r in records] == ["plate"] * 3
    assert all(r["delivered_at"] is None for r in records)


def test_events_follow_prints_new_events_as_they_are_stored(offline_daemon: Daemon) -> None:
    cmd = [
        sys.executable,
        "-m",
        "agent",
        "events",
        "--follow",
        "--config",
        str(offline_daemon.config_path),
    ]
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) as follower:
        try:
            offline_daemon.call("sim_press", {"hold": 0.2})
            assert follower.stdout is not None
            line = follower.stdout.readline()
            assert " p0 sos/new " in line and "PENDING" in line
        finally:
            follower.terminate()


def test_queue_stats_counts_pending_by_kind_and_priority(offline_daemon: Daemon) -> None:
    offline_daemon.call("sim_events", {"count": 5, "kind": "plate", "priority": 2})
    offline_daemon.call("sim_events", {"count": 2, "kind": "tamper", "priority": 1})
    done = edge_agent(offline_daemon, "queue", "stats", "--json")
    stats = json.loads(done.stdout)
    rows = {(r["kind"], r["priority"]): r["pending"] for r in stats["by_kind"]}
    # The daemon's own telemetry may land in between on a slow machine.
    telemetry = rows.pop(("telemetry", 3), 0)
    assert rows == {("plate", 2): 5, ("tamper", 1): 2}
    assert stats["pending"] == 7 + telemetry and stats["oldest_pending_age_s"] >= 0
    text = edge_agent(offline_daemon, "queue", "stats").stdout
    assert re.search(r"outbox +\d+ pending", text)
    assert re.search(r"p1 tamper +2 pending", text) and re.search(r"p2 plate +5 pending", text)
