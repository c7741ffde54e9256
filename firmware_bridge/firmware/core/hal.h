/* The hardware abstraction: the few functions a board port provides to the core.
 * The core never reads a clock or a pin itself; the port passes the time in milliseconds
 * to mcu_tick/mcu_receive and reports input changes with mcu_set_input. */
#ifndef HAL_H
#define HAL_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

enum mcu_notice {
    NOTICE_LINK_UP,
    NOTICE_LINK_DOWN,
    NOTICE_WATCHDOG_FIRED,
    NOTICE_SHUTDOWN_PENDING
};

/* Queue bytes for the UART towards the Pi; may drop them if the line is stuck. */
void hal_uart_write(const uint8_t *data, size_t len);

/* Apply output modes (index output_id - 1); see pattern.h for the lamp and siren timing. */
void hal_outputs(const uint8_t modes[OUT_COUNT]);

/* Switch the Pi's supply. */
void hal_pi_power(uint8_t on);

/* Something worth a log line or an LED on the board; may do nothing. */
void hal_notice(enum mcu_notice notice);

#endif
