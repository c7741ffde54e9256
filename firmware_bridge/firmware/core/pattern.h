/* Output timing for board ports: whether a lamp is lit, and the siren's tone, at time now.
 * A port calls these from its timer tick with the modes it got through hal_outputs. */
#ifndef PATTERN_H
#define PATTERN_H

#include <stdint.h>

/* 1 if the strobe or an indicator in `mode` is lit at `now_ms`. */
uint8_t pattern_lamp(uint8_t output, uint8_t mode, uint32_t now_ms);

/* The siren's tone in Hz at `now_ms` (0: silent). */
uint16_t pattern_siren_hz(uint8_t mode, uint32_t now_ms);

#endif
