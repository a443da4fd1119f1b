/* notify.h - the service manager's view of the daemon: sd_notify(3) READY, RELOADING, STOPPING,
 * STATUS and WATCHDOG messages (STYLE.md §2.9). Every #ifdef HAVE_LIBSYSTEMD lives in notify.c:
 * without libsystemd, or without $NOTIFY_SOCKET, each call does nothing, so callers never check.
 * Loop thread only. Sending is best effort: a failed sd_notify is logged at DEBUG, never fatal. */
#ifndef PD_SERVER_NOTIFY_H
#define PD_SERVER_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct pd_daemon pd_daemon_t;

/* Embedded in pd_daemon_t. The watchdog timer is initialised by pd_notify_ready() only when
 * the manager asked for a watchdog; like every daemon handle, finish() closes it. */
typedef struct pd_notify {
    uv_timer_t watchdog;      /* duty: WATCHDOG=1 every half of WATCHDOG_USEC */
    bool watchdog_on;
    bool ready_sent;
    bool stopping_sent;
    uint64_t last_status_ms;  /* rate limit of pd_notify_status() */
} pd_notify_t;

/* READY=1 with a STATUS= line, and start the watchdog timer if $WATCHDOG_USEC is set for
 * this process. Call once the endpoint is bound and any checkpoint is loaded. */
void pd_notify_ready(pd_daemon_t *d);
/* STATUS= with the state, version, workers and objective. Rate-limited to one per second
 * unless force is set (state changes). */
void pd_notify_status(pd_daemon_t *d, bool force);
/* RELOADING=1 before a SIGHUP reload and READY=1 after it (whatever the reload's outcome:
 * the daemon keeps running either way). */
void pd_notify_reloading(pd_daemon_t *d);
void pd_notify_reloaded(pd_daemon_t *d);
/* STOPPING=1 with the reason as STATUS=: the process is about to exit. Sent once. */
void pd_notify_stopping(pd_daemon_t *d, const char *reason);

#endif
