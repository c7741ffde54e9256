"""docs/asyncapi.yaml is true: real payloads from a running agent validate against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.broker import Broker
from tests.remote_room import PREFIX, running

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())


def check(schema: str, payload: Any) -> None:
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": SPEC["components"]},
        format_checker=jsonschema.FormatChecker(),
    )
    validator.validate(payload)


def test_the_document_names_every_topic_and_command() -> None:
    assert SPEC["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in SPEC["channels"].values()}
    topics = ("status", "telemetry", "config/desired", "config/reported", "cmd/{name}",
              "cmd/{name}/result", "event/{kind}", "media/{event_id}/{name}")  # fmt: skip
    assert addresses >= {f"{{prefix}}/{t}" for t in topics}
    for name in ("sos_ack", "sos_reset", "selftest", "telemetry_now", "log_level", "restart",
                 "hotlist_set", "config_get"):  # fmt: skip
        assert name in SPEC["channels"]["command"]["description"]


def test_the_schemas_reject_what_they_should() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check("status", {"state": "asleep", "boot": 1, "version": "x", "ts": "now"})
    with pytest.raises(jsonschema.ValidationError):
        check("result", {"cmd": "x", "cmd_id": "1", "ok": True, "error": "no result"})


@pytest.mark.slow
def test_real_payloads_match_the_document(broker: Broker, tmp_path: Path) -> None:
    with running(tmp_path / "agent", broker) as (daemon, room):
        daemon.call("sim_press", {"hold": 0.2})
        requests: list[tuple[str, dict[str, Any]]] = [
            ("desired", {"version": 1, "config": {"telemetry": {"interval_s": 30}}}),
            ("desired", {"version": 1, "config": {}}),
            ("command", {"cmd_id": "a", "level": "INFO"}),
        ]
        room.request("config/desired", requests[0][1])
        room.request("config/desired", requests[1][1])
        results = [
            room.command("log_level", **requests[2][1]),
            room.command("log_level", **requests[2][1]),
            room.command("telemetry_now"),
            room.command("selftest"),
            room.command("nope"),
        ]
        room.wait_for(lambda ms: bool(room.received(f"{PREFIX}/telemetry")))
        for schema, payload in requests:
            check(schema, payload)
        for result in results:
            check("result", result)
        room.send("cmd/config_get", {}, response=None)  # to the default result topic
        room.wait_for(lambda ms: bool(room.received("/cmd/config_get/result")))
        seen = {"status": 0, "event": 0, "telemetry": 0, "reported": 0, "result": 0}
        for message in room.received():
            schema = _schema_of(message.topic)
            if schema is not None and message.payload:
                check(schema, json.loads(message.payload))
                seen[schema] += 1
        assert all(seen.values()), seen


def _schema_of(topic: str) -> str | None:
    suffix = topic.removeprefix(f"{PREFIX}/")
    if suffix.startswith("event/"):
        return "event"
    if suffix.startswith("cmd/") and suffix.endswith("/result"):
        return "result"
    return {"status": "status", "telemetry": "telemetry", "config/reported": "reported"}.get(suffix)
