"""The command set of `{prefix}/cmd/{name}`: each command's arguments and what it does.

Arguments are validated by a strict model per command before anything acts; envelope fields
(`cmd_id`, `expires`, `issuer`, `sig`) are taken off by `agent.remote` first. The actions
themselves live with their owners (the alarm, telemetry, the rollout of configuration): this
module only checks and forwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from agent.config import describe
from agent.errors import CommandError

log = logging.getLogger(__name__)

HOTLIST_KEY = "vision.hotlist"
HOTLIST_MAX = 10_000


def _printable(value: str) -> str:
    # Also refuses lone surrogates, which could not be stored or sent as UTF-8.
    if not value.isprintable():
        raise ValueError("must be printable text")
    return value


Text16 = Annotated[str, Field(min_length=1, max_length=16), AfterValidator(_printable)]
Text64 = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable)]
Operator = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
Text256 = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_printable)]


class Args(BaseModel):
    """Arguments of a command with nothing but who sent it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: Operator | None = None


class AlarmArgs(Args):
    """`sos_ack` / `sos_reset`: `{"id": "<alarm event id>", "by": "<operator>"}` (DESIGN §3.5)."""

    id: Text64
    by: Operator


class LogLevelArgs(Args):
    """`log_level`: the root logger's level until the next restart."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class RestartArgs(Args):
    """`restart`: the whole agent, deferred while an alarm is active."""

    reason: Text256 | None = None


class HotlistEntry(BaseModel):
    """One plate on the watch list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plate: Text16
    province: Text64 | None = None
    reason: Text256 | None = None


class HotlistArgs(Args):
    """`hotlist_set`: add (or, with `replace`, replace all) entries; `remove` plates."""

    entries: list[HotlistEntry] = Field(default_factory=list, max_length=1000)
    remove: list[Text16] = Field(default_factory=list, max_length=1000)
    replace: StrictBool = False


class Alarm(Protocol):
    """The SOS alarm as commands see it."""

    def ack(self, alarm_id: str, by: str) -> dict[str, Any]: ...
    def reset(self, alarm_id: str | None, by: str, source: str) -> dict[str, Any]: ...


class StateStore(Protocol):
    """Latched state in the outbox database."""

    def get_state(self, key: str) -> Any: ...
    def set_state(self, state: Mapping[str, Any]) -> None: ...


Probe = Callable[[], dict[str, Any]]


class CommandSet:
    """Validates each command's arguments and forwards it to its owner."""

    def __init__(
        self,
        *,
        alarm: Alarm,
        state: StateStore,
        telemetry_now: Probe,
        selftest: Probe,
        config_get: Probe,
        restart: Callable[[str], dict[str, Any]],
    ) -> None:
        self._alarm = alarm
        self._state = state
        self._probes = {
            "telemetry_now": telemetry_now,
            "selftest": selftest,
            "config_get": config_get,
        }
        self._restart = restart
        self._actions: dict[str, tuple[type[Args], Callable[[Any], dict[str, Any]]]] = {
            "sos_ack": (AlarmArgs, lambda a: alarm.ack(a.id, a.by)),
            "sos_reset": (AlarmArgs, lambda a: alarm.reset(a.id, a.by, "control_room")),
            "log_level": (LogLevelArgs, _set_log_level),
            "restart": (RestartArgs, lambda a: restart(a.reason or f"requested by {a.by}")),
            "hotlist_set": (HotlistArgs, self._hotlist_set),
        }
        for name, probe in self._probes.items():
            self._actions[name] = (Args, _ignoring_args(probe))

    @property
    def names(self) -> list[str]:
        """Every command this agent knows."""
        return sorted(self._actions)

    def run(self, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Validate `args` for command `name` and run it; CommandError names the problem."""
        known = self._actions.get(name)
        if known is None:
            raise CommandError(f"unknown command {name[:64]!r} (known: {', '.join(self.names)})")
        model, action = known
        try:
            parsed = model.model_validate(dict(args))
        except ValidationError as exc:
            raise CommandError("; ".join(describe(exc))) from None
        return action(parsed)

    def _hotlist_set(self, args: HotlistArgs) -> dict[str, Any]:
        current = {} if args.replace else dict(self._state.get_state(HOTLIST_KEY) or {})
        for plate in args.remove:
            current.pop(plate, None)
        for entry in args.entries:
            current[entry.plate] = entry.model_dump(exclude={"plate"}, exclude_none=True)
        if len(current) > HOTLIST_MAX:
            raise CommandError(
                f"entries: the hotlist would hold {len(current)}, over {HOTLIST_MAX}"
            )
        self._state.set_state({HOTLIST_KEY: current})
        return {"entries": len(current)}


def _ignoring_args(probe: Probe) -> Callable[[Any], dict[str, Any]]:
    return lambda _args: probe()


def _set_log_level(args: LogLevelArgs) -> dict[str, Any]:
    root = logging.getLogger()
    previous = logging.getLevelName(root.level)
    root.setLevel(args.level)
    log.warning("log level set to %s (was %s) by %s", args.level, previous, args.by)
    return {"level": args.level, "previous": previous}
