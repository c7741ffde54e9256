"""Remote commands end to end: a real daemon, a real mosquitto, MQTT 5 request/response."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.cli import main
from agent.events import utc_timestamp
from tests.broker import Broker
from tests.remote_room import PREFIX, answer_to, running, wait_status

pytestmark = pytest.mark.slow


def test_every_command_replies_on_its_response_topic_with_its_correlation_data(
    broker: Broker, tmp_path: Path
) -> None:
    with running(tmp_path / "agent", broker) as (daemon, room):
        daemon.call("sim_press", {"hold": 0.2})
        alarm = wait_status(daemon, lambda s: s["sos"]["active"])["sos"]["id"]
        answers = {
            "sos_ack": room.command("sos_ack", id=alarm, by="op-1"),
            "selftest": room.command("selftest"),
            "telemetry_now": room.command("telemetry_now"),
            "log_level": room.command("log_level", level="DEBUG", by="op-1"),
            "hotlist_set": room.command(
                "hotlist_set", entries=[{"plate": "1กข1234", "province": "กรุงเทพมหานคร"}]
            ),
            "config_get": room.command("config_get"),
            "sos_reset": room.command("sos_reset", id=alarm, by="op-1"),
        }
        for name, answer in answers.items():
            assert answer["cmd"] == name and answer["ok"] is True, answer
            assert answer["cmd_id"]
        assert answers["sos_ack"]["result"] == {"alarm": alarm, "acked": True}
        assert answers["telemetry_now"]["result"]["sos"]["active"] is True
        assert answers["hotlist_set"]["result"] == {"entries": 1}
        assert answers["config_get"]["result"]["status"] == "applied"
        assert answers["log_level"]["result"]["level"] == "DEBUG"
        assert set(answers["selftest"]["result"]["checks"]) >= {"broker", "disk", "publisher"}

        # Without a response topic the reply goes to {prefix}/cmd/{name}/result.
        room.send("cmd/config_get", {"cmd_id": "default-topic"}, response=None)
        room.wait_for(lambda ms: any(m.topic == f"{PREFIX}/cmd/config_get/result" for m in ms))

        restart = room.command("restart", by="op-1", reason="test")
        assert restart["result"]["restart"] == "now"
        assert daemon.process is not None and daemon.process.wait(15) == 75


def test_a_repeated_cmd_id_answers_the_first_result_and_acts_once(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running(tmp_path / "agent", broker) as (daemon, room):
        daemon.call("sim_press", {"hold": 0.2})
        alarm = wait_status(daemon, lambda s: s["sos"]["active"])["sos"]["id"]
        room.wait_for(lambda ms: len(room.events("sos")) == 1)
        body = {"cmd_id": "ack-0001", "id": alarm, "by": "op-1"}
        first = room.command("sos_ack", **body)
        second = room.command("sos_ack", **body)
        assert second == {**first, "duplicate": True}
        other = room.command("sos_reset", **body)
        assert other["ok"] is False and "already used" in other["error"]
        time.sleep(0.5)
        phases = [e["phase"] for e in room.events("sos")]
        assert phases == ["new", "update"]  # one acknowledgement, no reset
        status = daemon.call("status")["remote"]["counters"]
        assert status["duplicates"] == 2

        path = str(daemon.config_path)
        assert main(["audit", "--json", "--config", path, "--name", "sos_ack"]) == 0
        lines = capsys.readouterr().out.strip().split("\n}\n")
        assert len(lines) == 1 and '"cmd_id": "ack-0001"' in lines[0]
        assert main(["audit", "--config", path]) == 0
        assert "sos_ack" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"expires": "2001-01-01T00:00:00Z"}, "expires: 2001-01-01T00:00:00Z has passed"),
        ({"expires": "tomorrow"}, "expires must be an RFC 3339 UTC time"),
        ({"cmd_id": 7}, "cmd_id must be printable text"),
        ({"level": "LOUD"}, "level: Input should be 'DEBUG'"),
        ({"level": "INFO", "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
def test_malformed_or_expired_commands_are_rejected_naming_the_problem(
    broker: Broker, tmp_path: Path, body: dict[str, object], error: str
) -> None:
    with running(tmp_path / "agent", broker) as (_daemon, room):
        answer = room.command("log_level", **{"level": "INFO", **body})
        assert answer["ok"] is False and error in answer["error"], answer


def test_commands_over_the_rate_limit_are_answered_and_counted(
    broker: Broker, tmp_path: Path
) -> None:
    extra = "[remote]\ncommands_per_s = 0.1\ncommand_burst = 3\n"
    with running(tmp_path / "agent", broker, extra=extra) as (daemon, room):
        sent = [room.send("cmd/config_get", {}) for _ in range(6)]
        messages = room.wait_for(lambda ms: all(answer_to(ms, c) for c in sent))
        answers = [answer_to(messages, c) for c in sent]
        refused = [a for a in answers if a and "rate limit" in a.get("error", "")]
        assert len(refused) == 3
        assert daemon.call("status")["remote"]["counters"]["rate_limited"] == 3


def test_oversized_and_non_json_commands_are_rejected(broker: Broker, tmp_path: Path) -> None:
    with running(tmp_path / "agent", broker) as (_daemon, room):
        big = room.request("cmd/config_get", json.dumps({"by": "x" * 20000}).encode())
        assert "bytes, more than the limit of 16384" in big["error"]
        deep = room.request("cmd/config_get", b"[" * 5000 + b"]" * 5000)
        assert deep["ok"] is False and "payload" in deep["error"]
        deep_but_json = {"by": "op", "x": json.loads("[" * 20 + "]" * 20)}
        nested = room.request("cmd/config_get", json.dumps(deep_but_json).encode())
        assert "nested deeper" in nested["error"]


def test_a_restart_waits_for_the_alarm_to_end(broker: Broker, tmp_path: Path) -> None:
    with running(tmp_path / "agent", broker) as (daemon, room):
        daemon.call("sim_press", {"hold": 0.2})
        alarm = wait_status(daemon, lambda s: s["sos"]["active"])["sos"]["id"]
        answer = room.command("restart", by="op-1")
        assert answer["result"]["restart"] == "deferred"
        time.sleep(1.5)
        assert daemon.process is not None and daemon.process.poll() is None
        room.command("sos_reset", id=alarm, by="op-1", expires=utc_timestamp(time.time() + 60))
        assert daemon.process.wait(15) == 75
