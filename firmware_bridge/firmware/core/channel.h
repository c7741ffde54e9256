/* Reliable messages: sequence numbers, acknowledgement, bounded retransmission
 * (PROTOCOL.md 4.2). Stop and wait: one frame in flight, the rest queued. */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <stdint.h>

#include "frame.h"
#include "proto.h"

#define CH_MAX_MSG 24u

typedef struct {
    uint8_t type;
    uint8_t len;
    uint8_t payload[CH_MAX_MSG];
} ch_msg_t;

typedef struct {
    ch_msg_t queue[TX_QUEUE];
    uint8_t head;
    uint8_t count;
    ch_msg_t in_flight;
    uint8_t has_in_flight;
    uint8_t in_flight_seq;
    uint8_t tries;
    uint32_t sent_at;
    uint8_t next_seq;
    uint8_t last_accepted;
    uint8_t synced;
    proto_counters_t *counters;
} channel_t;

void ch_init(channel_t *ch, proto_counters_t *counters);

/* Forget the peer's sequence numbers (a new session). */
void ch_reset_receiver(channel_t *ch);

/* Drop everything queued or in flight. */
void ch_clear(channel_t *ch);

/* Queue a reliable message; returns 0 (and counts a give-up) when the queue is full. */
int ch_send(channel_t *ch, uint8_t type, const uint8_t *payload, uint8_t len);

/* Fill the header of an unreliable frame carrying the last accepted number. */
void ch_header(const channel_t *ch, frame_t *f, uint8_t type);

/* Returns 1 and copies the in-flight message to *done if f acknowledges it. */
int ch_on_ack(channel_t *ch, const frame_t *f, ch_msg_t *done);

/* Returns 1 if a reliable frame numbered seq is new, 0 for a duplicate or replay. */
int ch_accept(channel_t *ch, uint8_t seq);

/* Returns 1 and fills *out with a frame to (re)send now. If a message is given up,
 * it is copied to *given_up and *gave_up is set. */
int ch_poll(channel_t *ch, uint32_t now, frame_t *out, ch_msg_t *given_up, int *gave_up);

#endif
