/* Unit tests of the portable core, with a HAL that records instead of driving pins. */
#include <stdio.h>
#include <string.h>

#include "../core/cobs.h"
#include "../core/crc16.h"
#include "../core/frame.h"
#include "../core/hal.h"
#include "../core/mcu.h"
#include "../core/pattern.h"
#include "../core/watchdog.h"

static int failures;
static uint8_t sent[4096];
static size_t sent_len;
static uint8_t pi_power = 1;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

void hal_uart_write(const uint8_t *data, size_t len)
{
    if (sent_len + len <= sizeof sent) {
        memcpy(sent + sent_len, data, len);
        sent_len += len;
    }
}

void hal_outputs(const uint8_t modes[OUT_COUNT])
{
    (void)modes;
}

void hal_pi_power(uint8_t on)
{
    pi_power = on;
}

void hal_notice(enum mcu_notice notice)
{
    (void)notice;
}

static void test_vectors(void)
{
    static const uint8_t check[] = "123456789";
    static const uint8_t raw[] = {0x11, 0x22, 0x00, 0x33};
    static const uint8_t cobs[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    static const uint8_t ping_wire[] = {0x02, 0x05, 0x01, 0x01, 0x08, 0x04, 0x01,
                                        0x02, 0x03, 0x04, 0xbb, 0xeb, 0x00};
    uint8_t out[MAX_WIRE];
    frame_t f = {MSG_PING, 0, 0, 0, 4, {1, 2, 3, 4}};

    CHECK(crc16(check, 9) == 0x29B1);
    CHECK(cobs_encode(raw, sizeof raw, out, sizeof out) == sizeof cobs);
    CHECK(memcmp(out, cobs, sizeof cobs) == 0);
    CHECK(frame_encode(&f, out, sizeof out) == sizeof ping_wire);
    CHECK(memcmp(out, ping_wire, sizeof ping_wire) == 0);
}

static void test_decoder_resynchronises(void)
{
    static const uint8_t garbage[] = {0x42, 0x00, 0xff, 0x13, 0x00, 0x05, 0x01, 0x00};
    uint8_t wire[MAX_WIRE];
    frame_t f = {MSG_PING, 0, 0, 0, 4, {9, 8, 7, 6}};
    frame_t got;
    frame_rx_t rx;
    proto_counters_t c;
    size_t n = frame_encode(&f, wire, sizeof wire);
    size_t i;
    int frames = 0;

    memset(&c, 0, sizeof c);
    frame_rx_init(&rx);
    for (i = 0; i < sizeof garbage; i++) {
        frames += frame_rx_push(&rx, garbage[i], &got, &c);
    }
    for (i = 0; i < 200; i++) {
        frames += frame_rx_push(&rx, 0x55, &got, &c); /* oversized */
    }
    frames += frame_rx_push(&rx, 0, &got, &c);
    for (i = 0; i < n; i++) {
        frames += frame_rx_push(&rx, wire[i], &got, &c);
    }
    CHECK(frames == 1);
    CHECK(got.payload[0] == 9 && got.len == 4);
    CHECK(c.overflow == 1);
    CHECK(c.bad_cobs + c.bad_length + c.bad_crc == 3);
}

static void test_watchdog_cycles_power(void)
{
    wd_t wd;
    wd_init(&wd, 1000, 5000);
    wd_configure(&wd, 2000, 0);
    CHECK(wd_tick(&wd, 1999, 1) == WD_NONE);
    CHECK(wd_tick(&wd, 2000, 1) == WD_POWER_OFF);
    CHECK(wd.cause == PI_POWER_WATCHDOG && wd.fires == 1);
    CHECK(wd_tick(&wd, 3000, 1) == WD_POWER_ON);
    wd_feed(&wd, 3500);
    CHECK(wd.state == WD_ARMED);
    wd_shutdown(&wd, 1000, 2000, 4000);
    CHECK(wd_tick(&wd, 5000, 0) == WD_POWER_OFF);
    CHECK(wd_tick(&wd, 9000, 0) == WD_NONE); /* no mains: stays off */
    CHECK(wd_tick(&wd, 9001, 1) == WD_POWER_ON);
}

static void test_mcu_latches_press_without_session(void)
{
    static mcu_t m;
    mcu_config_t cfg = {1000, 5000, ALL_CAPS, RESET_POWER_ON};
    mcu_init(&m, &cfg, 0);
    mcu_set_input(&m, IN_BUTTON, 1, 10);
    mcu_set_input(&m, IN_BUTTON, 0, 20);
    CHECK(m.presses == 1 && m.presses_acked == 0);
    CHECK(m.modes[OUT_REGISTERED - 1] == 1);
    CHECK(m.output_flags & OUTPUT_FLAG_LOCAL_LATCH);
    CHECK(pi_power == 1);
}

static void test_patterns(void)
{
    CHECK(pattern_lamp(OUT_STROBE, 1, 12345) == 1);
    CHECK(pattern_lamp(OUT_STROBE, 4, 0) == 1);
    CHECK(pattern_lamp(OUT_STROBE, 4, 200) == 0);
    CHECK(pattern_siren_hz(2, 2000) == 1200);
    CHECK(pattern_siren_hz(0, 5) == 0);
}

int main(void)
{
    test_vectors();
    test_decoder_resynchronises();
    test_watchdog_cycles_power();
    test_mcu_latches_press_without_session();
    test_patterns();
    printf(failures ? "%d failures\n" : "all core tests passed\n", failures);
    return failures != 0;
}
