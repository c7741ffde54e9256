"""Frames: COBS, CRC-16 and the streaming decoder, with the spec's vectors and hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.frames import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameError,
    cobs_decode,
    cobs_encode,
    crc16,
    encode_body,
    encode_frame,
)

frames = st.builds(
    Frame,
    type=st.integers(0, 255),
    payload=st.binary(max_size=MAX_PAYLOAD),
    flags=st.integers(0, 255),
    seq=st.integers(0, 255),
    ack=st.integers(0, 255),
)


def test_protocol_md_vectors() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert cobs_encode(bytes.fromhex("11220033")) == bytes.fromhex("0311220233")
    assert cobs_encode(b"\x00") == b"\x01\x01"
    ping = Frame(type=0x05, payload=bytes.fromhex("01020304"))
    assert encode_body(ping) == bytes.fromhex("0500000004010203 04bbeb".replace(" ", ""))
    assert encode_frame(ping) == bytes.fromhex("02050101080401020304bbeb00")


@given(st.binary(max_size=1000))
def test_cobs_round_trips_without_zeros(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@given(frames)
def test_every_frame_round_trips(frame: Frame) -> None:
    assert FrameDecoder().feed(encode_frame(frame)) == [frame]


@given(st.lists(frames, max_size=8), st.lists(st.integers(1, 40), min_size=1))
def test_frames_survive_any_chunking(batch: list[Frame], sizes: list[int]) -> None:
    stream = b"".join(encode_frame(frame) for frame in batch)
    decoder, got, start = FrameDecoder(), list[Frame](), 0
    while start < len(stream):
        size = sizes[len(got) % len(sizes)]
        got += decoder.feed(stream[start : start + size])
        start += size
    assert got == batch
    assert decoder.counters.errors() == 0


@given(st.binary(max_size=2000), frames)
def test_garbage_never_raises_and_the_next_frame_is_decoded(garbage: bytes, frame: Frame) -> None:
    decoder = FrameDecoder()
    decoder.feed(garbage)
    assert decoder.feed(b"\x00" + encode_frame(frame))[-1:] == [frame]


@given(frames, st.data())
def test_truncated_frames_are_counted_never_delivered(frame: Frame, data: st.DataObject) -> None:
    body = encode_body(frame)
    cut = data.draw(st.integers(1, len(body) - 1))
    decoder = FrameDecoder()
    assert decoder.feed(cobs_encode(body[:cut]) + b"\x00") == []
    counters = decoder.counters
    assert counters.bad_length + counters.bad_crc == 1


@given(frames, st.integers(0, 15))
def test_a_flipped_bit_is_a_bad_checksum(frame: Frame, bit: int) -> None:
    body = bytearray(encode_body(frame))
    body[-1 - bit // 8] ^= 1 << (bit % 8)
    decoder = FrameDecoder()
    assert decoder.feed(cobs_encode(bytes(body)) + b"\x00") == []
    assert decoder.counters.bad_crc == 1


@given(st.integers(0, 255), st.binary(max_size=MAX_PAYLOAD))
def test_a_length_field_that_lies_is_counted(length: int, payload: bytes) -> None:
    if length == len(payload):
        length = (length + 1) & 0xFF
    header = bytes((5, 0, 0, 0, length))
    body = header + payload
    body += crc16(body).to_bytes(2, "little")
    decoder = FrameDecoder()
    assert decoder.feed(cobs_encode(body) + b"\x00") == []
    assert decoder.counters.bad_length == 1


@given(st.integers(MAX_ENCODED + 1, 3000), frames)
def test_an_endless_frame_is_an_overflow_and_resyncs(size: int, frame: Frame) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x41" * size) == []
    assert decoder.feed(b"\x41\x00" + encode_frame(frame)) == [frame]
    assert decoder.counters.overflow == 1


def test_an_oversized_payload_cannot_be_encoded() -> None:
    with pytest.raises(FrameError, match="exceeds 64"):
        encode_frame(Frame(type=1, payload=bytes(65)))


def test_empty_frames_are_not_errors() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00\x00") == []
    assert decoder.counters.errors() == 0
