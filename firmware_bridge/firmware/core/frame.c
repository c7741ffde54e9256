#include "frame.h"

#include "cobs.h"
#include "crc16.h"

size_t frame_encode(const frame_t *f, uint8_t *out, size_t cap)
{
    uint8_t body[MAX_BODY];
    uint16_t crc;
    size_t n;
    uint8_t i;

    if (f->len > MAX_PAYLOAD) {
        return 0;
    }
    body[0] = f->type;
    body[1] = f->flags;
    body[2] = f->seq;
    body[3] = f->ack;
    body[4] = f->len;
    for (i = 0; i < f->len; i++) {
        body[HEADER_SIZE + i] = f->payload[i];
    }
    crc = crc16(body, HEADER_SIZE + (size_t)f->len);
    body[HEADER_SIZE + f->len] = (uint8_t)(crc & 0xFFu);
    body[HEADER_SIZE + f->len + 1u] = (uint8_t)(crc >> 8);
    n = cobs_encode(body, MIN_BODY + (size_t)f->len, out, cap);
    if (n == 0 || n >= cap) {
        return 0;
    }
    out[n] = 0;
    return n + 1u;
}

void frame_rx_init(frame_rx_t *rx)
{
    rx->len = 0;
    rx->skipping = 0;
}

static int frame_parse(const uint8_t *body, int n, frame_t *out, proto_counters_t *c)
{
    uint16_t crc;
    uint8_t i;

    if (n < (int)MIN_BODY) {
        counter_inc(&c->bad_length);
        return 0;
    }
    crc = (uint16_t)(body[n - 2] | (uint16_t)((uint16_t)body[n - 1] << 8));
    if (crc16(body, (size_t)n - CRC_SIZE) != crc) {
        counter_inc(&c->bad_crc);
        return 0;
    }
    if (body[4] > MAX_PAYLOAD || (int)body[4] + (int)MIN_BODY != n) {
        counter_inc(&c->bad_length);
        return 0;
    }
    out->type = body[0];
    out->flags = body[1];
    out->seq = body[2];
    out->ack = body[3];
    out->len = body[4];
    for (i = 0; i < out->len; i++) {
        out->payload[i] = body[HEADER_SIZE + i];
    }
    c->frames_ok++;
    return 1;
}

int frame_rx_push(frame_rx_t *rx, uint8_t byte, frame_t *out, proto_counters_t *c)
{
    uint8_t body[MAX_ENCODED];
    int n;

    if (byte != 0) {
        if (rx->skipping) {
            return 0;
        }
        if (rx->len >= MAX_ENCODED) {
            counter_inc(&c->overflow);
            rx->len = 0;
            rx->skipping = 1;
            return 0;
        }
        rx->buf[rx->len++] = byte;
        return 0;
    }
    if (rx->skipping || rx->len == 0) {
        frame_rx_init(rx);
        return 0;
    }
    n = cobs_decode(rx->buf, rx->len, body, sizeof body);
    rx->len = 0;
    if (n < 0) {
        counter_inc(&c->bad_cobs);
        return 0;
    }
    return frame_parse(body, n, out, c);
}
