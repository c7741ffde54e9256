"""What the control room reaches over MQTT: commands, desired configuration and telemetry.

A sub-assembly of the composition root (`app`): it wires remote input (`remote`), the command
set (`commands`), the rollout of configuration (`rollout`) and telemetry to the agent's parts,
and runs their timers from the main loop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from agent import __version__, desired
from agent.alarm import Timing
from agent.commands import CommandSet
from agent.config import Config, MqttConfig, SosConfig
from agent.config_layer import LayerStore, store_in
from agent.errors import CommandError, ConfigError, StorageError
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.remote import Remote, Request
from agent.rollout import Hooks, Rollout
from agent.sos import Sos
from agent.telemetry import Condition, Sources, Telemetry

log = logging.getLogger(__name__)

EXIT_RESTART = 75  # EX_TEMPFAIL: systemd's Restart= starts a fresh process
RESTART_DELAY_S = 1.0  # the reply to `restart` goes out before the process ends
PURGE_EVERY_S = 3600.0


class Parts(Protocol):
    """The parts of the agent the control room acts on."""

    cfg: Config
    stop: threading.Event
    exit_code: int
    outbox: Outbox
    sos: Sos
    publisher: Publisher

    def switch_broker(self, mqtt: MqttConfig) -> None: ...
    def threads(self) -> dict[str, bool]: ...
    def devices(self) -> dict[str, dict[str, Any]]: ...
    def device_checks(self) -> dict[str, tuple[bool, str]]: ...


def layer_store(cfg: Config) -> LayerStore:
    """Where the remote configuration layer lives (the local `storage.dir`)."""
    return store_in(cfg.storage.dir)


def start_config(cfg: Config, local: dict[str, Any]) -> Config:
    """The local configuration with the stored remote layer merged over it."""
    try:
        return desired.effective(local, layer_store(cfg).current().config)
    except (ConfigError, StorageError) as exc:
        log.error("the remote configuration layer does not apply; using the local file: %s", exc)
        return cfg


def document_of(cfg: Config) -> dict[str, Any]:
    """A configuration as plain data, secrets included (when no file document is at hand)."""
    data = cfg.model_dump(mode="json")
    if cfg.mqtt.password is not None:
        data["mqtt"]["password"] = cfg.mqtt.password.get_secret_value()
    return data


def sos_timing(sos: SosConfig) -> Timing:
    """The alarm timing from `[sos]`."""
    return Timing(
        resend_s=sos.resend_s,
        debounce_s=sos.debounce_ms / 1000,
        min_hold_s=sos.min_hold_s,
        test_timeout_s=sos.test_timeout_s,
    )


class ControlRoom:
    """Remote commands, desired configuration and telemetry of one agent."""

    def __init__(self, *, agent: Parts, local: dict[str, Any]) -> None:
        self._agent = agent
        cfg = agent.cfg
        # The main loop and the control socket (rollback) both move the rollout: one at a time.
        self._lock = threading.Lock()
        self._restart_at: float | None = None
        self._next_purge = 0.0
        self.rollout = Rollout(
            local=local,
            store=layer_store(cfg),
            hooks=Hooks(
                apply_live=self._apply_live,
                switch_broker=agent.switch_broker,
                broker_up=lambda: bool(agent.publisher.link().get("connected")),
                restart_process=self._schedule_restart,
                alarm_active=lambda: bool(agent.sos.state()["active"]),
                publish=lambda payload: agent.publisher.publish_retained(
                    f"{cfg.prefix}/config/reported", payload
                ),
                signatures=self._signatures,
            ),
        )
        self.telemetry = Telemetry(sources=self._sources(cfg), store=agent.outbox)
        commands = CommandSet(
            alarm=agent.sos,
            state=agent.outbox,
            telemetry_now=self.telemetry.send,
            selftest=self.telemetry.selftest,
            config_get=self.rollout.report,
            restart=self.rollout.request_restart,
        )
        self.remote = Remote(
            prefix=cfg.prefix,
            limits=cfg.remote,
            commands=commands,
            desired=self.rollout,
            audit=agent.outbox,
            reply=lambda topic, payload, correlation: agent.publisher.reply(
                topic, payload, correlation_data=correlation
            ),
        )

    def start(self) -> None:
        """Publish the reported configuration (retained, re-sent after every reconnect)."""
        self.rollout.publish_current()

    def handle(self, request: Request) -> None:
        """One request from MQTT (main thread)."""
        with self._lock:
            self.remote.handle(request)

    def tick(self) -> None:
        """Timers: telemetry, configuration waiting or being tried, restarts, audit purge."""
        with self._lock:
            self.rollout.tick()
        self.telemetry.tick()
        now = time.monotonic()
        if self._restart_at is not None and now >= self._restart_at:
            self._agent.exit_code = EXIT_RESTART
            self._agent.stop.set()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_S
            self._purge_audit()

    def status(self) -> dict[str, Any]:
        """The remote side of `edge-agent status`."""
        report = self.rollout.report()
        return {
            "signatures": self._signatures(),
            "config": {key: report.get(key) for key in ("version", "status", "applied_version")},
            "counters": self.remote.stats(),
            "telemetry_sent": self.telemetry.sent,
        }

    def rollback(self, args: dict[str, Any]) -> dict[str, Any]:
        """`edge-agent config rollback VERSION` over the control socket."""
        version = args.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CommandError(f"version must be a positive integer, got {version!r}")
        with self._lock:
            return self.rollout.rollback(version)

    # --- wiring -----------------------------------------------------------------------------

    def _sources(self, cfg: Config) -> Sources:
        agent = self._agent
        return Sources(
            boot=agent.outbox.boot,
            version=__version__,
            disk_path=cfg.storage.dir,
            interval_s=lambda: agent.cfg.telemetry.interval_s,
            link=self._link,
            outbox=agent.outbox.stats,
            sos=agent.sos.state,
            remote=self.status,
            components=self._components,
            devices=agent.devices,
            device_checks=agent.device_checks,
        )

    def _link(self) -> dict[str, Any]:
        mqtt = self._agent.cfg.mqtt
        return {"host": mqtt.host, "port": mqtt.port, **self._agent.publisher.link()}

    def _components(self) -> dict[str, Condition]:
        conditions: dict[str, Condition] = {
            name: ("ok", None) if alive else ("failed", "thread stopped")
            for name, alive in self._agent.threads().items()
        }
        for name, state in self._agent.devices().items():
            if conditions.get(name) == ("ok", None) and not state.get("up", True):
                level = state.get("condition", "degraded")  # "failed" when it cannot recover
                conditions[name] = (level, state.get("last_down_reason") or "link down")
        link = self._agent.publisher.link()
        if conditions.get("publisher") == ("ok", None) and not link.get("connected"):
            conditions["publisher"] = ("degraded", link.get("last_error") or "not connected")
        report = self.rollout.report()
        if report["status"] == "rejected" and report["version"] == report["applied_version"]:
            conditions["config"] = ("degraded", str(report["errors"])[:200])
        else:
            conditions["config"] = ("ok", None)
        return conditions

    def _apply_live(self, cfg: Config) -> None:
        self._agent.cfg = cfg
        self._agent.sos.retime(sos_timing(cfg.sos))
        logging.getLogger().setLevel(cfg.logging.level)

    def _schedule_restart(self, reason: str) -> None:
        log.warning("restarting the agent: %s", reason)
        self._restart_at = time.monotonic() + RESTART_DELAY_S

    def _signatures(self) -> str:
        if self._agent.cfg.remote.trusted_keys:
            return "required"
        return "not required: unsigned input accepted (remote.trusted_keys is empty)"

    def _purge_audit(self) -> None:
        cfg = self._agent.cfg
        # Kept at least as long as a signed command may live, so its id is never forgotten
        # while it could still be replayed.
        keep_s = max(cfg.storage.retention_days * 86400, cfg.remote.max_expiry_s)
        try:
            self._agent.outbox.purge_audit(time.time() - keep_s)
        except StorageError as exc:
            log.warning("cannot purge the audit log: %s", exc)
