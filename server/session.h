/* session.h - the table of connected workers and key-value clients, keyed by the zmq routing
 * id the peer chose (so a reconnecting worker with the same id is recognised), with a short
 * number for people. Owns the session records; knows nothing of zmq or the loop. */
#ifndef PD_SERVER_SESSION_H
#define PD_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "log.h"
#include "wire.h"

typedef enum pd_session_state {
    PD_SESSION_JOINED = 0, /* WELCOME sent, loading data */
    PD_SESSION_IDLE,       /* ready, no task in flight (may be parked by the method) */
    PD_SESSION_BUSY,       /* one task in flight */
} pd_session_state_t;

/* The one task in flight on a worker. */
typedef struct pd_task {
    uint64_t id;
    pd_task_kind_t kind;
    uint64_t round;
    uint64_t version;   /* parameters the task computes at */
    uint64_t version_y; /* GRAD_DIFF: the second point y */
    uint64_t seed;      /* GRAD */
    uint32_t batch;     /* GRAD */
    uint32_t part;      /* method-specific slot (sync-sgd part, eval piece) */
    uint64_t range_begin, range_end, test_begin, test_end; /* EVAL; GRAD over a range */
    /* The parameters sent are a point the method computed, not those of `version` (APTS
     * trial points): always sent, and not left as the worker's cached version. */
    bool off_version;
    uint64_t result_len; /* values of the result frame; 0: the model's dim */
    bool sparse;         /* GRAD at its minibatch's keys (the session's task_keys, result_len
                          * of them): their values travel, and the gradient comes back there */
    bool has_local_tr;   /* LOCAL_TR: block, radius, local iterations, l2 */
    pd_local_tr_t local_tr;
    uint64_t sent_ms;
} pd_task_t;

typedef struct pd_session {
    unsigned char rid[PD_WIRE_MAX_ROUTING_ID];
    size_t rid_len;
    uint32_t id;
    pd_hello_t hello;
    pd_session_state_t state;
    bool kv_only;
    bool coordinator;        /* on shard i > 0: shard 0's connection (COMMITs come on it) */
    bool parked;             /* idle because the method holds it back (ssp, sync barrier) */
    bool leaving;            /* being removed: gets no task, even while its own is given back */
    bool curv_pool;          /* dho2: in the curvature pool of the refresh running (the
                              * gradient scheme hands it no training work meanwhile) */
    uint64_t joined_ms;
    uint64_t last_seen_ms;
    bool has_task;
    pd_task_t task;
    uint64_t cancelled_upto; /* the newest task this worker was told to abandon (CANCEL): a
                              * late RESULT of it or of an older task, from a worker that
                              * computed on, is dropped quietly (task ids only grow) */
    bool has_params;         /* the worker holds the parameters of version have_version */
    uint64_t have_version;
    bool params_f32;         /* ... as sent: rounded to float32, or exact */
    pd_buf_t *task_keys;     /* the keys of the last sparse GRAD task sent (uint64), or NULL */
    uint64_t clock;          /* ssp: gradients pushed */
    uint64_t grads_applied;
    uint64_t grads_dropped;
    uint64_t tasks_done;
    uint64_t samples;        /* per-sample gradients in this worker's results (a GRAD_DIFF
                              * sample counts two) */
    double compute_seconds;
    double staleness_sum;
    pd_ratelimit_t rl_bad;   /* log lines about this peer's bad messages */
} pd_session_t;

typedef struct pd_sessions {
    pd_session_t **v;
    size_t n;
    size_t cap;
    uint32_t next_id;
} pd_sessions_t;

void pd_sessions_init(pd_sessions_t *t);
void pd_sessions_release(pd_sessions_t *t);
pd_session_t *pd_sessions_find(const pd_sessions_t *t, const void *rid, size_t rid_len);
pd_session_t *pd_sessions_find_id(const pd_sessions_t *t, uint32_t id);
/* New session for rid (not already present). Returned: owned by the table. 0 or -ENOMEM. */
int pd_sessions_add(pd_sessions_t *t, const void *rid, size_t rid_len, uint64_t now_ms,
                    pd_session_t **out);
/* Remove and free s (pointer invalid afterwards). */
void pd_sessions_remove(pd_sessions_t *t, pd_session_t *s);
/* Sessions that run tasks and have loaded their data (IDLE or BUSY, not kv-only). */
size_t pd_sessions_count_ready(const pd_sessions_t *t);

#endif
