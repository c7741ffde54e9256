/* Wire constants of the Pi <-> MCU protocol, version 1.0 (firmware_bridge/PROTOCOL.md). */
#ifndef PROTO_H
#define PROTO_H

#include <stdint.h>

#define PROTO_MAJOR 1u
#define PROTO_MINOR 0u
#define FW_MAJOR 1u
#define FW_MINOR 0u
#define FW_PATCH 0u

#define MAX_PAYLOAD 64u
#define HEADER_SIZE 5u
#define CRC_SIZE 2u
#define MIN_BODY (HEADER_SIZE + CRC_SIZE)
#define MAX_BODY (HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE)
#define MAX_ENCODED (MAX_BODY + 2u)
#define MAX_WIRE (MAX_ENCODED + 1u) /* with the delimiter */

#define FLAG_REL 0x01u
#define FLAG_ACK 0x02u

#define RETRANSMIT_MS 250u
#define MAX_RETRIES 5u
#define TX_QUEUE 8u
#define MISSED_HEARTBEATS 3u
#define DEFAULT_HEARTBEAT_MS 1000u
#define MIN_HEARTBEAT_MS 50u
#define MAX_HEARTBEAT_MS 10000u
#define MIN_WATCHDOG_MS 500u
#define MAX_WATCHDOG_MS 3600000u
#define UNSOLICITED_WELCOME_MS 500u
/* Alarm sounders are commonly cut off after 15 minutes so a forgotten siren cannot run
 * all night; the MCU enforces it whatever the host asks. */
#define SIREN_MAX_S 900u
#define BATTERY_STEP_MV 100
#define TEMPERATURE_STEP_DC 10
#define ALL_CAPS 0x3FFFu

enum msg_type {
    MSG_HELLO = 0x01,
    MSG_WELCOME = 0x02,
    MSG_HEARTBEAT = 0x03,
    MSG_ACK = 0x04,
    MSG_PING = 0x05,
    MSG_PONG = 0x06,
    MSG_REJECT = 0x07,
    MSG_GET_STATS = 0x08,
    MSG_STATS = 0x09,
    MSG_SET_OUTPUT = 0x10,
    MSG_OUTPUT_STATE = 0x11,
    MSG_SET_WATCHDOG = 0x12,
    MSG_SHUTDOWN = 0x13,
    MSG_INPUTS = 0x20,
    MSG_SOS_LATCHED = 0x21
};

/* Payload sizes (bytes) of each message type. */
#define LEN_HELLO 12u
#define LEN_WELCOME 18u
#define LEN_HEARTBEAT 4u
#define LEN_PING 4u
#define LEN_REJECT 3u
#define LEN_STATS 24u
#define LEN_SET_OUTPUT 4u
#define LEN_OUTPUT_STATE 6u
#define LEN_SET_WATCHDOG 4u
#define LEN_SHUTDOWN 4u
#define LEN_INPUTS 14u
#define LEN_SOS_LATCHED 6u

enum output_id { OUT_STROBE = 1, OUT_SIREN, OUT_REGISTERED, OUT_ACKNOWLEDGED, OUT_RELAY };
#define OUT_COUNT 5u
#define OUTPUT_FLAG_LOCAL_LATCH 0x01u

enum reject_reason { REJECT_UNKNOWN_TYPE = 1, REJECT_BAD_SIZE = 2, REJECT_BAD_VALUE = 3 };

#define INPUT_TAMPER 0x01u
#define INPUT_DOOR 0x02u
#define INPUT_BUTTON 0x04u
#define INPUT_MAINS 0x08u

enum reset_cause { RESET_POWER_ON = 0, RESET_MCU_WATCHDOG, RESET_BROWNOUT, RESET_OTHER };
enum pi_power_cause { PI_POWER_NEVER = 0, PI_POWER_WATCHDOG, PI_POWER_SHUTDOWN };

/* What the receiving side counts (PROTOCOL.md 2.1 and 4); u16 counters saturate. */
typedef struct {
    uint32_t frames_ok;
    uint16_t bad_cobs;
    uint16_t bad_crc;
    uint16_t bad_length;
    uint16_t overflow;
    uint16_t bad_type;
    uint16_t bad_payload;
    uint16_t duplicates;
    uint16_t retransmits;
    uint16_t give_ups;
} proto_counters_t;

static inline void counter_inc(uint16_t *counter)
{
    if (*counter != UINT16_MAX) {
        (*counter)++;
    }
}

#endif
