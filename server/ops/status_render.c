/* status_render.c - see status_render.h. Pure: reads daemon state, returns text. Loop thread
 * only (the state it reads is the loop's). Neither back end names a metric by hand: both
 * attach to pd_metrics_walk(). */
#include <config.h>
#include "status_render.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "common/config.h"
#include "grow.h"
#include "../daemon.h"
#include "../shards.h"
#include "../methods/method.h"

/* ---- text buffer --------------------------------------------------------------------------- */

void pd_render_buf_init(pd_render_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void pd_render_buf_release(pd_render_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static void buf_reserve(pd_render_buf_t *b, size_t extra)
{
    size_t need;

    if (b->err == 0 && (__builtin_add_overflow(b->len, extra + 1, &need) ||
                        pd_grow((void **)&b->p, &b->cap, need, 1) != 0)) {
        b->err = -ENOMEM;
    }
}

void pd_render_printf(pd_render_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    if (b->err != 0) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = -ENOMEM;
        return;
    }
    buf_reserve(b, (size_t)n);
    if (b->err != 0) {
        return;
    }
    if ((size_t)n < sizeof(small)) {
        memcpy(b->p + b->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* ---- Prometheus ---------------------------------------------------------------------------- */

/* Sample values: NaN/+Inf/-Inf as the format spells them; integers exactly. */
static const char *prom_value(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        return "NaN";
    }
    if (isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(buf, len, "%.0f", v);
    } else {
        snprintf(buf, len, "%.17g", v);
    }
    return buf;
}

/* Label values escape backslash, double quote and newline; HELP text escapes backslash and
 * newline (text format 0.0.4). */
static void prom_escaped(pd_render_buf_t *b, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            pd_render_printf(b, "\\\\");
        } else if (*s == '\n') {
            pd_render_printf(b, "\\n");
        } else if (quote && *s == '"') {
            pd_render_printf(b, "\\\"");
        } else {
            pd_render_printf(b, "%c", *s);
        }
    }
}

static void prom_family(pd_render_buf_t *b, const char *name, const char *type, const char *help)
{
    pd_render_printf(b, "# HELP paramd_%s ", name);
    prom_escaped(b, help, false);
    pd_render_printf(b, "\n# TYPE paramd_%s %s\n", name, type);
}

static void emit_prom(const char *name, pd_metric_type_t type, const char *help, double value,
                      void *ctx)
{
    pd_render_buf_t *b = ctx;
    char num[64];

    prom_family(b, name, type == PD_METRIC_COUNTER ? "counter" : "gauge", help);
    pd_render_printf(b, "paramd_%s %s\n", name, prom_value(value, num, sizeof(num)));
}

static double worker_applied(const pd_session_t *s)
{
    return (double)s->grads_applied;
}

static double worker_compute(const pd_session_t *s)
{
    return s->compute_seconds;
}

static double worker_samples(const pd_session_t *s)
{
    return (double)s->samples;
}

/* The per-worker series: one family each, one sample per connected worker; a worker's series
 * disappear with its session. */
static const struct {
    const char *name;
    const char *help;
    double (*value)(const pd_session_t *s);
} worker_series[] = {
    {"worker_gradients_applied_total", "Gradients of this worker applied to the parameters",
     worker_applied},
    {"worker_compute_seconds_total", "Seconds this worker reported computing tasks",
     worker_compute},
    {"worker_samples_total", "Samples this worker summed in accepted gradient results",
     worker_samples},
};

static void prom_worker_series(pd_render_buf_t *b, const pd_sessions_t *t)
{
    char num[64];

    for (size_t k = 0; k < sizeof(worker_series) / sizeof(worker_series[0]); k++) {
        prom_family(b, worker_series[k].name, "counter", worker_series[k].help);
        for (size_t i = 0; i < t->n; i++) {
            const pd_session_t *s = t->v[i];
            pd_render_printf(b, "paramd_%s{worker=\"", worker_series[k].name);
            prom_escaped(b, s->hello.name, true);
            pd_render_printf(b, "\",id=\"%" PRIu32 "\"} %s\n", s->id,
                             prom_value(worker_series[k].value(s), num, sizeof(num)));
        }
    }
}

/* One gauge family with one series per index: paramd_NAME{LABEL="i"} v[i], i < n. */
static void prom_indexed(pd_render_buf_t *b, const char *name, const char *help,
                         const char *label, const double *v, uint32_t n)
{
    char num[64];

    prom_family(b, name, "gauge", help);
    for (uint32_t i = 0; i < n; i++) {
        pd_render_printf(b, "paramd_%s{%s=\"%" PRIu32 "\"} %s\n", name, label, i,
                         prom_value(v[i], num, sizeof(num)));
    }
}

/* apts: one series per block of the last outer iteration; fosi: one per eigenpair of the
 * last refresh. */
static void prom_indexed_series(pd_render_buf_t *b, const pd_metrics_t *m)
{
    const pd_block_metrics_t *bm = &m->blocks;
    const pd_eigen_metrics_t *em = &m->eigen;
    uint32_t nb = bm->n < PD_METRICS_MAX_BLOCKS ? bm->n : PD_METRICS_MAX_BLOCKS;
    uint32_t ne = em->n < PD_METRICS_MAX_EIGEN ? em->n : PD_METRICS_MAX_EIGEN;

    if (nb > 0) {
        prom_indexed(b, "apts_block_step_inf",
                     "apts: inf-norm of the block's step in the last outer iteration", "block",
                     bm->step_inf, nb);
        prom_indexed(b, "apts_block_pred", "apts: predicted decrease of the block's local solve",
                     "block", bm->pred, nb);
        prom_indexed(b, "apts_block_seconds", "apts: compute seconds of the block's local solve",
                     "block", bm->seconds, nb);
    }
    if (ne > 0) {
        prom_indexed(b, "fosi_eigenvalue",
                     "fosi: eigenvalues of the last refresh, bottom-l then top-k ascending",
                     "pair", em->lambda, ne);
        prom_indexed(b, "fosi_ritz_residual",
                     "fosi: Ritz residual |Hv - lambda v| of each pair of the last refresh",
                     "pair", em->residual, ne);
    }
}

int pd_render_metrics(pd_render_buf_t *b, const pd_metrics_t *m, const pd_sessions_t *workers,
                      const char *version)
{
    char num[64];
    uint64_t cum = 0;

    pd_metrics_walk(m, emit_prom, b);

    prom_family(b, "staleness_versions", "histogram",
                "Staleness of applied gradients and pushes, in parameter versions");
    for (size_t i = 0; i < PD_STALENESS_BUCKETS; i++) {
        cum += m->staleness_buckets[i];
        if (i < PD_STALENESS_BUCKETS - 1) {
            pd_render_printf(b, "paramd_staleness_versions_bucket{le=\"%s\"} %" PRIu64 "\n",
                             prom_value(pd_staleness_bucket_le[i], num, sizeof(num)), cum);
        } else {
            pd_render_printf(b, "paramd_staleness_versions_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                             cum);
        }
    }
    pd_render_printf(b, "paramd_staleness_versions_sum %s\n",
                     prom_value(m->staleness_sum, num, sizeof(num)));
    pd_render_printf(b, "paramd_staleness_versions_count %" PRIu64 "\n", cum);

    prom_family(b, "bad_messages_by_reason_total", "counter",
                "Messages refused with an ERROR reply, by wire error reason");
    for (int code = 1; code < PD_WERR__COUNT; code++) {
        pd_render_printf(b, "paramd_bad_messages_by_reason_total{reason=\"%s\"} %" PRIu64 "\n",
                         pd_wire_error_name(code), m->errors_by_code[code]);
    }

    prom_worker_series(b, workers);
    prom_indexed_series(b, m);

    prom_family(b, "build_info", "gauge", "paramd build information (always 1)");
    pd_render_printf(b, "paramd_build_info{version=\"");
    prom_escaped(b, version, true);
    pd_render_printf(b, "\"} 1\n");
    return b->err;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* Integral values as integers, NaN (not measured yet) as null, like the metrics log. */
static json_t *json_number(double v)
{
    if (!isfinite(v)) {
        return json_null();
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

static void emit_json(const char *name, pd_metric_type_t type, const char *help, double value,
                      void *ctx)
{
    (void)type;
    (void)help;
    json_object_set_new(ctx, name, json_number(value));
}

static void emit_config(const char *section, const char *name, const char *value, int flags,
                        const char *doc, void *ctx)
{
    json_t *cfg = ctx;
    json_t *sec = json_object_get(cfg, section);
    (void)flags;
    (void)doc;

    if (sec == NULL) {
        sec = json_object();
        if (sec == NULL || json_object_set_new(cfg, section, sec) != 0) {
            return;
        }
    }
    json_object_set_new(sec, name, json_string(value));
}

static const char *session_state_name(const pd_session_t *s)
{
    if (s->kv_only) {
        return "kv-client";
    }
    switch (s->state) {
    case PD_SESSION_JOINED: return "loading";
    case PD_SESSION_IDLE: return s->parked ? "waiting" : "idle";
    case PD_SESSION_BUSY: return "busy";
    }
    return "unknown";
}

const char *pd_render_state_name(int state)
{
    switch (state) {
    case PD_STATE_STARTING: return "starting";
    case PD_STATE_RUNNING: return "running";
    case PD_STATE_DRAINING: return "draining";
    case PD_STATE_DONE: return "done";
    case PD_STATE_STOPPED: return "stopped";
    }
    return "unknown";
}

static json_t *worker_json(const pd_session_t *s, uint64_t now_ms)
{
    json_t *w = json_object();
    if (w == NULL) {
        return NULL;
    }
    double age = now_ms > s->last_seen_ms ? (double)(now_ms - s->last_seen_ms) / 1000.0 : 0;
    double up = now_ms > s->joined_ms ? (double)(now_ms - s->joined_ms) / 1000.0 : 0;
    json_object_set_new(w, "id", json_integer(s->id));
    json_object_set_new(w, "name", json_string(s->hello.name));
    json_object_set_new(w, "host", json_string(s->hello.host));
    json_object_set_new(w, "cores", json_integer(s->hello.cores));
    json_object_set_new(w, "threads", json_integer(s->hello.threads));
    json_object_set_new(w, "state", json_string(session_state_name(s)));
    json_object_set_new(w, "last_seen_s", json_real(age));
    json_object_set_new(w, "connected_s", json_real(up));
    json_object_set_new(w, "tasks_done", json_integer((json_int_t)s->tasks_done));
    json_object_set_new(w, "gradients_applied", json_integer((json_int_t)s->grads_applied));
    json_object_set_new(w, "gradients_dropped", json_integer((json_int_t)s->grads_dropped));
    json_object_set_new(w, "compute_seconds", json_real(s->compute_seconds));
    json_object_set_new(w, "samples", json_integer((json_int_t)s->samples));
    json_object_set_new(w, "staleness_mean",
                        s->grads_applied > 0
                            ? json_real(s->staleness_sum / (double)s->grads_applied)
                            : json_null());
    json_object_set_new(w, "version", s->has_params ? json_integer((json_int_t)s->have_version)
                                                    : json_null());
    return w;
}

static json_t *workers_array(const pd_sessions_t *t, uint64_t now_ms)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < t->n; i++) {
        if (json_array_append_new(a, worker_json(t->v[i], now_ms)) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static int dump_flags(char **out, json_t *v, size_t flags)
{
    if (v == NULL) {
        return -ENOMEM;
    }
    char *text = json_dumps(v, flags | JSON_REAL_PRECISION(12));
    json_decref(v);
    if (text == NULL) {
        return -ENOMEM;
    }
    *out = text;
    return 0;
}

/* For people (curl, paramctl --json): indented. */
static int dump(char **out, json_t *v)
{
    return dump_flags(out, v, JSON_INDENT(2));
}

int pd_render_workers_json(char **out, const pd_sessions_t *workers, uint64_t now_ms)
{
    return dump(out, workers_array(workers, now_ms));
}

int pd_render_history_json(char **out, const pd_history_t *h)
{
    json_t *points = json_array();

    for (size_t i = 0; points != NULL && i < h->n; i++) {
        const pd_history_point_t *p = &h->v[i];
        json_array_append_new(points, json_pack("[ooooo]", json_number(p->wall_time),
                                                json_number(p->version),
                                                json_number(p->objective),
                                                json_number(p->test_accuracy),
                                                json_number(p->updates_per_second)));
    }
    /* compact: up to PD_HISTORY_CAP rows, polled by every open dashboard */
    return dump_flags(out, json_pack("{s:[sssss],s:o*}", "fields", "time", "version",
                                     "objective", "test_accuracy", "updates_per_second", "points",
                                     points),
                      JSON_COMPACT);
}

int pd_render_error_json(char **out, const char *msg)
{
    return dump(out, json_pack("{s:s}", "error", msg));
}

/* "stop": the criteria that are set (null: not set), how far the job is toward the nearest
 * of max_updates and max_seconds (0..1), and an estimate of the seconds left from the
 * current rate (null when there is no such criterion or no rate yet). */
static json_t *stop_json(const pd_daemon_t *d, double training_s)
{
    const pd_config_t *c = &d->cfg;
    const pd_metrics_t *m = &d->metrics;
    double progress = NAN, left = NAN;

    if (c->max_updates > 0) {
        progress = m->updates_total / (double)c->max_updates;
        if (m->updates_per_second > 0) {
            left = ((double)c->max_updates - m->updates_total) / m->updates_per_second;
        }
    }
    if (c->max_seconds_ms > 0 && d->training_begun) {
        double limit = (double)c->max_seconds_ms / 1000.0;
        progress = isnan(progress) ? training_s / limit : fmax(progress, training_s / limit);
        left = isnan(left) ? limit - training_s : fmin(left, limit - training_s);
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}",
                     "max_updates", c->max_updates > 0 ? json_integer(c->max_updates) : json_null(),
                     "max_seconds",
                     c->max_seconds_ms > 0 ? json_real((double)c->max_seconds_ms / 1000.0)
                                           : json_null(),
                     "target_loss", c->target_loss > 0 ? json_real(c->target_loss) : json_null(),
                     "target_accuracy",
                     c->target_accuracy > 0 ? json_real(c->target_accuracy) : json_null(),
                     "progress", json_number(fmin(fmax(progress, 0.0), 1.0)),
                     "seconds_left", json_number(isnan(left) ? NAN : fmax(left, 0.0)));
}

/* "checkpoint": off without a state_dir; else the interval, and the newest durable one's
 * version and age (null before the first). */
/* A sharded job: shard 0 (this paramd) and every other shard, with the time since each
 * last answered (a shard silent for worker_timeout ends the job). */
static json_t *shards_json(const pd_daemon_t *d, uint64_t now_ms)
{
    json_t *a = json_array();

    json_array_append_new(a, json_pack("{s:i,s:s,s:I,s:I}", "index", 0, "endpoint", d->endpoint,
                                       "key_begin", (json_int_t)0,
                                       "key_end", (json_int_t)d->key_end));
    for (unsigned i = 1; i < pd_shards_count(d); i++) {
        pd_shard_status_t s;
        pd_shards_status(d, i, now_ms, &s);
        json_t *o = json_pack("{s:i,s:s,s:I,s:I,s:f,s:b}", "index", (int)i, "endpoint",
                              s.endpoint, "key_begin", (json_int_t)s.key_begin, "key_end",
                              (json_int_t)s.key_end, "silent_s", s.silent_s, "started_here",
                              s.started_here);
        if (o != NULL && s.started_here) { /* of a shard started elsewhere, nobody here knows */
            json_object_set_new(o, "running", json_boolean(s.running));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *checkpoint_json(const pd_daemon_t *d)
{
    const pd_metrics_t *m = &d->metrics;
    bool any = m->checkpoint_last_time_seconds > 0;

    if (d->cfg.state_dir[0] == '\0') {
        return json_pack("{s:b}", "enabled", 0);
    }
    return json_pack("{s:b,s:o,s:o,s:o,s:I,s:I}", "enabled", 1, "interval_s",
                     json_real((double)d->cfg.checkpoint_interval_ms / 1000.0), "last_version",
                     any ? json_number(m->checkpoint_last_version) : json_null(), "last_age_s",
                     any ? json_real(fmax(0.0, pd_clock_wall_s() - m->checkpoint_last_time_seconds))
                         : json_null(),
                     "written", (json_int_t)m->checkpoints_written_total, "failed",
                     (json_int_t)m->checkpoint_failures_total);
}

int pd_render_status_json(char **out, const pd_daemon_t *d, uint64_t now_ms,
                          const char *metrics_endpoint)
{
    json_t *st = json_object();
    json_t *job = json_object();
    json_t *metrics = json_object();
    json_t *hist = json_object();
    json_t *reasons = json_object();
    json_t *cfg = json_object();
    char id[32];

    if (st == NULL || job == NULL || metrics == NULL || hist == NULL || reasons == NULL ||
        cfg == NULL) {
        json_decref(st);
        json_decref(job);
        json_decref(metrics);
        json_decref(hist);
        json_decref(reasons);
        json_decref(cfg);
        return -ENOMEM;
    }
    bool started = d->state != PD_STATE_STARTING;
    json_object_set_new(st, "state", json_string(pd_render_state_name((int)d->state)));
    /* "paramd_version", not "version": beside parameter_version the short name misled. */
    json_object_set_new(st, "paramd_version", json_string(PACKAGE_VERSION));
    json_object_set_new(st, "uptime_s", json_real(started && now_ms > d->start_ms
                                                      ? (double)(now_ms - d->start_ms) / 1000.0
                                                      : 0.0));
    double training_s = d->training_begun && now_ms > d->training_start_ms
                            ? (double)(now_ms - d->training_start_ms) / 1000.0
                            : 0.0;
    json_object_set_new(st, "training_s", json_real(training_s));
    json_object_set_new(st, "stop", stop_json(d, training_s));
    json_object_set_new(st, "checkpoint", checkpoint_json(d));
    size_t ready = pd_sessions_count_ready(&d->sessions);
    json_object_set_new(st, "waiting_for_workers",
                        json_integer(!d->training_begun && started &&
                                             (size_t)d->cfg.min_workers > ready
                                         ? (json_int_t)((size_t)d->cfg.min_workers - ready)
                                         : 0));
    if (d->stop_reason[0] != '\0') {
        json_object_set_new(st, "stop_reason", json_string(d->stop_reason));
    }
    snprintf(id, sizeof(id), "%016" PRIx64, d->job.job_id);
    json_object_set_new(job, "id", json_string(id));
    json_object_set_new(job, "method", json_string(d->method != NULL ? d->method->name : ""));
    json_object_set_new(job, "model", json_string(pd_model_kind_name(d->model.kind)));
    json_object_set_new(job, "dim", json_integer((json_int_t)d->model.dim));
    json_object_set_new(job, "samples",
                        json_integer(d->train != NULL ? (json_int_t)d->train->m : 0));
    json_object_set_new(job, "test_samples",
                        json_integer(d->test != NULL ? (json_int_t)d->test->m : 0));
    json_object_set_new(job, "endpoint", json_string(d->endpoint));
    json_object_set_new(st, "job", job);
    json_object_set_new(st, "parameter_version", json_number(d->metrics.version));
    json_object_set_new(st, "objective", json_number(d->metrics.objective));
    json_object_set_new(st, "test_accuracy", json_number(d->metrics.test_accuracy));
    json_object_set_new(st, "workers", json_integer((json_int_t)ready));
    json_object_set_new(st, "sessions", json_integer((json_int_t)d->sessions.n));
    if (metrics_endpoint != NULL) {
        json_object_set_new(st, "metrics_endpoint", json_string(metrics_endpoint));
    }
    pd_metrics_walk(&d->metrics, emit_json, metrics);
    json_object_set_new(st, "metrics", metrics);
    if (pd_shards_count(d) > 1) {
        json_object_set_new(st, "shards", shards_json(d, now_ms));
    }
    if (d->metrics.blocks.n > 0) {
        json_object_set_new(st, "apts_blocks", pd_metrics_blocks_json(&d->metrics));
    }
    if (d->metrics.eigen.n > 0) {
        json_object_set_new(st, "fosi_eigenpairs", pd_metrics_eigen_json(&d->metrics));
    }

    json_t *le = json_array();
    json_t *counts = json_array();
    for (size_t i = 0; i < PD_STALENESS_BUCKETS; i++) {
        json_array_append_new(le, i < PD_STALENESS_BUCKETS - 1
                                      ? json_number(pd_staleness_bucket_le[i])
                                      : json_string("+Inf"));
        json_array_append_new(counts, json_integer((json_int_t)d->metrics.staleness_buckets[i]));
    }
    json_object_set_new(hist, "le", le);
    json_object_set_new(hist, "counts", counts);
    json_object_set_new(hist, "sum", json_number(d->metrics.staleness_sum));
    json_object_set_new(st, "staleness_histogram", hist);
    for (int code = 1; code < PD_WERR__COUNT; code++) {
        json_object_set_new(reasons, pd_wire_error_name(code),
                            json_integer((json_int_t)d->metrics.errors_by_code[code]));
    }
    json_object_set_new(st, "bad_messages_by_reason", reasons);
    pd_config_walk(&d->cfg, emit_config, cfg);
    json_object_set_new(st, "config", cfg);
    return dump(out, st);
}

/* ---- dashboard ----------------------------------------------------------------------------- */

