/* metrics.c - see metrics.h. */
#include <config.h>
#include "metrics.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const double pd_staleness_bucket_le[PD_STALENESS_BUCKETS - 1] = {0, 1, 2, 4, 8, 16, 32, 64};

void pd_metrics_init(pd_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    m->objective = NAN;
    m->test_accuracy = NAN;
    m->evaluated_version = NAN;
}

void pd_metrics_observe_staleness(pd_metrics_t *m, uint64_t tau)
{
    size_t b = 0;
    while (b < PD_STALENESS_BUCKETS - 1 && (double)tau > pd_staleness_bucket_le[b]) {
        b++;
    }
    m->staleness_buckets[b]++;
    m->staleness_sum += (double)tau;
    m->staleness_count++;
    m->staleness_mean = m->staleness_sum / (double)m->staleness_count;
}

void pd_metrics_walk(const pd_metrics_t *m, pd_metrics_emit_fn emit, void *ctx)
{
#define PD_METRIC_EMIT_(name, type, help) emit(#name, PD_METRIC_##type, help, m->name, ctx);
    PD_METRICS(PD_METRIC_EMIT_)
#undef PD_METRIC_EMIT_
}

static void emit_json(const char *name, pd_metric_type_t type, const char *help, double value,
                      void *ctx)
{
    json_t *obj = ctx;
    (void)type;
    (void)help;
    json_t *v;

    /* Counters and versions print as integers; NaN (not measured yet) as null. */
    if (!isfinite(value)) {
        v = json_null();
    } else if (value == floor(value) && fabs(value) < 9007199254740992.0) {
        v = json_integer((json_int_t)value);
    } else {
        v = json_real(value);
    }
    json_object_set_new(obj, name, v);
}

json_t *pd_metrics_blocks_json(const pd_metrics_t *m)
{
    const pd_block_metrics_t *b = &m->blocks;
    json_t *a;

    if (b->n == 0 || (a = json_array()) == NULL) {
        return NULL;
    }
    for (uint32_t d = 0; d < b->n && d < PD_METRICS_MAX_BLOCKS; d++) {
        json_array_append_new(a, json_pack("{s:i,s:f,s:f,s:f,s:b}", "block", (int)d, "step_inf",
                                           b->step_inf[d], "pred", b->pred[d], "seconds",
                                           b->seconds[d], "missing", (int)b->missing[d]));
    }
    return a;
}

json_t *pd_metrics_eigen_json(const pd_metrics_t *m)
{
    const pd_eigen_metrics_t *e = &m->eigen;
    json_t *a;

    if (e->n == 0 || (a = json_array()) == NULL) {
        return NULL;
    }
    for (uint32_t j = 0; j < e->n && j < PD_METRICS_MAX_EIGEN; j++) {
        json_array_append_new(a, json_pack("{s:i,s:f,s:f}", "pair", (int)j, "lambda",
                                           e->lambda[j], "residual", e->residual[j]));
    }
    return a;
}

/* A number of a metrics line: null (written for non-finite values) and absence read as NaN. */
static double field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

size_t pd_metrics_read_history(FILE *in, pd_history_t *h)
{
    char line[1 << 16];
    size_t added = 0;

    while (fgets(line, sizeof(line), in) != NULL) {
        json_t *obj = json_loads(line, 0, NULL);
        /* NULL for an evaluation line; the seam of a restart is not an evaluation */
        const char *event = json_string_value(json_object_get(obj, "event"));
        if (json_is_object(obj) && isfinite(field(obj, "time")) &&
            isfinite(field(obj, "evaluated_version")) &&
            (event == NULL || strcmp(event, "done") == 0)) {
            pd_history_point_t p = {field(obj, "time"), field(obj, "evaluated_version"),
                                    field(obj, "objective"), field(obj, "test_accuracy"),
                                    field(obj, "updates_per_s")};
            pd_history_add(h, &p);
            added++;
        }
        json_decref(obj);
    }
    return added;
}

int pd_metrics_write_jsonl(const pd_metrics_t *m, FILE *out, double wall_time, double elapsed_s,
                           const char *event)
{
    json_t *obj = json_object();
    char *text = NULL;
    int rc = -ENOMEM;

    if (obj == NULL) {
        goto out;
    }
    json_object_set_new(obj, "time", json_real(wall_time));
    json_object_set_new(obj, "elapsed_s", json_real(elapsed_s));
    pd_metrics_walk(m, emit_json, obj);
    if (m->blocks.n > 0) {
        json_object_set_new(obj, "apts_blocks", pd_metrics_blocks_json(m));
    }
    if (m->eigen.n > 0) {
        json_object_set_new(obj, "fosi_eigenpairs", pd_metrics_eigen_json(m));
    }
    /* The short names the plot script and the issue promise, next to the full ones. */
    json_object_set_new(obj, "updates_per_s",
                        json_real(isfinite(m->updates_per_second) ? m->updates_per_second : 0));
    if (event != NULL) {
        json_object_set_new(obj, "event", json_string(event));
    }
    /* 17 significant digits: every double read back is the one written (to compare with a
     * reference optimum, or between runs) */
    text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (text == NULL) {
        goto out;
    }
    rc = 0;
    if (fprintf(out, "%s\n", text) < 0 || fflush(out) != 0) {
        rc = -EIO;
    }
out:
    free(text);
    json_decref(obj);
    return rc;
}
