/* The watchdog on the Pi (PROTOCOL.md 6): power-cycles the Pi when the host falls silent,
 * and powers it down on request until mains returns. */
#ifndef WATCHDOG_H
#define WATCHDOG_H

#include <stdint.h>

enum wd_state {
    WD_DISARMED,
    WD_ARMED,
    WD_OFF,
    WD_BOOTING,
    WD_SHUTDOWN_PENDING,
    WD_HALTED
};

enum wd_action { WD_NONE, WD_POWER_OFF, WD_POWER_ON };

typedef struct {
    uint8_t state;
    uint8_t cause; /* enum pi_power_cause of the last power cut */
    uint16_t fires;
    uint32_t timeout_ms;
    uint32_t last_feed;
    uint32_t deadline;
    uint32_t power_off_ms;
    uint32_t boot_grace_ms;
    uint32_t min_off_ms; /* after a requested shutdown */
} wd_t;

void wd_init(wd_t *wd, uint32_t power_off_ms, uint32_t boot_grace_ms);

/* Arm with timeout_ms (0 disarms); ignored while the Pi is off. */
void wd_configure(wd_t *wd, uint32_t timeout_ms, uint32_t now);

/* A valid frame from the host arrived. */
void wd_feed(wd_t *wd, uint32_t now);

/* Cut the power after delay_ms; restore it when mains is present and min_off_ms passed. */
void wd_shutdown(wd_t *wd, uint32_t delay_ms, uint32_t min_off_ms, uint32_t now);

/* Advance the timers; returns what to do with the Pi's power. */
enum wd_action wd_tick(wd_t *wd, uint32_t now, int mains_present);

#endif
