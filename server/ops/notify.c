/* notify.c - sd_notify(3) wrappers (see notify.h). Owns the watchdog timer and the STATUS rate
 * limit inside d->notify; reads, never writes, the rest of the daemon. The only file with
 * #ifdef HAVE_LIBSYSTEMD: without it every message is dropped here. */
#include <config.h>
#include "notify.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "../daemon.h"
#include "error.h"
#include "log.h"

#define STATUS_MIN_INTERVAL_MS 900 /* ~1 per second, yet every 1 s tick may send one */

__attribute__((format(printf, 1, 2))) static void send_notify(const char *fmt, ...)
{
#ifdef HAVE_LIBSYSTEMD
    char msg[512];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* unset_environment = 0: every later message (watchdog, STOPPING) needs NOTIFY_SOCKET.
     * Local workers inherit it but never notify, and NotifyAccess=main ignores them. */
    rc = sd_notify(0, msg);
    if (rc < 0) {
        pd_log_debug("sd_notify failed: %s", pd_strerror(rc));
    }
#else
    (void)fmt;
#endif
}

static const char *state_name(pd_daemon_state_t s)
{
    switch (s) {
    case PD_STATE_STARTING: return "starting";
    case PD_STATE_RUNNING: return "running";
    case PD_STATE_DRAINING: return "stopping";
    case PD_STATE_DONE: return "done";
    case PD_STATE_STOPPED: return "stopped";
    }
    return "?";
}

/* One line for `systemctl status`: what an operator checks first. */
static void format_status(const pd_daemon_t *d, char *buf, size_t len)
{
    char obj[32] = "n/a";

    if (isfinite(d->metrics.objective)) {
        snprintf(obj, sizeof(obj), "%.6g", d->metrics.objective);
    }
    snprintf(buf, len, "%s: version %" PRIu64 ", %.0f workers, objective %s, %.0f updates/s",
             state_name(d->state), d->store.version, d->metrics.workers, obj,
             d->metrics.updates_per_second);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    send_notify("WATCHDOG=1");
}

static void start_watchdog(pd_daemon_t *d)
{
#ifdef HAVE_LIBSYSTEMD
    uint64_t usec = 0;
    uint64_t period_ms;
    int rc;

    /* > 0 only when the manager set WATCHDOG_USEC for this very pid (WATCHDOG_PID). */
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
        return;
    }
    period_ms = usec / 2000;
    if (period_ms == 0) {
        period_ms = 1;
    }
    d->notify.watchdog.data = d;
    rc = uv_timer_init(&d->loop, &d->notify.watchdog);
    if (rc == 0) {
        rc = uv_timer_start(&d->notify.watchdog, on_watchdog, period_ms, period_ms);
    }
    if (rc != 0) {
        pd_log_err("cannot start the watchdog timer: %s", pd_strerror(rc));
        return;
    }
    /* The watchdog must not keep a finished loop alive; finish() closes it anyway. */
    uv_unref((uv_handle_t *)&d->notify.watchdog);
    d->notify.watchdog_on = true;
    pd_log_info("systemd watchdog: pinging every %" PRIu64 " ms", period_ms);
#else
    (void)d;
#endif
}

void pd_notify_ready(pd_daemon_t *d)
{
    char status[256];

    format_status(d, status, sizeof(status));
    d->notify.ready_sent = true;
    d->notify.last_status_ms = pd_daemon_now_ms(d);
    send_notify("READY=1\nSTATUS=%s", status);
    start_watchdog(d);
}

void pd_notify_status(pd_daemon_t *d, bool force)
{
    uint64_t now = pd_daemon_now_ms(d);
    char status[256];

    if (!d->notify.ready_sent || d->notify.stopping_sent) {
        return;
    }
    if (!force && now - d->notify.last_status_ms < STATUS_MIN_INTERVAL_MS) {
        return;
    }
    d->notify.last_status_ms = now;
    format_status(d, status, sizeof(status));
    send_notify("STATUS=%s", status);
}

void pd_notify_reloading(pd_daemon_t *d)
{
    struct timespec ts;

    if (d->notify.stopping_sent) {
        return;
    }
    /* MONOTONIC_USEC lets a Type=notify-reload manager match this message to its request. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    send_notify("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%" PRIu64,
                (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

void pd_notify_reloaded(pd_daemon_t *d)
{
    char status[256];

    if (d->notify.stopping_sent) {
        return;
    }
    format_status(d, status, sizeof(status));
    d->notify.last_status_ms = pd_daemon_now_ms(d);
    send_notify("READY=1\nSTATUS=%s", status);
}

void pd_notify_stopping(pd_daemon_t *d, const char *reason)
{
    if (d->notify.stopping_sent) {
        return;
    }
    d->notify.stopping_sent = true;
    send_notify("STOPPING=1\nSTATUS=stopping: %s", reason);
}
