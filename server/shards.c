/* shards.c - shard 0's side of a sharded job (see shards.h). */
#include <config.h>
#include "shards.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon.h"
#include "error.h"
#include "common/curve.h"
#include "log.h"
#include "ops/checkpoint.h"

#define BLOCK 512            /* shard boundaries: multiples of this many keys */
#define OPEN_DEADLINE_MS 30000 /* every shard up and answering */
#define SHARD_HEARTBEAT_MS 1000 /* shard 0 and its shards hear each other this often (tick) */

typedef struct shard_link {
    void *sock;              /* DEALER to the shard */
    char endpoint[PD_WIRE_STR];
    size_t begin, end;
    uint64_t last_heard_ms;
    uv_process_t proc;       /* --local-shards: the process */
    bool running;
    char endpoint_file[PATH_MAX];
} shard_link_t;

struct pd_shards {
    unsigned n;
    shard_link_t link[PD_WIRE_MAX_SHARDS]; /* link[0] unused: that is us */
    uint64_t next_request;
    bool said_bye;           /* pd_shards_bye ran: the shards know the job is over */
    char dir[256];           /* --local-shards: where the shards write their endpoints */
};

int pd_shards_range(size_t dim, unsigned n, unsigned i, size_t *begin, size_t *end)
{
    size_t per = (dim + n - 1) / n;

    per = (per + BLOCK - 1) / BLOCK * BLOCK;
    if (n == 0 || i >= n || per * (n - 1) >= dim) {
        return PD_ECONFIG;
    }
    *begin = per * i;
    *end = i + 1 < n ? per * (i + 1) : dim;
    return 0;
}

static void on_shard_exit(uv_process_t *p, int64_t status, int term_signal)
{
    pd_daemon_t *d = p->data;
    shard_link_t *l = (shard_link_t *)((char *)p - offsetof(shard_link_t, proc));
    char why[PD_WIRE_STR + 64];

    l->running = false;
    uv_close((uv_handle_t *)p, NULL);
    if (d->state == PD_STATE_RUNNING) {
        snprintf(why, sizeof(why), "shard at %s exited (status %lld, signal %d)", l->endpoint,
                 (long long)status, term_signal);
        pd_daemon_stop(d, why, 1);
        return;
    }
    pd_daemon_maybe_finish(d);
}

/* --local-shards: paramd --shard I with this configuration, on a free loopback port, its
 * endpoint written to a file in sh->dir. */
static int spawn_local(pd_daemon_t *d, pd_shards_t *sh, unsigned i)
{
    shard_link_t *l = &sh->link[i];
    char exe[PATH_MAX], index[16], efile[PATH_MAX + 40];
    size_t exe_len = sizeof(exe);
    const char *args[2 * 256 + 16];
    size_t n = 0;
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    int rc = uv_exepath(exe, &exe_len);

    if (rc != 0) {
        return rc;
    }
    snprintf(index, sizeof(index), "%u", i);
    snprintf(l->endpoint_file, sizeof(l->endpoint_file), "%s/shard-%u", sh->dir, i);
    snprintf(efile, sizeof(efile), "server.endpoint_file=%s", l->endpoint_file);
    args[n++] = exe;
    if (d->opts.config_path != NULL) {
        args[n++] = "-c";
        args[n++] = d->opts.config_path;
    }
    for (size_t k = 0; d->opts.overrides != NULL && d->opts.overrides[k] != NULL && k < 256; k++) {
        args[n++] = "-o";
        args[n++] = d->opts.overrides[k];
    }
    args[n++] = "-o";
    args[n++] = "server.listen=tcp://127.0.0.1:0";
    args[n++] = "-o";
    args[n++] = efile;
    args[n++] = "--shard";
    args[n++] = index;
    args[n] = NULL;
    memset(&o, 0, sizeof(o));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = STDOUT_FILENO;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = STDERR_FILENO;
    o.file = exe;
    o.args = (char **)args;
    o.exit_cb = on_shard_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    l->proc.data = d;
    rc = uv_spawn(&d->loop, &l->proc, &o);
    if (rc == 0) {
        l->running = true;
    }
    return rc;
}

/* The endpoint a local shard wrote, once it is there (empty until then). */
static bool read_endpoint(shard_link_t *l)
{
    FILE *f = fopen(l->endpoint_file, "re");
    bool ok = f != NULL && fgets(l->endpoint, sizeof(l->endpoint), f) != NULL;

    if (f != NULL) {
        fclose(f);
    }
    l->endpoint[strcspn(l->endpoint, "\r\n")] = '\0';
    return ok && l->endpoint[0] != '\0';
}

/* [server] shard_endpoints: N-1 endpoints, comma-separated. */
static int parse_endpoints(const pd_daemon_t *d, pd_shards_t *sh)
{
    const char *p = d->cfg.shard_endpoints;
    unsigned i = 1;

    while (*p != '\0' && i < sh->n) {
        size_t len = strcspn(p, ",");
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++, len--;
        }
        if (len == 0 || len >= sizeof(sh->link[i].endpoint)) {
            break;
        }
        memcpy(sh->link[i].endpoint, p, len);
        sh->link[i].endpoint[strcspn(sh->link[i].endpoint, " \t")] = '\0';
        i++;
        p += len + (p[len] == ',' ? 1 : 0);
    }
    if (i != sh->n || *p != '\0') {
        pd_log_err("[server] shards = %u: shard_endpoints must list the %u other shards, "
                   "comma-separated (or start them with --local-shards)", sh->n, sh->n - 1);
        return PD_ECONFIG;
    }
    return 0;
}

/* Wait up to ms for one message on l's socket. 0, -ETIMEDOUT, or a receive error. */
static int recv_from(shard_link_t *l, int ms, pd_wire_in_t *in)
{
    zmq_pollitem_t it = {l->sock, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&it, 1, ms);

    if (rc < 0) {
        return -errno;
    }
    if (rc == 0) {
        return -ETIMEDOUT;
    }
    return pd_wire_recv(l->sock, false, SIZE_MAX, true, in);
}

static int send_to(shard_link_t *l, pd_msg_t *m, const pd_wire_frame_t *f, size_t n)
{
    return pd_wire_send(l->sock, NULL, 0, m, f, n, false);
}

/* With CURVE, shard 0 connects to its shards with the job's own key pair, which they (the
 * same configuration) hold too and admit as shard 0's. */
static int curve_client(pd_daemon_t *d, void *sock)
{
    pd_curve_keypair_t kp;
    char err[1024] = "";
    int rc;

    if (d->cfg.server_key_file[0] == '\0') {
        return 0;
    }
    rc = pd_curve_load_keypair(d->cfg.server_key_file, &kp, err, sizeof(err));
    if (rc != 0) {
        pd_log_err("%s", err);
        return rc;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, kp.pub, PD_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp.pub, PD_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.sec, PD_CURVE_KEY_LEN + 1) != 0) {
        rc = -zmq_errno();
    }
    memset(&kp, 0, sizeof(kp));
    return rc;
}

/* Connect to shard i, say HELLO as shard 0 and check its WELCOME: the same job, the same
 * model size. Retries until the deadline while the shard is still starting. */
static int join_shard(pd_daemon_t *d, pd_shards_t *sh, unsigned i, uint64_t deadline_ms)
{
    shard_link_t *l = &sh->link[i];
    char rid[64];
    int linger = 0, unbounded = 0, rc;
    pd_msg_t m;

    snprintf(rid, sizeof(rid), "shard0-%ld-%u", (long)getpid(), i);
    l->sock = zmq_socket(d->zctx, ZMQ_DEALER);
    rc = l->sock != NULL ? curve_client(d, l->sock) : -ENOMEM;
    if (rc != 0) {
        pd_log_err("shard %u: cannot set up the connection: %s", i, pd_strerror(rc));
        return rc;
    }
    if (zmq_setsockopt(l->sock, ZMQ_ROUTING_ID, rid, strlen(rid)) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        /* a COMMIT never blocks the loop: a shard that stops reading is found silent by
         * pd_shards_tick, which a send blocked at the high-water mark would never reach */
        zmq_setsockopt(l->sock, ZMQ_SNDHWM, &unbounded, sizeof(unbounded)) != 0 ||
        zmq_connect(l->sock, l->endpoint) != 0) {
        pd_log_err("shard %u: cannot connect to %s: %s", i, l->endpoint, zmq_strerror(errno));
        return -EINVAL;
    }
    pd_msg_init(&m, PD_MSG_HELLO);
    m.request_id = ++sh->next_request;
    m.has_hello = true;
    m.hello.kv_only = true;
    m.hello.shard_index = i;
    snprintf(m.hello.name, sizeof(m.hello.name), "shard 0");
    snprintf(m.hello.software, sizeof(m.hello.software), "paramd %s", PACKAGE_VERSION);
    rc = send_to(l, &m, NULL, 0);
    while (rc == 0) {
        pd_wire_in_t in;
        uint64_t now = pd_daemon_now_ms(d);
        if (now >= deadline_ms) {
            rc = -ETIMEDOUT;
            break;
        }
        rc = recv_from(l, (int)(deadline_ms - now), &in);
        if (rc != 0) {
            break;
        }
        if (in.msg.type == PD_MSG_WELCOME && in.msg.has_job) {
            rc = in.msg.job->job_id == d->job.job_id && in.msg.job->dim == d->model.dim
                     ? 0 : PD_EJOB;
            pd_wire_in_release(&in);
            break;
        }
        if (in.msg.type == PD_MSG_ERROR) {
            pd_log_err("shard %u at %s refused us: %s", i, l->endpoint, in.msg.reason);
            rc = PD_ESTATE;
        }
        pd_wire_in_release(&in);
    }
    if (rc == PD_EJOB) {
        pd_log_err("shard %u at %s serves another job (other configuration?)", i, l->endpoint);
    } else if (rc != 0 && rc != PD_ESTATE) {
        pd_log_err("shard %u at %s did not answer: %s", i, l->endpoint, pd_strerror(rc));
    }
    l->last_heard_ms = pd_daemon_now_ms(d);
    return rc;
}

/* Ask every shard to load the checkpoint of the version shard 0 holds now; each answers
 * with an ACK. 0 when all did, -ENOENT when one has no such checkpoint (said
 * in the log), another code when a shard did not answer. */
static int restore_version(pd_daemon_t *d, pd_shards_t *sh, uint64_t deadline_ms)
{
    uint64_t first = sh->next_request + 1;
    int rc = 0, missing = 0;

    for (unsigned i = 1; i < sh->n && rc == 0; i++) {
        pd_msg_t m;
        pd_msg_init(&m, PD_MSG_RESTORE);
        m.request_id = ++sh->next_request;
        m.version = d->store.version;
        rc = send_to(&sh->link[i], &m, NULL, 0);
    }
    for (unsigned i = 1; i < sh->n && rc == 0; i++) {
        bool got = false;
        while (!got && rc == 0) {
            pd_wire_in_t in;
            uint64_t now;
            uv_update_time(&d->loop); /* a restore while the job runs: inside a callback */
            now = pd_daemon_now_ms(d);
            rc = now < deadline_ms ? recv_from(&sh->link[i], (int)(deadline_ms - now), &in)
                                   : -ETIMEDOUT;
            if (rc != 0) {
                pd_log_err("shard %u did not answer RESTORE: %s", i, pd_strerror(rc));
                break;
            }
            sh->link[i].last_heard_ms = pd_daemon_now_ms(d);
            if (in.msg.request_id != first + i - 1 && in.msg.type == PD_MSG_ERROR &&
                in.msg.error == PD_WERR_NONFINITE) {
                /* a step the shard did not take (note_reply): the restore voids it */
            } else if (in.msg.request_id != first + i - 1 &&
                       (in.msg.type == PD_MSG_ERROR || in.msg.type == PD_MSG_BYE)) {
                /* the shard ended (a COMMIT it refused, ...): no answer will come */
                pd_log_err("shard %u %s before answering RESTORE: %s", i,
                           in.msg.type == PD_MSG_BYE ? "left" : "refused", in.msg.reason);
                rc = PD_ESTATE;
            } else if (in.msg.request_id == first + i - 1 &&
                       (in.msg.type == PD_MSG_ACK || in.msg.type == PD_MSG_ERROR)) {
                got = true;
                if (in.msg.type == PD_MSG_ACK && in.msg.ack != PD_ACK_APPLIED &&
                    in.msg.error == PD_WERR_NONE) {
                    pd_log_warn("shard %u cannot resume from version %" PRIu64 ": %s", i,
                                d->store.version, in.msg.reason);
                    missing++;
                } else if (in.msg.type != PD_MSG_ACK || in.msg.ack != PD_ACK_APPLIED) {
                    /* not a missing file: an older checkpoint would not help */
                    pd_log_err("shard %u cannot resume from version %" PRIu64 ": %s", i,
                               d->store.version, in.msg.reason);
                    rc = PD_ESTATE;
                }
            }
            pd_wire_in_release(&in);
        }
    }
    return rc != 0 ? rc : missing > 0 ? -ENOENT : 0;
}

/* A job with a state_dir: every shard resumes from the version shard 0 restored, or all from
 * the newest older one that shard 0 and every shard hold. PD_ECORRUPT when there is none. */
static int restore_shards(pd_daemon_t *d, pd_shards_t *sh, uint64_t deadline_ms)
{
    int rc;

    while ((rc = restore_version(d, sh, deadline_ms)) == -ENOENT) {
        uint64_t tried = d->store.version;
        rc = pd_checkpoint_fall_back(d);
        if (rc != 0) {
            pd_log_err("the shards hold no checkpoint of a version shard 0 holds (the oldest "
                       "tried: %" PRIu64 ")", tried);
            return PD_ECORRUPT;
        }
    }
    if (rc == 0 && d->store.version > 0) {
        pd_log_notice("all %u shards resumed from version %" PRIu64, sh->n, d->store.version);
    }
    return rc;
}

int pd_shards_restore(pd_daemon_t *d)
{
    if (d->shards == NULL) {
        return 0;
    }
    uv_update_time(&d->loop);
    return restore_shards(d, d->shards, pd_daemon_now_ms(d) + OPEN_DEADLINE_MS);
}

/* Whether workers may send each shard its part of a GRAD (or GRAD_DIFF) result
 * (Job.gradient_parts): for the methods whose update is a sum of whole results, which a
 * shard then forms from the parts shard 0 names. A rennala-sgd round keeps all its results'
 * parts on the shards until its step (about step_batch / batch_size of them): only while
 * they take at most a quarter of a shard's room for parts, else shard 0 relays the
 * gradients. */
static bool gradient_parts(const pd_daemon_t *d, const pd_shards_t *sh)
{
    uint64_t per_round, widest = 0;

    switch (d->cfg.method) {
    case PD_METHOD_SYNC_SGD:
    case PD_METHOD_ASYNC_SGD:
    case PD_METHOD_SSP:
    case PD_METHOD_FREYA_PAGE: /* the shards keep the estimate and add each part as shard */
    case PD_METHOD_SYNC_PAGE:  /* 0 takes it (shard_estimate.c): no round's parts wait */
        return true;
    case PD_METHOD_RENNALA_SGD:
        per_round = ((uint64_t)d->cfg.step_batch + (uint64_t)d->cfg.batch_size - 1) /
                    (uint64_t)d->cfg.batch_size;
        for (unsigned i = 1; i < sh->n; i++) {
            uint64_t len = sh->link[i].end - sh->link[i].begin;
            widest = len > widest ? len : widest;
        }
        return per_round <= PD_SHARD_PARTS_MAX / 4 &&
               per_round * widest * sizeof(double) <= PD_SHARD_PARTS_MAX_BYTES / 4;
    default:
        return false;
    }
}

int pd_shards_open(pd_daemon_t *d)
{
    pd_shards_t *sh;
    uint64_t deadline;
    int rc = 0;

    if (d->cfg.shards <= 1 || d->opts.shard_index > 0) {
        return 0;
    }
    sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        return -ENOMEM;
    }
    d->shards = sh;
    sh->n = (unsigned)d->cfg.shards;
    for (unsigned i = 1; i < sh->n; i++) {
        pd_shards_range(d->model.dim, sh->n, i, &sh->link[i].begin, &sh->link[i].end);
    }
    deadline = pd_daemon_now_ms(d) + OPEN_DEADLINE_MS;
    if (d->opts.local_shards > 0) {
        snprintf(sh->dir, sizeof(sh->dir), "%s/paramd-shards.XXXXXX",
                 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(sh->dir) == NULL) {
            rc = -errno;
            pd_log_err("cannot make a directory for the shards' endpoints: %s", pd_strerror(rc));
            return rc;
        }
        for (unsigned i = 1; i < sh->n && rc == 0; i++) {
            rc = spawn_local(d, sh, i);
        }
        for (unsigned i = 1; i < sh->n && rc == 0; i++) {
            while (!read_endpoint(&sh->link[i]) && rc == 0) {
                if (!sh->link[i].running || pd_daemon_now_ms(d) >= deadline) {
                    rc = -ETIMEDOUT;
                    pd_log_err("shard %u did not start (no endpoint in %s)", i,
                               sh->link[i].endpoint_file);
                }
                struct timespec pause = {0, 20 * 1000000L};
                nanosleep(&pause, NULL);
                uv_update_time(&d->loop);
                uv_run(&d->loop, UV_RUN_NOWAIT); /* reaps a shard that exited */
            }
        }
    } else {
        rc = parse_endpoints(d, sh);
    }
    for (unsigned i = 1; i < sh->n && rc == 0; i++) {
        rc = join_shard(d, sh, i, deadline);
    }
    if (rc == 0 && d->ckpt != NULL) {
        rc = restore_shards(d, sh, deadline);
        if (rc == PD_ECORRUPT) {
            pd_log_err("refusing to start: starting at version 0 would lose the job's "
                       "progress. Move %s (with its shard-* directories) away to start afresh",
                       d->cfg.state_dir);
        }
    }
    if (rc != 0) {
        return rc;
    }
    d->job.n_shards = sh->n;
    d->job.gradient_parts = gradient_parts(d, sh);
    d->job.shards[0].key_begin = 0;
    d->job.shards[0].key_end = d->key_end;
    for (unsigned i = 1; i < sh->n; i++) {
        pd_shard_info_t *s = &d->job.shards[i];
        snprintf(s->endpoint, sizeof(s->endpoint), "%s", sh->link[i].endpoint);
        s->key_begin = sh->link[i].begin;
        s->key_end = sh->link[i].end;
        pd_log_info("shard %u at %s holds keys [%zu, %zu)", i, s->endpoint, sh->link[i].begin,
                    sh->link[i].end);
    }
    return 0;
}

/* Shard l's share of u in the COMMIT m: the keys of u in [l->begin, l->end), as a range
 * (key_offset, key_length and one values frame) or a key list (key_count, a keys frame and a
 * values frame); none of them leaves m without keys or frames. Returns the frames used. */
static size_t share_of(const shard_link_t *l, const pd_shard_update_t *u, pd_msg_t *m,
                       pd_wire_frame_t f[2])
{
    size_t first, count;

    if (u->keys != NULL) {
        first = pd_wire_keys_below(u->keys, u->n, l->begin);
        count = pd_wire_keys_below(u->keys, u->n, l->end) - first;
    } else {
        uint64_t b = u->offset > l->begin ? u->offset : l->begin;
        uint64_t e = u->offset + u->n < l->end ? u->offset + u->n : l->end;
        first = b < e ? b - u->offset : 0;
        count = b < e ? e - b : 0;
    }
    if (count == 0) {
        return 0;
    }
    m->elem_type = PD_ELEM_F64;
    f[0] = (pd_wire_frame_t){u->g + first, count * sizeof(double), NULL};
    m->frame_counts[0] = count;
    if (u->keys == NULL) {
        m->key_offset = u->offset + first;
        m->key_length = count;
        return m->n_frames = 1;
    }
    m->key_count = count;
    f[1] = f[0];
    f[0] = (pd_wire_frame_t){u->keys + first, count * sizeof(uint64_t), NULL};
    m->frame_counts[1] = count;
    return m->n_frames = 2;
}

/* m (frames f) to shard i, or the job ends: the shard could no longer follow shard 0. */
static bool send_or_stop(pd_daemon_t *d, unsigned i, pd_msg_t *m, const pd_wire_frame_t *f,
                         size_t nf)
{
    int rc = send_to(&d->shards->link[i], m, f, nf);
    char why[PD_WIRE_STR + 64];

    if (rc == 0) {
        return true;
    }
    snprintf(why, sizeof(why), "cannot send %s to shard %u: %s", pd_msg_type_name(m->type), i,
             pd_strerror(rc));
    pd_daemon_stop(d, why, 1);
    return false;
}

void pd_shards_commit(pd_daemon_t *d, const pd_shard_update_t *u)
{
    pd_shards_t *sh = d->shards;

    for (unsigned i = 1; sh != NULL && i < sh->n; i++) {
        shard_link_t *l = &sh->link[i];
        pd_wire_frame_t f[2];
        pd_msg_t m;
        pd_msg_init(&m, PD_MSG_COMMIT);
        m.version = d->store.version;
        m.n_samples = u->n_samples;
        m.learning_rate = u->lr;
        m.task_id = u->task_id;
        m.kind = u->task_step ? PD_TASK_GRAD : PD_TASK_NONE;
        m.commit_values = u->values;
        m.estimate = u->estimate;
        m.estimate_slot = u->slots;
        m.round_id = u->round;
        size_t nf;
        if (u->estimate != PD_ESTIMATE_NONE) { /* the shard has its sum: no frame */
            m.key_offset = l->begin;
            m.key_length = l->end - l->begin;
            nf = 0;
        } else if (u->task_id != 0 || u->n_tasks > 0) { /* the shard holds the parts */
            m.key_offset = l->begin;
            m.key_length = l->end - l->begin;
            m.part_tasks = u->n_tasks;
            m.elem_type = PD_ELEM_F64; /* the task list: 8-byte words */
            m.n_frames = u->n_tasks > 0;
            m.frame_counts[0] = u->n_tasks;
            f[0] = (pd_wire_frame_t){u->tasks, u->n_tasks * sizeof(uint64_t), NULL};
            nf = m.n_frames;
        } else {
            nf = share_of(l, u, &m, f);
        }
        if (!send_or_stop(d, i, &m, f, nf)) {
            return;
        }
    }
}

void pd_shards_estimate_add(pd_daemon_t *d, uint64_t task_id, uint64_t round, int64_t slot)
{
    pd_shards_t *sh = d->shards;

    for (unsigned i = 1; sh != NULL && i < sh->n; i++) {
        pd_msg_t m;
        pd_msg_init(&m, PD_MSG_COMMIT);
        m.version = d->store.version; /* no step: the version the round computes at */
        m.task_id = task_id;
        m.round_id = round;
        m.estimate = slot >= 0 ? PD_ESTIMATE_SLOT : PD_ESTIMATE_COMPENSATED;
        m.estimate_slot = slot >= 0 ? (uint64_t)slot : 0;
        if (!send_or_stop(d, i, &m, NULL, 0)) {
            return;
        }
    }
}

/* m (no frames, no answer) to every shard; a failed send is logged, and what it would have
 * asked is done without it (a part dropped in time, a checkpoint at another version). */
static void tell_shards(pd_daemon_t *d, pd_msg_t *m)
{
    pd_shards_t *sh = d->shards;

    for (unsigned i = 1; sh != NULL && i < sh->n; i++) {
        if (send_to(&sh->link[i], m, NULL, 0) != 0) {
            pd_log_warn("cannot send %s to shard %u", pd_msg_type_name(m->type), i);
        }
    }
}

void pd_shards_send_parts(pd_daemon_t *d, uint64_t task_id, const double *grad)
{
    pd_shards_t *sh = d->shards;

    for (unsigned i = 1; sh != NULL && i < sh->n; i++) {
        shard_link_t *l = &sh->link[i];
        pd_wire_frame_t f = {grad + l->begin, (l->end - l->begin) * sizeof(double), NULL};
        pd_msg_t m;
        pd_msg_init(&m, PD_MSG_PART);
        m.task_id = task_id;
        m.key_offset = l->begin;
        m.key_length = l->end - l->begin;
        m.elem_type = PD_ELEM_F64;
        m.n_frames = 1;
        m.frame_counts[0] = m.key_length;
        if (!send_or_stop(d, i, &m, &f, 1)) {
            return;
        }
    }
}

void pd_shards_discard(pd_daemon_t *d, uint64_t task_id)
{
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_DISCARD);
    m.task_id = task_id;
    tell_shards(d, &m);
}

void pd_shards_checkpoint(pd_daemon_t *d, uint64_t version)
{
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_CHECKPOINT);
    m.version = version;
    tell_shards(d, &m);
}

/* One reply of shard l: HEARTBEAT and late answers are noted and passed over, ERROR and BYE
 * end the job (false). */
static bool note_reply(pd_daemon_t *d, unsigned i, const pd_wire_in_t *in)
{
    char why[PD_WIRE_STR + 64];

    d->shards->link[i].last_heard_ms = pd_daemon_now_ms(d);
    if (in->msg.type != PD_MSG_ERROR && in->msg.type != PD_MSG_BYE) {
        return true;
    }
    if (in->msg.type == PD_MSG_ERROR && in->msg.error == PD_WERR_NONFINITE) {
        /* a step the shard found non-finite on its keys, which it did not take: a
         * divergence, acted on (on_divergence) once no method callback runs */
        pd_log_warn("shard %u: %s", i, in->msg.reason);
        snprintf(why, sizeof(why), "shard %u: a step would make a parameter non-finite", i);
        pd_daemon_diverged(d, why);
        return true;
    }
    snprintf(why, sizeof(why), "shard %u %s: %s", i,
             in->msg.type == PD_MSG_BYE ? "left" : "refused", in->msg.reason);
    pd_daemon_stop(d, why, 1);
    return false;
}

int pd_shards_snapshot(pd_daemon_t *d, pd_buf_t **out)
{
    pd_shards_t *sh = d->shards;
    uint64_t first = sh->next_request + 1;
    pd_buf_t *b;
    int rc = pd_buf_new(&b, d->model.dim * sizeof(double));

    if (rc != 0) {
        return rc;
    }
    pd_store_copy(&d->store, (double *)b->data);
    b->version = d->store.version;
    for (unsigned i = 1; i < sh->n && rc == 0; i++) {
        pd_msg_t m;
        pd_wire_range_pull(&m, ++sh->next_request, sh->link[i].begin, sh->link[i].end,
                           d->store.version, PD_ELEM_F64);
        rc = send_to(&sh->link[i], &m, NULL, 0);
    }
    for (unsigned i = 1; i < sh->n && rc == 0; i++) {
        shard_link_t *l = &sh->link[i];
        bool got = false;
        while (!got && rc == 0) {
            pd_wire_in_t in;
            const double *v;
            rc = recv_from(l, (int)d->cfg.worker_timeout_ms, &in);
            if (rc != 0) {
                break;
            }
            if (!note_reply(d, i, &in)) {
                rc = PD_ESTATE;
            } else if (in.msg.type == PD_MSG_PARAMS && in.msg.request_id == first + i - 1) {
                rc = in.msg.version == d->store.version &&
                             pd_wire_in_doubles(&in, 0, l->end - l->begin, &v) == 0
                         ? 0 : PD_EWIRE;
                if (rc == 0) {
                    memcpy((double *)b->data + l->begin, v, (l->end - l->begin) * sizeof(double));
                }
                got = true;
            }
            pd_wire_in_release(&in);
        }
        if (rc != 0) {
            pd_log_err("cannot read the keys of shard %u (%s): %s", i, l->endpoint,
                       pd_strerror(rc));
        }
    }
    if (rc != 0) {
        pd_buf_unref(b);
        return rc;
    }
    *out = b;
    return 0;
}

int pd_shards_whole_snapshot(pd_daemon_t *d, pd_buf_t **out)
{
    return d->shards != NULL ? pd_shards_snapshot(d, out) : pd_store_snapshot(&d->store, out);
}

void pd_shards_tick(pd_daemon_t *d)
{
    pd_shards_t *sh = d->shards;
    uint64_t now = pd_daemon_now_ms(d);

    for (unsigned i = 1; sh != NULL && i < sh->n && d->state == PD_STATE_RUNNING; i++) {
        shard_link_t *l = &sh->link[i];
        pd_wire_in_t in;
        pd_msg_t hb;
        while (d->state == PD_STATE_RUNNING && pd_wire_recv(l->sock, false, SIZE_MAX, true,
                                                             &in) == 0) {
            note_reply(d, i, &in);
            pd_wire_in_release(&in);
        }
        if (d->state != PD_STATE_RUNNING) {
            return;
        }
        if (now - l->last_heard_ms > pd_shards_silence_ms(d)) {
            char why[PD_WIRE_STR + 64];
            snprintf(why, sizeof(why), "shard %u at %s went silent", i, l->endpoint);
            pd_daemon_stop(d, why, 1);
            return;
        }
        pd_msg_init(&hb, PD_MSG_HEARTBEAT);
        (void)send_to(l, &hb, NULL, 0);
    }
    pd_daemon_act_on_divergence(d); /* one a shard reported (note_reply) */
}

void pd_shards_bye(pd_daemon_t *d)
{
    pd_shards_t *sh = d->shards;

    for (unsigned i = 1; sh != NULL && i < sh->n; i++) {
        pd_msg_t bye;
        if (sh->link[i].sock == NULL) {
            continue;
        }
        pd_daemon_init_bye(d, &bye);
        (void)send_to(&sh->link[i], &bye, NULL, 0);
    }
    if (sh != NULL) {
        sh->said_bye = true;
    }
}

uint64_t pd_shards_silence_ms(const pd_daemon_t *d)
{
    uint64_t t = (uint64_t)d->cfg.worker_timeout_ms;
    return t > 3 * SHARD_HEARTBEAT_MS ? t : 3 * SHARD_HEARTBEAT_MS;
}

unsigned pd_shards_count(const pd_daemon_t *d)
{
    return d->shards != NULL ? d->shards->n : 0;
}

void pd_shards_status(const pd_daemon_t *d, unsigned i, uint64_t now, pd_shard_status_t *out)
{
    const shard_link_t *l = &d->shards->link[i];

    out->endpoint = l->endpoint;
    out->key_begin = l->begin;
    out->key_end = l->end;
    out->silent_s = now > l->last_heard_ms ? (double)(now - l->last_heard_ms) / 1000.0 : 0.0;
    out->started_here = l->endpoint_file[0] != '\0';
    out->running = l->running;
}

unsigned pd_shards_running(const pd_daemon_t *d)
{
    unsigned n = 0;

    for (unsigned i = 1; d->shards != NULL && i < d->shards->n; i++) {
        n += d->shards->link[i].running ? 1 : 0;
    }
    return n;
}

void pd_shards_free(pd_daemon_t *d)
{
    pd_shards_t *sh = d->shards;

    if (sh == NULL) {
        return;
    }
    for (unsigned i = 1; i < sh->n; i++) {
        if (sh->link[i].sock != NULL && !sh->said_bye) {
            /* shard 0 did not start (a restore it refused, ...): the shards it reached end
             * now rather than when they find it silent */
            int linger = 200;
            pd_msg_t bye;
            pd_msg_init(&bye, PD_MSG_BYE);
            snprintf(bye.reason, sizeof(bye.reason), "shard 0 did not start");
            zmq_setsockopt(sh->link[i].sock, ZMQ_LINGER, &linger, sizeof(linger));
            (void)send_to(&sh->link[i], &bye, NULL, 0);
        }
        if (sh->link[i].sock != NULL) {
            zmq_close(sh->link[i].sock);
        }
        if (sh->link[i].endpoint_file[0] != '\0') {
            unlink(sh->link[i].endpoint_file);
        }
    }
    if (sh->dir[0] != '\0') {
        rmdir(sh->dir);
    }
    free(sh);
    d->shards = NULL;
}
