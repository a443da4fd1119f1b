/* checkpoint.h - when and where checkpoints are written, and the restore at start
 * (DESIGN.md "Durability", STYLE.md §2.8). The file format is common/ckpt.h.
 *
 * Files live in [server] state_dir: ckpt-<version>.pdckpt, the two newest kept. Shard i > 0
 * of a sharded job keeps its own (its keys and their optimiser state) in state_dir/shard-<i>:
 * it writes when shard 0 writes, at the same version (CHECKPOINT), and at start loads the
 * version shard 0 resumes from (RESTORE); see shards.h. Writes run on
 * the libuv thread pool from a snapshot; one is in flight at a time and requests made
 * meanwhile merge into one more write when it ends. All functions here are loop-thread only. */
#ifndef PD_SERVER_CHECKPOINT_H
#define PD_SERVER_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "ckpt.h"

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_checkpoint pd_checkpoint_t;

/* Called once from pd_daemon_new after pd_job_load, before the socket is bound. Without a
 * state_dir it does nothing and returns 0 (d->ckpt stays NULL). Otherwise: creates the
 * directory if missing, locks it (a second paramd on the same state_dir is refused with
 * -EBUSY), removes temporary files of an interrupted write, restores the newest valid
 * checkpoint (corrupt ones are logged at ERR, counted in checkpoints_rejected_total and
 * renamed to *.corrupt), and arms the checkpoint_interval timer. Refuses to start with
 * PD_EJOB when the newest valid checkpoint belongs to another job (unless checkpoint_force),
 * and with PD_EVERSION when it was written in a newer format. Errors are logged. When it
 * fails after arming the timer, d->ckpt is set anyway so pd_daemon_free closes the handle. */
int pd_checkpoint_open(pd_daemon_t *d);

/* Ask for a checkpoint of the current state (POST /checkpoint, paramctl checkpoint). Returns 0
 * when a write was started or merged into the next one; -ENOTSUP when checkpoints are off (no
 * state_dir); PD_ESTATE when the job is no longer running; -ENOMEM. Completion shows in the
 * metrics: checkpoints_written_total / checkpoint_failures_total / checkpoint_last_version. */
int pd_checkpoint_request(pd_daemon_t *d);

/* The final checkpoint, written synchronously on the loop thread (pd_daemon_stop, before BYE):
 * disarms the timer and refuses later requests. 0 (also when checkpoints are off) or the
 * error of the failed step (logged). */
int pd_checkpoint_final(pd_daemon_t *d);

/* While the job runs (on_divergence = restore-checkpoint): drop every task in flight and the
 * evaluation round, start the method afresh, then load the newest valid checkpoint as at start
 * (the same job-hash rule) and hand out new tasks. Workers are sent parameters again with their
 * next task. 0; -ENOTSUP without a state_dir; -ENOENT when no checkpoint was written or loaded
 * yet (nothing changed); or the error of the load (logged). */
int pd_checkpoint_restore_running(pd_daemon_t *d);
/* Shard i > 0 of a sharded job, told by shard 0 before the first update (RESTORE): load its
 * checkpoint of exactly `version` (0: keep the state the shard started with). Its checkpoints
 * newer than that are set aside as *.superseded. 0, or a negative code with why in words. */
int pd_checkpoint_restore_at(pd_daemon_t *d, uint64_t version, char *why, size_t why_len);
/* Shard 0 of a sharded job at start, when a shard lacks the version it restored: load its
 * newest checkpoint older than that (and set the newer aside). 0, -ENOENT when there is none,
 * or another negative code. */
int pd_checkpoint_fall_back(pd_daemon_t *d);
/* After uv_loop_close(): release the directory and its lock. Accepts d->ckpt == NULL. */
void pd_checkpoint_free(pd_daemon_t *d);

/* Find and load the newest valid checkpoint of version <= max_version (UINT64_MAX: any) in
 * the directory dirfd (borrowed): every
 * ckpt-*.pdckpt is read and verified, and the highest version inside wins (not the highest
 * name). Files that do not load (damaged, or not regular files) are logged at ERR (with
 * dir_name for the message), counted in *n_rejected and, when quarantine is set, renamed to
 * <name>.corrupt; with quarantine a file named for another version than it holds is renamed
 * to its version's name (or to <name>.misnamed). Returns 0 with *out filled (release with
 * pd_ckpt_release) and its file name in name (may be NULL), -ENOENT when there is none,
 * PD_EVERSION when one is in a newer format, or -errno. */
int pd_checkpoint_load_dir(int dirfd, const char *dir_name, bool quarantine,
                           uint64_t max_version, pd_ckpt_t *out, char *name, size_t name_len,
                           unsigned *n_rejected);

/* Keep the `keep` newest ckpt-<version>.pdckpt files in dirfd and delete the rest. Returns 0
 * or the first -errno (it goes on after a failure). Thread-safe. */
int pd_checkpoint_prune(int dirfd, size_t keep);

#endif
