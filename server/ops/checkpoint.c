/* checkpoint.c - checkpoint scheduling, durable writes and rotation, and the restore at start
 * (see checkpoint.h). Owns the state_dir descriptor, its lock, the interval timer and at most
 * one pool job. The pool job touches only its own snapshot and the directory descriptor; the
 * loop thread publishes the result (metrics, logs) in after_work. */
#include <config.h>
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "../daemon.h"
#include "error.h"
#include "grow.h"
#include "log.h"
#include "../methods/method.h"
#include "../scheduler.h"
#include "../shards.h"

#define CKPT_KEEP 2
/* A shard keeps more: shard 0 looks for the newest version every shard holds, and a shard
 * may have merged away some of shard 0's versions while a write was slow. */
#define CKPT_KEEP_SHARD 4
#define CKPT_PREFIX "ckpt-"
#define CKPT_SUFFIX ".pdckpt"
#define CKPT_TMP_PREFIX ".ckpt-"
#define CKPT_TMP_SUFFIX ".tmp"

typedef struct ckpt_job ckpt_job_t;

struct pd_checkpoint {
    pd_daemon_t *d;
    char dir[PATH_MAX];   /* state_dir, or for shard i > 0 state_dir/shard-<i> */
    size_t keep;          /* checkpoint files kept */
    uv_timer_t timer;     /* every checkpoint_interval; the first tick after a restore also
                           * checks the stop criteria (a restored job may already be done) */
    int dirfd;
    int lockfd;
    ckpt_job_t *inflight; /* the pool write running now, or NULL */
    bool pending;         /* asked for during the write: one more write when it ends */
    ckpt_job_t *queued;   /* shard i > 0: the version asked for during the write, taken then
                           * and written when it ends */
    bool stopped;         /* the final checkpoint is written: no more writes */
    bool check_restored;
    bool have_last;
    uint64_t last_version; /* version of the newest durable checkpoint */
};

/* One write: owns its snapshot (arrays copied on the loop thread). */
struct ckpt_job {
    uv_work_t req;
    pd_checkpoint_t *ck;  /* after_work only */
    int dirfd;            /* borrowed from ck, which outlives the job */
    size_t keep;
    pd_ckpt_t snap;       /* arrays owned here (freed with free_job) */
    uint8_t *method_state;
    double started_s;     /* monotonic */
    double duration_s;
    const char *step;     /* the step that failed */
    int rc;
    int prune_rc;
};

static void free_job(ckpt_job_t *j)
{
    if (j == NULL) {
        return;
    }
    for (size_t i = 0; i < j->snap.n_arrays; i++) {
        free(j->snap.arrays[i].data);
    }
    free(j->method_state);
    free(j);
}

static int add_array(pd_ckpt_t *c, const char *name, const double *src, size_t n)
{
    pd_ckpt_array_t *a = &c->arrays[c->n_arrays];
    a->data = malloc(n * sizeof(double));
    if (a->data == NULL) {
        return -ENOMEM;
    }
    memcpy(a->data, src, n * sizeof(double));
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->count = n;
    c->n_arrays++;
    return 0;
}

/* Copy everything a restart needs; O(dim) memcpy on the loop thread, like a store snapshot. */
static int snapshot(pd_daemon_t *d, ckpt_job_t **out)
{
    ckpt_job_t *j = calloc(1, sizeof(*j));
    size_t dim = d->store.dim;
    int rc;

    if (j == NULL) {
        return -ENOMEM;
    }
    j->started_s = pd_clock_mono_s();
    j->snap.job_id = d->job.job_id;
    j->snap.version = d->store.version;
    j->snap.method = d->cfg.method;
    j->snap.optimizer = d->optim.kind;
    j->snap.optimizer_t = d->optim.t;
    j->snap.task_seq = d->task_seq;
    j->snap.updates_total = (uint64_t)d->metrics.updates_total;
    j->snap.wall_time = pd_clock_wall_s();
    j->snap.dim = dim;
    pd_store_catch_up(&d->store); /* so nothing deferred needs saving */
    rc = add_array(&j->snap, "x", d->store.x, dim);
    if (rc == 0 && (d->optim.kind == PD_OPT_MOMENTUM || d->optim.kind == PD_OPT_ADAM)) {
        rc = add_array(&j->snap, "optim.u", d->optim.u, dim);
    }
    if (rc == 0 && d->optim.kind == PD_OPT_ADAM) {
        rc = add_array(&j->snap, "optim.v", d->optim.v, dim);
    }
    if (rc == 0 && d->method->ckpt_arrays != NULL) { /* (a shard i > 0 runs no method) */
        pd_method_array_t a[PD_METHOD_MAX_ARRAYS];
        size_t n = d->method->ckpt_arrays(d, a);
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = add_array(&j->snap, a[i].name, a[i].data, a[i].count);
        }
    }
    if (rc == 0 && d->method->save != NULL) {
        rc = d->method->save(d, &j->method_state, &j->snap.method_state_len);
        j->snap.method_state = j->method_state;
    }
    if (rc != 0) {
        free_job(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* temp file, write, fsync, checked close, rename, directory fsync (STYLE.md §2.8). On failure
 * the temporary file is removed and *step names what failed. Thread-safe. */
static int write_file(int dirfd, const pd_ckpt_t *c, const char **step)
{
    char tmp[64], name[64];
    pd_ckpt_stream_t s;
    bool created = false, renamed = false;
    int fd = -1;
    int rc;

    snprintf(tmp, sizeof(tmp), CKPT_TMP_PREFIX "%" PRIu64 CKPT_TMP_SUFFIX, c->version);
    snprintf(name, sizeof(name), CKPT_PREFIX "%" PRIu64 CKPT_SUFFIX, c->version);
    *step = "open";
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    created = true;
    *step = "write";
    pd_ckpt_stream_init_fd(&s, fd);
    rc = pd_ckpt_write(&s, c);
    if (rc != 0) {
        goto out;
    }
    *step = "fsync";
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
    /* close() can report a delayed write error (NFS): checked, and never retried. */
    *step = "close";
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        rc = -errno;
        goto out;
    }
    *step = "rename";
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        rc = -errno;
        goto out;
    }
    renamed = true;
    *step = "fsync directory";
    if (fsync(dirfd) != 0) {
        rc = -errno;
        goto out;
    }
    *step = NULL;
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0 && created && !renamed) {
        unlinkat(dirfd, tmp, 0);
    }
    return rc;
}

/* "ckpt-<digits>.pdckpt" -> version; false for any other name. */
static bool parse_name(const char *n, uint64_t *version)
{
    size_t pl = strlen(CKPT_PREFIX), sl = strlen(CKPT_SUFFIX), len = strlen(n);
    uint64_t v = 0;

    if (len <= pl + sl || strncmp(n, CKPT_PREFIX, pl) != 0 ||
        strcmp(n + len - sl, CKPT_SUFFIX) != 0 || len - pl - sl > 20) {
        return false;
    }
    for (size_t i = pl; i < len - sl; i++) {
        if (n[i] < '0' || n[i] > '9' || __builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(n[i] - '0'), &v)) {
            return false;
        }
    }
    *version = v;
    return true;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Versions of the checkpoint files in dirfd, newest first. Its own open file description, so
 * the pool and the loop thread can list the directory at the same time. */
static int list_versions(int dirfd, uint64_t **out, size_t *n_out)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = NULL;
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;

    if (fd < 0) {
        return -errno;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        rc = -errno;
        close(fd);
        return rc;
    }
    errno = 0;
    while ((e = readdir(dir)) != NULL) {
        uint64_t ver;
        if (!parse_name(e->d_name, &ver)) {
            continue;
        }
        if ((rc = pd_grow((void **)&v, &cap, n + 1, sizeof(*v))) != 0) {
            goto out;
        }
        v[n++] = ver;
        errno = 0;
    }
    if (errno != 0) {
        rc = -errno;
        goto out;
    }
    if (n > 1) {
        qsort(v, n, sizeof(*v), cmp_desc); /* v is NULL when the directory had none */
    }
out:
    closedir(dir);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}

int pd_checkpoint_prune(int dirfd, size_t keep)
{
    uint64_t *v = NULL;
    size_t n = 0;
    int rc = list_versions(dirfd, &v, &n);

    for (size_t i = keep; rc == 0 && i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), CKPT_PREFIX "%" PRIu64 CKPT_SUFFIX, v[i]);
        /* ENOENT: a concurrent prune (final write vs. pool write) got there first. */
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT && rc == 0) {
            rc = -errno;
        }
    }
    free(v);
    return rc;
}

/* Remove the temporary files of a write that a crash interrupted: their names would make
 * O_EXCL fail for that version forever. Safe because the directory lock is ours. */
static void remove_stale_temps(int dirfd, const char *dir_name)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir;
    struct dirent *e;

    if (fd < 0) {
        return;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, CKPT_TMP_PREFIX, strlen(CKPT_TMP_PREFIX)) == 0 &&
            len > strlen(CKPT_TMP_SUFFIX) &&
            strcmp(e->d_name + len - strlen(CKPT_TMP_SUFFIX), CKPT_TMP_SUFFIX) == 0) {
            pd_log_info("removing %s/%s left by an interrupted checkpoint write", dir_name,
                        e->d_name);
            unlinkat(dirfd, e->d_name, 0);
        }
    }
    closedir(dir);
}

/* Load the checkpoint file fname of dirfd. A FIFO or any other non-regular file named like a
 * checkpoint is refused, not read (reading a FIFO would hang the start). */
static int load_one(int dirfd, const char *fname, pd_ckpt_t *c, char *err, size_t errlen)
{
    struct stat st;
    int fd = openat(dirfd, fname, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "open: %s", pd_strerror(rc));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return PD_ECORRUPT;
    }
    rc = pd_ckpt_load_fd(fd, c, err, errlen);
    close(fd);
    return rc;
}

/* A checkpoint whose name says another version than its content (copied in by hand) would
 * pass for the newest at every start and never be pruned: it gets the name of its content,
 * or is set aside as <name>.misnamed when a file of that name exists. */
static void rename_to_content(int dirfd, const char *dir_name, const char *fname,
                              uint64_t version)
{
    char right[64], aside[80];
    struct stat st;

    snprintf(right, sizeof(right), CKPT_PREFIX "%" PRIu64 CKPT_SUFFIX, version);
    if (fstatat(dirfd, right, &st, 0) != 0 && renameat(dirfd, fname, dirfd, right) == 0) {
        pd_log_warn("checkpoint %s/%s holds version %" PRIu64 ": renamed to %s", dir_name,
                    fname, version, right);
        return;
    }
    snprintf(aside, sizeof(aside), "%s.misnamed", fname);
    if (renameat(dirfd, fname, dirfd, aside) == 0) {
        pd_log_warn("checkpoint %s/%s holds version %" PRIu64 ": set aside as %s", dir_name,
                    fname, version, aside);
    }
}

int pd_checkpoint_load_dir(int dirfd, const char *dir_name, bool quarantine,
                           uint64_t max_version, pd_ckpt_t *out, char *name, size_t name_len,
                           unsigned *n_rejected)
{
    uint64_t *v = NULL;
    size_t n = 0;
    bool have = false;
    pd_ckpt_t best;
    int rc = list_versions(dirfd, &v, &n);

    if (rc != 0) {
        return rc;
    }
    memset(&best, 0, sizeof(best));
    rc = -ENOENT;
    /* Every file is read (a state_dir holds two or three): the newest is the one whose
     * verified content has the highest version, not the one with the highest name. */
    for (size_t i = 0; i < n; i++) {
        char fname[64], err[256] = "";
        pd_ckpt_t c;
        int lrc;

        if (v[i] > max_version) {
            continue; /* by its name: a file named for another version is read below */
        }
        snprintf(fname, sizeof(fname), CKPT_PREFIX "%" PRIu64 CKPT_SUFFIX, v[i]);
        memset(&c, 0, sizeof(c));
        lrc = load_one(dirfd, fname, &c, err, sizeof(err));
        if (lrc == PD_EVERSION) {
            pd_log_err("checkpoint %s/%s: %s", dir_name, fname, err);
            (*n_rejected)++;
            rc = lrc;
            break;
        }
        if (lrc != 0) {
            pd_log_err("checkpoint %s/%s rejected (%s): %s; trying an older one", dir_name,
                       fname, pd_err_name(lrc), err);
            (*n_rejected)++;
            if (quarantine && lrc != -ENOMEM) {
                char aside[80];
                /* Out of the rotation, but kept for a post-mortem. */
                snprintf(aside, sizeof(aside), "%s.corrupt", fname);
                if (renameat(dirfd, fname, dirfd, aside) != 0) {
                    pd_log_warn("cannot rename %s/%s aside: %s", dir_name, fname,
                                pd_strerror(-errno));
                }
            }
            continue;
        }
        if (c.version != v[i]) {
            if (quarantine) {
                rename_to_content(dirfd, dir_name, fname, c.version);
            } else {
                pd_log_warn("checkpoint %s/%s holds version %" PRIu64, dir_name, fname,
                            c.version);
            }
            snprintf(fname, sizeof(fname), CKPT_PREFIX "%" PRIu64 CKPT_SUFFIX, c.version);
        }
        if (c.version > max_version || (have && c.version <= best.version)) {
            pd_ckpt_release(&c);
            continue;
        }
        if (have) {
            pd_ckpt_release(&best);
        }
        best = c;
        have = true;
        if (name != NULL) {
            snprintf(name, name_len, "%s", fname);
        }
    }
    if (have && rc != PD_EVERSION) {
        *out = best;
        rc = 0;
    } else if (have) {
        pd_ckpt_release(&best);
    }
    free(v);
    return rc;
}

/* The method's own arrays (ckpt_arrays) from c, each whole or not at all (then it starts from
 * zeros, as a fresh job would, and the log says so). */
static void apply_method_arrays(pd_daemon_t *d, const pd_ckpt_t *c)
{
    pd_method_array_t a[PD_METHOD_MAX_ARRAYS];
    size_t n = d->method->ckpt_arrays != NULL ? d->method->ckpt_arrays(d, a) : 0;

    for (size_t i = 0; i < n; i++) {
        const pd_ckpt_array_t *saved = pd_ckpt_array(c, a[i].name);
        if (saved == NULL || saved->count != a[i].count) {
            pd_log_warn("checkpoint has no %s of %zu values: that state starts afresh",
                        a[i].name, a[i].count);
            continue;
        }
        memcpy(a[i].data, saved->data, a[i].count * sizeof(double));
    }
}

/* Put the checkpoint's state into the daemon: parameters, version, optimiser state, the
 * counters seeds and max_updates derive from, and the method's own state. */
static int apply(pd_daemon_t *d, const pd_ckpt_t *c)
{
    const pd_ckpt_array_t *x = pd_ckpt_array(c, "x");
    const pd_ckpt_array_t *u = pd_ckpt_array(c, "optim.u");
    const pd_ckpt_array_t *v = pd_ckpt_array(c, "optim.v");
    size_t dim = d->store.dim;

    if (c->dim != dim || x == NULL || x->count != dim) {
        pd_log_err("checkpoint has %zu parameters, the job %zu", x != NULL ? x->count : 0, dim);
        return PD_EDIM;
    }
    memcpy(d->store.x, x->data, dim * sizeof(double));
    pd_store_reset_version(&d->store, c->version); /* also drops the cached snapshot */
    if (c->optimizer != d->optim.kind) {
        pd_log_warn("checkpoint was written with another optimiser: its state is not used");
    } else {
        if (u != NULL && u->count == dim) {
            memcpy(d->optim.u, u->data, dim * sizeof(double));
        }
        if (v != NULL && v->count == dim) {
            memcpy(d->optim.v, v->data, dim * sizeof(double));
        }
        apply_method_arrays(d, c);
    }
    d->optim.t = c->optimizer_t;
    d->task_seq = c->task_seq;
    d->metrics.updates_total = (double)c->updates_total;
    d->last_tick_updates = d->metrics.updates_total;
    d->metrics.version = (double)c->version;
    if (c->method == d->cfg.method && d->method->load != NULL && c->method_state_len > 0) {
        int rc = d->method->load(d, c->method_state, c->method_state_len);
        if (rc != 0) {
            pd_log_warn("checkpoint: the %s state does not load (%s); starting it afresh",
                        d->method->name, pd_strerror(rc));
        }
    }
    return 0;
}

/* Files set aside as damaged (*.pdckpt.corrupt) by this or an earlier start. */
static unsigned count_set_aside(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *suffix = CKPT_SUFFIX ".corrupt";
    unsigned n = 0;
    struct dirent *e;
    DIR *dir;

    if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0) {
            n++;
        }
    }
    closedir(dir);
    return n;
}

/* The newest checkpoint of at most max_version that loads, into *c (zeroed first) and its
 * file name into name; the damaged ones met on the way are counted. 0 or a negative code. */
static int load_newest(pd_checkpoint_t *ck, uint64_t max_version, pd_ckpt_t *c, char *name,
                       size_t name_len)
{
    unsigned rejected = 0;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = pd_checkpoint_load_dir(ck->dirfd, ck->dir, true, max_version, c, name, name_len,
                                &rejected);
    ck->d->metrics.checkpoints_rejected_total += rejected;
    return rc;
}

static int restore(pd_checkpoint_t *ck)
{
    pd_daemon_t *d = ck->d;
    const char *dir = ck->dir;
    char name[64] = "";
    pd_ckpt_t c;
    int rc;

    rc = load_newest(ck, UINT64_MAX, &c, name, sizeof(name));
    if (rc == -ENOENT) {
        /* Damaged checkpoints and none that loads: starting at version 0 would quietly throw
         * the job's progress away (and the next start would not even see them). */
        unsigned damaged = count_set_aside(ck->dirfd);
        if (damaged > 0 && !d->cfg.checkpoint_force) {
            pd_log_err("refusing to start: no checkpoint in %s loads, and %u %s set aside as "
                       "*.corrupt; starting at version 0 would lose the job's progress. Move "
                       "them away, or set [server] checkpoint_force = yes to start afresh",
                       dir, damaged, damaged == 1 ? "is" : "are");
            return PD_ECORRUPT;
        }
        if (damaged > 0) {
            pd_log_warn("no checkpoint in %s loads (%u set aside as *.corrupt): starting at "
                        "version 0 (checkpoint_force = yes)", dir, damaged);
        } else {
            pd_log_info("no checkpoint in %s: starting at version 0", dir);
        }
        return 0;
    }
    if (rc == PD_EVERSION) {
        pd_log_err("refusing to start: the newest checkpoint in %s was written by a newer "
                   "paramd; upgrade, or move it away",
                   dir);
        return rc;
    }
    if (rc != 0) {
        pd_log_err("cannot read the checkpoints in %s: %s", dir, pd_strerror(rc));
        return rc;
    }
    if (c.job_id != d->job.job_id) {
        if (!d->cfg.checkpoint_force) {
            d->metrics.checkpoints_rejected_total++;
            pd_log_err("refusing to start: checkpoint %s/%s belongs to job %016" PRIx64
                       ", this configuration is job %016" PRIx64
                       "; move it away to start afresh, or set [server] checkpoint_force = yes "
                       "to continue from it",
                       dir, name, c.job_id, d->job.job_id);
            rc = PD_EJOB;
            goto out;
        }
        pd_log_warn("checkpoint %s/%s belongs to job %016" PRIx64 ", this is job %016" PRIx64
                    "; loading it anyway (checkpoint_force = yes)",
                    dir, name, c.job_id, d->job.job_id);
    }
    rc = apply(d, &c);
    if (rc != 0) {
        goto out;
    }
    ck->have_last = true;
    ck->last_version = c.version;
    ck->check_restored = true;
    d->metrics.checkpoint_last_version = (double)c.version;
    d->metrics.checkpoint_last_time_seconds = c.wall_time;
    pd_log_notice("resumed from version %" PRIu64 " (checkpoint %s/%s written %.1f s ago, "
                  "%" PRIu64 " updates so far)",
                  c.version, dir, name, pd_clock_wall_s() - c.wall_time, c.updates_total);
out:
    pd_ckpt_release(&c);
    return rc;
}

/* Everything that was computed from the parameters about to be replaced goes: tasks in
 * flight (their results will be refused as unknown), the evaluation round, the method's state
 * (load() expects a fresh init()), and which version each worker holds. */
static int forget_running_state(pd_daemon_t *d)
{
    for (size_t i = 0; i < d->sessions.n; i++) {
        pd_session_t *s = d->sessions.v[i];
        s->has_params = false;
        if (s->has_task) {
            s->has_task = false;
            s->state = PD_SESSION_IDLE;
        }
    }
    pd_eval_release(d);
    d->method->release(d);
    return d->method->init(d);
}

int pd_checkpoint_restore_running(pd_daemon_t *d)
{
    pd_checkpoint_t *ck = d->ckpt;
    int rc;

    if (ck == NULL) {
        return -ENOTSUP;
    }
    if (!ck->have_last) {
        return -ENOENT; /* restore() would "start at version 0" with the current state */
    }
    rc = forget_running_state(d);
    if (rc == 0) {
        rc = restore(ck);
    }
    if (rc == 0) {
        rc = pd_shards_restore(d); /* the other shards' keys go back to the same version */
    }
    if (rc != 0) {
        return rc;
    }
    pd_log_notice("restored checkpoint of version %" PRIu64 " after a divergence", d->store.version);
    pd_sched_kick(d);
    return 0;
}

/* Checkpoints newer than `version` that the job will not resume from (the other shards do
 * not hold them) are renamed <name>.superseded: out of the rotation, which keeps the newest
 * by version, but kept for a post-mortem. */
static void set_aside_newer(pd_checkpoint_t *ck, uint64_t version)
{
    uint64_t *v = NULL;
    size_t n = 0;

    if (list_versions(ck->dirfd, &v, &n) != 0) {
        return;
    }
    for (size_t i = 0; i < n && v[i] > version; i++) {
        char name[64], aside[80];
        snprintf(name, sizeof(name), CKPT_PREFIX "%" PRIu64 CKPT_SUFFIX, v[i]);
        snprintf(aside, sizeof(aside), "%s.superseded", name);
        if (renameat(ck->dirfd, name, ck->dirfd, aside) == 0) {
            pd_log_notice("checkpoint %s/%s set aside as %s: the job resumes from version %"
                          PRIu64 ", which every shard holds", ck->dir, name, aside, version);
        } else {
            pd_log_warn("cannot rename %s/%s aside: %s", ck->dir, name, pd_strerror(-errno));
        }
    }
    free(v);
}

int pd_checkpoint_restore_at(pd_daemon_t *d, uint64_t version, char *why, size_t why_len)
{
    pd_checkpoint_t *ck = d->ckpt;
    char name[64] = "";
    pd_ckpt_t c;
    int rc;

    if (ck == NULL) {
        snprintf(why, why_len, "this shard has no state_dir");
        return -ENOTSUP;
    }
    free_job(ck->queued); /* of the abandoned run: its version number will come again */
    ck->queued = NULL;
    if (version == 0) {
        set_aside_newer(ck, 0); /* the job starts afresh */
        return 0;
    }
    rc = load_newest(ck, version, &c, name, sizeof(name));
    if (rc == 0 && c.version != version) {
        snprintf(why, why_len, "%s holds no checkpoint of version %" PRIu64 " (the newest "
                 "below it: %" PRIu64 ")", ck->dir, version, c.version);
        rc = -ENOENT;
    } else if (rc == 0 && c.job_id != d->job.job_id && !d->cfg.checkpoint_force) {
        snprintf(why, why_len, "%s/%s belongs to job %016" PRIx64, ck->dir, name, c.job_id);
        rc = PD_EJOB;
    } else if (rc == 0 && (rc = apply(d, &c)) != 0) {
        snprintf(why, why_len, "%s/%s does not fit this shard: %s", ck->dir, name,
                 pd_strerror(rc));
    } else if (rc != 0) {
        snprintf(why, why_len, "%s holds no checkpoint of version %" PRIu64 " (%s)", ck->dir,
                 version, pd_strerror(rc));
    }
    if (rc == 0) {
        set_aside_newer(ck, version);
        ck->have_last = true;
        ck->last_version = version;
        pd_log_notice("shard resumed from version %" PRIu64 " (%s/%s)", version, ck->dir, name);
    }
    pd_ckpt_release(&c);
    return rc;
}

int pd_checkpoint_fall_back(pd_daemon_t *d)
{
    pd_checkpoint_t *ck = d->ckpt;
    char name[64] = "";
    uint64_t from = d->store.version;
    pd_ckpt_t c;
    int rc;

    if (ck == NULL || from == 0) {
        return -ENOENT;
    }
    rc = load_newest(ck, from - 1, &c, name, sizeof(name));
    if (rc == 0 && c.job_id != d->job.job_id && !d->cfg.checkpoint_force) {
        rc = PD_EJOB;
    }
    if (rc == 0 && (rc = forget_running_state(d)) == 0 && (rc = apply(d, &c)) == 0) {
        set_aside_newer(ck, c.version);
        ck->last_version = c.version;
        d->metrics.checkpoint_last_version = (double)c.version;
        d->metrics.checkpoint_last_time_seconds = c.wall_time;
        pd_log_notice("resumed from version %" PRIu64 " (checkpoint %s/%s) instead of %" PRIu64
                      ": not every shard holds that one", c.version, ck->dir, name, from);
    }
    pd_ckpt_release(&c);
    return rc;
}

/* Loop thread: metrics and logs of a finished write. */
static void publish(pd_checkpoint_t *ck, ckpt_job_t *j)
{
    pd_daemon_t *d = ck->d;

    if (j->rc != 0) {
        d->metrics.checkpoint_failures_total++;
        pd_log_err("checkpoint at version %" PRIu64 " failed at step %s in %s: %s",
                   j->snap.version, j->step != NULL ? j->step : "?", ck->dir,
                   pd_strerror(j->rc));
        return;
    }
    d->metrics.checkpoints_written_total++;
    d->metrics.checkpoint_last_version = (double)j->snap.version;
    d->metrics.checkpoint_last_duration_seconds = j->duration_s;
    d->metrics.checkpoint_last_time_seconds = j->snap.wall_time;
    if (!ck->have_last || j->snap.version >= ck->last_version) {
        ck->last_version = j->snap.version;
        ck->have_last = true;
    }
    pd_log_info("checkpoint written version=%" PRIu64 " file=%s/" CKPT_PREFIX "%" PRIu64
                CKPT_SUFFIX " duration=%.3fs",
                j->snap.version, ck->dir, j->snap.version, j->duration_s);
    if (j->prune_rc != 0) {
        pd_log_warn("cannot remove old checkpoints in %s: %s", ck->dir,
                    pd_strerror(j->prune_rc));
    }
}

/* Pool thread: the job and the directory descriptor only. */
static void write_and_prune(ckpt_job_t *j)
{
    j->rc = write_file(j->dirfd, &j->snap, &j->step);
    if (j->rc == 0) {
        /* Only now is the new file durable: older ones may go. */
        j->prune_rc = pd_checkpoint_prune(j->dirfd, j->keep);
    }
    j->duration_s = pd_clock_mono_s() - j->started_s;
}

static void on_work(uv_work_t *req)
{
    write_and_prune(req->data);
}

static int start_write(pd_checkpoint_t *ck);
static int submit(pd_checkpoint_t *ck, ckpt_job_t *j);

static void on_work_done(uv_work_t *req, int status)
{
    ckpt_job_t *j = req->data;
    pd_checkpoint_t *ck = j->ck;

    ck->inflight = NULL;
    if (status == UV_ECANCELED) {
        j->rc = status;
        j->step = "queue";
    }
    publish(ck, j);
    free_job(j);
    j = ck->queued;
    ck->queued = NULL;
    if (j != NULL && !ck->stopped && ck->d->state == PD_STATE_RUNNING) {
        int rc = submit(ck, j);
        if (rc != 0) {
            ck->d->metrics.checkpoint_failures_total++;
            pd_log_err("cannot start a checkpoint: %s", pd_strerror(rc));
        }
    } else if (j != NULL) {
        free_job(j); /* the job is over, and the final checkpoint is newer */
    } else if (ck->pending && !ck->stopped && ck->d->state == PD_STATE_RUNNING) {
        int rc;
        ck->pending = false;
        rc = start_write(ck);
        if (rc != 0) {
            ck->d->metrics.checkpoint_failures_total++;
            pd_log_err("cannot start a checkpoint: %s", pd_strerror(rc));
        }
    }
}

/* Write j in the pool. 0, or a negative code (j freed). */
static int submit(pd_checkpoint_t *ck, ckpt_job_t *j)
{
    int rc;

    j->ck = ck;
    j->dirfd = ck->dirfd;
    j->keep = ck->keep;
    j->req.data = j;
    rc = uv_queue_work(&ck->d->loop, &j->req, on_work, on_work_done);
    if (rc != 0) {
        free_job(j); /* the callbacks will never run */
        return rc;
    }
    ck->inflight = j;
    return 0;
}

/* Shard 0 (or alone) asked during a write merges: the next write carries the newest state.
 * A shard must write exactly the version shard 0 asks for, since a restart resumes from a
 * version every shard holds: asked during a write, it takes the state now and writes it
 * when the write ends (one such; a second one asked meanwhile replaces it, logged). */
static int start_write(pd_checkpoint_t *ck)
{
    pd_daemon_t *d = ck->d;
    ckpt_job_t *j = NULL;
    int rc;

    if (ck->inflight != NULL && d->opts.shard_index == 0) {
        ck->pending = true;
        return 0;
    }
    rc = snapshot(d, &j);
    if (rc != 0) {
        return rc;
    }
    pd_shards_checkpoint(d, j->snap.version); /* every shard writes the same version */
    if (ck->inflight == NULL) {
        return submit(ck, j);
    }
    if (ck->queued != NULL) {
        pd_log_warn("checkpoint of version %" PRIu64 " not written: version %" PRIu64
                    " was asked for before its turn", ck->queued->snap.version,
                    j->snap.version);
        free_job(ck->queued);
    }
    ck->queued = j;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    pd_checkpoint_t *ck = t->data;
    pd_daemon_t *d = ck->d;
    int rc;

    if (ck->check_restored) {
        ck->check_restored = false;
        pd_daemon_after_update(d); /* max_updates may be reached already */
    }
    if (d->state != PD_STATE_RUNNING || ck->stopped || d->cfg.checkpoint_interval_ms == 0) {
        return;
    }
    if (ck->have_last && ck->last_version == d->store.version) {
        return; /* nothing new since the last one */
    }
    rc = start_write(ck);
    if (rc != 0) {
        d->metrics.checkpoint_failures_total++;
        pd_log_err("cannot start a checkpoint: %s", pd_strerror(rc));
    }
}

int pd_checkpoint_request(pd_daemon_t *d)
{
    pd_checkpoint_t *ck = d->ckpt;

    if (ck == NULL) {
        return -ENOTSUP;
    }
    if (ck->stopped || d->state != PD_STATE_RUNNING) {
        return PD_ESTATE;
    }
    pd_log_info("checkpoint requested at version %" PRIu64, d->store.version);
    return start_write(ck);
}

int pd_checkpoint_final(pd_daemon_t *d)
{
    pd_checkpoint_t *ck = d->ckpt;
    ckpt_job_t *j = NULL;
    int rc;

    if (ck == NULL || ck->stopped) {
        return 0;
    }
    ck->stopped = true;
    ck->pending = false;
    uv_timer_stop(&ck->timer);
    if (ck->queued != NULL) { /* a version shard 0 wrote: written before the final one */
        j = ck->queued;
        ck->queued = NULL;
        write_and_prune(j);
        publish(ck, j);
        free_job(j);
        j = NULL;
    }
    if (ck->inflight != NULL && ck->inflight->snap.version == d->store.version) {
        /* The same state is being written now; its temporary file name is taken. */
        pd_log_info("final checkpoint at version %" PRIu64 " is being written", d->store.version);
        return 0;
    }
    rc = snapshot(d, &j);
    if (rc != 0) {
        d->metrics.checkpoint_failures_total++;
        pd_log_err("cannot snapshot the final checkpoint: %s", pd_strerror(rc));
        return rc;
    }
    j->ck = ck;
    j->dirfd = ck->dirfd;
    j->keep = ck->keep;
    /* Synchronous: the job is over, and SIGTERM must leave this exact version on disk. */
    write_and_prune(j);
    publish(ck, j);
    rc = j->rc;
    free_job(j);
    return rc;
}

/* flock on a read-only descriptor: a lock open for writing would keep the state directory's
 * file system from being remounted read-only under the daemon (checkpoints then fail with
 * EROFS, counted and logged, as on a full disk). */
static int lock_dir(int dirfd, const char *dir)
{
    int fd = openat(dirfd, "lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    int rc;

    if (fd < 0) {
        rc = -errno;
        pd_log_err("cannot create %s/lock: %s", dir, pd_strerror(rc));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = -errno;
        close(fd);
        if (rc == -EWOULDBLOCK) {
            pd_log_err("state_dir %s is in use by another paramd", dir);
            return -EBUSY;
        }
        pd_log_err("cannot lock %s/lock: %s", dir, pd_strerror(rc));
        return rc;
    }
    return fd;
}

int pd_checkpoint_open(pd_daemon_t *d)
{
    const char *dir = d->cfg.state_dir;
    pd_checkpoint_t *ck;
    /* Shard 0 decides when its shards write (CHECKPOINT) and what they load (RESTORE). */
    bool shard = d->opts.shard_index > 0;
    uint64_t interval = shard ? 0 : (uint64_t)d->cfg.checkpoint_interval_ms;
    int rc;

    if (dir[0] == '\0') {
        return 0;
    }
    ck = calloc(1, sizeof(*ck));
    if (ck == NULL) {
        return -ENOMEM;
    }
    ck->d = d;
    ck->dirfd = -1;
    ck->lockfd = -1;
    ck->keep = shard ? CKPT_KEEP_SHARD : CKPT_KEEP;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        pd_log_err("cannot create state_dir %s: %s", dir, pd_strerror(rc));
        goto fail;
    }
    snprintf(ck->dir, sizeof(ck->dir), shard ? "%s/shard-%u" : "%s", dir, d->opts.shard_index);
    dir = ck->dir;
    if (shard && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        pd_log_err("cannot create %s: %s", dir, pd_strerror(rc));
        goto fail;
    }
    ck->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ck->dirfd < 0) {
        rc = -errno;
        pd_log_err("cannot open state_dir %s: %s", dir, pd_strerror(rc));
        goto fail;
    }
    rc = lock_dir(ck->dirfd, dir);
    if (rc < 0) {
        goto fail;
    }
    ck->lockfd = rc;
    remove_stale_temps(ck->dirfd, dir);
    rc = shard ? 0 : restore(ck);
    if (rc != 0) {
        goto fail;
    }
    rc = uv_timer_init(&d->loop, &ck->timer);
    if (rc != 0) {
        goto fail;
    }
    ck->timer.data = ck;
    d->ckpt = ck; /* from here on the loop holds the handle: pd_daemon_free closes it */
    if (interval > 0 || ck->check_restored) {
        uv_update_time(&d->loop);
        rc = uv_timer_start(&ck->timer, on_timer, ck->check_restored ? 0 : interval, interval);
        if (rc != 0) {
            pd_log_err("cannot start the checkpoint timer: %s", pd_strerror(rc));
            return rc;
        }
    }
    if (shard) {
        pd_log_info("checkpoints in %s when shard 0 writes its own (keeping %zu)", dir,
                    ck->keep);
    } else {
        pd_log_info("checkpoints in %s every %.3g s (keeping %zu)", dir,
                    (double)interval / 1000.0, ck->keep);
    }
    return 0;
fail:
    if (ck->lockfd >= 0) {
        close(ck->lockfd);
    }
    if (ck->dirfd >= 0) {
        close(ck->dirfd);
    }
    free(ck);
    return rc;
}

void pd_checkpoint_free(pd_daemon_t *d)
{
    pd_checkpoint_t *ck = d->ckpt;

    if (ck == NULL) {
        return;
    }
    if (ck->inflight != NULL) {
        /* The loop ran to completion before this, so a write cannot still be queued. */
        pd_log_err("checkpoint write still in flight at exit");
        return;
    }
    free_job(ck->queued);
    if (ck->lockfd >= 0) {
        close(ck->lockfd);
    }
    if (ck->dirfd >= 0) {
        close(ck->dirfd);
    }
    free(ck);
    d->ckpt = NULL;
}
