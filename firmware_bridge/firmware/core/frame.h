/* Frames: header, payload and CRC, COBS-encoded and ended by 0x00 (PROTOCOL.md 2). */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint8_t seq;
    uint8_t ack;
    uint8_t len;
    uint8_t payload[MAX_PAYLOAD];
} frame_t;

/* Bytes collected towards the next delimiter. */
typedef struct {
    uint8_t buf[MAX_ENCODED];
    uint8_t len;
    uint8_t skipping;
} frame_rx_t;

/* Encode f with its delimiter into out; returns the size, 0 if it does not fit. */
size_t frame_encode(const frame_t *f, uint8_t *out, size_t cap);

void frame_rx_init(frame_rx_t *rx);

/* Take one received byte; returns 1 and fills *out when it completes a valid frame.
 * Anything malformed is counted in *c and dropped. */
int frame_rx_push(frame_rx_t *rx, uint8_t byte, frame_t *out, proto_counters_t *c);

#endif
