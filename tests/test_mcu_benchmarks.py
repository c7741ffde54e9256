"""The MCU benchmark scripts run and say what they measured and where (no timing asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.mcu_fixtures import ROOT


def run_script(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def test_codec_benchmark_prints_rates_and_the_machine() -> None:
    out = run_script("benchmarks/bench_mcu_codec.py", "--frames", "300", "--repeat", "1")
    assert out.startswith("machine: ")
    assert "encode (message + CRC + COBS)" in out and "frames/s" in out


def test_roundtrip_benchmark_prints_latencies_and_the_machine() -> None:
    mcu = "c" if shutil.which("cc") and shutil.which("make") else "python"
    out = run_script("benchmarks/bench_mcu_roundtrip.py", "--count", "20", "--mcu", mcu)
    assert out.startswith("machine: ")
    assert "PING -> PONG" in out and "x floor" in out
