/* method_sync.c - synchronous minibatch SGD (ALGORITHMS.md §1.1): round k hands one part
 * (batch_size samples drawn from seed mix(mix(seed, k), part)) to every ready worker, or
 * sync_parts parts to whichever workers are idle, and waits at a barrier for all parts. A departed worker's part goes back to pending and is
 * computed by another worker; since the samples come from the part's seed and the parts are
 * summed in part order (canonical reduction), who computes a part changes no bit of x. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "method.h"
#include "rng.h"
#include "../scheduler.h"

enum { PART_PENDING = 0, PART_ASSIGNED, PART_DONE };

typedef struct sync_part {
    uint8_t state;
    uint64_t seed;
    uint64_t n_samples;
} sync_part_t;

typedef struct sync_state {
    uint64_t round;
    bool active;
    uint32_t n_parts;
    uint32_t n_done;
    uint32_t cap;
    sync_part_t *parts;
    uint64_t *tasks; /* cap: the task each part's result came from (a sharded job's parts) */
    double *sums; /* cap x dim: each part's gradient sum, kept apart for the ordered sum */
    double *total;
} sync_state_t;

static int sync_init(pd_daemon_t *d)
{
    sync_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    st->total = calloc(d->model.dim > 0 ? d->model.dim : 1, sizeof(double));
    if (st->total == NULL) {
        free(st);
        return -ENOMEM;
    }
    d->method_state = st;
    return 0;
}

static void sync_release(pd_daemon_t *d)
{
    sync_state_t *st = d->method_state;
    if (st != NULL) {
        free(st->parts);
        free(st->tasks);
        free(st->sums);
        free(st->total);
        free(st);
    }
    d->method_state = NULL;
}

static int start_round(pd_daemon_t *d, sync_state_t *st)
{
    size_t ready = pd_sessions_count_ready(&d->sessions);
    size_t n = d->cfg.sync_parts > 0 ? (size_t)d->cfg.sync_parts : ready;
    size_t dim = d->model.dim;

    if (ready == 0) {
        return -EAGAIN;
    }
    if (n > st->cap) {
        sync_part_t *parts = realloc(st->parts, n * sizeof(*parts));
        double *sums;
        if (parts == NULL) {
            return -ENOMEM;
        }
        st->parts = parts;
        uint64_t *tasks = realloc(st->tasks, n * sizeof(*tasks));
        if (tasks == NULL) {
            return -ENOMEM;
        }
        st->tasks = tasks;
        sums = realloc(st->sums, n * dim * sizeof(double));
        if (sums == NULL) {
            return -ENOMEM;
        }
        st->sums = sums;
        st->cap = (uint32_t)n;
    }
    st->n_parts = (uint32_t)n;
    st->n_done = 0;
    uint64_t round_seed = pd_rng_mix((uint64_t)d->cfg.seed, st->round);
    for (uint32_t i = 0; i < st->n_parts; i++) {
        st->parts[i].state = PART_PENDING;
        st->parts[i].seed = pd_rng_mix(round_seed, i);
        st->parts[i].n_samples = 0;
    }
    st->active = true;
    return 0;
}

/* Give s the first pending part; true when sent. */
static bool assign_part(pd_daemon_t *d, sync_state_t *st, pd_session_t *s)
{
    for (uint32_t i = 0; i < st->n_parts; i++) {
        if (st->parts[i].state != PART_PENDING) {
            continue;
        }
        if (pd_sched_send_grad(d, s, st->round, st->parts[i].seed, (uint32_t)d->cfg.batch_size,
                               i) != 0) {
            return false;
        }
        st->parts[i].state = PART_ASSIGNED;
        return true;
    }
    return false;
}

static void sync_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    sync_state_t *st = d->method_state;
    int rc;

    if (st->active) {
        assign_part(d, st, s);
        return;
    }
    rc = start_round(d, st);
    if (rc != 0) {
        if (rc != -EAGAIN) {
            pd_log_err("sync-sgd: cannot start round %llu: %s", (unsigned long long)st->round,
                       pd_strerror(rc));
        }
        return;
    }
    assign_part(d, st, s);
    /* The other parts go to workers parked at the barrier (not to dho2's curvature pool). */
    for (size_t i = 0; i < d->sessions.n; i++) {
        pd_session_t *o = d->sessions.v[i];
        if (o != s && o->state == PD_SESSION_IDLE && o->parked && !o->kv_only && !o->curv_pool &&
            !o->leaving) {
            if (!assign_part(d, st, o)) {
                break;
            }
        }
    }
}

bool pd_method_sync_round_active(const pd_daemon_t *d)
{
    const sync_state_t *st = d->method_state;

    return st->active;
}

static void sync_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                           const pd_msg_t *m, const double *grad_sum)
{
    sync_state_t *st = d->method_state;
    /* a sharded job whose workers send parts sums its own keys only (fosi's rounds: all) */
    size_t dim = d->model.dim, own = d->job.gradient_parts ? d->store.dim : dim;
    uint64_t n_total = 0;

    if (!st->active || t->round != st->round || t->part >= st->n_parts ||
        st->parts[t->part].state != PART_ASSIGNED) {
        d->metrics.results_discarded_total++;
        return;
    }
    memcpy(st->sums + (size_t)t->part * dim, grad_sum, own * sizeof(double));
    st->tasks[t->part] = d->part_task; /* the shards hold its parts until the round's end */
    d->part_task = 0;
    st->parts[t->part].state = PART_DONE;
    st->parts[t->part].n_samples = m->n_samples;
    s->grads_applied++;
    if (++st->n_done < st->n_parts) {
        return;
    }
    memset(st->total, 0, own * sizeof(double));
    for (uint32_t i = 0; i < st->n_parts; i++) {
        const double *p = st->sums + (size_t)i * dim;
        for (size_t j = 0; j < own; j++) {
            st->total[j] += p[j];
        }
        n_total += st->parts[i].n_samples;
    }
    st->active = false;
    st->round++;
    if (d->job.gradient_parts) { /* the shards sum the same parts in the same order */
        d->commit_tasks = st->tasks;
        d->n_commit_tasks = st->n_parts;
    }
    pd_method_apply(d, st->total, n_total, pd_optim_lr(&d->optim), 0);
}

static void sync_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    sync_state_t *st = d->method_state;

    (void)s;
    if (t != NULL && st->active && t->round == st->round && t->part < st->n_parts &&
        st->parts[t->part].state == PART_ASSIGNED) {
        st->parts[t->part].state = PART_PENDING;
        d->metrics.tasks_rescheduled_total++;
    }
}

/* Checkpointed state: the round counter (8 bytes, little-endian). Round k's seeds derive from k,
 * so a restarted server that resumes at round k draws the samples an uninterrupted one would.
 * A round in flight is not saved: it is started again from its first part. */
static int sync_save(pd_daemon_t *d, uint8_t **out, size_t *len)
{
    const sync_state_t *st = d->method_state;

    return pd_method_save_words(&st->round, 1, out, len);
}

static int sync_load(pd_daemon_t *d, const uint8_t *buf, size_t len)
{
    sync_state_t *st = d->method_state;
    uint64_t round;
    int rc = pd_method_load_words(buf, len, &round, 1);

    if (rc == 0) {
        st->round = round;
        st->active = false;
    }
    return rc;
}

const pd_method_ops_t pd_method_sync_sgd = {
    .name = "sync-sgd",
    .init = sync_init,
    .release = sync_release,
    .on_idle = sync_on_idle,
    .on_result = sync_on_result,
    .on_leave = sync_on_leave,
    .save = sync_save,
    .load = sync_load,
};
