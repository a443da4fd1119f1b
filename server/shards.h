/* shards.h - a parameter vector split over several paramd processes ([server] shards = N).
 *
 * Shard 0 (the paramd a job's workers join) runs the method as alone, and holds the keys
 * [0, b_1); shard i > 0 (paramd --shard I, same configuration) holds [b_i, b_{i+1}) with its
 * optimiser state. Shard 0 connects to every other shard as a client (one DEALER each):
 *   - after each update it applies to its own range it sends COMMIT with the gradient sum of
 *     the shard's range, so every shard takes the same step (elementwise: the same bits);
 *   - workers learn the shard map from WELCOME, get shard 0's range with each task and read
 *     the others from their shards (PULL with min_version = the task's version);
 *   - evaluations and the end of the job read the whole vector from the shards (a gather).
 * With a state_dir every shard keeps checkpoints of its own keys, written at the versions
 * shard 0 writes; a restart resumes every shard from the newest version all of them hold.
 * For sync-sgd, async-sgd, ssp, rennala-sgd (while a step's parts fit), freya-page and
 * sync-page the workers send each shard its part of a GRAD or GRAD_DIFF result (PART; shard
 * 0 does it for a result that came whole) and shard 0 only its own keys; the COMMIT then
 * names the task, or lists the tasks a round sums (shard_parts.c); for freya-page and
 * sync-page each shard keeps the estimate g of its keys, and shard 0 names each result as it
 * takes it (shard_estimate.c). Other methods' gradients reach shard 0 whole, and it relays
 * each shard's share in the COMMIT;
 * newton-cg, lbfgs, apts, fosi and dho2, which step a whole copy of the iterate in shard 0
 * (methods/whole.h), send each shard its range's new values instead (commit_values).
 * Key-value clients read every shard directly and push to shard 0, which relays likewise. */
#ifndef PD_SERVER_SHARDS_H
#define PD_SERVER_SHARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "session.h"
#include "wire.h"

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_shards pd_shards_t;

/* Keys [*begin, *end) of shard i of n over dim keys: contiguous, shard boundaries multiples of
 * 512 keys (so the BLAS kernels split a shard's range as they split the whole vector).
 * 0, or PD_ECONFIG when dim is too small to give every shard a key. */
int pd_shards_range(size_t dim, unsigned n, unsigned i, size_t *begin, size_t *end);

/* Shard 0: start shards 1 .. N-1 here (--local-shards) or take [server] shard_endpoints,
 * connect to each, check it serves this job and its range, and put the map in d->job.
 * Blocks until every shard answered (at most 30 s). 0, or a negative code (logged). */
int pd_shards_open(pd_daemon_t *d);
/* An update's gradient sum over the keys it touched, in the job's keys: the range [offset,
 * offset + n), or the increasing key list keys[0 .. n) when keys is not NULL; g holds the n
 * values in key order; the step is lr on the mean g / n_samples. */
typedef struct pd_shard_update {
    uint64_t offset;
    const uint64_t *keys;
    size_t n;
    const double *g;
    uint64_t n_samples;
    double lr;
    uint64_t task_id; /* > 0: the result of this task, whose parts the shards hold (no g) */
    const uint64_t *tasks; /* or, n_tasks > 0: the sum of these tasks' parts, in this order */
    size_t n_tasks;
    bool task_step; /* the method's step on tasks' gradients, not a key-value push: with
                     * deferred proxes (lazy.h) a key list leaves the other keys owing its
                     * prox, and a range first brings every key up to date */
    bool values;    /* g holds the new parameters over the whole range (a method that steps
                     * the whole vector itself: pd_method_set_whole), not a gradient sum */
    pd_estimate_t estimate; /* SET, INCREMENT: the step of an estimate the shards keep (no
                             * g): its round's sum over `slots` slots (0: the compensated
                             * one), n_samples the divisor */
    uint64_t round;
    uint64_t slots;
} pd_shard_update_t;

/* After shard 0 applied an update to its own keys (the version already counted): every other
 * shard takes the same step on its share of u (elementwise the same bits), or with none of its
 * keys in u counts the version alone. A send that fails ends the job. */
void pd_shards_commit(pd_daemon_t *d, const pd_shard_update_t *u);
/* Shard 0 got task task_id's GRAD result whole (grad: dim values): every shard gets its part
 * (PART, float64), as a worker would have sent it. */
void pd_shards_send_parts(pd_daemon_t *d, uint64_t task_id, const double *grad);
/* Shard 0 took task task_id's result, whose parts the shards hold, into round `round` of an
 * estimate the shards keep (freya-page, sync-page): at slot `slot` of the ordered sum, or
 * with slot < 0 into the compensated one. A send that fails ends the job. */
void pd_shards_estimate_add(pd_daemon_t *d, uint64_t task_id, uint64_t round, int64_t slot);
/* Shard 0 will not use task task_id's result, sent in parts: the shards drop theirs. */
void pd_shards_discard(pd_daemon_t *d, uint64_t task_id);
/* Shard 0 starts a checkpoint of `version`: every shard writes its own (CHECKPOINT; no
 * answer: a shard whose write fails logs it, and a restart resumes from an older version
 * every shard holds). Nothing without shards. */
void pd_shards_checkpoint(pd_daemon_t *d, uint64_t version);
/* Shard 0 has just restored a checkpoint (a divergence): every shard loads the checkpoint
 * of that version, or all fall back to the newest older one every shard holds (blocking, at
 * most 30 s in all). 0 without shards; else 0 or a negative code (logged). */
int pd_shards_restore(pd_daemon_t *d);
/* The whole vector of the current version, gathered from the shards (blocking, at most the
 * worker timeout): one reference in *out, dim doubles. 0 or a negative code (logged). */
int pd_shards_snapshot(pd_daemon_t *d, pd_buf_t **out);
/* The whole vector of the current version: the store's snapshot, or with shards the gathered
 * one (pd_shards_snapshot). One reference in *out. 0 or a negative code. */
int pd_shards_whole_snapshot(pd_daemon_t *d, pd_buf_t **out);
/* Once a second: heartbeats to the shards, and what they said; a shard that refused an update
 * or went silent for worker_timeout ends the job. */
void pd_shards_tick(pd_daemon_t *d);
/* The job is over: BYE to every shard (they exit). */
void pd_shards_bye(pd_daemon_t *d);
/* What the status socket shows of shard i (1 .. N-1): its map entry, and the time since it
 * last answered shard 0. */
typedef struct pd_shard_status {
    const char *endpoint;
    size_t key_begin, key_end;
    double silent_s;
    bool started_here; /* --local-shards started it (false: shard_endpoints) */
    bool running;      /* started here and not exited */
} pd_shard_status_t;

/* How long shard 0 and a shard may not hear each other before the job ends: worker_timeout,
 * but at least three of the once-a-second heartbeats between them. */
uint64_t pd_shards_silence_ms(const pd_daemon_t *d);
/* Shards of the job (0: not sharded, or this is shard i > 0). */
unsigned pd_shards_count(const pd_daemon_t *d);
/* Shard i's status (1 <= i < pd_shards_count) at loop time now (ms). */
void pd_shards_status(const pd_daemon_t *d, unsigned i, uint64_t now, pd_shard_status_t *out);
/* Shard processes this paramd started that are still running. */
unsigned pd_shards_running(const pd_daemon_t *d);
void pd_shards_free(pd_daemon_t *d);

/* shard.c, shard i > 0: a COMMIT from shard 0 (the session that registered as it). */
void pd_shard_commit(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
/* shard.c: a message from shard 0 that waited behind a COMMIT for its part (a COMMIT, a
 * CHECKPOINT or its BYE). */
void pd_shard_run_queued(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
/* shard.c: take the step a COMMIT names (its part, when it names a task, is here), or end
 * this shard when it cannot. */
void pd_shard_apply_commit(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);

/* shard_estimate.c (see there), shard i > 0 of freya-page or sync-page over gradient parts:
 * the gradient estimate of its keys. pd_shard_estimate_add puts a part (the shard's dim
 * values) into the round's sum (COMMIT ESTIMATE_SLOT, ESTIMATE_COMPENSATED);
 * pd_shard_estimate_step ends the round (ESTIMATE_SET, ESTIMATE_INCREMENT) and points *g at
 * the new estimate. Both: 0, PD_EWIRE (a COMMIT that does not fit what the shard holds) or
 * -ENOMEM, with why filled. pd_shard_estimate_free forgets it (a RESTORE, the end). */
typedef struct pd_shard_estimate pd_shard_estimate_t;
int pd_shard_estimate_add(pd_daemon_t *d, const pd_msg_t *m, const double *part, char *why,
                          size_t why_len);
int pd_shard_estimate_step(pd_daemon_t *d, const pd_msg_t *m, const double **g, char *why,
                           size_t why_len);
void pd_shard_estimate_free(pd_daemon_t *d);

/* shard_parts.c (see there), shard i > 0: PART from a worker, DISCARD from shard 0. A shard
 * keeps at most this many parts and discards at once, and this many bytes of part values. */
#define PD_SHARD_PARTS_MAX 4096
#define PD_SHARD_PARTS_MAX_BYTES (256u << 20)
typedef struct pd_shard_parts pd_shard_parts_t;
void pd_shard_part(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
void pd_shard_discard(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
/* Whether the COMMIT can be applied now: it carries its values, or its tasks' parts are here. */
bool pd_shard_part_ready(pd_daemon_t *d, pd_wire_in_t *commit);
/* The tasks whose parts the COMMIT sums, in order (*ids into it): their count, 0 when its
 * values travel with it, -1 for a malformed list. */
long pd_shard_commit_parts(pd_wire_in_t *commit, const uint64_t **ids);
/* The values of task task_id's part (the shard's dim), or NULL; pd_shard_part_used drops it. */
const double *pd_shard_part_values(pd_daemon_t *d, uint64_t task_id);
void pd_shard_part_used(pd_daemon_t *d, uint64_t task_id);
/* Keep the COMMIT (or a CHECKPOINT behind one) in, its frames moved, until its part comes:
 * 0 or -ENOMEM. */
int pd_shard_parts_wait(pd_daemon_t *d, pd_wire_in_t *in);
/* Whether COMMITs wait: a later one waits behind them. */
bool pd_shard_parts_waiting(const pd_daemon_t *d);
/* Once a second: drop old parts and discards; a COMMIT waiting too long ends the shard. */
void pd_shard_parts_tick(pd_daemon_t *d, uint64_t now);
void pd_shard_parts_free(pd_daemon_t *d);

/* shard.c: CHECKPOINT (write one of this version) and RESTORE (load the checkpoint of this
 * version before the first COMMIT; answered with an ACK) from shard 0. */
void pd_shard_checkpoint(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
void pd_shard_restore(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);

#endif
