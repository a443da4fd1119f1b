/* status_render.h - what the status socket says: /status and /workers as JSON (jansson),
 * /metrics as Prometheus text format 0.0.4, and the dashboard page. Pure: reads the daemon's
 * state (borrowed, loop thread only) and returns text; no I/O. Metric names come from the
 * one X-macro walk (metrics.h), so /status and /metrics always carry the same names. */
#ifndef PD_SERVER_STATUS_RENDER_H
#define PD_SERVER_STATUS_RENDER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../metrics.h"
#include "../session.h"

typedef struct pd_daemon pd_daemon_t;

/* A growing text buffer with a sticky error (the first failure is kept, later appends are
 * no-ops), so a renderer checks once at the end. */
typedef struct pd_render_buf {
    char *p;
    size_t len;
    size_t cap;
    int err; /* 0 or -ENOMEM */
} pd_render_buf_t;

void pd_render_buf_init(pd_render_buf_t *b);
void pd_render_buf_release(pd_render_buf_t *b);
void pd_render_printf(pd_render_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prometheus text: every metric of the walk as paramd_<name> with # HELP and # TYPE, the
 * staleness histogram, bad messages by reason, per-worker series (label worker="NAME",
 * id="ID"), and paramd_build_info. Appends to b; returns b->err. */
int pd_render_metrics(pd_render_buf_t *b, const pd_metrics_t *m, const pd_sessions_t *workers,
                      const char *version);

/* /history: {"fields": [...], "points": [[time, version, objective, test_accuracy,
 * updates_per_second], ...]} oldest first (history.h), non-finite values as null. Arrays, not
 * objects: a whole job's history is what a dashboard loads when it opens. free(*out). */
int pd_render_history_json(char **out, const pd_history_t *h);

/* /workers: a JSON array, one object per session. *out is returned: free(). 0 or -ENOMEM. */
int pd_render_workers_json(char **out, const pd_sessions_t *workers, uint64_t now_ms);

/* /status: state, version, uptime, job, objective, accuracy, workers, every metric, and the
 * configuration with secrets redacted. metrics_endpoint: the bound read-only endpoint or
 * NULL. *out is returned: free(). 0 or -ENOMEM. */
int pd_render_status_json(char **out, const pd_daemon_t *d, uint64_t now_ms,
                          const char *metrics_endpoint);

/* {"error": msg}. *out is returned: free(). 0 or -ENOMEM. */
int pd_render_error_json(char **out, const char *msg);

/* The dashboard (server/ops/dashboard.html, built in as a string): one self-contained page,
 * no external script, font or style, so it works offline. It draws the job's history from
 * /history and polls /status and /workers every second. */
extern const char pd_render_dashboard_html[];

/* "starting", "running", ... for a pd_daemon_state_t. */
const char *pd_render_state_name(int state);

#endif
