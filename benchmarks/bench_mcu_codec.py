"""How many MCU frames per second the Python codec encodes and decodes.

Measures a typical report (INPUTS, 14-byte payload) through message packing, framing
(CRC-16 + COBS) and back through the streaming decoder and message decoding. The floor,
measured in the same run, is the bare work any codec must do: `struct` packing and the C
CRC from `binascii`; the ratio says what COBS, validation and dataclasses cost on top.

    .venv/bin/python benchmarks/bench_mcu_codec.py [--frames N] [--repeat R]
"""

from __future__ import annotations

import argparse
import binascii
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import describe  # benchmarks/machine.py, beside this script

from firmware_bridge.frames import Frame, FrameDecoder, encode_frame
from firmware_bridge.messages import Inputs, decode_message


def rate(work: Callable[[], int], repeat: int) -> float:
    """Best-of-`repeat` items per second of `work` (which returns how many it did)."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = work()
        rates.append(done / (time.perf_counter() - start))
    return max(rates)


def main() -> None:
    """Run the codec benchmark and print frames per second and ratios to the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    messages = [
        Inputs(i & 0x0F, 0, 12_000 + i % 900, 250, 0, i & 0xFFFF, i) for i in range(args.frames)
    ]
    frames = [
        Frame(Inputs.TYPE, m.pack(), flags=3, seq=i & 0xFF, ack=7) for i, m in enumerate(messages)
    ]
    stream = b"".join(encode_frame(f) for f in frames)
    fields = struct.Struct("<BBBBB BBHhHHI".replace(" ", ""))

    def floor() -> int:
        for i, m in enumerate(messages):
            raw = fields.pack(
                0x20, 3, i & 0xFF, 7, 14, m.bits, 0, m.battery_mv, 250, 0, m.presses, i
            )
            binascii.crc_hqx(raw, 0xFFFF)
            fields.unpack(raw)
        return len(messages)

    def encode() -> int:
        for i, m in enumerate(messages):
            encode_frame(Frame(m.TYPE, m.pack(), flags=3, seq=i & 0xFF, ack=7))
        return len(messages)

    def decode() -> int:
        got = FrameDecoder().feed(stream)
        for frame in got:
            decode_message(frame.type, frame.payload)
        return len(got)

    print(f"machine: {describe()}")
    base = rate(floor, args.repeat)
    print(f"floor  (struct pack+unpack, C CRC-16): {base:>10,.0f} frames/s")
    for name, work in (("encode", encode), ("decode", decode)):
        measured = rate(work, args.repeat)
        print(
            f"{name} (message + CRC + COBS):         {measured:>10,.0f} frames/s"
            f"  = {base / measured:.1f}x the floor's time per frame"
        )
    print(
        f"frame size: {len(stream) / len(frames):.1f} bytes on the wire per INPUTS report; "
        f"115200 baud carries ~{11520 / (len(stream) / len(frames)):,.0f} such frames/s"
    )


if __name__ == "__main__":
    main()
