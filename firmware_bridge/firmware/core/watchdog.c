#include "watchdog.h"

#include "proto.h"

static int expired(uint32_t now, uint32_t deadline)
{
    return (int32_t)(now - deadline) >= 0;
}

void wd_init(wd_t *wd, uint32_t power_off_ms, uint32_t boot_grace_ms)
{
    wd->state = WD_DISARMED;
    wd->cause = PI_POWER_NEVER;
    wd->fires = 0;
    wd->timeout_ms = 0;
    wd->last_feed = 0;
    wd->deadline = 0;
    wd->power_off_ms = power_off_ms;
    wd->boot_grace_ms = boot_grace_ms;
    wd->min_off_ms = 0;
}

void wd_configure(wd_t *wd, uint32_t timeout_ms, uint32_t now)
{
    if (wd->state == WD_OFF || wd->state == WD_HALTED) {
        return;
    }
    wd->timeout_ms = timeout_ms;
    wd->last_feed = now;
    wd->state = timeout_ms ? WD_ARMED : WD_DISARMED;
}

void wd_feed(wd_t *wd, uint32_t now)
{
    wd->last_feed = now;
    if (wd->state == WD_BOOTING) {
        wd->state = WD_ARMED;
    }
}

void wd_shutdown(wd_t *wd, uint32_t delay_ms, uint32_t min_off_ms, uint32_t now)
{
    wd->state = WD_SHUTDOWN_PENDING;
    wd->deadline = now + delay_ms;
    wd->min_off_ms = min_off_ms;
}

static enum wd_action fire(wd_t *wd, uint32_t now)
{
    if (wd->fires != UINT16_MAX) {
        wd->fires++;
    }
    wd->cause = PI_POWER_WATCHDOG;
    wd->state = WD_OFF;
    wd->deadline = now + wd->power_off_ms;
    return WD_POWER_OFF;
}

static enum wd_action boot(wd_t *wd, uint32_t now)
{
    wd->state = wd->timeout_ms ? WD_BOOTING : WD_DISARMED;
    wd->deadline = now + wd->boot_grace_ms;
    return WD_POWER_ON;
}

enum wd_action wd_tick(wd_t *wd, uint32_t now, int mains_present)
{
    switch (wd->state) {
    case WD_ARMED:
        return (uint32_t)(now - wd->last_feed) >= wd->timeout_ms ? fire(wd, now) : WD_NONE;
    case WD_OFF:
        return expired(now, wd->deadline) ? boot(wd, now) : WD_NONE;
    case WD_BOOTING:
        return expired(now, wd->deadline) ? fire(wd, now) : WD_NONE;
    case WD_SHUTDOWN_PENDING:
        if (!expired(now, wd->deadline)) {
            return WD_NONE;
        }
        wd->cause = PI_POWER_SHUTDOWN;
        wd->state = WD_HALTED;
        wd->deadline = now + wd->min_off_ms;
        return WD_POWER_OFF;
    case WD_HALTED:
        return mains_present && expired(now, wd->deadline) ? boot(wd, now) : WD_NONE;
    default:
        return WD_NONE;
    }
}
