"""Rolling out desired configuration: check, apply live, restart what must, or wait.

Runs on the main thread. A document is checked whole (shape, version, allow-list, merged
validation) before anything changes. Live keys change at once; a broker change is tried with
a fresh publisher and reverted if it does not connect within `remote.broker_trial_s`; other
changes restart the process. Restarts wait while an SOS alarm is active (DESIGN §3.4): the
document is then `pending`. Every outcome is published on `{prefix}/config/reported`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent import desired
from agent.config import Config, MqttConfig, masked, validate
from agent.config_layer import Layer, LayerStore
from agent.errors import ConfigError, StorageError
from agent.events import utc_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A checked layer waiting to be applied."""

    version: int
    layer: dict[str, Any]
    effective: Config
    issuer: str | None = None
    rolled_back_from: int | None = None


@dataclass(frozen=True)
class Hooks:
    """What the rollout changes in the running agent, given by the composition root."""

    apply_live: Callable[[Config], None]
    switch_broker: Callable[[MqttConfig], None]
    broker_up: Callable[[], bool]
    restart_process: Callable[[str], None]
    alarm_active: Callable[[], bool]
    publish: Callable[[bytes], None]
    signatures: Callable[[], str]


class Rollout:
    """Holds the effective configuration and moves it from one version to the next."""

    def __init__(
        self,
        *,
        local: dict[str, Any],
        store: LayerStore,
        hooks: Hooks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._local = local
        self._store = store
        self._hooks = hooks
        self._clock = clock
        self._layer = store.current()
        self._highest = self._layer.highest
        self._pending: Candidate | None = None
        self._trial: tuple[Candidate, float] | None = None
        self._restart: str | None = None
        self.current, startup_errors = self._start()
        self._last = self._report("applied" if not startup_errors else "rejected", None)
        if startup_errors:
            self._last["errors"] = desired.errors(startup_errors)

    def _start(self) -> tuple[Config, list[str]]:
        try:
            return desired.effective(self._local, self._layer.config), []
        except ConfigError as exc:
            # The local file changed under a stored layer: run on the file alone, say why.
            log.error("remote configuration v%d no longer applies: %s", self._layer.version, exc)
            self._layer = Layer(highest=self._highest)
            return validate(self._local), [f"stored version no longer valid: {exc}"]

    # --- input ----------------------------------------------------------------------------

    def offer(self, document: dict[str, Any], *, issuer: str | None) -> dict[str, Any]:
        """Check a desired document and apply it, or say why not."""
        try:
            parsed = desired.parse(document)
        except ConfigError as exc:
            return self.refuse(document.get("version"), [str(exc)])
        if self._trial is not None:
            return self.refuse(parsed.version, ["mqtt: a broker change is being tried; retry"])
        if parsed.version <= self._highest:
            message = f"version: {parsed.version} is not newer than {self._highest}"
            return self.refuse(parsed.version, [message])
        problems = desired.disallowed(parsed.config, self.allow, self._local)
        if problems:
            return self.refuse(parsed.version, problems)
        try:
            target = desired.effective(self._local, parsed.config)
        except ConfigError as exc:
            return self.refuse(parsed.version, [str(exc)])
        self._highest = parsed.version
        return self._roll(Candidate(parsed.version, parsed.config, target, issuer))

    def refuse(self, version: Any, errors: list[str]) -> dict[str, Any]:
        """Report a rejected document; nothing changes."""
        shown = version if isinstance(version, int) and not isinstance(version, bool) else None
        report = self._report("rejected", shown)
        report["errors"] = desired.errors(errors)
        return self._publish(report)

    def rollback(self, version: int) -> dict[str, Any]:
        """The technician's explicit rollback to a kept version (the one way back)."""
        layer = self._store.version(version)
        target = desired.effective(self._local, layer.config)
        current = self._layer.version
        return self._roll(Candidate(version, layer.config, target, None, current))

    def request_restart(self, reason: str) -> dict[str, Any]:
        """Restart the agent now, or once the SOS alarm has ended."""
        if self._hooks.alarm_active():
            self._restart = reason
            return {"restart": "deferred", "until": "the SOS alarm ends", "reason": reason}
        self._hooks.restart_process(reason)
        return {"restart": "now", "reason": reason}

    @property
    def allow(self) -> tuple[str, ...]:
        """The local allow-list (never itself changeable remotely)."""
        return self.current.remote.allow

    def report(self) -> dict[str, Any]:
        """The latest reported document (`config_get`, status)."""
        return dict(self._last)

    def history(self) -> list[dict[str, Any]]:
        """Kept versions, newest first."""
        return [vars(layer) | {"current": layer.version == self._layer.version}
                for layer in self._store.history()]  # fmt: skip

    # --- progress, from the main loop -----------------------------------------------------

    def publish_current(self) -> None:
        """Publish the reported document (at start)."""
        self._publish(self._last)

    def tick(self) -> None:
        """Finish or revert a broker trial; apply what waited for the alarm to end."""
        if self._trial is not None:
            self._check_trial(*self._trial)
        elif self._pending is not None and not self._hooks.alarm_active():
            self._roll(self._pending)
        if self._restart is not None and not self._hooks.alarm_active():
            reason, self._restart = self._restart, None
            self._hooks.restart_process(reason)

    def _check_trial(self, candidate: Candidate, deadline: float) -> None:
        if self._hooks.broker_up():
            self._trial = None
            self._finish(candidate, None)
        elif self._clock() >= deadline:
            self._trial = None
            new, old = candidate.effective.mqtt, self.current.mqtt
            log.error(
                "no connection to %s:%d; back to %s:%d", new.host, new.port, old.host, old.port
            )
            self._hooks.switch_broker(old)
            trial_s = self.current.remote.broker_trial_s
            self.refuse(candidate.version, [
                f"mqtt: no connection to {new.host}:{new.port} within {trial_s:g} s, "
                f"reverted to {old.host}:{old.port}"
            ])  # fmt: skip

    # --- applying -------------------------------------------------------------------------

    def _roll(self, candidate: Candidate) -> dict[str, Any]:
        restart = desired.restart_needed(desired.changed(self.current, candidate.effective))
        if restart is not None and self._hooks.alarm_active():
            self._pending = candidate
            log.warning("configuration v%d waits for the SOS alarm to end", candidate.version)
            return self._publish(self._report("pending", candidate.version, restart=restart))
        self._pending = None
        if restart == "publisher":
            self._trial = (candidate, self._clock() + self.current.remote.broker_trial_s)
            self._hooks.switch_broker(candidate.effective.mqtt)
            return self._publish(self._report("pending", candidate.version, restart=restart))
        return self._finish(candidate, restart)

    def _finish(self, candidate: Candidate, restart: str | None) -> dict[str, Any]:
        try:
            self._commit(candidate)
        except StorageError as exc:
            return self.refuse(candidate.version, [f"storage: {exc}"])
        report = self._publish(self._report("applied", candidate.version, restart=restart))
        if restart == "process":
            self._hooks.restart_process(f"configuration version {candidate.version}")
        return report

    def _commit(self, candidate: Candidate) -> None:
        layer = Layer(
            version=candidate.version,
            config=candidate.layer,
            highest=max(self._highest, candidate.version),
            applied_at=utc_timestamp(),
            issuer=candidate.issuer,
            rolled_back_from=candidate.rolled_back_from,
        )
        self._store.save(layer)  # first: a crash after it restarts into the new version
        self._layer, self.current = layer, candidate.effective
        self._hooks.apply_live(self.current)
        log.warning("configuration version %d applied", layer.version)

    def _report(self, status: str, version: int | None, **extra: Any) -> dict[str, Any]:
        return {
            "version": self._layer.version if version is None else version,
            "status": status,
            "errors": [],
            "applied_version": self._layer.version,
            "config": masked(self.current),
            "signatures": self._hooks.signatures(),
            "ts": utc_timestamp(),
            **{key: value for key, value in extra.items() if value is not None},
        }

    def _publish(self, report: dict[str, Any]) -> dict[str, Any]:
        self._last = report
        self._hooks.publish(json.dumps(report).encode())
        return report
