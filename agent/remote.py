"""Remote input from the control room: commands on `{prefix}/cmd/{name}` and desired
configuration on `{prefix}/config/desired`, each answered on its MQTT 5 response topic.

Everything is checked before it touches anything, in this order: size, rate, JSON, nesting,
signature and expiry, command id, arguments. A rejection names the problem, is counted,
changes nothing and never raises. Commands are idempotent by `cmd_id` and audited.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agent.audit import AuditEntry, digest
from agent.commands import CommandSet
from agent.config import RemoteConfig
from agent.errors import CommandError
from agent.events import uuid7
from agent.signing import EXPIRES, ISSUER, SIG, SignatureError, Verifier, canonical

log = logging.getLogger(__name__)

MAX_DEPTH = 16  # the deepest legitimate input (a desired config) is 3 levels
ENVELOPE = ("cmd_id", EXPIRES, ISSUER, SIG)

Reply = Callable[[str, bytes, bytes | None], None]  # (topic, payload, correlation data)


@dataclass(frozen=True)
class Request:
    """One message as it arrived on a subscribed topic."""

    topic: str
    payload: bytes
    response_topic: str | None
    correlation_data: bytes | None


def subscriptions(prefix: str) -> list[str]:
    """The topic filters remote input arrives on."""
    return [f"{prefix}/cmd/+", f"{prefix}/config/desired"]


class Audit(Protocol):
    """The audit log as remote input sees it (the outbox)."""

    def record_command(self, entry: AuditEntry) -> bool: ...
    def command(self, cmd_id: str) -> AuditEntry | None: ...


class Desired(Protocol):
    """What takes desired configuration documents (the rollout)."""

    def offer(self, document: dict[str, Any], *, issuer: str | None) -> dict[str, Any]: ...
    def refuse(self, version: Any, errors: list[str]) -> dict[str, Any]: ...


class TokenBucket:
    """At most `rate` per second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, float(burst), clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        """Whether one more may pass now."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Remote:
    """Checks, runs and answers remote commands and desired documents; never raises."""

    def __init__(
        self,
        *,
        prefix: str,
        limits: RemoteConfig,
        commands: CommandSet,
        desired: Desired,
        audit: Audit,
        reply: Reply,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prefix = prefix
        self._limits = limits
        self._commands = commands
        self._desired = desired
        self._audit = audit
        self._reply = reply
        self._clock = clock
        self.verifier = Verifier(limits.trusted_keys, max_expiry_s=limits.max_expiry_s, clock=clock)
        self._buckets = {
            kind: TokenBucket(limits.commands_per_s, limits.command_burst, time.monotonic)
            for kind in ("cmd", "desired")
        }
        self._lock = threading.Lock()  # counters are bumped from the publisher thread too
        self._counts: Counter[str] = Counter()

    def stats(self) -> dict[str, int]:
        """Counters for status and telemetry."""
        with self._lock:
            return dict(self._counts)

    def count(self, what: str) -> None:
        """Count one occurrence (e.g. `dropped` when the request queue is full)."""
        with self._lock:
            self._counts[what] += 1

    def handle(self, request: Request) -> None:
        """Check, run and answer one request."""
        if request.topic == f"{self._prefix}/config/desired":
            self._handle_desired(request)
        else:
            self._handle_command(request)

    # --- commands -------------------------------------------------------------------------

    def _handle_command(self, request: Request) -> None:
        name = request.topic.removeprefix(f"{self._prefix}/cmd/")[:64]
        self.count("commands")
        try:
            document = self._admit(request, "cmd", self._limits.max_command_bytes)
            answer = self._execute(name, request.topic, document)
        except CommandError as exc:
            answer = self._refuse(name, exc)
        self.count("ok" if answer["ok"] else "rejected")
        topic = request.response_topic or f"{self._prefix}/cmd/{name}/result"
        self._reply(topic, json.dumps(answer).encode(), request.correlation_data)

    def _execute(self, name: str, topic: str, document: dict[str, Any]) -> dict[str, Any]:
        issuer = self.verifier.check(topic, document)
        cmd_id = _cmd_id(document.get("cmd_id"), required=self.verifier.required)
        fingerprint = digest(canonical(topic, document))
        if cmd_id is not None and (earlier := self._audit.command(cmd_id)) is not None:
            return self._repeat(earlier, name, fingerprint)
        cmd_id = cmd_id or str(uuid7())
        args = {key: value for key, value in document.items() if key not in ENVELOPE}
        answer: dict[str, Any] = {"cmd": name, "cmd_id": cmd_id}
        try:
            answer |= {"ok": True, "result": self._commands.run(name, args)}
        except CommandError as exc:
            log.warning("command %r (%s) rejected: %s", name, cmd_id, exc)
            answer |= {"ok": False, "error": str(exc)}
        by = _operator(args.get("by"))
        entry = AuditEntry(
            cmd_id, name, by, issuer, fingerprint, self._clock(), answer["ok"], answer
        )
        self._audit.record_command(entry)
        return answer

    def _repeat(self, earlier: AuditEntry, name: str, fingerprint: str) -> dict[str, Any]:
        self.count("duplicates")
        if earlier.digest != fingerprint or earlier.name != name:
            raise CommandError(f"cmd_id {earlier.cmd_id!r} was already used for another command")
        log.info("command %s repeated: answering its first result", earlier.cmd_id)
        return {**earlier.reply, "duplicate": True}

    def _refuse(self, name: str, exc: CommandError) -> dict[str, Any]:
        """A command refused before it was identified: logged, audited under a fresh id."""
        if isinstance(exc, SignatureError):
            self.count("bad_signatures")
        log.warning("command %r refused: %s", name, exc)
        answer = {"cmd": name, "cmd_id": None, "ok": False, "error": str(exc)}
        entry = AuditEntry(str(uuid7()), name, None, None, "", self._clock(), False, answer)
        self._audit.record_command(entry)
        return answer

    # --- desired configuration ------------------------------------------------------------

    def _handle_desired(self, request: Request) -> None:
        self.count("desired")
        document: dict[str, Any] = {}
        try:
            document = self._admit(request, "desired", self._limits.max_desired_bytes)
            issuer = self.verifier.check(request.topic, document)
            report = self._desired.offer(document, issuer=issuer)
        except CommandError as exc:
            if isinstance(exc, SignatureError):
                self.count("bad_signatures")
            log.warning("desired configuration refused: %s", exc)
            report = self._desired.refuse(document.get("version"), [str(exc)])
        if request.response_topic:
            payload = json.dumps(report).encode()
            self._reply(request.response_topic, payload, request.correlation_data)

    # --- shared checks --------------------------------------------------------------------

    def _admit(self, request: Request, kind: str, max_bytes: int) -> dict[str, Any]:
        """Size, rate, JSON object, nesting: the checks before anything is read."""
        size = len(request.payload)
        if size > max_bytes:
            self.count("oversized")
            raise CommandError(f"payload: {size} bytes, more than the limit of {max_bytes}")
        if not self._buckets[kind].take():
            self.count("rate_limited")
            raise CommandError(
                f"rate limit: more than {self._limits.commands_per_s:g}/s "
                f"(burst {self._limits.command_burst}); try again later"
            )
        return parse_object(request.payload)


def parse_object(payload: bytes) -> dict[str, Any]:
    """A JSON object of bounded nesting, or CommandError naming what is wrong."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CommandError(f"payload is not JSON: {str(exc)[:120]}") from None
    if not isinstance(document, dict):
        raise CommandError(f"payload must be a JSON object, got {type(document).__name__}")
    if _depth(document) > MAX_DEPTH:
        raise CommandError(f"payload is nested deeper than {MAX_DEPTH} levels")
    return document


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:  # iterative: recursion is exactly what hostile input would exhaust
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, Mapping) else item
        if isinstance(item, Mapping | list):
            stack.extend((child, level + 1) for child in children)
    return deepest


def _cmd_id(value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    ok = isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()
    if not ok:
        raise CommandError(f"cmd_id must be printable text of 1..128 characters, got {value!r:.80}")
    return str(value)


def _operator(value: Any) -> str | None:
    ok = isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()
    return str(value) if ok else None
