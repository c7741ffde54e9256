"""Ed25519 signatures on remote input: canonical bytes, trusted issuers, expiry.

The signed bytes are the full MQTT topic (so a command signed for one device or one command
name cannot be replayed on another), a newline, and the document without its `sig` field as
JSON with sorted keys, no whitespace and UTF-8 text (RFC 8785-like). `issuer` names the key,
`expires` (RFC 3339, UTC) bounds its life. Replays are caught by the caller: commands by
their `cmd_id`, desired documents by their version.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.errors import CommandError

SIG, ISSUER, EXPIRES = "sig", "issuer", "expires"


class SignatureError(CommandError):
    """Input is unsigned where a signature is required, forged, expired or from an unknown key."""


def canonical(topic: str, document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: topic, newline, the document minus `sig`, canonical JSON."""
    body = {key: value for key, value in document.items() if key != SIG}
    try:
        text = json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return topic.encode() + b"\n" + text.encode()
    except (ValueError, TypeError) as exc:  # lone surrogates, NaN: nothing valid signs them
        raise SignatureError(f"document has no canonical form: {exc}") from None


def sign(
    topic: str, document: Mapping[str, Any], *, key: Ed25519PrivateKey, issuer: str, expires: str
) -> dict[str, Any]:
    """A signed copy of `document` (fleet tooling and tests)."""
    signed = {**document, ISSUER: issuer, EXPIRES: expires}
    signed[SIG] = base64.b64encode(key.sign(canonical(topic, signed))).decode()
    return signed


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The base64 public key, as `remote.trusted_keys` takes it."""
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def parse_expiry(value: Any) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time such as `2026-11-27T01:02:03Z`."""
    if not isinstance(value, str) or len(value) > 40:
        raise SignatureError(f"expires must be an RFC 3339 UTC time, got {value!r:.60}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SignatureError(f"expires must be an RFC 3339 UTC time, got {value!r}") from None
    if moment.utcoffset() is None:
        raise SignatureError(f"expires must carry a time zone (Z), got {value!r}")
    return moment.astimezone(UTC).timestamp()


class Verifier:
    """Checks expiry always, and signatures when trusted keys are configured."""

    def __init__(
        self,
        trusted: Mapping[str, str],
        *,
        max_expiry_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = {
            issuer: Ed25519PublicKey.from_public_bytes(base64.b64decode(text))
            for issuer, text in trusted.items()
        }
        self._max_expiry_s = max_expiry_s
        self._clock = clock

    @property
    def required(self) -> bool:
        """Whether unsigned input is refused."""
        return bool(self._keys)

    def check(self, topic: str, document: Mapping[str, Any]) -> str | None:
        """Raise SignatureError unless acceptable; returns the verified issuer, or None."""
        if EXPIRES in document:
            self._check_expiry(document[EXPIRES])
        if not self.required:
            return None
        if EXPIRES not in document:
            raise SignatureError("expires: required on signed input")
        issuer = document.get(ISSUER)
        if not isinstance(issuer, str) or issuer not in self._keys:
            raise SignatureError(f"issuer: {issuer!r:.80} is not a trusted issuer")
        self._verify(self._keys[issuer], topic, document)
        return issuer

    def _check_expiry(self, value: Any) -> None:
        expires, now = parse_expiry(value), self._clock()
        if expires <= now:
            raise SignatureError(f"expires: {value} has passed")
        if expires - now > self._max_expiry_s:
            raise SignatureError(
                f"expires: {value} is more than remote.max_expiry_s ({self._max_expiry_s:g} s) "
                "ahead"
            )

    def _verify(self, key: Ed25519PublicKey, topic: str, document: Mapping[str, Any]) -> None:
        text = document.get(SIG)
        if not isinstance(text, str) or len(text) > 200:
            raise SignatureError("sig: missing or not a base64 string (signatures are required)")
        try:
            key.verify(base64.b64decode(text, validate=True), canonical(topic, document))
        except (InvalidSignature, binascii.Error, ValueError):
            raise SignatureError(
                f"sig: does not verify for issuer {document.get(ISSUER)!r}"
            ) from None
