"""docs/asyncapi.yaml is true: real payloads from a running agent validate against it."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.broker import Broker
from tests.remote_room import PREFIX, running
from tests.vision_fixtures import models_dir, photo  # noqa: F401 (fixture)

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


# The MCU's kinds are passed by name (`mcu.py` `_add(name, ...)`), not as `kind="..."`.
MCU_KINDS = {"tamper", "door", "power", "mcu"}


def test_every_event_kind_the_agent_produces_is_described() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "agent").rglob("*.py"))
    produced = set(re.findall(r'Event\(\s*kind="(\w+)"', sources)) | MCU_KINDS
    assert {"sos", "face", "vision", "storage", "outbox", "telemetry"} <= produced
    described = SPEC["channels"]["event"]["description"]
    schemas = SPEC["components"]["schemas"]
    dispatched = [
        json.dumps(schemas[branch["if"]["$ref"].rsplit("/", 1)[1]])
        for branch in schemas["event"]["allOf"]
    ]
    for kind in produced:
        assert f"`{kind}`" in described, kind
        if kind != "telemetry":  # its own channel and schema
            assert any(f'"{kind}"' in branch for branch in dispatched), kind


def event(kind: str, priority: int, data: dict[str, Any], phase: str = "info") -> dict[str, Any]:
    return {
        "id": "0193a5b2-0000-7000-8000-000000000001", "kind": kind, "phase": phase,
        "device": "pole-test", "site": "lab", "boot": 1, "seq": 1,
        "ts": "2026-11-27T01:02:03.456Z", "clock_synced": True, "priority": priority,
        "test": False, "data": data, "media": [],
    }  # fmt: skip


def test_the_schemas_reject_what_they_should() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check("status", {"state": "asleep", "boot": 1, "version": "x", "ts": "now"})
    with pytest.raises(jsonschema.ValidationError):
        check("result", {"cmd": "x", "cmd_id": "1", "ok": True, "error": "no result"})
    quality = {"size": 1.0, "sharpness": 0.9, "frontal": 0.8, "overall": 0.9}
    face = {"camera": "door", "frame_ts": "2026-11-27T01:02:03Z", "count": 1}
    check("event", event("face", 2, {**face, "faces": [{"score": 0.9, "quality": quality}]}))
    with pytest.raises(jsonschema.ValidationError):  # an undocumented field
        check("event", event("face", 2, {**face, "faces": [], "person": "x"}))
    with pytest.raises(jsonschema.ValidationError):  # a face is not an SOS
        check("event", event("face", 0, {**face, "faces": []}))
    with pytest.raises(jsonschema.ValidationError):
        check("event", event("vision", 1, {"problem": "vision process restarted"}))
    with pytest.raises(jsonschema.ValidationError):
        check("event", event("tamper", 1, {"open": "yes"}, phase="new"))
    check("event", event("sim", 3, {"n": 1}))  # simulated kinds stay free-form


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


@pytest.mark.slow
def test_real_face_and_vision_payloads_match_the_document(
    broker: Broker,
    tmp_path: Path,
    models_dir: Path,  # noqa: F811
) -> None:
    pytest.importorskip("ai_edge_litert")
    from tests.test_vision_daemon import events, vision_config, vision_of, wait_for  # noqa: PLC0415

    stills = tmp_path / "stills"
    stills.mkdir()
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(stills / "astronaut.png"), photo("astronaut"))
    extra = vision_config(models_dir, stills, faces="crops")
    with running(tmp_path / "agent", broker, extra=extra) as (daemon, room):
        room.wait_for(lambda ms: bool(events(ms, "face")), timeout=60)
        child = wait_for(lambda: vision_of(daemon)["pid"])
        os.kill(child, signal.SIGKILL)
        messages = room.wait_for(lambda ms: bool(events(ms, "vision")), timeout=30)
    (face, *_) = events(messages, "face")
    (vision,) = events(messages, "vision")
    assert face["data"]["faces"][0]["box"] and face["media"] == ["face-0.jpg"]
    for payload in (face, vision):
        check("event", payload)
