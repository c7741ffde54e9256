"""The technician's history commands: `events`, `queue stats`, `audit`, `config history`.

They read the outbox database read-only (agent.views.history, agent.config_layer) and work
whether or not the daemon runs. Registered by `agent.cli`, in the order of its help.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from agent import config, views
from agent.audit import line as audit_line
from agent.config_layer import history_line, store_in

EXIT_OK = 0


def events(args: argparse.Namespace) -> int:
    """`events`: recent events from the outbox, oldest first; `--follow` keeps printing."""
    reader = views.history(_load(args))
    try:
        records = reader.recent(kind=args.kind, pending_only=args.pending, limit=args.limit)
        for record in reversed(records):
            _event(args, record)
        last = max((r["seq"] for r in records), default=0)
        while args.follow:
            time.sleep(0.5)
            for record in reader.recent(
                kind=args.kind, pending_only=args.pending, limit=1000, after_seq=last
            ):
                _event(args, record)
                last = max(last, record["seq"])
    finally:
        reader.close()
    return EXIT_OK


def _event(args: argparse.Namespace, record: dict[str, Any]) -> None:
    # JSON Lines: one event per line, so `--follow --json` can be piped into a parser.
    line = json.dumps(record, ensure_ascii=False) if args.json else views.event_line(record)
    print(line, flush=True)


def config_history(args: argparse.Namespace) -> int:
    """`config history`: the remote configuration versions kept."""
    layers = [vars(layer) for layer in store_in(_load(args).storage.dir).history()]
    _emit(args, layers, lambda rows: "\n".join(map(history_line, rows)) or "no remote versions")
    return EXIT_OK


def audit(args: argparse.Namespace) -> int:
    """`audit`: remote commands, oldest first: who, what, when, result."""
    reader = views.history(_load(args))
    try:
        entries = [e.to_dict() for e in reader.audit(limit=args.limit, name=args.name)]
    finally:
        reader.close()
    for entry in reversed(entries):
        _emit(args, entry, audit_line)
    return EXIT_OK


def queue_stats(args: argparse.Namespace) -> int:
    """`queue stats`: outbox depth per kind and priority, bytes, oldest age."""
    reader = views.history(_load(args))
    try:
        _emit(args, reader.stats().to_dict(), views.queue_text)
    finally:
        reader.close()
    return EXIT_OK


def _load(args: argparse.Namespace) -> config.Config:
    return config.load(config.resolve_path(args.config))


def _emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text(data))
