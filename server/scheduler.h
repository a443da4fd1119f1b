/* scheduler.h - hands tasks to workers: an idle worker first takes a pending evaluation piece,
 * otherwise the method decides. Sends TASK messages with a parameter snapshot only when the
 * worker does not already hold that version. */
#ifndef PD_SERVER_SCHEDULER_H
#define PD_SERVER_SCHEDULER_H

#include "daemon.h"

/* s has no task: give it work (or leave it parked). */
void pd_sched_idle(pd_daemon_t *d, pd_session_t *s);
/* New work may be available (a round started, a worker left): offer it to idle workers. */
void pd_sched_kick(pd_daemon_t *d);
/* Tasks that became useless: every worker whose task in flight (not an evaluation piece)
 * satisfies useless(task, arg) is sent CANCEL for it and is idle at once (its late RESULT, if
 * it computes on, is dropped quietly); the caller then offers work with pd_sched_kick().
 * Counted in tasks_cancelled_total, with the compute time the task probably had left (the
 * worker's mean time per sample) in cancelled_compute_saved_seconds_total. Returns the count. */
size_t pd_sched_cancel_where(pd_daemon_t *d, bool (*useless)(const pd_task_t *t, void *arg),
                             void *arg);
/* Send a GRAD task at the current version. 0, or a negative code (s is left idle). */
int pd_sched_send_grad(pd_daemon_t *d, pd_session_t *s, uint64_t round, uint64_t seed,
                       uint32_t batch, uint32_t part);
/* The one way a method sends work: task t (id, kind, version and the kind's fields filled by
 * the caller) with snap, the parameters of t->version (or, with t->off_version, a point of
 * the method's own), and frame2, the kind's second frame (task_kind.h: the snapshot of
 * t->version_y for GRAD_DIFF, the direction q for HVP, the block gradient for LOCAL_TR; NULL
 * for one-frame kinds). x travels only when the worker does not hold that version, except with
 * a second frame or off_version, where it always travels (the worker's cache holds one
 * vector); afterwards the worker holds x, unless it was off_version. 0, or a negative code
 * (s is left idle). */
int pd_sched_send_task(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap,
                       pd_buf_t *frame2);
/* pd_sched_send_task with one more frame after the others, never NULL: a LOCAL_TR's L-SR1
 * memory block (t->local_tr.lsr1_pairs > 0). x then always travels, so the frames are
 * x, [frame2], last. */
int pd_sched_send_task_last(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap,
                            pd_buf_t *frame2, pd_buf_t *last);

/* eval.c */
void pd_eval_start(pd_daemon_t *d);
/* Give s a pending evaluation piece; true when one was sent. */
bool pd_eval_take(pd_daemon_t *d, pd_session_t *s);
void pd_eval_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t, const pd_msg_t *m);
void pd_eval_on_leave(pd_daemon_t *d, const pd_task_t *t);
void pd_eval_release(pd_daemon_t *d);

#endif
