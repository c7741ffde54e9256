"""Edge agent for Smart Safety Zone camera poles and SOS posts.

Data flow (every producer stores through the outbox; nothing publishes around it)::

    SOS button (gpiozero thread) ─► sos alarm state machine ─► Event ─► outbox.add ─┐
    MCU serial link ─► mcu ─► Event (tamper, door, power, mcu) ───────► outbox.add ─┤
       └► SOS latched by the MCU ─► sos ─► indicators ─► mcu_outputs ─► lamps, strobe
    health timer ─► telemetry Event ─────────────────────────────────► outbox.add ─┤
                                                                                   ▼
                            SQLite outbox (WAL, one writer, durable before ack)
                                                                                   │
        publisher: next by (priority, seq) ─► paho publish QoS 1 ─► PUBACK by mid ─► delivered
                                                                                   │
    MQTT cmd/* ─► remote: validate ─► apply on the main thread ─► reply on the response topic
    technician CLI ─► Unix control socket (live) / SQLite read-only (history)

`agent.app` is the composition root: the one module that knows all the others.
"""

__version__ = "0.1.0"
