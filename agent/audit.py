"""The audit log of remote commands: who sent what, when, and what came of it.

Rows live in the outbox database (table `audit`, written through the outbox's one writer
connection); `edge-agent audit` reads them read-only. A command's `cmd_id` is unique there,
which is how a repeated id finds its first result instead of running twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from agent.events import utc_timestamp


@dataclass(frozen=True)
class AuditEntry:
    """One command as received and answered."""

    cmd_id: str
    name: str
    by: str | None
    issuer: str | None
    digest: str  # sha256 of the canonical command: a reused id with other content is refused
    received_at: float
    ok: bool
    reply: dict[str, Any]

    def row(self) -> tuple[Any, ...]:
        """The values in the column order of the `audit` table."""
        reply = json.dumps(self.reply, separators=(",", ":"))  # ASCII: any text stores safely
        return (self.cmd_id, self.name, self.by, self.issuer, self.digest, self.received_at,
                int(self.ok), reply)  # fmt: skip

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> AuditEntry:
        """Rebuild an entry from a row selected in table order."""
        cmd_id, name, by, issuer, digest, received_at, ok, reply = row
        return cls(cmd_id, name, by, issuer, digest, received_at, bool(ok), json.loads(reply))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the time as UTC text."""
        return {**asdict(self), "received_at": utc_timestamp(self.received_at)}


def digest(canonical: bytes) -> str:
    """The fingerprint of a command's canonical bytes."""
    return hashlib.sha256(canonical).hexdigest()


def line(entry: dict[str, Any]) -> str:
    """One audit entry as a line for the technician."""
    outcome = "ok      " if entry["ok"] else "REJECTED"
    detail = entry["reply"].get("error") if not entry["ok"] else entry["reply"].get("result")
    text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"))
    who = entry["by"] or "-"
    signed = f" [{entry['issuer']}]" if entry["issuer"] else ""
    return f"{entry['received_at']}  {outcome} {entry['name']:<14} by {who}{signed}  {text}"
