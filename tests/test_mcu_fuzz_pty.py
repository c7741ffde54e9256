"""Random, mutated and replayed frames fed to the MCU programs over a pseudo-terminal.

The MCU (C host build or Python simulator) must survive anything, count what it drops
exactly as PROTOCOL.md §2.1 says (the Python decoder fed the same bytes is the oracle),
and still decode the next valid frame.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from firmware_bridge.codes import ALL_CAPS, MsgType, Output, Reject
from firmware_bridge.frames import (
    FLAG_ACK,
    FLAG_REL,
    Frame,
    FrameDecoder,
    cobs_encode,
    crc16,
    encode_body,
    encode_frame,
)
from firmware_bridge.messages import Hello, Message, Rejected, SetOutput, Welcome
from firmware_bridge.nullmodem import NullModem
from tests import mcu_fixtures as mf

DECODER_COUNTERS = ("frames_ok", "bad_cobs", "bad_crc", "bad_length", "overflow")


class RawHost:
    """A hand-driven host on the cable: writes exactly the bytes a test wants."""

    def __init__(self, path: str) -> None:
        self.port = serial.serial_for_url(path, timeout=0.05)
        self.decoder = FrameDecoder()
        self.received: list[Frame] = []
        self.nonce = 0x1234

    def close(self) -> None:
        self.port.close()

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def wait_frame(self, where: Callable[[Frame], bool], timeout: float = mf.WAIT_S) -> Frame:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.received += self.decoder.feed(self.port.read(max(1, self.port.in_waiting)))
            for frame in self.received:
                if where(frame):
                    self.received.remove(frame)
                    return frame
        raise AssertionError(f"no such frame from the MCU; got {self.received}")

    def hello(self) -> bytes:
        return encode_frame(Frame(MsgType.HELLO, Hello(1, 0, ALL_CAPS, self.nonce, 1000, 0).pack()))

    def handshake(self) -> Welcome:
        self.nonce += 1
        self.write(self.hello())
        frame = self.wait_frame(lambda f: f.type == MsgType.WELCOME and self._ours(f))
        return Welcome(*Welcome.FORMAT.unpack(frame.payload))

    def _ours(self, frame: Frame) -> bool:
        return Welcome(*Welcome.FORMAT.unpack(frame.payload)).nonce == self.nonce

    def reliable(self, message: Message | Frame, seq: int) -> bytes:
        if isinstance(message, Frame):
            return encode_frame(message)
        return encode_frame(Frame(message.TYPE, message.pack(), flags=FLAG_REL, seq=seq))


@pytest.fixture(scope="session")
def host_build() -> Path:
    return mf.build_firmware()


@pytest.fixture(params=["c", "python"])
def mcu_command(request: pytest.FixtureRequest) -> list[str]:
    return mf.mcu_command(request)


@pytest.fixture
def rig(
    mcu_command: list[str], tmp_path: Path
) -> Iterator[tuple[mf.McuProcess, RawHost, NullModem]]:
    with NullModem(tmp_path) as cable:
        mcu = mf.McuProcess(mcu_command, cable.mcu_path)
        host = RawHost(cable.host_path)
        try:
            yield mcu, host, cable
        finally:
            host.close()
            mcu.close()


def feed_and_compare(rig: tuple[mf.McuProcess, RawHost, NullModem], stream: bytes) -> None:
    """Send `stream` then a HELLO; the MCU must answer and count what the oracle counts."""
    mcu, host, cable = rig
    oracle = FrameDecoder()
    oracle.feed(stream + b"\x00")
    for start in range(0, len(stream), 512):
        host.write(stream[start : start + 512])
    host.write(b"\x00")
    host.handshake()
    oracle.feed(host.hello())
    assert cable.dropped == 0
    stats = mcu.stats()
    assert mcu.alive
    assert {k: stats[k] for k in DECODER_COUNTERS} == {
        k: oracle.counters.as_dict()[k] for k in DECODER_COUNTERS
    }


def test_random_bytes_are_counted_and_the_next_frame_is_decoded(
    rig: tuple[mf.McuProcess, RawHost, NullModem],
) -> None:
    rng = random.Random(20261127)
    chunks = [rng.randbytes(rng.randint(1, 300)) for _ in range(40)]
    sparse = [bytes(b if rng.random() < 0.9 else 0 for b in chunk) for chunk in chunks]
    feed_and_compare(rig, b"".join(chunks + sparse))


def _body_with_length(length_field: int, payload: bytes) -> bytes:
    body = bytes((MsgType.PING, 0, 0, 0, length_field)) + payload
    return body + crc16(body).to_bytes(2, "little")


def test_truncated_bad_checksum_and_oversized_frames_are_counted(
    rig: tuple[mf.McuProcess, RawHost, NullModem],
) -> None:
    good = encode_body(Frame(MsgType.PING, b"\x01\x02\x03\x04"))
    truncated = [cobs_encode(good[:cut]) + b"\x00" for cut in range(1, len(good))]
    bad_crc = [cobs_encode(good[:-1] + bytes([good[-1] ^ bit])) + b"\x00" for bit in (1, 0x80)]
    lying = [cobs_encode(_body_with_length(n, b"\x01\x02\x03\x04")) + b"\x00" for n in (3, 5, 200)]
    oversized = [cobs_encode(_body_with_length(64, bytes(range(1, 66)))) + b"\x00"]
    endless = [b"\x55" * 500 + b"\x00"]
    feed_and_compare(rig, b"".join(truncated + bad_crc + lying + oversized + endless))
    stats = rig[0].stats()
    assert stats["bad_crc"] >= 2 and stats["bad_length"] >= 4 and stats["overflow"] == 1


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(data))
        action = rng.choice(("flip", "drop", "insert", "duplicate", "truncate"))
        if action == "flip":
            data[where] ^= 1 << rng.randrange(8)
        elif action == "drop" and len(data) > 1:
            del data[where]
        elif action == "insert":
            data.insert(where, rng.randrange(256))
        elif action == "duplicate":
            data[where:where] = data[where : where + rng.randint(1, 4)]
        else:
            del data[where + 1 :]
    return bytes(data)


def test_mutated_frames_are_counted_and_the_next_frame_is_decoded(
    rig: tuple[mf.McuProcess, RawHost, NullModem],
) -> None:
    rng = random.Random(7)
    seeds = [
        encode_frame(Frame(MsgType.PING, b"\x01\x02\x03\x04")),
        encode_frame(Frame(MsgType.SET_OUTPUT, SetOutput(2, 1).pack(), flags=FLAG_REL, seq=3)),
        encode_frame(Frame(MsgType.HEARTBEAT, b"\x00\x10\x00\x00", flags=FLAG_ACK, ack=9)),
        encode_frame(Frame(MsgType.GET_STATS)),
    ]
    mutated = [_mutate(rng, rng.choice(seeds)) for _ in range(400)]
    feed_and_compare(rig, b"".join(mutated))


def test_replayed_sequence_numbers_are_counted_and_not_acted_on(
    rig: tuple[mf.McuProcess, RawHost, NullModem],
) -> None:
    mcu, host, _ = rig
    host.handshake()
    mark = mcu.mark()
    siren = host.reliable(SetOutput(Output.SIREN, 1), seq=10)
    for data in (siren, siren, host.reliable(SetOutput(Output.RELAY, 1), seq=(10 - 100) & 0xFF)):
        host.write(data)
        host.wait_frame(lambda f: f.type == MsgType.ACK and f.acks == 10)
    host.write(host.reliable(SetOutput(Output.STROBE, 2), seq=11))
    host.wait_frame(lambda f: f.type == MsgType.ACK and f.acks == 11)
    mcu.wait_for("out strobe=2 siren=1 registered=0 acknowledged=0 relay=0", after=mark)
    outs = [line for line in mcu.lines[mark:] if line.startswith("out ")]
    assert outs == [
        "out strobe=0 siren=1 registered=0 acknowledged=0 relay=0",
        "out strobe=2 siren=1 registered=0 acknowledged=0 relay=0",
    ]
    assert mcu.stats()["duplicates"] == 2


def test_unknown_types_and_bad_payloads_are_acknowledged_and_rejected(
    rig: tuple[mf.McuProcess, RawHost, NullModem],
) -> None:
    mcu, host, _ = rig
    host.handshake()
    cases = [
        (Frame(0x7E, b"", flags=FLAG_REL, seq=1), Reject.UNKNOWN_TYPE),
        (Frame(MsgType.SET_OUTPUT, b"\x02\x01\x00", flags=FLAG_REL, seq=2), Reject.BAD_SIZE),
        (Frame(MsgType.SET_OUTPUT, b"\x02\x09\x00\x00", flags=FLAG_REL, seq=3), Reject.BAD_VALUE),
        (Frame(MsgType.SET_OUTPUT, b"\x09\x01\x00\x00", flags=FLAG_REL, seq=4), Reject.BAD_VALUE),
    ]
    for frame, reason in cases:
        host.write(host.reliable(frame, 0))
        got = host.wait_frame(lambda f: f.type == MsgType.REJECT)
        assert Rejected(*Rejected.FORMAT.unpack(got.payload)) == Rejected(
            frame.type, frame.seq, reason
        )
    host.write(encode_frame(Frame(MsgType.SET_OUTPUT, SetOutput(2, 1).pack())))  # REL missing
    host.handshake()  # answered only after everything before it was read
    stats = mcu.stats()
    assert (stats["bad_type"], stats["bad_payload"]) == (1, 4)
    assert not any(line.startswith("out ") and "siren=1" in line for line in mcu.lines)
