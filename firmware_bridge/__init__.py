"""The serial bridge between the agent and the SOS post's microcontroller (MCU).

```
MCU pins ─► firmware (C, firmware/) ─► UART ─► frames (COBS + CRC-16) ─► messages
          ◄──────────────────────────────────◄ channel (seq, ack, retransmit)
                                                session (handshake, heartbeats, supervision)
                                                link (port owner thread, reconnection)
                                                   │
                                                   ▼  McuLink.events (queue)
                                                 agent (tamper, power, mcu events; SOS)
```

The wire contract is PROTOCOL.md; the C firmware (`firmware/`) and this package implement
it independently, and `mcu` plus `simulator` play the MCU in Python for tests and demos.
The agent imports `McuLink`, `LinkConfig` and the event classes; nothing here imports
the agent.
"""

from firmware_bridge.codes import Caps, Fault, Indicator, Output, Siren, Strobe
from firmware_bridge.events import (
    CommandFailed,
    FirmwareInfo,
    InputChanged,
    LatchedSos,
    LinkDown,
    LinkStatus,
    LinkUp,
    McuEvent,
    OutputsReported,
    PongReceived,
    StatsReported,
)
from firmware_bridge.link import McuLink
from firmware_bridge.session import LinkConfig

__all__ = [
    "Caps",
    "CommandFailed",
    "Fault",
    "FirmwareInfo",
    "Indicator",
    "InputChanged",
    "LatchedSos",
    "LinkConfig",
    "LinkDown",
    "LinkStatus",
    "LinkUp",
    "McuEvent",
    "McuLink",
    "Output",
    "OutputsReported",
    "PongReceived",
    "Siren",
    "StatsReported",
    "Strobe",
]
