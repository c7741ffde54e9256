"""Frames on the wire: COBS-encoded bodies with a CRC-16, ended by a zero byte (PROTOCOL.md §2).

`encode_frame` builds the bytes to write; `FrameDecoder` takes whatever the port returned,
resynchronises on the next zero after garbage, and counts every frame it drops.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

MAX_PAYLOAD = 64
HEADER_SIZE = 5
CRC_SIZE = 2
MIN_BODY = HEADER_SIZE + CRC_SIZE
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_ENCODED = MAX_BODY + 2  # COBS adds one code byte per 254 bytes, plus the first

FLAG_REL = 0x01
FLAG_ACK = 0x02


class FrameError(ValueError):
    """A frame that cannot be encoded or decoded; `counter` names the statistic it counts as."""

    def __init__(self, counter: str, message: str) -> None:
        super().__init__(message)
        self.counter = counter


@dataclass(frozen=True)
class Frame:
    """One decoded frame body: header fields and payload."""

    type: int
    payload: bytes = b""
    flags: int = 0
    seq: int = 0
    ack: int = 0

    @property
    def reliable(self) -> bool:
        """Whether the sender wants this frame acknowledged."""
        return bool(self.flags & FLAG_REL)

    @property
    def acks(self) -> int | None:
        """The sequence number this frame acknowledges, if it carries one."""
        return self.ack if self.flags & FLAG_ACK else None


@dataclass
class Counters:
    """What the receiving side counted (PROTOCOL.md §2.1 and §4); names match the C firmware."""

    frames_ok: int = 0
    bad_cobs: int = 0
    bad_crc: int = 0
    bad_length: int = 0
    overflow: int = 0
    bad_type: int = 0
    bad_payload: int = 0
    duplicates: int = 0
    retransmits: int = 0
    give_ups: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        """Add one to the counter called `name`."""
        if name in self.__dataclass_fields__ and name != "extra":
            setattr(self, name, getattr(self, name) + 1)
        else:
            self.extra[name] = self.extra.get(name, 0) + 1

    def errors(self) -> int:
        """Frames dropped for any reason."""
        return sum(self.as_dict().values()) - self.frames_ok - self.retransmits

    def as_dict(self) -> dict[str, int]:
        """All counters by name."""
        names = [name for name in self.__dataclass_fields__ if name != "extra"]
        return {name: getattr(self, name) for name in names} | self.extra


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF (check value 0x29B1)."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the same bytes with every zero removed."""
    out = bytearray()
    for block in data.split(b"\x00"):
        start = 0
        while len(block) - start >= 254:
            out += b"\xff" + block[start : start + 254]
            start += 254
        out.append(len(block) - start + 1)
        out += block[start:]
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Undo `cobs_encode`; raises FrameError on a malformed encoding."""
    out = bytearray()
    index = 0
    while index < len(data):
        code = data[index]
        end = index + code
        if code == 0 or end > len(data) or 0 in data[index + 1 : end]:
            raise FrameError("bad_cobs", f"COBS code {code} at offset {index} is invalid")
        out += data[index + 1 : end]
        index = end
        if code != 0xFF and index < len(data):
            out.append(0)
    return bytes(out)


def encode_body(frame: Frame) -> bytes:
    """The frame body before COBS: header, payload, CRC."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise FrameError("bad_length", f"payload of {len(frame.payload)} bytes exceeds 64")
    header = bytes((frame.type, frame.flags, frame.seq, frame.ack, len(frame.payload)))
    body = header + frame.payload
    return body + crc16(body).to_bytes(2, "little")


def encode_frame(frame: Frame) -> bytes:
    """The bytes to write for `frame`, delimiter included."""
    return cobs_encode(encode_body(frame)) + b"\x00"


def decode_body(body: bytes) -> Frame:
    """Check and split a frame body; raises FrameError naming the counter to bump."""
    if len(body) < MIN_BODY:
        raise FrameError("bad_length", f"frame of {len(body)} bytes is shorter than 7")
    if crc16(body[:-2]) != int.from_bytes(body[-2:], "little"):
        raise FrameError("bad_crc", "frame checksum does not match")
    length = body[4]
    if length > MAX_PAYLOAD or length + MIN_BODY != len(body):
        raise FrameError(
            "bad_length", f"length field {length} does not fit a {len(body)}-byte frame"
        )
    return Frame(type=body[0], flags=body[1], seq=body[2], ack=body[3], payload=body[5:-2])


class FrameDecoder:
    """Turns a byte stream into frames, skipping and counting anything malformed."""

    def __init__(self, counters: Counters | None = None) -> None:
        self.counters = counters if counters is not None else Counters()
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[Frame]:
        """Every complete, valid frame in `data` (partial frames wait for more bytes)."""
        frames: list[Frame] = []
        *chunks, rest = data.split(b"\x00")
        for chunk in chunks:
            frame = self._finish(chunk)
            if frame is not None:
                frames.append(frame)
        self._collect(rest)
        return frames

    def _collect(self, chunk: bytes) -> None:
        if self._skipping:
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_ENCODED:
            self.counters.count("overflow")
            self._buffer.clear()
            self._skipping = True

    def _finish(self, chunk: bytes) -> Frame | None:
        self._collect(chunk)
        encoded, skipped = bytes(self._buffer), self._skipping
        self._buffer.clear()
        self._skipping = False
        if skipped or not encoded:
            return None
        try:
            frame = decode_body(cobs_decode(encoded))
        except FrameError as error:
            self.counters.count(error.counter)
            return None
        self.counters.frames_ok += 1
        return frame
