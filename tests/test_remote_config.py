"""Desired configuration end to end: applied live, rejected whole, pending during an alarm,
broker moves reverted, signed input checked, history and rollback."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main
from agent.signing import public_key_text, sign
from tests.broker import Broker, free_port
from tests.remote_room import PREFIX, Room, running, wait_online, wait_status

pytestmark = pytest.mark.slow


def reported(room: Room) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(room.received("/config/reported")[-1].payload)
    return found


def test_a_desired_change_is_applied_live_and_reported(broker: Broker, tmp_path: Path) -> None:
    with running(tmp_path / "agent", broker) as (daemon, room):
        report = room.desired(1, {"sos": {"resend_s": 1.0}, "telemetry": {"interval_s": 5}})
        assert report["status"] == "applied" and report["errors"] == []
        assert report["config"]["sos"]["resend_s"] == 1.0
        room.wait_for(lambda ms: reported(room)["version"] == 1)
        assert reported(room)["config"]["telemetry"]["interval_s"] == 5
        # Live: the alarm is now re-sent every second, without any restart.
        pid = daemon.call("status")["pid"]
        daemon.call("sim_press", {"hold": 0.2})
        room.wait_for(lambda ms: len(room.events("sos")) >= 3, timeout=5)
        assert daemon.call("status")["pid"] == pid
        assert "unsigned input accepted" in report["signatures"]


BAD = [
    ({"sos": {"resend_s": 90}}, "sos.resend_s", "less than or equal to 60"),
    ({"sos": {"resend_s": "soon"}}, "sos.resend_s", "valid number"),
    ({"telemetry": {"intervall_s": 5}}, "telemetry.intervall_s", "Extra inputs"),
    ({"sos": {"resend": 5}}, "sos.resend", "not changeable remotely"),
    ({"sos": {"pin": 5}}, "sos.pin", "not changeable remotely"),
    ({"device": {"id": "evil"}}, "device.id", "not changeable remotely"),
    ({"remote": {"allow": ["mqtt"]}}, "remote.allow", "not changeable remotely"),
    ({"telemetry": {"interval_s": 0}}, "telemetry.interval_s", "greater than or equal to 1"),
]


def test_invalid_documents_are_rejected_whole_naming_the_key(
    broker: Broker, tmp_path: Path
) -> None:
    with running(tmp_path / "agent", broker) as (_daemon, room):
        assert room.desired(5, {"logging": {"level": "DEBUG"}})["status"] == "applied"
        before = reported(room)["config"]
        for layer, key, message in BAD:
            # A valid key beside the bad one must not be applied either: all or nothing.
            report = room.desired(10, {**layer, "logging": {"level": "ERROR"}})
            assert report["status"] == "rejected", layer
            assert any(e["key"] == key and message in e["message"] for e in report["errors"]), (
                report["errors"]
            )
            assert report["config"] == before and report["applied_version"] == 5
        for version in (5, 4, "6", True, None):
            report = room.desired(version, {"logging": {"level": "ERROR"}})
            assert report["status"] == "rejected" and report["errors"][0]["key"] == "version"
        assert room.request("config/desired", b"\xff")["errors"][0]["key"] == "(document)"
        assert reported(room)["config"] == before


def test_a_restart_needing_change_waits_while_an_alarm_is_active(
    broker: Broker, tmp_path: Path
) -> None:
    extra = '[remote]\nallow = ["mqtt.keepalive_s", "logging"]\n'
    with running(tmp_path / "agent", broker, extra=extra) as (daemon, room):
        daemon.call("sim_press", {"hold": 0.2})
        alarm = wait_status(daemon, lambda s: s["sos"]["active"])["sos"]["id"]
        report = room.desired(1, {"mqtt": {"keepalive_s": 45}})
        assert report["status"] == "pending" and report["applied_version"] == 0
        time.sleep(1.5)
        assert reported(room)["status"] == "pending"
        assert room.command("sos_reset", id=alarm, by="op")["ok"]
        room.wait_for(lambda ms: reported(room)["status"] == "applied", timeout=15)
        assert reported(room)["config"]["mqtt"]["keepalive_s"] == 45


def test_a_move_to_an_unreachable_broker_is_reverted(broker: Broker, tmp_path: Path) -> None:
    extra = '[remote]\nallow = ["mqtt.port"]\nbroker_trial_s = 2\n'
    with running(tmp_path / "agent", broker, extra=extra) as (daemon, room):
        room.send("config/desired", {"version": 1, "config": {"mqtt": {"port": free_port()}}})
        wait_status(daemon, lambda s: not s["broker"].get("connected"), timeout=10)
        room.wait_for(lambda ms: reported(room)["status"] == "rejected", timeout=20)
        assert reported(room)["errors"][0]["key"] == "mqtt"
        assert "reverted" in reported(room)["errors"][0]["message"]
        wait_online(daemon)
        assert room.command("config_get")["result"]["config"]["mqtt"]["port"] == broker.port


def test_history_and_explicit_local_rollback(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running(tmp_path / "agent", broker) as (daemon, room):
        for version, level in ((1, "DEBUG"), (2, "WARNING")):
            assert room.desired(version, {"logging": {"level": level}})["status"] == "applied"
        path = str(daemon.config_path)
        assert main(["config", "history", "--config", path]) == 0
        out = capsys.readouterr().out
        assert out.index("v2") < out.index("v1")
        assert main(["config", "rollback", "1", "--config", path]) == 0
        room.wait_for(lambda ms: reported(room).get("version") == 1)
        assert reported(room)["config"]["logging"]["level"] == "DEBUG"
        assert room.desired(2, {"logging": {"level": "ERROR"}})["status"] == "rejected"
        # The layer survives a restart.
        daemon.stop()
        daemon.start()
        wait_online(daemon)
        assert room.command("config_get")["result"]["config"]["logging"]["level"] == "DEBUG"


def _expiry(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_signed_input_is_checked(broker: Broker, tmp_path: Path) -> None:
    trusted, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    extra = f'[remote]\ntrusted_keys = {{ ccoc = "{public_key_text(trusted)}" }}\n'
    topic = f"{PREFIX}/cmd/log_level"

    def signed(body: dict[str, Any], key: Ed25519PrivateKey = trusted, **kw: Any) -> Any:
        options = {"issuer": "ccoc", "expires": _expiry(60), **kw}
        return sign(topic, body, key=key, **options)

    with running(tmp_path / "agent", broker, extra=extra) as (daemon, room):
        good = signed({"cmd_id": "c1", "level": "INFO"})
        assert room.command("log_level", **good)["ok"] is True
        replay = room.command("log_level", **good)
        assert replay.get("duplicate") is True  # answered, never run twice
        tampered = {**signed({"cmd_id": "c2", "level": "INFO"}), "level": "DEBUG"}
        cases = {
            "unsigned": ({"cmd_id": "c3", "level": "INFO"}, "expires: required"),
            "wrong key": (signed({"cmd_id": "c4", "level": "INFO"}, stranger), "does not verify"),
            "bad signature": (tampered, "does not verify"),
            "unknown issuer": (signed({"cmd_id": "c5", "level": "INFO"}, issuer="x"), "issuer"),
            "expired": (signed({"cmd_id": "c6", "level": "INFO"}, expires=_expiry(-5)), "passed"),
            "too long": (signed({"cmd_id": "c7", "level": "INFO"}, expires=_expiry(9e6)), "ahead"),
        }
        for case, (body, error) in cases.items():
            answer = room.command("log_level", **body)
            assert answer["ok"] is False and error in answer["error"], (case, answer)
        # Signed for another command: the topic is part of what is signed.
        moved = room.command("restart", **signed({"cmd_id": "c8", "level": "INFO"}))
        assert "does not verify" in moved["error"]

        desired_topic = f"{PREFIX}/config/desired"
        doc = sign(desired_topic, {"version": 1, "config": {"logging": {"level": "DEBUG"}}},
                   key=trusted, issuer="ccoc", expires=_expiry(60))  # fmt: skip
        assert room.request("config/desired", json.dumps(doc).encode())["status"] == "applied"
        again = room.request("config/desired", json.dumps(doc).encode())
        assert again["status"] == "rejected" and "not newer" in again["errors"][0]["message"]
        forged = {**doc, "version": 2}
        report = room.request("config/desired", json.dumps(forged).encode())
        assert report["status"] == "rejected" and report["errors"][0]["key"] == "sig"
        assert report["signatures"] == "required"
        assert daemon.call("status")["remote"]["counters"]["bad_signatures"] == 8
