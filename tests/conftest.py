"""Shared fixtures: a real mosquitto per test (see tests/broker.py for the helpers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.broker import MOSQUITTO, Broker


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start mosquitto with options (`max_inflight`, `acl`, `persistent`); stopped afterwards."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    started: list[Broker] = []

    def make(**options: Any) -> Broker:
        server = Broker(tmp_path / f"broker{len(started)}", **options)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    """A running mosquitto on a free loopback port; always stopped afterwards."""
    return make_broker()
