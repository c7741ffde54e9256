/* The portable core of the SOS-post MCU: session, inputs, outputs, SOS latch, watchdog.
 * Everything is statically allocated in mcu_t; no heap, no libc beyond <stdint.h>. */
#ifndef MCU_H
#define MCU_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "frame.h"
#include "proto.h"
#include "watchdog.h"

enum mcu_input {
    IN_TAMPER,
    IN_DOOR,
    IN_BUTTON,
    IN_MAINS,
    IN_BATTERY_MV,
    IN_TEMPERATURE_DC,
    IN_FAULTS
};

typedef struct {
    uint32_t power_off_ms;  /* how long a watchdog power cycle keeps the Pi off */
    uint32_t boot_grace_ms; /* how long a restarted Pi may stay silent */
    uint16_t caps;
    uint8_t reset_cause; /* enum reset_cause, from the chip's reset register */
} mcu_config_t;

typedef struct {
    mcu_config_t config;
    proto_counters_t counters;
    frame_rx_t rx;
    channel_t ch;
    wd_t wd;
    uint8_t in_session;
    uint16_t heartbeat_ms;
    uint32_t last_rx;
    uint32_t next_heartbeat;
    uint32_t last_unsolicited;
    uint32_t started;
    /* inputs */
    uint8_t bits;
    uint16_t battery_mv;
    int16_t temperature_dc;
    uint16_t faults;
    uint16_t reported_battery_mv;
    int16_t reported_temperature_dc;
    /* SOS latch (PROTOCOL.md 7) */
    uint16_t presses;
    uint16_t presses_acked;
    uint16_t latch_upto;
    uint32_t first_unacked;
    /* outputs */
    uint8_t modes[OUT_COUNT];
    uint8_t output_flags;
    uint8_t timed[OUT_COUNT];
    uint32_t off_at[OUT_COUNT];
    uint8_t pi_on;
} mcu_t;

void mcu_init(mcu_t *m, const mcu_config_t *config, uint32_t now);

/* Bytes received from the UART. */
void mcu_receive(mcu_t *m, const uint8_t *data, size_t len, uint32_t now);

/* Run the timers; call at least every 10 ms. */
void mcu_tick(mcu_t *m, uint32_t now);

/* A new input reading: switches 0/1, battery in mV, temperature in 0.1 degC, fault bits. */
void mcu_set_input(mcu_t *m, enum mcu_input input, int32_t value, uint32_t now);

#endif
