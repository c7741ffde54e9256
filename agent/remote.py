"""Commands from the control room on `{prefix}/cmd/{name}`, answered on the MQTT 5 response topic.

Every command is validated before it touches anything: a malformed or unknown one is answered
with a rejection naming the problem, counted, and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.config import describe
from agent.errors import AgentError, CommandError

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 16 * 1024

Reply = Callable[[str, bytes, bytes | None], None]  # (topic, payload, correlation data)


class AlarmCommand(BaseModel):
    """Payload of `sos_ack` and `sos_reset`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    by: str = Field(min_length=1, max_length=128)


@dataclass(frozen=True)
class Request:
    """One command as it arrived."""

    topic: str
    payload: bytes
    response_topic: str | None
    correlation_data: bytes | None


Action = Callable[[AlarmCommand], dict[str, Any]]


class Commands:
    """Validates commands, runs them, and sends each reply to its response topic."""

    def __init__(self, *, prefix: str, actions: Mapping[str, Action], reply: Reply) -> None:
        self._prefix = prefix
        self._actions = dict(actions)
        self._reply = reply
        self.handled = 0
        self.rejected = 0

    @property
    def subscription(self) -> str:
        """The topic filter that receives every command."""
        return f"{self._prefix}/cmd/+"

    def handle(self, request: Request) -> None:
        """Run one command and reply; never raises."""
        name = request.topic.removeprefix(f"{self._prefix}/cmd/")
        try:
            result = self._run(name, request.payload)
            answer: dict[str, Any] = {"cmd": name, "ok": True, "result": result}
            self.handled += 1
        except AgentError as exc:
            self.rejected += 1
            log.warning("command %r rejected: %s", name[:64], exc)
            answer = {"cmd": name[:64], "ok": False, "error": str(exc)}
        topic = request.response_topic or f"{self._prefix}/cmd/{name}/result"
        self._reply(topic, json.dumps(answer).encode(), request.correlation_data)

    def _run(self, name: str, payload: bytes) -> dict[str, Any]:
        action = self._actions.get(name)
        if action is None:
            known = ", ".join(sorted(self._actions))
            raise CommandError(f"unknown command {name[:64]!r} (known: {known})")
        return action(_parse(payload))


def _parse(payload: bytes) -> AlarmCommand:
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(f"payload is {len(payload)} bytes, more than {MAX_COMMAND_BYTES}")
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"payload is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CommandError(f"payload must be a JSON object, got {type(document).__name__}")
    try:
        return AlarmCommand.model_validate(document)
    except ValidationError as exc:
        raise CommandError("; ".join(describe(exc))) from None
