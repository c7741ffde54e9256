"""`edge-agent`: the daemon and the technician's command line.

Exit status: 0 success, 1 failure, 2 usage error. Errors are one line on stderr. Live
commands reach the daemon over its control socket; history is read from SQLite read-only
(agent.cli_history); the vision and health commands are in agent.cli_vision, the plate
models' in agent.cli_plates.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agent import __version__, cli_history, cli_plates, cli_vision, config, control, systemd, views
from agent.errors import AgentError, ControlError
from agent.mcu_outputs import OUTPUT_MODES

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edge-agent` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.command(args)
    except AgentError as exc:
        print(f"edge-agent: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    return code


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, each with its help."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $EDGE_AGENT_CONFIG, else /etc/edge-agent/config.toml)",
    )
    reader = argparse.ArgumentParser(add_help=False, parents=[common])
    reader.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser = argparse.ArgumentParser(
        prog="edge-agent", description="Edge agent for camera poles and SOS posts."
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(
        name: str,
        command: Command,
        text: str,
        *,
        into: Any = sub,
        parent: argparse.ArgumentParser = common,
    ) -> argparse.ArgumentParser:
        cmd: argparse.ArgumentParser = into.add_parser(
            name, help=text, description=text, parents=[parent]
        )
        cmd.set_defaults(command=command)
        return cmd

    add("run", _run, "run the daemon (what systemd starts)")
    add("status", _status, "one screen: identity, broker link, outbox, SOS, health", parent=reader)
    events = add("events", cli_history.events, "recent events from the outbox", parent=reader)
    events.add_argument("--kind", help="only events of this kind")
    events.add_argument("--pending", action="store_true", help="only events not yet delivered")
    events.add_argument("--limit", type=_positive, default=20, help="how many (default 20)")
    events.add_argument("--follow", action="store_true", help="keep printing new events")

    sos = _group(sub, "sos", "the SOS alarm")
    test = add("test", _sos_test, "technician test: a full alarm cycle flagged test", into=sos)
    test.add_argument("--by", default="technician", help="who runs the test")
    reset = add("reset", _sos_reset, "end the active alarm locally (technician on site)", into=sos)
    reset.add_argument("--id", help="the alarm's event id (default: the active alarm)")
    reset.add_argument("--by", default="technician", help="who ends it")

    sim = _group(sub, "sim", "drive a daemon that runs with simulated GPIO")
    press = add("press", _sim_press, "press the simulated SOS button", into=sim)
    press.add_argument("--hold", type=_seconds, default=0.2, help="seconds held (default 0.2)")
    burst = add("events", _sim_events, "store synthetic events (demos and tests)", into=sim)
    burst.add_argument("--count", type=_positive, default=1, help="how many (default 1)")
    burst.add_argument("--kind", default="sim", help="event kind (default sim)")
    burst.add_argument("--priority", type=int, choices=(1, 2, 3), default=2, help="1, 2 or 3")

    cfg = _group(sub, "config", "the configuration file")
    check = add("check", _config_check, "validate a file; errors name the dotted key", into=cfg)
    check.add_argument("path", nargs="?", help="file to check (default: the --config file)")
    add(
        "show",
        _config_show,
        "print the effective configuration, secrets masked",
        into=cfg,
        parent=reader,
    )
    add(
        "history",
        cli_history.config_history,
        "remote configuration versions kept",
        into=cfg,
        parent=reader,
    )
    rollback = add("rollback", _config_rollback, "go back to a kept remote version", into=cfg)
    rollback.add_argument("version", type=_positive, help="the version to restore")
    audit = add(
        "audit", cli_history.audit, "remote commands: who, what, when, result", parent=reader
    )
    audit.add_argument("--limit", type=_positive, default=20, help="how many (default 20)")
    audit.add_argument("--name", help="only this command")

    mcu = _group(sub, "mcu", "the post's microcontroller: lamps, strobe, siren, inputs, power")
    add("status", _mcu_status, "link, firmware, inputs, outputs, counters", into=mcu, parent=reader)
    setter = add(
        "set", _mcu_set, "drive one output (the alarm takes it back on its next change)", into=mcu
    )
    setter.add_argument("output", choices=list(OUTPUT_MODES), help="which output")
    states = sorted({state for modes in OUTPUT_MODES.values() for state in modes})
    setter.add_argument(
        "state",
        choices=states,
        help="; ".join(f"{out}: {', '.join(modes)}" for out, modes in OUTPUT_MODES.items()),
    )
    setter.add_argument(
        "--for",
        dest="duration",
        type=_positive,
        default=0,
        help="seconds, then off (default: until changed)",
    )

    add(
        "stats",
        cli_history.queue_stats,
        "depth per kind and priority, bytes, oldest age",
        into=_group(sub, "queue", "the outbox queue"),
        parent=reader,
    )
    _add_model_commands(sub, add, reader)
    return parser


def _add_model_commands(
    sub: Any, add: Callable[..., argparse.ArgumentParser], reader: argparse.ArgumentParser
) -> None:
    """The commands that run the vision models (agent.cli_vision, agent.cli_plates)."""
    cli_vision.add_commands(sub, add, _group, reader)
    cli_plates.add_commands(sub, add, _group, reader)


def _group(sub: Any, name: str, text: str) -> Any:
    group = sub.add_parser(name, help=text, description=text)
    return group.add_subparsers(title="commands", metavar="COMMAND", required=True)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 30:
        raise argparse.ArgumentTypeError(f"must be in (0, 30] seconds, got {text}")
    return value


def _load(args: argparse.Namespace) -> config.Config:
    return config.load(config.resolve_path(args.config))


def _emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text(data))


# --- commands ---------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from agent import app  # noqa: PLC0415 - the daemon's imports are not the CLI's

    path = config.resolve_path(args.config)
    cfg = config.load(path)
    _setup_logging(cfg.logging.level)
    return app.run(cfg, local=config.read_document(path))


def _status(args: argparse.Namespace) -> int:
    cfg = _load(args)
    try:
        data = control.call(cfg.control.socket, "status")
    except ControlError as exc:
        data = views.offline_status(cfg, str(exc))
        _emit(args, data, views.status_text)
        return EXIT_FAILURE
    _emit(args, data, views.status_text)
    return EXIT_OK


def _live(args: argparse.Namespace, cmd: str, payload: dict[str, Any]) -> Any:
    return control.call(_load(args).control.socket, cmd, payload)


def _sos_test(args: argparse.Namespace) -> int:
    result = _live(args, "sos_test", {"by": args.by})
    print(f"test alarm {result['alarm']} raised; end it with: edge-agent sos reset")
    return EXIT_OK


def _sos_reset(args: argparse.Namespace) -> int:
    result = _live(args, "sos_reset", {"id": args.id, "by": args.by})
    print(f"alarm {result['alarm']} ended")
    return EXIT_OK


def _sim_press(args: argparse.Namespace) -> int:
    result = _live(args, "sim_press", {"hold": args.hold})
    print(f"pressed pin {result['pin']} for {result['pressed_s']} s")
    return EXIT_OK


def _sim_events(args: argparse.Namespace) -> int:
    payload = {"count": args.count, "kind": args.kind, "priority": args.priority}
    result = _live(args, "sim_events", payload)
    print("\n".join(result["ids"]))
    return EXIT_OK


def _mcu_status(args: argparse.Namespace) -> int:
    _emit(args, _live(args, "mcu_status", {}), views.mcu_text)
    return EXIT_OK


def _mcu_set(args: argparse.Namespace) -> int:
    if args.state not in OUTPUT_MODES[args.output]:
        known = ", ".join(OUTPUT_MODES[args.output])
        print(f"edge-agent: {args.output} takes {known}; not {args.state}", file=sys.stderr)
        return EXIT_USAGE
    payload = {"output": args.output, "state": args.state, "duration_s": args.duration}
    result = _live(args, "mcu_set", payload)
    until = f"for {result['duration_s']} s" if result["duration_s"] else "until changed"
    print(f"{result['output']} set to {result['state']} {until}")
    return EXIT_OK


def _config_check(args: argparse.Namespace) -> int:
    path = config.resolve_path(args.path or args.config)
    config.load(path)
    print(f"{path}: OK")
    return EXIT_OK


def _config_show(args: argparse.Namespace) -> int:
    data = config.masked(_load(args))
    _emit(args, data, views.config_text)
    return EXIT_OK


def _config_rollback(args: argparse.Namespace) -> int:
    report = _live(args, "config_rollback", {"version": args.version})
    errors = "; ".join(f"{e['key']}: {e['message']}" for e in report["errors"])
    print(f"version {report['version']}: {report['status']}" + (f" ({errors})" if errors else ""))
    return EXIT_OK if report["status"] != "rejected" else EXIT_FAILURE


def _setup_logging(level: str) -> None:
    # journald stamps every line itself; elsewhere a technician wants the time.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not systemd.under_journal():
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
