"""The daemon supervises its own threads: one that dies ends the process for a clean restart."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import config
from agent.app import EXIT_THREAD_DIED, Agent
from tests.broker import free_port
from tests.daemon import write_config


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    running = Agent(config.load(write_config(tmp_path, port=free_port())))
    running.start()
    yield running
    running.shutdown()
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_dead_alarm_thread_ends_the_main_loop_with_a_failure_code(
    agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    agent.sos.edge(True, "not a time")  # type: ignore[arg-type]  # what a bug could hand it
    server = threading.Thread(target=agent.serve)
    server.start()
    server.join(timeout=10)
    assert not server.is_alive(), "the main loop kept running without its alarm thread"
    assert agent.exit_code == EXIT_THREAD_DIED
    assert "the alarm thread failed" in caplog.text
    assert "thread(s) sos stopped" in caplog.text


def test_healthy_threads_keep_the_main_loop_turning(agent: Agent) -> None:
    server = threading.Thread(target=agent.serve)
    server.start()
    server.join(timeout=2.5)
    alive = server.is_alive()
    agent.stop.set()
    server.join(timeout=10)
    assert alive and agent.exit_code == 0
