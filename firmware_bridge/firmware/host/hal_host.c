/* The HAL on Linux: the UART is the serial device, outputs and power are printed. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "../core/hal.h"
#include "host.h"

static unsigned long dropped_bytes;

void hal_uart_write(const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len && host_serial_fd >= 0) {
        ssize_t n = write(host_serial_fd, data + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            /* A real UART would stall here too; wait a little, then drop like a full FIFO. */
            struct pollfd p = {host_serial_fd, POLLOUT, 0};
            if (poll(&p, 1, 50) <= 0) {
                break;
            }
        } else {
            break;
        }
    }
    dropped_bytes += len - done;
}

void hal_outputs(const uint8_t modes[OUT_COUNT])
{
    printf("out strobe=%u siren=%u registered=%u acknowledged=%u relay=%u\n", modes[0], modes[1],
           modes[2], modes[3], modes[4]);
}

void hal_pi_power(uint8_t on)
{
    printf("pi_power %u\n", on);
}

void hal_notice(enum mcu_notice notice)
{
    static const char *const text[] = {"link up", "link down", "watchdog fired",
                                       "shutdown pending"};
    printf("%s\n", text[notice]);
}
