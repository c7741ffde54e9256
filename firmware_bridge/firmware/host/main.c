/* mcu-host DEVICE [--power-off-ms N] [--boot-grace-ms N]
 *
 * Runs the firmware core on Linux against a serial device (a USB adapter or one end of a
 * pseudo-terminal pair). Input changes come as lines on stdin:
 *   tamper 1 | door 0 | button 1 | mains 0 | battery 11.2 | temp 41.5 | faults 4
 *   stats | quit
 * and every output change, Pi power change and link change is printed as a line on stdout
 * (README.md lists them). End of stdin ends the program. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../core/mcu.h"
#include "host.h"

int host_serial_fd = -1;

static mcu_t mcu;
static const char *device;

static uint32_t millis(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static int open_serial(const char *path)
{
    struct termios tio;
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        cfsetispeed(&tio, B115200);
        cfsetospeed(&tio, B115200);
        tio.c_cflag |= CLOCAL | CREAD;
        tcsetattr(fd, TCSANOW, &tio);
    }
    return fd;
}

static void print_stats(void)
{
    const proto_counters_t *c = &mcu.counters;
    printf("stats frames_ok=%lu bad_cobs=%u bad_crc=%u bad_length=%u overflow=%u bad_type=%u "
           "bad_payload=%u duplicates=%u retransmits=%u give_ups=%u watchdog_fires=%u\n",
           (unsigned long)c->frames_ok, c->bad_cobs, c->bad_crc, c->bad_length, c->overflow,
           c->bad_type, c->bad_payload, c->duplicates, c->retransmits, c->give_ups,
           mcu.wd.fires);
}

/* Parse "name value"; returns 0 on success. Analog values are scaled to the core's units. */
static int handle_line(char *line)
{
    static const struct {
        const char *name;
        enum mcu_input input;
        double scale;
    } inputs[] = {
        {"tamper", IN_TAMPER, 1},   {"door", IN_DOOR, 1},       {"button", IN_BUTTON, 1},
        {"mains", IN_MAINS, 1},     {"battery", IN_BATTERY_MV, 1000},
        {"temp", IN_TEMPERATURE_DC, 10}, {"faults", IN_FAULTS, 1},
    };
    char name[16];
    double value;
    size_t i;

    if (strcmp(line, "stats") == 0) {
        print_stats();
        return 0;
    }
    if (sscanf(line, "%15s %lf", name, &value) != 2) {
        return -1;
    }
    for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        if (strcmp(name, inputs[i].name) == 0) {
            double scaled = value * inputs[i].scale;
            mcu_set_input(&mcu, inputs[i].input, (int32_t)(scaled + (scaled < 0 ? -0.5 : 0.5)),
                          millis());
            return 0;
        }
    }
    return -1;
}

/* Read what stdin has; returns 0 at end of input or on "quit". */
static int read_stdin(void)
{
    static char line[128];
    static size_t used;
    char c;
    ssize_t n;

    while ((n = read(STDIN_FILENO, &c, 1)) == 1) {
        if (c != '\n') {
            if (used < sizeof line - 1u) {
                line[used++] = c;
            }
            continue;
        }
        line[used] = '\0';
        used = 0;
        if (strcmp(line, "quit") == 0) {
            return 0;
        }
        if (line[0] != '\0' && handle_line(line) != 0) {
            fprintf(stderr, "error: cannot understand \"%s\"\n", line);
        }
        return 1;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static void read_serial(void)
{
    uint8_t buf[256];
    ssize_t n = read(host_serial_fd, buf, sizeof buf);
    if (n > 0) {
        mcu_receive(&mcu, buf, (size_t)n, millis());
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* The far end hung up; keep the core running and reopen the device later. */
        close(host_serial_fd);
        host_serial_fd = -1;
        printf("serial closed\n");
    }
}

static int run(void)
{
    uint32_t next_open = 0;
    for (;;) {
        struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {host_serial_fd, POLLIN, 0}};
        int ready = poll(fds, host_serial_fd >= 0 ? 2 : 1, 5);
        if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP)) && !read_stdin()) {
            return 0;
        }
        if (ready > 0 && host_serial_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            read_serial();
        }
        if (host_serial_fd < 0 && (int32_t)(millis() - next_open) >= 0) {
            host_serial_fd = open_serial(device);
            next_open = millis() + 200u;
        }
        mcu_tick(&mcu, millis());
    }
}

static uint32_t option(int argc, char **argv, const char *name, uint32_t fallback)
{
    int i;
    for (i = 2; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return (uint32_t)strtoul(argv[i + 1], NULL, 10);
        }
    }
    return fallback;
}

int main(int argc, char **argv)
{
    mcu_config_t config;

    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s DEVICE [--power-off-ms N] [--boot-grace-ms N]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    device = argv[1];
    host_serial_fd = open_serial(device);
    if (host_serial_fd < 0) {
        fprintf(stderr, "error: cannot open %s: %s\n", device, strerror(errno));
        return 1;
    }
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    config.power_off_ms = option(argc, argv, "--power-off-ms", 5000u);
    config.boot_grace_ms = option(argc, argv, "--boot-grace-ms", 180000u);
    config.caps = ALL_CAPS;
    config.reset_cause = RESET_POWER_ON;
    mcu_init(&mcu, &config, millis());
    mcu_set_input(&mcu, IN_MAINS, 1, millis());
    mcu_set_input(&mcu, IN_BATTERY_MV, 13200, millis());
    mcu_set_input(&mcu, IN_TEMPERATURE_DC, 250, millis());
    printf("ready %s\n", device);
    return run();
}
