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
/* Send a GRAD task at the current version. 0, or a negative code (s is left idle). */
int pd_sched_send_grad(pd_daemon_t *d, pd_session_t *s, uint64_t round, uint64_t seed,
                       uint32_t batch, uint32_t part);
/* Send task t (id, version and kind filled by the caller) with snapshot snap (its version
 * must equal t->version). */
int pd_sched_send_task(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap);
/* Send a GRAD_DIFF task t (kind, version and version_y filled by the caller) with both points:
 * snap_x of t->version, then snap_y of t->version_y. Both frames always travel (the worker's
 * cache holds one vector); afterwards the worker holds x. */
int pd_sched_send_task_xy(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap_x,
                          pd_buf_t *snap_y);

/* eval.c */
void pd_eval_start(pd_daemon_t *d);
/* Give s a pending evaluation piece; true when one was sent. */
bool pd_eval_take(pd_daemon_t *d, pd_session_t *s);
void pd_eval_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t, const pd_msg_t *m);
void pd_eval_on_leave(pd_daemon_t *d, const pd_task_t *t);
void pd_eval_release(pd_daemon_t *d);

#endif
