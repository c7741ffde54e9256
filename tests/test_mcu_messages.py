"""The message set: every message packs and decodes, and bad payloads are refused by name."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.codes import Output, Reject
from firmware_bridge.messages import (
    MESSAGE_CLASSES,
    Hello,
    Message,
    MessageError,
    SetOutput,
    SetWatchdog,
    decode_message,
)

SIZES = {"B": 0xFF, "H": 0xFFFF, "h": 0x7FFF, "I": 0xFFFFFFFF}


def fields_for(cls: type[Message]) -> st.SearchStrategy[tuple[int, ...]]:
    """Any in-range integer for each field of `cls`, by its struct format."""
    codes = cls.FORMAT.format.lstrip("<")
    expanded = "".join(c * int(n or 1) for n, c in _runs(codes))
    return st.tuples(*(st.integers(-0x8000 if c == "h" else 0, SIZES[c]) for c in expanded))


def _runs(codes: str) -> list[tuple[str, str]]:
    runs, digits = [], ""
    for char in codes:
        if char.isdigit():
            digits += char
        else:
            runs.append((digits, char))
            digits = ""
    return runs


@pytest.mark.parametrize("cls", MESSAGE_CLASSES.values(), ids=lambda c: c.__name__)
@given(data=st.data())
def test_every_message_round_trips_or_is_refused_by_value(
    cls: type[Message], data: st.DataObject
) -> None:
    message = cls(*data.draw(fields_for(cls)))
    try:
        decoded = decode_message(cls.TYPE, message.pack())
    except MessageError as error:
        assert error.reason is Reject.BAD_VALUE
        assert message.check() is not None
    else:
        assert decoded == message


@given(st.integers(0, 255), st.binary(max_size=64))
def test_decoding_never_raises_anything_but_message_error(msg_type: int, payload: bytes) -> None:
    try:
        decode_message(msg_type, payload)
    except MessageError as error:
        assert error.counter in ("bad_type", "bad_payload")


def test_payload_sizes_match_protocol_md() -> None:
    sizes = {cls.__name__: cls.FORMAT.size for cls in MESSAGE_CLASSES.values()}
    assert sizes == {
        **dict(Hello=12, Welcome=18, Heartbeat=4, Ack=0, Ping=4, Pong=4, Rejected=3),
        **dict(GetStats=0, Stats=24, SetOutput=4, OutputState=6, SetWatchdog=4),
        **dict(Shutdown=4, Inputs=14, SosLatched=6),
    }


def test_wrong_size_names_the_message_and_sizes() -> None:
    with pytest.raises(MessageError, match="SetOutput payload of 3 bytes, expected 4") as caught:
        decode_message(0x10, b"\x01\x02\x03")
    assert (caught.value.counter, caught.value.reason) == ("bad_payload", Reject.BAD_SIZE)


def test_unknown_type_is_bad_type() -> None:
    with pytest.raises(MessageError, match="0x7e") as caught:
        decode_message(0x7E, b"")
    assert caught.value.reason is Reject.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (SetOutput(9, 1), "output 9 is unknown"),
        (SetOutput(Output.RELAY, 2), "mode 2 is not valid for relay"),
        (SetWatchdog(100), "watchdog_ms 100"),
        (Hello(1, 0, 0, 0, 1000, 0), "nonce"),
        (Hello(1, 0, 0, 1, 20, 0), "heartbeat_ms 20"),
    ],
)
def test_out_of_range_values_are_named(message: Message, problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        decode_message(message.TYPE, message.pack())


def test_fields_are_little_endian_in_order() -> None:
    hello = Hello(1, 0, 0x3FFF, 0xBEEF, 1000, 60_000)
    assert hello.pack() == struct.pack("<BBHHHI", 1, 0, 0x3FFF, 0xBEEF, 1000, 60_000)
    assert [f.name for f in dataclasses.fields(hello)][:2] == ["proto_major", "proto_minor"]
