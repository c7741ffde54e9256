#include "pattern.h"

#include "proto.h"

/* SOS in Morse at a 200 ms unit: dot, gap, dot, gap, dot, letter gap, dash... one bit per
 * unit, lit = 1: 27 units, then a 13-unit pause before it repeats. */
static const uint8_t SOS_BITS[5] = {0xA8, 0xEE, 0xE2, 0xA0, 0x00};
#define SOS_UNITS 40u
#define SOS_UNIT_MS 200u

static uint8_t sos_lamp(uint32_t now_ms)
{
    uint32_t unit = (now_ms / SOS_UNIT_MS) % SOS_UNITS;
    return (uint8_t)((SOS_BITS[unit / 8u] >> (7u - unit % 8u)) & 1u);
}

uint8_t pattern_lamp(uint8_t output, uint8_t mode, uint32_t now_ms)
{
    if (mode == 0) {
        return 0;
    }
    if (mode == 1) {
        return 1;
    }
    if (output == OUT_STROBE && mode == 3) {
        return (uint8_t)((now_ms / 125u) % 2u == 0); /* 4 Hz */
    }
    if (output == OUT_STROBE && mode == 4) {
        return sos_lamp(now_ms);
    }
    return (uint8_t)((now_ms / 500u) % 2u == 0); /* 1 Hz: slow strobe, blinking indicator */
}

uint16_t pattern_siren_hz(uint8_t mode, uint32_t now_ms)
{
    uint32_t phase;
    switch (mode) {
    case 1:
        return 1000;
    case 2: /* wail: up from 600 to 1200 Hz and back over 4 s */
        phase = now_ms % 4000u;
        phase = phase < 2000u ? phase : 4000u - phase;
        return (uint16_t)(600u + phase * 600u / 2000u);
    case 3: /* chirp: 100 ms beeps, once a second */
        return (now_ms % 1000u) < 100u ? 2000u : 0u;
    default:
        return 0;
    }
}
