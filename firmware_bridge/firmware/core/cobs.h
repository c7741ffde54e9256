/* Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999). */
#ifndef COBS_H
#define COBS_H

#include <stddef.h>
#include <stdint.h>

/* Encode len bytes into out (no delimiter); returns the encoded size, 0 if cap is too small. */
size_t cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Decode; returns the decoded size, or -1 for a malformed encoding or a full buffer. */
int cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

#endif
