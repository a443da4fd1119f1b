/* eval.c - evaluation rounds: the full training objective and the test accuracy at one
 * fixed version, split over the ready workers by sample range. Pieces of a departed worker
 * go back to pending, so a round always covers every sample exactly once. Loop thread only. */
#include <config.h>

#include <inttypes.h>
#include <math.h>

#include "error.h"
#include "log.h"
#include "scheduler.h"
#include "shards.h"

enum { PIECE_PENDING = 0, PIECE_ASSIGNED = 1, PIECE_DONE = 2 };

/* Piece i of n covers [i*len/n, (i+1)*len/n): sizes differ by at most one. */
static uint64_t split_at(uint64_t len, uint32_t i, uint32_t n)
{
    return (uint64_t)(((unsigned __int128)len * i) / n);
}

void pd_eval_start(pd_daemon_t *d)
{
    pd_eval_t *e = &d->eval;
    size_t ready = pd_sessions_count_ready(&d->sessions);
    int rc;

    if (e->active || d->train == NULL || ready == 0 || d->state != PD_STATE_RUNNING) {
        return;
    }
    /* While the job waits for min_workers the parameters do not change: one reading of the
     * starting point is enough. */
    if (!d->training_begun && d->metrics.eval_rounds_total > 0) {
        return;
    }
    pd_buf_unref(e->snapshot);
    e->snapshot = NULL;
    /* the whole vector: a sharded job's is gathered, and the pieces carry all of it */
    rc = pd_shards_whole_snapshot(d, &e->snapshot);
    if (rc != 0) {
        pd_log_err("cannot snapshot parameters for evaluation: %s", pd_strerror(rc));
        return;
    }
    e->active = true;
    e->round++;
    e->version = d->store.version;
    e->n_pieces = (uint32_t)(ready < PD_EVAL_MAX_PIECES ? ready : PD_EVAL_MAX_PIECES);
    if ((uint64_t)e->n_pieces > d->train->m) {
        e->n_pieces = (uint32_t)d->train->m;
    }
    e->n_done = 0;
    e->loss_sum = 0;
    e->samples = 0;
    e->correct = 0;
    e->started_ms = pd_daemon_now_ms(d);
    for (uint32_t i = 0; i < e->n_pieces; i++) {
        e->piece_state[i] = PIECE_PENDING;
    }
    pd_sched_kick(d);
}

bool pd_eval_take(pd_daemon_t *d, pd_session_t *s)
{
    pd_eval_t *e = &d->eval;
    uint64_t m = d->train != NULL ? d->train->m : 0;
    uint64_t mt = d->test != NULL ? d->test->m : 0;

    if (!e->active) {
        return false;
    }
    for (uint32_t i = 0; i < e->n_pieces; i++) {
        pd_task_t t = {0};
        if (e->piece_state[i] != PIECE_PENDING) {
            continue;
        }
        t.id = ++d->next_task_id;
        t.kind = PD_TASK_EVAL;
        t.round = e->round;
        t.version = e->version;
        t.part = i;
        t.range_begin = split_at(m, i, e->n_pieces);
        t.range_end = split_at(m, i + 1, e->n_pieces);
        t.test_begin = split_at(mt, i, e->n_pieces);
        t.test_end = split_at(mt, i + 1, e->n_pieces);
        if (pd_sched_send_task(d, s, &t, e->snapshot, NULL) != 0) {
            return false;
        }
        e->piece_state[i] = PIECE_ASSIGNED;
        return true;
    }
    return false;
}

/* A step size too large for the problem shows as an objective that keeps rising while the
 * run goes on (it may never turn non-finite, so on_divergence would not act): say so once per
 * streak of OBJECTIVE_RISES rounds in a row, and count the streaks. Equal objectives (no
 * update in between) neither extend nor break a streak. */
#define OBJECTIVE_RISES 3
static void watch_objective(pd_daemon_t *d, pd_eval_t *e)
{
    double f = d->metrics.objective;

    if (e->rounds_seen++ > 0 && f > e->last_objective) {
        if (++e->rises == OBJECTIVE_RISES) {
            d->metrics.objective_rise_streaks_total++;
            pd_log_warn("the objective rose at %u evaluations in a row (to %.6g at version %"
                        PRIu64 "): the steps may be too large for this problem ([optimizer] "
                        "learning_rate = %g; a reload, SIGHUP, can lower it)", OBJECTIVE_RISES, f, e->version,
                        d->cfg.learning_rate);
        }
    } else if (f < e->last_objective) {
        e->rises = 0;
    }
    e->last_objective = f;
}

void pd_eval_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t, const pd_msg_t *m)
{
    pd_eval_t *e = &d->eval;

    (void)s;
    /* After the stop the server has evaluated the final parameters itself and written the
     * "done" line: a round finishing late would put an older reading after it. */
    if (d->state != PD_STATE_RUNNING || !e->active || t->round != e->round ||
        e->piece_state[t->part] != PIECE_ASSIGNED) {
        d->metrics.results_discarded_total++;
        return;
    }
    e->piece_state[t->part] = PIECE_DONE;
    e->n_done++;
    e->loss_sum += m->loss_sum;
    e->samples += m->n_samples;
    e->correct += m->correct;
    if (e->n_done < e->n_pieces) {
        return;
    }
    e->active = false;
    d->metrics.eval_rounds_total++;
    d->metrics.objective = pd_daemon_objective(d, (const double *)e->snapshot->data, e->loss_sum,
                                               e->samples);
    d->metrics.test_accuracy = pd_daemon_has_accuracy(d) ? (double)e->correct / (double)d->test->m
                                                          : NAN;
    d->metrics.evaluated_version = (double)e->version;
    watch_objective(d, e);
    pd_daemon_after_eval(d);
}

void pd_eval_on_leave(pd_daemon_t *d, const pd_task_t *t)
{
    pd_eval_t *e = &d->eval;

    if (e->active && t->round == e->round && e->piece_state[t->part] == PIECE_ASSIGNED) {
        e->piece_state[t->part] = PIECE_PENDING;
        d->metrics.tasks_rescheduled_total++;
    }
}

void pd_eval_release(pd_daemon_t *d)
{
    pd_buf_unref(d->eval.snapshot);
    d->eval.snapshot = NULL;
    d->eval.active = false;
}
