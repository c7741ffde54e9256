"""The agent-core benchmark scripts run with tiny counts and say where and against what floor
they measured (no timing asserted: timing belongs in benchmarks/)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.broker import MOSQUITTO
from tests.daemon import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed"),
]


def run_script(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def test_floor_prints_the_machine_and_its_ratio_to_the_design_baseline() -> None:
    out = run_script("benchmarks/floor.py", "--count", "50", "--isolated", "5", "--gap", "0")
    assert out.startswith("machine: ")
    assert "pipelined (window 20)" in out and "ratio to DESIGN §4:" in out


def test_sos_latency_prints_edge_latencies_as_ratios_to_the_floor() -> None:
    out = run_script("benchmarks/bench_sos_latency.py", "--presses", "3", "--busy", "1")
    assert out.startswith("machine: ")
    assert "SOS: edge -> PUBACK recorded" in out and "[busy x1]" in out
    assert "ratio p99 SOS edge->subscriber / floor:" in out


def test_backlog_drain_checks_sos_order_and_prints_its_ratio() -> None:
    out = run_script(
        "benchmarks/bench_backlog_drain.py", "--events", "300", "--sos", "1",
        "--chunk", "100", "--floor-count", "100",
    )  # fmt: skip
    assert out.startswith("machine: ")
    assert "2/2 SOS events before the first" in out
    assert "ratio daemon drain / floor pipelined:" in out


def test_footprint_prints_memory_start_up_and_ratio() -> None:
    out = run_script(
        "benchmarks/bench_daemon_footprint.py", "--runs", "1", "--settle", "0.2", "--imports", "3"
    )
    assert out.startswith("machine: ")
    assert "start -> retained online" in out and "ratio daemon VmRSS / interpreter VmRSS:" in out


def test_vision_pipeline_prints_stages_against_bare_invoke_fps_and_memory() -> None:
    pytest.importorskip("ai_edge_litert")
    out = run_script(
        "benchmarks/bench_vision_pipeline.py", "--frames", "5", "--seconds", "1",
        "--warm", "0.2", "--clip-seconds", "0.5",
    )  # fmt: skip
    assert out.startswith("machine: ")
    assert "ratio pre+post / bare invoke:" in out and "bare invoke  median" in out
    assert "fps (" in out and "ratio vision child VmRSS / interpreter VmRSS:" in out


def test_sos_latency_with_vision_saturating_the_cpu_prints_its_ratio() -> None:
    pytest.importorskip("ai_edge_litert")
    out = run_script(
        "benchmarks/bench_sos_latency.py", "--presses", "2", "--vision", "--cameras", "1",
        "--idle-only",
    )  # fmt: skip
    assert out.startswith("machine: ")
    assert "[vision] load average" in out and "vision child CPU during the phase:" in out
    assert "ratio p99 SOS edge->subscriber / floor:" in out
