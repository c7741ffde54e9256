#include "cobs.h"

size_t cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t code_at = 0;
    size_t o = 1;
    size_t i;
    uint8_t code = 1;

    if (cap == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (in[i] != 0) {
            if (o >= cap) {
                return 0;
            }
            out[o++] = in[i];
            code++;
        }
        if (in[i] == 0 || code == 0xFFu) {
            out[code_at] = code;
            if (o >= cap) {
                return 0;
            }
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

int cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i = 0;
    size_t o = 0;

    while (i < len) {
        uint8_t code = in[i];
        size_t end = i + code;
        if (code == 0 || end > len) {
            return -1;
        }
        for (i++; i < end; i++) {
            if (in[i] == 0 || o >= cap) {
                return -1;
            }
            out[o++] = in[i];
        }
        if (code != 0xFFu && i < len) {
            if (o >= cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    return (int)o;
}
