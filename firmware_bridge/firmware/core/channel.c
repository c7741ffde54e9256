#include "channel.h"

static void copy_msg(ch_msg_t *dst, const ch_msg_t *src)
{
    uint8_t i;
    dst->type = src->type;
    dst->len = src->len;
    for (i = 0; i < src->len; i++) {
        dst->payload[i] = src->payload[i];
    }
}

void ch_init(channel_t *ch, proto_counters_t *counters)
{
    ch->counters = counters;
    ch->next_seq = 0;
    ch_reset_receiver(ch);
    ch_clear(ch);
}

void ch_reset_receiver(channel_t *ch)
{
    ch->synced = 0;
    ch->last_accepted = 0;
}

void ch_clear(channel_t *ch)
{
    ch->head = 0;
    ch->count = 0;
    ch->has_in_flight = 0;
}

int ch_send(channel_t *ch, uint8_t type, const uint8_t *payload, uint8_t len)
{
    ch_msg_t *slot;
    uint8_t i;

    if (ch->count >= TX_QUEUE || len > CH_MAX_MSG) {
        counter_inc(&ch->counters->give_ups);
        return 0;
    }
    slot = &ch->queue[(uint8_t)((ch->head + ch->count) % TX_QUEUE)];
    slot->type = type;
    slot->len = len;
    for (i = 0; i < len; i++) {
        slot->payload[i] = payload[i];
    }
    ch->count++;
    return 1;
}

void ch_header(const channel_t *ch, frame_t *f, uint8_t type)
{
    f->type = type;
    f->flags = ch->synced ? FLAG_ACK : 0u;
    f->seq = 0;
    f->ack = ch->synced ? ch->last_accepted : 0u;
    f->len = 0;
}

int ch_on_ack(channel_t *ch, const frame_t *f, ch_msg_t *done)
{
    if (!ch->has_in_flight || !(f->flags & FLAG_ACK) || f->ack != ch->in_flight_seq) {
        return 0;
    }
    copy_msg(done, &ch->in_flight);
    ch->has_in_flight = 0;
    return 1;
}

int ch_accept(channel_t *ch, uint8_t seq)
{
    uint8_t distance = (uint8_t)(seq - ch->last_accepted);
    if (ch->synced && (distance == 0 || distance > 127u)) {
        counter_inc(&ch->counters->duplicates);
        return 0;
    }
    ch->synced = 1;
    ch->last_accepted = seq;
    return 1;
}

static void frame_in_flight(const channel_t *ch, frame_t *out)
{
    uint8_t i;
    ch_header(ch, out, ch->in_flight.type);
    out->flags |= FLAG_REL;
    out->seq = ch->in_flight_seq;
    out->len = ch->in_flight.len;
    for (i = 0; i < out->len; i++) {
        out->payload[i] = ch->in_flight.payload[i];
    }
}

int ch_poll(channel_t *ch, uint32_t now, frame_t *out, ch_msg_t *given_up, int *gave_up)
{
    int due = ch->has_in_flight && (uint32_t)(now - ch->sent_at) >= RETRANSMIT_MS;

    *gave_up = 0;
    if (due && ch->tries > MAX_RETRIES) {
        copy_msg(given_up, &ch->in_flight);
        *gave_up = 1;
        ch->has_in_flight = 0;
        counter_inc(&ch->counters->give_ups);
    }
    if (!ch->has_in_flight && ch->count > 0) {
        copy_msg(&ch->in_flight, &ch->queue[ch->head]);
        ch->head = (uint8_t)((ch->head + 1u) % TX_QUEUE);
        ch->count--;
        ch->has_in_flight = 1;
        ch->in_flight_seq = ch->next_seq++;
        ch->tries = 1;
        ch->sent_at = now;
        frame_in_flight(ch, out);
        return 1;
    }
    if (ch->has_in_flight && due) {
        ch->tries++;
        ch->sent_at = now;
        counter_inc(&ch->counters->retransmits);
        frame_in_flight(ch, out);
        return 1;
    }
    return 0;
}
