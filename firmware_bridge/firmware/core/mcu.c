#include "mcu.h"

#include "hal.h"
#include "wire.h"

static const uint8_t MAX_MODE[OUT_COUNT] = {4, 3, 2, 2, 1};

static int expired(uint32_t now, uint32_t deadline)
{
    return (int32_t)(now - deadline) >= 0;
}

static int watchdog_ms_ok(uint32_t ms)
{
    return ms == 0 || (ms >= MIN_WATCHDOG_MS && ms <= MAX_WATCHDOG_MS);
}

/* Sending ------------------------------------------------------------------------------ */

static void send_frame(const frame_t *f)
{
    uint8_t wire[MAX_WIRE];
    size_t n = frame_encode(f, wire, sizeof wire);
    if (n != 0) {
        hal_uart_write(wire, n);
    }
}

static void send_unreliable(mcu_t *m, uint8_t type, const uint8_t *payload, uint8_t len)
{
    frame_t f;
    uint8_t i;
    ch_header(&m->ch, &f, type);
    f.len = len;
    for (i = 0; i < len; i++) {
        f.payload[i] = payload[i];
    }
    send_frame(&f);
}

static void send_welcome(mcu_t *m, uint16_t nonce, uint8_t status, uint32_t now)
{
    uint8_t p[LEN_WELCOME];
    p[0] = PROTO_MAJOR;
    p[1] = PROTO_MINOR;
    put_u16(p + 2, m->config.caps);
    put_u16(p + 4, nonce);
    p[6] = FW_MAJOR;
    p[7] = FW_MINOR;
    p[8] = FW_PATCH;
    p[9] = m->config.reset_cause;
    p[10] = m->wd.cause;
    p[11] = status;
    put_u16(p + 12, m->wd.fires);
    put_u32(p + 14, now - m->started);
    send_unreliable(m, MSG_WELCOME, p, LEN_WELCOME);
}

static void send_stats(mcu_t *m)
{
    const proto_counters_t *c = &m->counters;
    uint8_t p[LEN_STATS];
    put_u32(p, c->frames_ok);
    put_u16(p + 4, c->bad_cobs);
    put_u16(p + 6, c->bad_crc);
    put_u16(p + 8, c->bad_length);
    put_u16(p + 10, c->overflow);
    put_u16(p + 12, c->bad_type);
    put_u16(p + 14, c->bad_payload);
    put_u16(p + 16, c->duplicates);
    put_u16(p + 18, c->retransmits);
    put_u16(p + 20, c->give_ups);
    put_u16(p + 22, m->wd.fires);
    send_unreliable(m, MSG_STATS, p, LEN_STATS);
}

static void send_ack(mcu_t *m)
{
    send_unreliable(m, MSG_ACK, 0, 0);
}

static void reject(mcu_t *m, const frame_t *f, uint8_t reason)
{
    uint8_t p[LEN_REJECT];
    if (!(f->flags & FLAG_REL)) {
        return;
    }
    p[0] = f->type;
    p[1] = f->seq;
    p[2] = reason;
    send_unreliable(m, MSG_REJECT, p, LEN_REJECT);
}

/* Reliable reports ---------------------------------------------------------------------- */

static void queue_inputs(mcu_t *m, uint32_t now)
{
    uint8_t p[LEN_INPUTS];
    if (!m->in_session) {
        return;
    }
    p[0] = m->bits;
    p[1] = 0;
    put_u16(p + 2, m->battery_mv);
    put_u16(p + 4, (uint16_t)m->temperature_dc);
    put_u16(p + 6, m->faults);
    put_u16(p + 8, m->presses);
    put_u32(p + 10, now - m->started);
    m->reported_battery_mv = m->battery_mv;
    m->reported_temperature_dc = m->temperature_dc;
    ch_send(&m->ch, MSG_INPUTS, p, LEN_INPUTS);
}

static void queue_outputs(mcu_t *m)
{
    uint8_t p[LEN_OUTPUT_STATE];
    uint8_t i;
    if (!m->in_session) {
        return;
    }
    for (i = 0; i < OUT_COUNT; i++) {
        p[i] = m->modes[i];
    }
    p[OUT_COUNT] = m->output_flags;
    ch_send(&m->ch, MSG_OUTPUT_STATE, p, LEN_OUTPUT_STATE);
}

static uint16_t unacked_presses(const mcu_t *m)
{
    return (uint16_t)(m->presses - m->presses_acked);
}

static void queue_latch(mcu_t *m, uint32_t now)
{
    uint8_t p[LEN_SOS_LATCHED];
    if (unacked_presses(m) == 0) {
        return;
    }
    put_u16(p, unacked_presses(m));
    put_u32(p + 2, now - m->first_unacked);
    m->latch_upto = m->presses;
    ch_send(&m->ch, MSG_SOS_LATCHED, p, LEN_SOS_LATCHED);
}

/* The host now knows of every press up to `upto`. */
static void presses_known(mcu_t *m, uint16_t upto)
{
    if ((uint16_t)(upto - m->presses_acked) <= unacked_presses(m)) {
        m->presses_acked = upto;
    }
}

static void on_acked(mcu_t *m, const ch_msg_t *done)
{
    if (done->type == MSG_INPUTS) {
        presses_known(m, get_u16(done->payload + 8));
    } else if (done->type == MSG_SOS_LATCHED) {
        presses_known(m, m->latch_upto);
    }
}

/* Outputs --------------------------------------------------------------------------------- */

static void outputs_changed(mcu_t *m)
{
    hal_outputs(m->modes);
    queue_outputs(m);
}

static void on_set_output(mcu_t *m, const frame_t *f, uint32_t now)
{
    uint8_t out = f->payload[0];
    uint8_t mode = f->payload[1];
    uint32_t duration_s = get_u16(f->payload + 2);

    if (out < 1u || out > OUT_COUNT || mode > MAX_MODE[out - 1u]) {
        counter_inc(&m->counters.bad_payload);
        reject(m, f, REJECT_BAD_VALUE);
        return;
    }
    if (out == OUT_SIREN && mode != 0 && (duration_s == 0 || duration_s > SIREN_MAX_S)) {
        duration_s = SIREN_MAX_S;
    }
    m->modes[out - 1u] = mode;
    m->timed[out - 1u] = (uint8_t)(mode != 0 && duration_s != 0);
    m->off_at[out - 1u] = now + duration_s * 1000u;
    if (out == OUT_REGISTERED) {
        m->output_flags &= (uint8_t)~OUTPUT_FLAG_LOCAL_LATCH;
    }
    outputs_changed(m);
}

static void expire_outputs(mcu_t *m, uint32_t now)
{
    uint8_t i;
    uint8_t changed = 0;
    for (i = 0; i < OUT_COUNT; i++) {
        if (m->timed[i] && expired(now, m->off_at[i])) {
            m->modes[i] = 0;
            m->timed[i] = 0;
            changed = 1;
        }
    }
    if (changed) {
        outputs_changed(m);
    }
}

/* Session --------------------------------------------------------------------------------- */

static void on_hello(mcu_t *m, const frame_t *f, uint32_t now)
{
    uint16_t nonce = get_u16(f->payload + 4);
    uint16_t heartbeat_ms = get_u16(f->payload + 6);
    uint32_t watchdog_ms = get_u32(f->payload + 8);

    if (f->payload[0] != PROTO_MAJOR) {
        send_welcome(m, nonce, 1, now);
        return;
    }
    if (nonce == 0 || heartbeat_ms < MIN_HEARTBEAT_MS || heartbeat_ms > MAX_HEARTBEAT_MS ||
        !watchdog_ms_ok(watchdog_ms)) {
        counter_inc(&m->counters.bad_payload);
        send_welcome(m, nonce, 2, now);
        return;
    }
    wd_configure(&m->wd, watchdog_ms, now);
    ch_reset_receiver(&m->ch);
    ch_clear(&m->ch);
    if (!m->in_session) {
        hal_notice(NOTICE_LINK_UP);
    }
    m->in_session = 1;
    m->heartbeat_ms = heartbeat_ms;
    m->next_heartbeat = now + heartbeat_ms;
    send_welcome(m, nonce, 0, now);
    queue_latch(m, now);
    queue_outputs(m);
    queue_inputs(m, now);
}

static void end_session(mcu_t *m)
{
    m->in_session = 0;
    ch_clear(&m->ch);
    hal_notice(NOTICE_LINK_DOWN);
}

/* Payload size of a message the host may send, or -1; *reliable says if it needs REL. */
static int host_message(uint8_t type, uint8_t *reliable)
{
    *reliable = 0;
    switch (type) {
    case MSG_HELLO:
        return LEN_HELLO;
    case MSG_HEARTBEAT:
        return LEN_HEARTBEAT;
    case MSG_PING:
    case MSG_PONG:
        return LEN_PING;
    case MSG_ACK:
    case MSG_GET_STATS:
        return 0;
    case MSG_REJECT:
        return LEN_REJECT;
    case MSG_SET_OUTPUT:
    case MSG_SET_WATCHDOG:
    case MSG_SHUTDOWN:
        *reliable = 1;
        return 4;
    default:
        return -1;
    }
}

static void dispatch(mcu_t *m, const frame_t *f, uint32_t now)
{
    uint32_t watchdog_ms;
    switch (f->type) {
    case MSG_HELLO:
        on_hello(m, f, now);
        break;
    case MSG_PING:
        send_unreliable(m, MSG_PONG, f->payload, LEN_PING);
        break;
    case MSG_GET_STATS:
        send_stats(m);
        break;
    case MSG_SET_OUTPUT:
        on_set_output(m, f, now);
        break;
    case MSG_SET_WATCHDOG:
        watchdog_ms = get_u32(f->payload);
        if (!watchdog_ms_ok(watchdog_ms)) {
            counter_inc(&m->counters.bad_payload);
            reject(m, f, REJECT_BAD_VALUE);
        } else {
            wd_configure(&m->wd, watchdog_ms, now);
        }
        break;
    case MSG_SHUTDOWN:
        wd_shutdown(&m->wd, (uint32_t)get_u16(f->payload) * 1000u,
                    (uint32_t)get_u16(f->payload + 2) * 1000u, now);
        hal_notice(NOTICE_SHUTDOWN_PENDING);
        break;
    default:
        break; /* HEARTBEAT, ACK, PONG, REJECT: being valid was the point */
    }
}

static void on_frame(mcu_t *m, const frame_t *f, uint32_t now)
{
    ch_msg_t done;
    uint8_t reliable;
    uint8_t rel = (uint8_t)((f->flags & FLAG_REL) != 0);
    int size = host_message(f->type, &reliable);

    wd_feed(&m->wd, now);
    m->last_rx = now;
    if (!m->in_session && f->type != MSG_HELLO) {
        if ((uint32_t)(now - m->last_unsolicited) >= UNSOLICITED_WELCOME_MS) {
            m->last_unsolicited = now;
            send_welcome(m, 0, 0, now);
        }
        return;
    }
    if (m->in_session && ch_on_ack(&m->ch, f, &done)) {
        on_acked(m, &done);
    }
    if (size >= 0 && rel != reliable) {
        counter_inc(&m->counters.bad_payload);
        return;
    }
    if (rel) {
        int fresh = ch_accept(&m->ch, f->seq);
        send_ack(m);
        if (!fresh) {
            return;
        }
    }
    if (size < 0) {
        counter_inc(&m->counters.bad_type);
        reject(m, f, REJECT_UNKNOWN_TYPE);
    } else if (f->len != (uint8_t)size) {
        counter_inc(&m->counters.bad_payload);
        reject(m, f, REJECT_BAD_SIZE);
    } else {
        dispatch(m, f, now);
    }
}

/* Public ---------------------------------------------------------------------------------- */

void mcu_init(mcu_t *m, const mcu_config_t *config, uint32_t now)
{
    uint8_t *bytes = (uint8_t *)m;
    size_t i;
    for (i = 0; i < sizeof *m; i++) {
        bytes[i] = 0;
    }
    m->config = *config;
    ch_init(&m->ch, &m->counters);
    frame_rx_init(&m->rx);
    wd_init(&m->wd, config->power_off_ms, config->boot_grace_ms);
    m->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    m->started = now;
    m->last_unsolicited = now;
    m->pi_on = 1;
    hal_pi_power(1);
    hal_outputs(m->modes);
    send_welcome(m, 0, 0, now);
}

void mcu_receive(mcu_t *m, const uint8_t *data, size_t len, uint32_t now)
{
    frame_t f;
    size_t i;
    for (i = 0; i < len; i++) {
        if (frame_rx_push(&m->rx, data[i], &f, &m->counters)) {
            on_frame(m, &f, now);
        }
    }
}

static void watchdog_tick(mcu_t *m, uint32_t now)
{
    enum wd_action action = wd_tick(&m->wd, now, (m->bits & INPUT_MAINS) != 0);
    if (action == WD_POWER_OFF) {
        if (m->wd.cause == PI_POWER_WATCHDOG) {
            hal_notice(NOTICE_WATCHDOG_FIRED);
        }
        m->pi_on = 0;
        hal_pi_power(0);
    } else if (action == WD_POWER_ON) {
        m->pi_on = 1;
        hal_pi_power(1);
    }
}

void mcu_tick(mcu_t *m, uint32_t now)
{
    frame_t f;
    ch_msg_t lost;
    int gave_up;
    uint8_t beat[LEN_HEARTBEAT];

    if (m->in_session && (uint32_t)(now - m->last_rx) > (uint32_t)MISSED_HEARTBEATS * m->heartbeat_ms) {
        end_session(m);
    }
    if (m->in_session && expired(now, m->next_heartbeat)) {
        m->next_heartbeat = now + m->heartbeat_ms;
        put_u32(beat, now - m->started);
        send_unreliable(m, MSG_HEARTBEAT, beat, LEN_HEARTBEAT);
    }
    if (m->in_session && ch_poll(&m->ch, now, &f, &lost, &gave_up)) {
        send_frame(&f);
    }
    expire_outputs(m, now);
    watchdog_tick(m, now);
}

/* Inputs ---------------------------------------------------------------------------------- */

static void on_press(mcu_t *m, uint32_t now)
{
    if (unacked_presses(m) == 0) {
        m->first_unacked = now;
    }
    m->presses++;
    if (!m->in_session) {
        /* Nobody can light it for the caller: show at once that the alarm was taken. */
        m->modes[OUT_REGISTERED - 1u] = 1;
        m->timed[OUT_REGISTERED - 1u] = 0;
        m->output_flags |= OUTPUT_FLAG_LOCAL_LATCH;
        outputs_changed(m);
    }
}

static void set_switch(mcu_t *m, uint8_t bit, int32_t value, uint32_t now)
{
    uint8_t bits = value ? (uint8_t)(m->bits | bit) : (uint8_t)(m->bits & (uint8_t)~bit);
    if (bits == m->bits) {
        return;
    }
    m->bits = bits;
    if (bit == INPUT_BUTTON && value) {
        on_press(m, now);
    }
    queue_inputs(m, now);
}

static int32_t clamp(int32_t value, int32_t low, int32_t high)
{
    return value < low ? low : (value > high ? high : value);
}

static int32_t distance(int32_t a, int32_t b)
{
    return a > b ? a - b : b - a;
}

void mcu_set_input(mcu_t *m, enum mcu_input input, int32_t value, uint32_t now)
{
    switch (input) {
    case IN_TAMPER:
        set_switch(m, INPUT_TAMPER, value, now);
        break;
    case IN_DOOR:
        set_switch(m, INPUT_DOOR, value, now);
        break;
    case IN_BUTTON:
        set_switch(m, INPUT_BUTTON, value, now);
        break;
    case IN_MAINS:
        set_switch(m, INPUT_MAINS, value, now);
        break;
    case IN_BATTERY_MV:
        m->battery_mv = (uint16_t)clamp(value, 0, UINT16_MAX);
        if (distance(m->battery_mv, m->reported_battery_mv) >= BATTERY_STEP_MV) {
            queue_inputs(m, now);
        }
        break;
    case IN_TEMPERATURE_DC:
        m->temperature_dc = (int16_t)clamp(value, INT16_MIN, INT16_MAX);
        if (distance(m->temperature_dc, m->reported_temperature_dc) >= TEMPERATURE_STEP_DC) {
            queue_inputs(m, now);
        }
        break;
    case IN_FAULTS:
        if ((uint16_t)clamp(value, 0, UINT16_MAX) != m->faults) {
            m->faults = (uint16_t)clamp(value, 0, UINT16_MAX);
            queue_inputs(m, now);
        }
        break;
    }
}
