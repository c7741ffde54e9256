"""The vision process: results over a pipe, restarted and reported when killed, hung or broken."""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from agent.vision.camera import Backoff
from agent.vision.process import VisionSupervisor
from agent.vision.worker import CameraSpec, VisionSpec
from tests.vision_fixtures import models_dir, photo  # noqa: F401 (fixture)

pytest.importorskip("ai_edge_litert")

FAST = Backoff(first_s=0.05, max_s=0.5)
Messages = queue.Queue[dict[str, Any]]


@pytest.fixture
def spec(tmp_path: Path, models_dir: Path) -> VisionSpec:  # noqa: F811
    stills = tmp_path / "stills"
    stills.mkdir()
    cv2.imwrite(str(stills / "astronaut.png"), photo("astronaut"))
    camera = CameraSpec("door", str(stills), loop=True, max_fps=20)
    return VisionSpec(cameras=(camera,), models_dir=models_dir)


@pytest.fixture
def supervise() -> Iterator[Callable[..., tuple[VisionSupervisor, Messages]]]:
    started: list[VisionSupervisor] = []

    def start(spec: VisionSpec, **options: Any) -> tuple[VisionSupervisor, Messages]:
        messages: Messages = queue.Queue()
        supervisor = VisionSupervisor(spec, on_message=messages.put, backoff=FAST, **options)
        supervisor.start()
        started.append(supervisor)
        return supervisor, messages

    yield start
    for supervisor in started:
        supervisor.close()


def next_faces(messages: Messages, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = messages.get(timeout=0.5)
        except queue.Empty:
            continue
        if message["type"] == "faces":
            return message
    raise AssertionError("no faces message")


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_faces_found_in_the_child_reach_the_daemon(supervise: Any, spec: VisionSpec) -> None:
    supervisor, messages = supervise(spec)
    message = next_faces(messages)
    assert message["camera"] == "door" and len(message["faces"]) == 1
    assert supervisor.health()["components"]["camera/door"]["state"] == "ok"
    assert supervisor.health()["components"]["models"]["state"] == "ok"


def test_child_runs_at_lower_cpu_priority(supervise: Any, spec: VisionSpec) -> None:
    supervisor, messages = supervise(spec)
    next_faces(messages)
    assert supervisor.pid is not None
    # Ten steps lower than ours, or the lowest there is (19) when we already run niced.
    wanted = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    assert os.getpriority(os.PRIO_PROCESS, supervisor.pid) >= wanted


def test_killed_child_is_restarted_and_reported(supervise: Any, spec: VisionSpec) -> None:
    supervisor, messages = supervise(spec)
    next_faces(messages)
    first = supervisor.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: supervisor.restarts == 1)
    assert supervisor.health()["last_exit"] == -signal.SIGKILL
    next_faces(messages)
    assert supervisor.pid not in (None, first)
    assert supervisor.health()["state"] == "running"


def test_hung_child_is_killed_and_restarted(supervise: Any, spec: VisionSpec) -> None:
    supervisor, messages = supervise(spec, hang_s=1.5)
    next_faces(messages)
    first = supervisor.pid
    os.kill(first, signal.SIGSTOP)
    wait_for(lambda: supervisor.restarts == 1)
    assert "no heartbeat" in supervisor.health()["error"]
    next_faces(messages)
    assert supervisor.pid != first


def test_missing_model_is_a_failed_component_not_a_crash(
    supervise: Any, spec: VisionSpec, tmp_path: Path
) -> None:
    broken = VisionSpec(cameras=spec.cameras, models_dir=tmp_path / "no-models")
    supervisor, _ = supervise(broken)
    wait_for(lambda: supervisor.restarts >= 1)
    health = supervisor.health()
    assert health["components"]["models"]["state"] == "failed"
    assert "blazeface-full" in health["error"] and "is missing" in health["error"]
    assert health["state"] in ("failed", "running")


def test_the_console_script_run_as_a_spawned_child_imports_no_cli() -> None:
    # multiprocessing's spawn re-runs the parent's main script in the child under the name
    # __mp_main__ (multiprocessing.spawn._fixup_main_from_path); the daemon's main script is
    # the `edge-agent` console script, so what it imports is paid again by the vision child.
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    script = Path(sys.executable).parent / "edge-agent"
    if not script.exists():
        pytest.skip("the edge-agent console script is not installed in this environment")
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        "print(sorted(m for m in sys.modules if m.startswith('agent')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(script)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['agent', 'agent.entry']"
