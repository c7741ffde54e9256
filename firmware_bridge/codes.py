"""Numbers that mean something on the wire: message types, outputs and their modes,
capability, input and fault bits, rejection reasons (PROTOCOL.md §5)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

PROTO_MAJOR = 1
PROTO_MINOR = 0
MIN_HEARTBEAT_MS = 50
MAX_HEARTBEAT_MS = 10_000
MIN_WATCHDOG_MS = 500
MAX_WATCHDOG_MS = 3_600_000


class MsgType(IntEnum):
    """Frame type byte."""

    HELLO = 0x01
    WELCOME = 0x02
    HEARTBEAT = 0x03
    ACK = 0x04
    PING = 0x05
    PONG = 0x06
    REJECT = 0x07
    GET_STATS = 0x08
    STATS = 0x09
    SET_OUTPUT = 0x10
    OUTPUT_STATE = 0x11
    SET_WATCHDOG = 0x12
    SHUTDOWN = 0x13
    INPUTS = 0x20
    SOS_LATCHED = 0x21


RELIABLE_TYPES = frozenset(
    {
        MsgType.SET_OUTPUT,
        MsgType.OUTPUT_STATE,
        MsgType.SET_WATCHDOG,
        MsgType.SHUTDOWN,
        MsgType.INPUTS,
        MsgType.SOS_LATCHED,
    }
)


class Output(IntEnum):
    """Outputs the MCU drives, with the highest mode each accepts (PROTOCOL.md §5)."""

    STROBE = 1
    SIREN = 2
    REGISTERED = 3
    ACKNOWLEDGED = 4
    RELAY = 5

    @property
    def max_mode(self) -> int:
        """The largest mode number this output understands."""
        return {1: 4, 2: 3, 3: 2, 4: 2, 5: 1}[self.value]


class Strobe(IntEnum):
    """Strobe patterns."""

    OFF = 0
    STEADY = 1
    SLOW = 2
    FAST = 3
    SOS = 4


class Siren(IntEnum):
    """Siren sounds."""

    OFF = 0
    CONTINUOUS = 1
    WAIL = 2
    CHIRP = 3


class Indicator(IntEnum):
    """Modes of the registered and acknowledged indicators."""

    OFF = 0
    ON = 1
    BLINK = 2


class Caps(IntFlag):
    """Capability bits exchanged in HELLO and WELCOME."""

    STROBE = 1 << 0
    SIREN = 1 << 1
    REGISTERED = 1 << 2
    ACKNOWLEDGED = 1 << 3
    RELAY = 1 << 4
    TAMPER = 1 << 5
    DOOR = 1 << 6
    BUTTON = 1 << 7
    MAINS = 1 << 8
    BATTERY = 1 << 9
    TEMPERATURE = 1 << 10
    WATCHDOG = 1 << 11
    SOS_LATCH = 1 << 12
    SHUTDOWN = 1 << 13


ALL_CAPS = Caps(0x3FFF)


class Fault(IntFlag):
    """MCU fault bits reported in INPUTS."""

    BROWNOUT = 1 << 0
    MCU_WATCHDOG = 1 << 1
    TEMPERATURE_SENSOR = 1 << 2
    BATTERY_SENSOR = 1 << 3
    STROBE_DRIVER = 1 << 4
    SIREN_DRIVER = 1 << 5
    UART_OVERRUN = 1 << 6
    OVER_TEMPERATURE = 1 << 7


class Reject(IntEnum):
    """Reasons carried by a REJECT message."""

    UNKNOWN_TYPE = 1
    BAD_SIZE = 2
    BAD_VALUE = 3


INPUT_TAMPER = 0x01
INPUT_DOOR = 0x02
INPUT_BUTTON = 0x04
INPUT_MAINS = 0x08
