"""What the technician reads: status screens, event lines and tables, as plain text."""

from __future__ import annotations

import json
from typing import Any

from agent import config
from agent.outbox import OutboxReader, open_readonly


def history(cfg: config.Config) -> OutboxReader:
    """The outbox, read-only, for history commands (works with or without the daemon)."""
    return open_readonly(cfg.database)


def offline_status(cfg: config.Config, problem: str) -> dict[str, Any]:
    """What `status` can still tell when the daemon does not answer."""
    data: dict[str, Any] = {
        "device": cfg.device.id,
        "site": cfg.device.site,
        "prefix": cfg.prefix,
        "daemon": f"not running ({problem})",
    }
    try:
        reader = history(cfg)
    except OSError as exc:
        data["outbox"] = {"error": str(exc)}
        return data
    try:
        data["outbox"] = reader.stats().to_dict()
        data["sos"] = reader.get_state("sos.alarm") or {"active": False}
    finally:
        reader.close()
    return data


def status_text(data: dict[str, Any]) -> str:
    """The one-screen status."""
    lines = [f"device   {data['device']} at {data['site']}  ({data['prefix']})"]
    if "daemon" in data:
        lines.append(f"daemon   {data['daemon']}")
    else:
        lines.append(
            f"daemon   edge-agent {data['version']}, boot {data['boot']}, "
            f"pid {data['pid']}, up {_age(data['uptime_s'])}"
        )
        lines.append(_broker_line(data["broker"]))
        lines.append(f"clock    {'synchronised' if data['clock_synced'] else 'NOT synchronised'}")
        disk = data["disk"]
        lines.append(
            f"disk     {disk['free_bytes'] / 1e9:.1f} GB free of "
            f"{disk['total_bytes'] / 1e9:.1f} GB at {disk['path']}"
        )
        gpio = data["gpio"]
        lines.append(
            f"gpio     {gpio['pin_factory']}, button pin {gpio['button_pin']} "
            f"{'PRESSED' if gpio['pressed'] else 'released'}, "
            f"indicators {_flags(gpio['indicators'])}"
        )
        lines.append(_mcu_line(data.get("mcu")))
        lines.append(_vision_line(data.get("vision")))
    if "remote" in data:
        lines.append(_remote_line(data["remote"]))
    lines.append(_sos_line(data.get("sos", {})))
    lines.extend(queue_text(data.get("outbox", {})).splitlines())
    return "\n".join(lines)


def _broker_line(link: dict[str, Any]) -> str:
    where = f"{link['host']}:{link['port']}"
    if link.get("connected"):
        return f"broker   connected to {where}, inflight {link.get('inflight', 0)}"
    error = link.get("last_error") or "not connected yet"
    return f"broker   DISCONNECTED from {where}: {error}"


def _sos_line(alarm: dict[str, Any]) -> str:
    if not alarm or not alarm.get("id"):
        return "sos      idle"
    state = f"acknowledged by {alarm['acked_by']}" if alarm.get("acked") else "NOT acknowledged"
    test = " (test)" if alarm.get("test") else ""
    return (
        f"sos      ALARM{test} {alarm['id']} since {alarm['raised_at']}, {state}, "
        f"{alarm.get('presses', 1)} press(es)"
    )


def _mcu_line(mcu: dict[str, Any] | None) -> str:
    if mcu is None:
        return "mcu      not configured"
    if not mcu["up"]:
        reason = mcu.get("last_down_reason") or "no answer yet"
        return f"mcu      DOWN on {mcu['port']}: {reason}"
    inputs = mcu.get("inputs", {})
    mains = "mains present" if inputs.get("mains") else "NO MAINS"
    battery = f"battery {inputs.get('battery_v', '?')} V {mcu['battery']}"
    opened = [name for name in ("tamper", "door") if inputs.get(name)]
    doors = ", ".join(f"{name.upper()} OPEN" for name in opened) or "closed"
    faults = f", faults {', '.join(mcu['faults'])}" if mcu.get("faults") else ""
    return (
        f"mcu      up, firmware {mcu['firmware']} on {mcu['port']}, {mains}, {battery}, "
        f"enclosure {doors}{faults}"
    )


def mcu_text(mcu: dict[str, Any]) -> str:
    """`edge-agent mcu status`: link, firmware, inputs, outputs and counters."""
    lines = [_mcu_line(mcu)]
    if mcu.get("firmware"):
        lines.append(
            f"firmware {mcu['firmware']}, protocol {mcu['protocol']}, reset cause "
            f"{mcu['reset_cause']}, Pi power last cut by {mcu['pi_power_cause']}, "
            f"watchdog fired {mcu['watchdog_fires']} time(s)"
        )
    watchdog = f"{mcu['watchdog_s']:g} s" if mcu.get("watchdog_s") else "off"
    lines.append(f"watchdog {watchdog}; reconnects {mcu.get('reconnects', 0)}")
    inputs = mcu.get("inputs") or {}
    lines.append("inputs   " + (", ".join(f"{k} {v}" for k, v in inputs.items()) or "none yet"))
    outputs = mcu.get("outputs") or {}
    lines.append("outputs  " + (", ".join(f"{k} {v}" for k, v in outputs.items()) or "none yet"))
    counters = {k: v for k, v in (mcu.get("counters") or {}).items() if v}
    lines.append("counters " + (", ".join(f"{k} {v}" for k, v in counters.items()) or "all 0"))
    return "\n".join(lines)


def _remote_line(remote: dict[str, Any]) -> str:
    conf = remote["config"]
    state = f"config v{conf['applied_version']} ({conf['status']} v{conf['version']})"
    return f"remote   {state}; signatures {remote['signatures']}"


def _flags(flags: dict[str, bool]) -> str:
    return ", ".join(f"{name} {'on' if lit else 'off'}" for name, lit in flags.items()) or "none"


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def queue_text(stats: dict[str, Any]) -> str:
    """Outbox depth per kind and priority, bytes and oldest pending age."""
    if "error" in stats:
        return f"outbox   unreadable: {stats['error']}"
    oldest = stats.get("oldest_pending_age_s")
    lines = [
        f"outbox   {stats.get('pending', 0)} pending, {stats.get('bytes', 0)} bytes"
        + (f", oldest {_age(oldest)}" if oldest is not None else "")
    ]
    for row in stats.get("by_kind", []):
        lines.append(
            f"         p{row['priority']} {row['kind']:<12} {row['pending']:>7} pending"
            f"  {row['bytes']:>10} bytes"
        )
    return "\n".join(lines)


def event_line(record: dict[str, Any]) -> str:
    """One event as a line: time, seq, kind/phase, delivery, data."""
    delivered = "delivered" if record.get("delivered_at") else "PENDING  "
    test = " test" if record.get("test") else ""
    data = json.dumps(record.get("data", {}), ensure_ascii=False, separators=(",", ":"))
    return (
        f"{record['ts']}  #{record['seq']:<6} p{record['priority']} "
        f"{record['kind']}/{record['phase']}{test}  {delivered}  {record['id']}  {data}"
    )


def config_text(data: dict[str, Any]) -> str:
    """The effective configuration as TOML-like text."""
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines.extend(
            f"# {key} is not set" if value is None else f"{key} = {json.dumps(value)}"
            for key, value in values.items()
        )
        lines.append("")
    return "\n".join(lines).rstrip()


def _vision_line(vision: dict[str, Any] | None) -> str:
    if vision is None:
        return "vision   off"
    cameras = [
        f"{name.removeprefix('camera/')} {part.get('state')}"
        for name, part in sorted(vision.get("components", {}).items())
        if name.startswith("camera/")
    ]
    state = vision["state"] if vision["up"] else f"{vision['condition'].upper()}"
    why = "" if vision["up"] else f": {vision['last_down_reason']}"
    return (
        f"vision   {state}{why}; pid {vision.get('pid')}, {vision['restarts']} restart(s), "
        f"faces {vision['faces']}, cameras {', '.join(cameras) or 'none yet'}"
    )


def models_text(entries: list[dict[str, Any]]) -> str:
    """`edge-agent models list`: one model a line."""
    return "\n".join(
        f"{e['name']:<18} {e['task'] or '-':<8} {e['size']:>9} B  {e['file']}  ({e['licence']})"
        for e in entries
    )


def checks_text(checks: list[dict[str, Any]]) -> str:
    """`edge-agent models verify` / `fetch`: one model a line, OK or what is wrong."""
    return "\n".join(
        f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']:<18} {c['detail'] or c['path']}"
        for c in checks
    )


def faces_text(results: list[dict[str, Any]]) -> str:
    """`edge-agent faces detect`: each image, then each face's box, score and quality."""
    lines = []
    for result in results:
        lines.append(f"{result['image']}: {len(result['faces'])} face(s)")
        lines.extend(
            f"  box {face['box']} score {face['score']} quality {face['quality']['overall']}"
            for face in result["faces"]
        )
    return "\n".join(lines)


def selftest_text(result: dict[str, Any]) -> str:
    """`edge-agent selftest`: each check, OK or FAIL with the detail."""
    lines = [
        f"{'ok  ' if check['ok'] else 'FAIL'} {name:<16} {check['detail'] or ''}".rstrip()
        for name, check in sorted(result["checks"].items())
    ]
    return "\n".join([*lines, "selftest " + ("passed" if result["ok"] else "FAILED")])
