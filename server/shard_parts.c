/* shard_parts.c - shard i > 0 of a job whose GRAD results travel in parts (Job.gradient_parts,
 * shards.h): a worker sends each shard its keys' share of a result (PART) and shard 0 the
 * rest; shard 0's COMMIT then names the task instead of carrying the values. The PART and the
 * COMMIT come over different connections, in either order, so this file keeps
 *   - the parts no COMMIT has named yet, and the tasks shard 0 said it will not use
 *     (DISCARD) whose part has not come yet, each dropped after twice worker_timeout;
 *   - the COMMITs that wait for their part, in order, with every COMMIT behind them (updates
 *     apply in version order); one waiting longer than worker_timeout ends the shard. */
#include <config.h>
#include "shards.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "error.h"
#include "grow.h"
#include "log.h"

typedef struct part {
    uint64_t task_id;
    uint64_t at_ms;  /* when it (or its DISCARD) came */
    double *v;       /* the values, widened (NULL: discarded before its part came) */
} part_t;

struct pd_shard_parts {
    part_t *v;
    size_t n, cap;
    pd_wire_in_t **queue; /* COMMITs waiting, oldest first */
    size_t qn, qcap;
    uint64_t head_since_ms;
};

/* The session of shard 0, which the queued COMMITs came from. */
static pd_session_t *coordinator(pd_daemon_t *d)
{
    for (size_t i = 0; i < d->sessions.n; i++) {
        if (d->sessions.v[i]->coordinator) {
            return d->sessions.v[i];
        }
    }
    return NULL;
}

static pd_shard_parts_t *parts_of(pd_daemon_t *d)
{
    if (d->parts == NULL) {
        d->parts = calloc(1, sizeof(pd_shard_parts_t));
    }
    return d->parts;
}

static part_t *find(pd_shard_parts_t *p, uint64_t task_id)
{
    for (size_t i = 0; p != NULL && i < p->n; i++) {
        if (p->v[i].task_id == task_id) {
            return &p->v[i];
        }
    }
    return NULL;
}

static void drop(pd_shard_parts_t *p, part_t *e)
{
    free(e->v);
    *e = p->v[--p->n];
}

static part_t *add(pd_shard_parts_t *p, uint64_t task_id, uint64_t now)
{
    if (p->n == PD_SHARD_PARTS_MAX ||
        pd_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v)) != 0) {
        return NULL;
    }
    p->v[p->n] = (part_t){task_id, now, NULL};
    return &p->v[p->n++];
}

long pd_shard_commit_parts(pd_wire_in_t *commit, const uint64_t **ids)
{
    const pd_msg_t *m = &commit->msg;

    if (m->commit_values) {
        return 0; /* values, whole: nothing to wait for (set_values refuses task fields) */
    }
    if (m->part_tasks > 0) {
        return m->n_frames == 1 && m->part_tasks <= PD_SHARD_PARTS_MAX &&
                       pd_wire_in_u64s(commit, 0, (size_t)m->part_tasks, ids) == 0
                   ? (long)m->part_tasks
                   : -1;
    }
    *ids = &m->task_id;
    return m->task_id != 0 && m->n_frames == 0 ? 1 : 0;
}

bool pd_shard_part_ready(pd_daemon_t *d, pd_wire_in_t *commit)
{
    const uint64_t *ids = NULL;
    long n = pd_shard_commit_parts(commit, &ids);

    for (long i = 0; i < n; i++) {
        part_t *e = find(d->parts, ids[i]);
        if (e == NULL || e->v == NULL) {
            return false;
        }
    }
    return true; /* a malformed list is refused when it is applied */
}


const double *pd_shard_part_values(pd_daemon_t *d, uint64_t task_id)
{
    part_t *e = find(d->parts, task_id);
    return e != NULL ? e->v : NULL;
}

void pd_shard_part_used(pd_daemon_t *d, uint64_t task_id)
{
    part_t *e = find(d->parts, task_id);
    if (e != NULL) {
        drop(d->parts, e);
    }
}

int pd_shard_parts_wait(pd_daemon_t *d, pd_wire_in_t *in)
{
    pd_shard_parts_t *p = parts_of(d);
    pd_wire_in_t *kept = malloc(sizeof(*kept));

    if (p == NULL || kept == NULL ||
        pd_grow((void **)&p->queue, &p->qcap, p->qn + 1, sizeof(*p->queue)) != 0) {
        free(kept);
        return -ENOMEM;
    }
    pd_wire_in_move(kept, in);
    d->metrics.gradient_parts_late_total += kept->msg.type == PD_MSG_COMMIT;
    if (p->qn == 0) {
        p->head_since_ms = pd_daemon_now_ms(d);
    }
    p->queue[p->qn++] = kept;
    return 0;
}

bool pd_shard_parts_waiting(const pd_daemon_t *d)
{
    return d->parts != NULL && d->parts->qn > 0;
}

/* The COMMITs at the head of the queue whose parts are here, in order. */
static void run_queue(pd_daemon_t *d, pd_session_t *coordinator)
{
    pd_shard_parts_t *p = d->parts;

    while (coordinator != NULL && p->qn > 0 && pd_shard_part_ready(d, p->queue[0]) &&
           d->state == PD_STATE_RUNNING) {
        pd_wire_in_t *in = p->queue[0];
        memmove(p->queue, p->queue + 1, (p->qn - 1) * sizeof(*p->queue));
        p->qn--;
        p->head_since_ms = pd_daemon_now_ms(d);
        pd_shard_run_queued(d, in, coordinator);
        pd_wire_in_release(in);
        free(in);
    }
}

/* The worker waits for this before it sends its RESULT to shard 0 (worker.c send_parts). */
static void ack_part(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m)
{
    pd_msg_t r;

    pd_msg_init(&r, PD_MSG_ACK);
    r.request_id = m->request_id;
    r.worker_id = s->id;
    r.task_id = m->task_id;
    r.version = d->store.version;
    r.ack = PD_ACK_APPLIED;
    pd_daemon_send(d, s->rid, s->rid_len, &r, NULL, 0);
}

void pd_shard_part(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    pd_shard_parts_t *p = parts_of(d);
    const double *v;
    part_t *e;

    if (p == NULL) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_INTERNAL, "out of memory");
        return;
    }
    if (d->opts.shard_index == 0 || m->task_id == 0 || m->n_frames != 1 ||
        m->key_offset != d->key_begin || m->key_length != d->store.dim ||
        pd_wire_in_doubles(in, 0, d->store.dim, &v) != 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_DIMENSION,
                             "a PART goes to shard i > 0 with a task id and the %zu values of "
                             "its keys [%zu, %zu)", d->store.dim, d->key_begin, d->key_end);
        return;
    }
    e = find(p, m->task_id);
    if (e != NULL && e->v == NULL) {
        drop(p, e); /* shard 0 will not use it */
        ack_part(d, s, m);
        return;
    }
    if (e != NULL) {
        /* the same values again: a worker whose PART to another shard failed sent its result
         * whole, and shard 0 sent every shard the parts itself */
        ack_part(d, s, m);
        return;
    }
    if ((p->n + 1) * d->store.dim * sizeof(double) > (size_t)PD_SHARD_PARTS_MAX_BYTES ||
        (e = add(p, m->task_id, pd_daemon_now_ms(d))) == NULL ||
        (e->v = malloc(d->store.dim * sizeof(double))) == NULL) {
        if (e != NULL && e->v == NULL) {
            drop(p, e);
        }
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "the part of task %" PRIu64 " is not kept (%zu parts already wait)",
                             m->task_id, p->n);
        return;
    }
    memcpy(e->v, v, d->store.dim * sizeof(double));
    d->metrics.gradient_parts_total++;
    ack_part(d, s, m);
    if (p->qn > 0) {
        run_queue(d, coordinator(d));
    }
}

void pd_shard_discard(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    pd_shard_parts_t *p = parts_of(d);
    part_t *e;

    if (!s->coordinator || p == NULL) {
        return;
    }
    e = find(p, in->msg.task_id);
    if (e != NULL) {
        drop(p, e);
    } else if (add(p, in->msg.task_id, pd_daemon_now_ms(d)) == NULL) {
        pd_log_warn("cannot note the discard of task %" PRIu64 "'s part", in->msg.task_id);
    }
}

/* Whether a waiting COMMIT names the task: its part stays, however old. */
static bool named_in_queue(const pd_shard_parts_t *p, uint64_t task_id)
{
    for (size_t i = 0; i < p->qn; i++) {
        const uint64_t *ids = NULL;
        long n = pd_shard_commit_parts(p->queue[i], &ids);
        for (long k = 0; k < n; k++) {
            if (ids[k] == task_id) {
                return true;
            }
        }
    }
    return false;
}

void pd_shard_parts_tick(pd_daemon_t *d, uint64_t now)
{
    pd_shard_parts_t *p = d->parts;
    uint64_t keep = 2 * (uint64_t)d->cfg.worker_timeout_ms;

    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n;) {
        if (now - p->v[i].at_ms > keep && !named_in_queue(p, p->v[i].task_id)) {
            drop(p, &p->v[i]); /* a result that never reached shard 0, or a late discard */
        } else {
            i++;
        }
    }
    if (p->qn > 0 && now - p->head_since_ms > (uint64_t)d->cfg.worker_timeout_ms) {
        char why[160];
        snprintf(why, sizeof(why), "the part of task %" PRIu64 " (update %" PRIu64 ") did not "
                 "come within worker_timeout", p->queue[0]->msg.task_id,
                 p->queue[0]->msg.version);
        pd_daemon_stop(d, why, 1);
    }
}

void pd_shard_parts_free(pd_daemon_t *d)
{
    pd_shard_parts_t *p = d->parts;

    if (p == NULL) {
        return;
    }
    while (p->n > 0) {
        drop(p, &p->v[0]);
    }
    for (size_t i = 0; i < p->qn; i++) {
        pd_wire_in_release(p->queue[i]);
        free(p->queue[i]);
    }
    free(p->v);
    free(p->queue);
    free(p);
    d->parts = NULL;
}
