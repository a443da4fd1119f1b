/* worker.c - see worker.h. A small state machine on one DEALER socket:
 *   JOIN: send HELLO (retried with backoff) until WELCOME arrives;
 *   on WELCOME: load the job's data if it is not already loaded, check its fingerprint, READY;
 *   RUN: answer TASKs with RESULTs, send a HEARTBEAT when idle; silence from the server for
 *        longer than its worker_timeout, or ERROR unknown-worker, sends us back to JOIN.
 *        A task that runs on the helper thread (see run_with_heartbeats) can be CANCELled:
 *        the computation stops at its next block of samples and no RESULT is sent.
 * Data stays loaded across rejoins of the same job, so a server restart costs one round trip. */
#include <config.h>
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "clock.h"
#include "error.h"
#include "fetch.h"
#include "log.h"
#include "compute.h"
#include "task_kind.h"

#define WAITING_SAY_EVERY_MS 60000 /* "still no answer" while joining */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define JOIN_AGAIN (-1) /* join_once(): the server was lost while loading; say HELLO again */
/* Messages that arrive while a task computes, kept for the main loop: the server sends a
 * TASK right after a CANCEL, and BYE or ERROR may come; heartbeat answers are not kept. */
#define PENDING_MAX 8
/* How often the thread that owns the socket looks for a CANCEL while a task computes. */
#define BUSY_POLL_MS 10

typedef struct worker {
    const pd_worker_opts_t *o;
    volatile sig_atomic_t *stop;
    pd_client_t *client;
    pd_client_opts_t sec;      /* the security keys, for the shards' connections too */
    pd_hello_t hello;
    /* the loaded job */
    bool loaded;
    uint64_t job_id;
    pd_data_t *train;
    pd_data_t *test;
    pd_model_t model;
    pd_task_ctx_t task;
    double *x;            /* parameters of version x_version */
    bool has_x;
    uint64_t x_version;
    double *grad;
    float *grad32;        /* the result rounded for the wire, when wire_f32 */
    bool wire_f32;        /* the job of the last WELCOME sends vectors as float32 */
    bool bf16;            /* ... and GRAD results as bfloat16 with error feedback */
    uint16_t *grad16;     /* a GRAD result as bfloat16 */
    double *ef;           /* error feedback: what bfloat16 rounding dropped so far (dim) */
    double *y;            /* GRAD_DIFF: the second point */
    double *scratch;      /* GRAD_DIFF: the gradient sum at y */
    double *lsr1;         /* LOCAL_TR: the L-SR1 memory frame (grown to lsr1_cap values) */
    size_t lsr1_cap;
    uint64_t last_heard_ms;
    uint64_t fail_pause_ms;     /* before rejoining after a failed task (0: the last ran) */
    uint64_t last_sent_ms;
    uint32_t hb_ms;
    uint32_t timeout_ms;
    double last_seconds[PD_TASK__COUNT]; /* duration of the last task of each kind */
    atomic_int cancel;      /* set when the task computing is CANCELled (pd_model_t.cancel) */
    uint64_t running_task;  /* id of the task computing, 0 when none */
    pd_wire_in_t *pending[PENDING_MAX]; /* received while busy, oldest first (malloc'd) */
    size_t n_pending;
} worker_t;

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The job's path, or --data, or the same base name under --data-dir. */
static void resolve_path(const worker_t *w, const char *job_path, bool is_train, char *out,
                         size_t len)
{
    if (is_train && w->o->data != NULL) {
        snprintf(out, len, "%s", w->o->data);
    } else if (w->o->data_dir != NULL && job_path[0] != '\0') {
        char copy[PD_WIRE_PATH];
        snprintf(copy, sizeof(copy), "%s", job_path);
        snprintf(out, len, "%s/%s", w->o->data_dir, basename(copy));
    } else {
        snprintf(out, len, "%s", job_path);
    }
}

static int run_with_heartbeats(worker_t *w, int (*fn)(void *), void *arg);
static void heartbeat_if_due(worker_t *w);

/* What pd_data_load needs besides the paths: the job's format, features and max_samples. */
typedef struct set_loader {
    worker_t *w;
    const pd_job_desc_t *j;
    size_t n_features;
} set_loader_t;

typedef struct set_load_call {
    const set_loader_t *l;
    const char *path, *labels;
    pd_data_t **out;
    char *err;
    size_t errlen;
} set_load_call_t;

static int set_load_run(void *arg)
{
    set_load_call_t *c = arg;
    pd_data_opts_t o = {0};
    int format = pd_data_format_parse(c->l->j->data_format);

    /* a name this worker does not know falls back to auto (a guess from the file name) */
    o.format = format >= 0 ? (pd_data_format_t)format : PD_DATA_AUTO;
    o.labels_path = c->labels;
    o.n_features = c->l->n_features;
    o.max_samples = (size_t)c->l->j->max_samples;
    return pd_data_load(c->out, c->path, &o, c->err, c->errlen);
}

/* pd_fetch_env_t hooks. Loading a large set can outlast worker_timeout: it runs on a helper
 * thread while this one heartbeats. */
static int set_load_hook(void *arg, const char *path, const char *labels, pd_data_t **out,
                         char *err, size_t errlen)
{
    set_load_call_t c = {arg, path, labels, out, err, errlen};
    return run_with_heartbeats(((set_loader_t *)arg)->w, set_load_run, &c);
}

static void set_idle_hook(void *arg)
{
    heartbeat_if_due(((set_loader_t *)arg)->w);
}

/* Load one set and check its fingerprint; a worker without the job's copy gets the server's
 * (fetch.c: the local path, then the cache, then a download). */
static int load_one(worker_t *w, const pd_job_desc_t *j, const char *path, const char *labels,
                    size_t n_features, uint64_t want_fp, const char *what, pd_data_t **out)
{
    bool train = strcmp(what, "training") == 0;
    char p[PD_WIRE_PATH], l[PD_WIRE_PATH];
    set_loader_t ld = {w, j, n_features};
    pd_fetch_env_t env = {w->client, w->o->cache_dir, w->hb_ms, w->timeout_ms, w->stop,
                          set_idle_hook, set_load_hook, &ld};
    pd_fetch_set_t set = {what, train ? PD_FILE_TRAIN : PD_FILE_TEST,
                          train ? PD_FILE_TRAIN_LABELS : PD_FILE_TEST_LABELS,
                          path, labels, p, l, want_fp};

    resolve_path(w, path, train, p, sizeof(p));
    resolve_path(w, labels, false, l, sizeof(l));
    return pd_fetch_set_load(&env, &set, out);
}

static void unload(worker_t *w)
{
    pd_task_ctx_release(&w->task);
    pd_data_free(w->train);
    pd_data_free(w->test);
    free(w->x);
    free(w->grad);
    free(w->grad32);
    free(w->grad16);
    free(w->ef);
    free(w->y);
    free(w->scratch);
    free(w->lsr1);
    w->lsr1 = NULL;
    w->lsr1_cap = 0;
    w->train = w->test = NULL;
    w->x = w->grad = w->y = w->scratch = NULL;
    w->grad32 = NULL;
    w->grad16 = NULL;
    w->ef = NULL;
    w->loaded = false;
    w->has_x = false;
}

/* The job's model on the loaded training set; an MLP's shape comes with the job. */
static int bind_model(worker_t *w, pd_model_kind_t kind, const pd_job_desc_t *j, char *err,
                      size_t errlen)
{
    pd_mlp_shape_t shape = {0};
    int act, rc;

    if (kind != PD_MODEL_MLP) {
        rc = pd_model_bind(&w->model, kind, w->train, j->classes, j->bias, err, errlen);
        w->model.bias_regularized = j->bias_regularized;
        w->model.cancel = &w->cancel;
        return rc;
    }
    act = pd_activation_parse(j->activation);
    if (j->n_widths < 2 || j->n_widths > PD_MLP_MAX_LAYERS + 1 || act < 0) {
        snprintf(err, errlen, "the job's network (%zu widths, activation '%s') is not one this "
                 "worker can run", j->n_widths, j->activation);
        return PD_EJOB;
    }
    shape.n_layers = j->n_widths - 1;
    shape.activation = (pd_activation_t)act;
    for (size_t l = 0; l < j->n_widths; l++) {
        shape.width[l] = (size_t)j->widths[l];
    }
    rc = pd_model_bind_mlp(&w->model, w->train, &shape, err, errlen);
    w->model.bias_regularized = j->bias_regularized;
    w->model.cancel = &w->cancel;
    return rc;
}

static int load_job(worker_t *w, const pd_job_desc_t *j)
{
    char err[512] = "";
    int rc;
    int kind;

    if (w->loaded && w->job_id == j->job_id) {
        return 0; /* a rejoin of the same job: keep the data */
    }
    unload(w);
    kind = pd_model_kind_parse(j->model);
    if (kind < 0 || kind == PD_MODEL_NONE) {
        pd_log_err("the server's job has model '%s', which a task worker cannot run", j->model);
        return PD_EJOB;
    }
    rc = load_one(w, j, j->train_path, j->train_labels_path, j->features, j->train_fingerprint,
                  "training", &w->train);
    if (rc == 0 && j->test_path[0] != '\0') {
        rc = load_one(w, j, j->test_path, j->test_labels_path, j->features, j->test_fingerprint,
                      "test", &w->test);
    }
    if (rc != 0) {
        return rc;
    }
    rc = bind_model(w, (pd_model_kind_t)kind, j, err, sizeof(err));
    if (rc != 0 || w->model.dim != j->dim) {
        pd_log_err("model %s does not fit the data: %s", j->model, err[0] ? err : "dimension differs");
        return rc != 0 ? rc : PD_EDIM;
    }
    w->x = calloc(j->dim, sizeof(double));
    w->grad = calloc(j->dim, sizeof(double));
    w->grad32 = calloc(j->dim, sizeof(float));
    w->grad16 = calloc(j->dim, sizeof(uint16_t));
    w->ef = calloc(j->dim, sizeof(double));
    w->y = calloc(j->dim, sizeof(double));
    w->scratch = calloc(j->dim, sizeof(double));
    if (w->x == NULL || w->grad == NULL || w->grad32 == NULL || w->grad16 == NULL ||
        w->ef == NULL || w->y == NULL || w->scratch == NULL) {
        return -ENOMEM;
    }
    rc = pd_task_ctx_init(&w->task, &w->model, w->train, w->test, w->o->threads);
    if (rc != 0) {
        return rc;
    }
    w->job_id = j->job_id;
    w->loaded = true;
    pd_log_info("loaded job %016" PRIx64 ": %s, %zu parameters, %zu training samples", j->job_id,
                j->model, w->model.dim, w->train->m);
    return 0;
}

static int send(worker_t *w, pd_msg_t *m, const pd_wire_frame_t *f, size_t n)
{
    int rc = pd_client_send_msg(w->client, m, f, n);
    if (rc == 0) {
        w->last_sent_ms = pd_clock_mono_ms();
    }
    return rc;
}

static void heartbeat_if_due(worker_t *w)
{
    if (pd_clock_mono_ms() - w->last_sent_ms >= w->hb_ms) {
        pd_msg_t hb;
        pd_msg_init(&hb, PD_MSG_HEARTBEAT);
        send(w, &hb, NULL, 0);
        pd_client_heartbeat_shards(w->client);
    }
}

/* Work that may take longer than a heartbeat interval (loading data, a slow task) runs on a
 * helper thread while this thread, which owns the socket, keeps sending heartbeats; otherwise
 * the server would evict a worker that is merely busy. Short work runs inline, since a thread
 * per task would cost more than the task. */
typedef struct bg_call {
    int (*fn)(void *arg);
    void *arg;
    int rc;
    int done_fd; /* written once fn returns */
} bg_call_t;

static void *bg_main(void *p)
{
    bg_call_t *c = p;
    char one = 1;

    c->rc = c->fn(c->arg);
    /* The reader only waits for readability; a failed write would make it wait for the
     * join below, which still returns. */
    if (write(c->done_fd, &one, 1) < 0) {
        c->done_fd = -1;
    }
    return NULL;
}

/* A CANCEL that arrived while a task computes: of that task, it stops it; of a TASK still
 * waiting in w->pending, it removes that TASK (the server gives a cancelled worker its next
 * task at once, so TASK, CANCEL pairs arrive faster than a slow task ends). */
static void cancel_while_busy(worker_t *w, uint64_t task_id)
{
    if (task_id == w->running_task) {
        if (!w->o->ignore_cancel) {
            atomic_store(&w->cancel, 1);
        }
        return;
    }
    for (size_t i = 0; i < w->n_pending; i++) {
        pd_wire_in_t *in = w->pending[i];
        if (in->msg.type == PD_MSG_TASK && in->msg.task_id == task_id && !w->o->ignore_cancel) {
            pd_wire_in_release(in);
            free(in);
            memmove(w->pending + i, w->pending + i + 1,
                    (w->n_pending - i - 1) * sizeof(w->pending[0]));
            w->n_pending--;
            return;
        }
    }
}

/* The messages the server sent while a task computes: a CANCEL is acted on at once, a
 * heartbeat answer only shows the server is there, anything else waits in w->pending. When
 * that is full, the rest waits in the socket. */
static void read_while_busy(worker_t *w)
{
    while (w->n_pending < PENDING_MAX) {
        pd_wire_in_t *in = malloc(sizeof(*in));
        if (in == NULL) {
            return; /* the messages wait in the socket */
        }
        if (pd_client_recv_msg(w->client, in, 0) != 0) {
            free(in);
            return;
        }
        w->last_heard_ms = pd_clock_mono_ms();
        if (in->msg.type == PD_MSG_CANCEL || in->msg.type == PD_MSG_HEARTBEAT) {
            if (in->msg.type == PD_MSG_CANCEL) {
                cancel_while_busy(w, in->msg.task_id);
            }
            pd_wire_in_release(in);
            free(in);
        } else {
            w->pending[w->n_pending++] = in;
        }
    }
}

static int run_with_heartbeats(worker_t *w, int (*fn)(void *), void *arg)
{
    bg_call_t c = {fn, arg, 0, -1};
    int fds[2] = {-1, -1};
    pthread_t tid;

    if (pipe(fds) != 0) {
        return fn(arg); /* no pipe: run inline, as for short work */
    }
    c.done_fd = fds[1];
    if (pthread_create(&tid, NULL, bg_main, &c) != 0) {
        close(fds[0]);
        close(fds[1]);
        return fn(arg);
    }
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int n = poll(&p, 1, BUSY_POLL_MS);
        if (n > 0) {
            break;
        }
        if (*w->stop) {
            /* SIGTERM: the computation (and a --slowdown's emulated rest of it, which grows
             * with any delay the machine adds to the real part) stops at its next block */
            atomic_store(&w->cancel, 1);
        }
        heartbeat_if_due(w);
        read_while_busy(w);
    }
    pthread_join(tid, NULL);
    close(fds[0]);
    close(fds[1]);
    return c.rc;
}

/* A failed CURVE handshake would otherwise look like a silent server: say what to check, at
 * the first failure and then once a minute while it lasts. */
#define SECURITY_HINT_EVERY_MS 60000
static void security_hint(const worker_t *w, int rc, uint64_t *last_ms)
{
    uint64_t now = pd_clock_mono_ms();

    if (*last_ms != 0 && now - *last_ms < SECURITY_HINT_EVERY_MS) {
        return;
    }
    *last_ms = now;
    if (rc == PD_EUNAUTH) {
        pd_log_warn("cannot get a welcome from %s: the server refused our CURVE key %s; add "
                    "it (the .pub file next to %s) to the server's authorized_workers and "
                    "reload paramd (SIGHUP); retrying",
                    w->o->server, w->o->public_key != NULL ? w->o->public_key : "?",
                    w->o->key_file != NULL ? w->o->key_file : "our key pair");
    } else if (w->o->server_key == NULL) {
        pd_log_warn("cannot get a welcome from %s: the security handshake failed; the server "
                    "probably requires CURVE: give --server-key and --key-file; retrying",
                    w->o->server);
    } else {
        pd_log_warn("cannot get a welcome from %s: the CURVE handshake failed; check that "
                    "--server-key is the server's public key and that the server has "
                    "[security] server_key_file; retrying",
                    w->o->server);
    }
}

/* A sharded job: a key-value connection to each of shards 1 .. N-1, to read their keys and
 * send them gradient parts, opened afresh at every join (a worker evicted by shard 0 may be
 * forgotten by the others too). 0, or a negative code (logged). */
static int open_shards(worker_t *w)
{
    pd_hello_t hello;
    int rc;

    memset(&hello, 0, sizeof(hello));
    hello.kv_only = true;
    snprintf(hello.name, sizeof(hello.name), "worker reads");
    snprintf(hello.software, sizeof(hello.software), "paramd-worker %s", PACKAGE_VERSION);
    rc = pd_client_open_shards(w->client, &w->sec, &hello, (int)w->timeout_ms, true);
    if (rc != 0) {
        pd_log_err("%s", pd_client_last_reason(w->client));
    }
    return rc;
}

/* JOIN until WELCOME, then load and say READY. Returns 0, an exit code, or JOIN_AGAIN. */
static int join_once(worker_t *w, volatile sig_atomic_t *stop)
{
    uint64_t backoff = BACKOFF_MIN_MS;
    uint64_t started = pd_clock_mono_ms();
    uint64_t hint_ms = 0, said_ms = 0;
    pd_msg_t ready;
    int rc;

    while (!*stop) {
        rc = pd_client_hello(w->client, &w->hello, (int)backoff);
        if (rc == 0) {
            break;
        }
        if (rc == -ECONNREFUSED) {
            pd_log_notice("the server refused us: %s", pd_client_last_reason(w->client));
            *stop = 1; /* the job is over: nothing to rejoin */
            return PD_WORKER_EXIT_OK;
        }
        if (rc == PD_EUNAUTH || rc == -EPROTO) {
            security_hint(w, rc, &hint_ms);
        }
        if (w->o->join_timeout_ms > 0 &&
            pd_clock_mono_ms() - started > (uint64_t)w->o->join_timeout_ms) {
            pd_log_err("no welcome from %s within the join timeout (%d ms); giving up%s",
                       w->o->server, w->o->join_timeout_ms,
                       rc == PD_EUNAUTH || rc == -EPROTO ? ": the security handshake failed "
                                                           "(see above)"
                                                         : "");
            return PD_WORKER_EXIT_NO_SERVER;
        }
        /* not silent while the server is away: once at once, then once a minute */
        uint64_t now = pd_clock_mono_ms();
        if (said_ms == 0) {
            pd_log_info("waiting for the server at %s (no answer yet; retrying%s)", w->o->server,
                        w->o->join_timeout_ms > 0 ? "" : " until it comes, or --join-timeout");
            said_ms = now;
        } else if (now - said_ms >= WAITING_SAY_EVERY_MS) {
            pd_log_notice("still no answer from %s after %" PRIu64 " s", w->o->server,
                          (now - started) / 1000);
            said_ms = now;
        }
        pd_log_debug("no welcome from %s yet (%s); retrying in %" PRIu64 " ms", w->o->server,
                     pd_strerror(rc), backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    if (*stop) {
        return PD_WORKER_EXIT_OK;
    }
    const pd_job_desc_t *j = pd_client_job(w->client);
    pd_log_info("joined %s as worker %" PRIu32 " (security: %s)", w->o->server,
                pd_client_worker_id(w->client), pd_client_mechanism(w->client));
    w->hb_ms = j->heartbeat_interval_ms > 0 ? j->heartbeat_interval_ms : 1000;
    w->timeout_ms = j->worker_timeout_ms > 0 ? j->worker_timeout_ms : 10000;
    /* Read at every join: a restarted server may run the same job with another wire type. */
    w->wire_f32 = j->wire_type == PD_ELEM_F32;
    w->bf16 = j->bf16_gradients;
    /* On this thread, which owns the socket: a missing set is fetched over it (fetch.c), and
     * the loads themselves heartbeat from a helper thread. */
    rc = load_job(w, j);
    if (rc != 0 && *stop) {
        return PD_WORKER_EXIT_OK; /* SIGTERM, or the job ended, during a download */
    }
    if (rc == PD_EUNKNOWN_WORKER || rc == PD_ETIMEOUT) {
        pd_log_notice("lost the server while fetching the data; rejoining");
        return JOIN_AGAIN;
    }
    if (rc != 0) {
        pd_msg_t bye;
        pd_msg_init(&bye, PD_MSG_BYE);
        snprintf(bye.reason, sizeof(bye.reason), "cannot use the job's data: %s", pd_strerror(rc));
        send(w, &bye, NULL, 0);
        return rc == -ENOMEM ? PD_WORKER_EXIT_FAILURE : PD_WORKER_EXIT_DATA;
    }
    /* the keys of shards 1 .. N-1 come from them */
    rc = open_shards(w);
    if (rc != 0) {
        sleep_ms(BACKOFF_MAX_MS / 5); /* the shards may still be starting */
        return *stop ? PD_WORKER_EXIT_OK : JOIN_AGAIN;
    }
    w->has_x = false;
    pd_msg_init(&ready, PD_MSG_READY);
    rc = send(w, &ready, NULL, 0);
    w->last_heard_ms = pd_clock_mono_ms();
    return rc == 0 ? 0 : PD_WORKER_EXIT_FAILURE;
}

/* Messages kept while a task computed, of a session being left behind. */
static void drop_pending(worker_t *w)
{
    for (size_t i = 0; i < w->n_pending; i++) {
        pd_wire_in_release(w->pending[i]);
        free(w->pending[i]);
    }
    w->n_pending = 0;
}

static int join(worker_t *w, volatile sig_atomic_t *stop)
{
    int code;

    drop_pending(w);
    while ((code = join_once(w, stop)) == JOIN_AGAIN) {
    }
    return code;
}

typedef struct task_call {
    worker_t *w;
    const pd_msg_t *t;
    const pd_task_kind_info_t *kind;
    pd_task_io_t io;
    double seconds;
} task_call_t;

/* The computation of a task, including the --slowdown sleep (part of the emulated cost). */
static int compute_task(void *arg)
{
    task_call_t *c = arg;
    worker_t *w = c->w;
    double t0 = pd_clock_mono_s(), secs;
    int rc = c->kind->run(&w->task, c->t, &c->io);

    secs = pd_clock_mono_s() - t0;
    if (rc == 0 && w->o->slowdown > 1.0) {
        /* in slices, so a CANCEL ends the emulated part as promptly as the computation */
        uint64_t left = (uint64_t)((w->o->slowdown - 1.0) * secs * 1000.0);
        while (left > 0 && !atomic_load(&w->cancel)) {
            uint64_t ms = left < BUSY_POLL_MS ? left : BUSY_POLL_MS;
            sleep_ms(ms);
            left -= ms;
        }
    }
    c->seconds = pd_clock_mono_s() - t0;
    return rc == 0 && atomic_load(&w->cancel) ? PD_ECANCELED : rc;
}

/* The TASK's parameter frames into w->x (and w->y for a second frame), or the cached x.
 * *has_y says whether a second frame came (always for POINT and VECTOR, optional for BLOCK). */
/* A LOCAL_TR's L-SR1 memory frame (the last one, see task_kind.h) into w->lsr1. */
static int take_lsr1_frame(worker_t *w, pd_wire_in_t *in, uint32_t i)
{
    const pd_msg_t *t = &in->msg;
    const double *v;
    size_t len;
    int rc = pd_task_lsr1_len(&w->model, t, &len);

    if (rc != 0) {
        pd_log_warn("LOCAL_TR task %" PRIu64 ": no such parameter block", t->task_id);
        return rc;
    }
    rc = pd_wire_in_doubles(in, i, len, &v);
    if (rc != 0) {
        pd_log_warn("task %" PRIu64 " memory frame has %" PRIu64 " values, expected %zu",
                    t->task_id, t->frame_counts[i], len);
        return rc;
    }
    if (!pd_wire_all_finite(v, len)) {
        pd_log_warn("task %" PRIu64 ": non-finite L-SR1 memory", t->task_id);
        return PD_EWIRE;
    }
    if (len > w->lsr1_cap) {
        double *p = realloc(w->lsr1, len * sizeof(double));
        if (p == NULL) {
            return -ENOMEM;
        }
        w->lsr1 = p;
        w->lsr1_cap = len;
    }
    memcpy(w->lsr1, v, len * sizeof(double));
    return 0;
}

static int take_frames(worker_t *w, pd_wire_in_t *in, const pd_task_kind_info_t *kind,
                       bool *has_y)
{
    const pd_msg_t *t = &in->msg;
    uint32_t need = kind->frame2 != PD_FRAME2_NONE ? 2 : 1;
    bool optional_y = kind->frame2 == PD_FRAME2_BLOCK;
    size_t len[2] = {w->model.dim, 0};
    const double *v;
    int rc;
    uint32_t n_frames = t->n_frames;
    /* a sharded job's task carries shard 0's keys (evaluations: all of them) */
    const pd_job_desc_t *j = pd_client_job(w->client);
    size_t own = j->n_shards > 1 ? (size_t)j->shards[0].key_end : w->model.dim;
    bool partial = n_frames > 0 && t->frame_counts[0] == own && own != w->model.dim;
    /* freya-page's and sync-page's y too: the point before the last step, which the shards
     * keep (their reads name its version exactly) */
    bool partial_y = t->kind == PD_TASK_GRAD_DIFF && n_frames == 2 && partial &&
                     t->frame_counts[1] == own;

    if (t->kind == PD_TASK_LOCAL_TR && t->has_local_tr && t->local_tr.lsr1_pairs > 0) {
        /* x, [gradient block], memory: x is always sent with a memory frame */
        if (n_frames != 2 && n_frames != 3) {
            pd_log_warn("%s task %" PRIu64 " with a memory carries %" PRIu32 " frames",
                        kind->name, t->task_id, n_frames);
            return PD_EWIRE;
        }
        rc = take_lsr1_frame(w, in, n_frames - 1);
        if (rc != 0) {
            return rc;
        }
        n_frames--;
    }
    if (n_frames != need && !(need == 1 && n_frames == 0) &&
        !(optional_y && n_frames <= 1)) {
        pd_log_warn("%s task %" PRIu64 " carries %" PRIu32 " frames, expected %" PRIu32,
                    kind->name, t->task_id, t->n_frames, need);
        return PD_EWIRE;
    }
    *has_y = n_frames == 2;
    if (partial) {
        len[0] = own;
    }
    if (*has_y && (rc = pd_task_frame2_len(&w->model, t, &len[1])) != 0) {
        pd_log_warn("%s task %" PRIu64 ": no such parameter block", kind->name, t->task_id);
        return rc;
    }
    if (partial_y) {
        len[1] = own;
    }
    if (n_frames == 0) {
        if (!w->has_x || w->x_version != t->version) {
            pd_log_warn("task %" PRIu64 " at version %" PRIu64 " without parameters; rejoining",
                        t->task_id, t->version);
            return PD_ESTATE;
        }
        return 0;
    }
    for (uint32_t i = 0; i < n_frames; i++) {
        rc = pd_wire_in_doubles(in, i, len[i], &v);
        if (rc != 0) {
            pd_log_warn("task %" PRIu64 " frame %" PRIu32 " has %" PRIu64 " values, expected %zu",
                        t->task_id, i, t->frame_counts[i], len[i]);
            return rc;
        }
        memcpy(i == 0 ? w->x : w->y, v, len[i] * sizeof(double));
    }
    if (partial) {
        /* the task's version at least: a shard answers once it has taken that update */
        rc = pd_client_read_range(w->client, own, w->model.dim - own, w->x + own, t->elem_type,
                                  t->version, (int)w->timeout_ms);
        if (rc == 0 && partial_y) {
            rc = pd_client_read_range_at(w->client, own, w->model.dim - own, w->y + own,
                                         t->elem_type, t->version_y, (int)w->timeout_ms);
        }
        if (rc == -ESTALE) {
            /* the shards have stepped twice since y: the task's round is over, and the
             * server, which cancelled it, expects nothing for it */
            pd_log_debug("task %" PRIu64 ": y (version %" PRIu64 ") is gone: its round is over",
                         t->task_id, t->version_y);
            w->has_x = false; /* x holds parts of two versions */
            return rc;
        }
        if (rc != 0) {
            pd_log_warn("cannot read the keys [%zu, %zu) from the other shards: %s", own,
                        w->model.dim, pd_strerror(rc));
            return rc;
        }
    }
    /* The cache holds x, the first frame: the server assumes so for later tasks. */
    w->has_x = true;
    w->x_version = t->version;
    return 0;
}

/* A GRAD task with a key list: frame 1 the keys its minibatch touches, frame 2 the values
 * there, which go into w->x at those keys. The rest of w->x keeps older values the samples do
 * not read, so w->x holds no one version any more. */
static int take_keys(worker_t *w, pd_wire_in_t *in, const uint64_t **keys)
{
    const pd_msg_t *t = &in->msg;
    const pd_job_desc_t *j = pd_client_job(w->client);
    uint64_t n = t->key_count, own = t->n_frames == 2 ? t->frame_counts[1] : 0;
    const double *v;
    double *rest = NULL;
    char why[160];
    int rc;

    if (t->kind != PD_TASK_GRAD || t->n_frames != 2 || n > w->model.dim ||
        pd_wire_in_u64s(in, 0, n, keys) != 0 || pd_wire_in_doubles(in, 1, own, &v) != 0) {
        pd_log_warn("task %" PRIu64 " with %" PRIu64 " keys: a key list goes with a GRAD task, "
                    "as frame 1 of the keys then frame 2 of float64 values",
                    t->task_id, n);
        return PD_EWIRE;
    }
    rc = pd_wire_check_keys(*keys, (size_t)n, w->model.dim, why, sizeof(why));
    if (rc != 0) {
        pd_log_warn("task %" PRIu64 ": %s", t->task_id, why);
        return rc;
    }
    /* a sharded job's task holds the values of shard 0's keys; the others are read from
     * their shards, at the task's version at least */
    if (own != n && (j->n_shards <= 1 || own != pd_wire_keys_below(*keys, (size_t)n,
                                                                    j->shards[0].key_end))) {
        pd_log_warn("task %" PRIu64 ": %" PRIu64 " values for %" PRIu64 " keys", t->task_id,
                    own, n);
        return PD_EWIRE;
    }
    if (own < n) {
        rest = malloc((size_t)(n - own) * sizeof(double));
        rc = rest == NULL ? -ENOMEM
                          : pd_client_read_keys(w->client, *keys + own, n - own, rest,
                                                t->version, (int)w->timeout_ms);
        if (rc != 0) {
            pd_log_warn("cannot read %" PRIu64 " of the task's keys from the other shards: %s",
                        n - own, pd_strerror(rc));
        }
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
        w->x[(*keys)[k]] = k < own ? v[k] : rest[k - own];
    }
    free(rest);
    w->has_x = false;
    return rc;
}

/* Run one TASK and send its RESULT. A negative return means "rejoin". */
/* Whether the n values of a result frame are finite as they travel (float64, float32 or
 * bfloat16: a value rounded past the narrow type's range became Inf). */
static bool frame_finite(const void *data, pd_elem_type_t elem, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = elem == PD_ELEM_F64   ? isfinite(((const double *)data)[i])
                  : elem == PD_ELEM_F32 ? isfinite(((const float *)data)[i])
                                        : (((const uint16_t *)data)[i] & 0x7f80u) != 0x7f80u;
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* A sharded job whose GRAD (and GRAD_DIFF) results may go in parts (Job.gradient_parts):
 * every shard i > 0 gets its keys' share of the result r (frame f, as it will travel:
 * float64, float32 or bfloat16) straight from here, instead of through shard 0. Not for a
 * gradient that is not finite as it travels (shard 0 must see it whole, to act on the
 * divergence), nor when a send fails: then the whole result goes to shard 0 as without
 * parts. Every shard acknowledges its part before the RESULT goes: shard 0 names the task to
 * the shards as soon as it takes the result, and a part still queued here when this process
 * dies (the RESULT already gone) would leave them waiting for it. True when all were taken. */
static bool send_parts(worker_t *w, const pd_msg_t *t, const pd_msg_t *r,
                       const pd_wire_frame_t *f)
{
    const pd_job_desc_t *j = pd_client_job(w->client);
    size_t size = r->frame_counts[0] > 0 ? f->len_bytes / r->frame_counts[0] : 0;

    if (!j->gradient_parts || j->n_shards <= 1 || r->frame_counts[0] != w->model.dim ||
        !frame_finite(f->data, r->elem_type, w->model.dim)) {
        return false;
    }
    uint64_t sent[PD_WIRE_MAX_SHARDS] = {0};

    for (unsigned i = 1; i < j->n_shards; i++) {
        const pd_shard_info_t *sh = &j->shards[i];
        pd_wire_frame_t part = {(const char *)f->data + sh->key_begin * size,
                                (size_t)(sh->key_end - sh->key_begin) * size, NULL};
        pd_msg_t m;
        pd_msg_init(&m, PD_MSG_PART);
        m.task_id = t->task_id;
        m.version = t->version;
        m.key_offset = sh->key_begin;
        m.key_length = sh->key_end - sh->key_begin;
        m.elem_type = r->elem_type;
        m.n_frames = 1;
        m.frame_counts[0] = m.key_length;
        if (pd_client_send_to_shard(w->client, i, &m, &part, 1) != 0) {
            return false; /* the parts sent already are dropped by their shards in time */
        }
        sent[i] = m.request_id;
    }
    for (unsigned i = 1; i < j->n_shards; i++) {
        if (pd_client_shard_ack(w->client, i, sent[i], (int)w->timeout_ms) != 0) {
            return false; /* the result goes whole: shard 0 sends the parts again */
        }
    }
    return true;
}

static int run_task(worker_t *w, pd_wire_in_t *in)
{
    const pd_msg_t *t = &in->msg;
    const pd_task_kind_info_t *kind = pd_task_kind_info(t->kind);
    pd_msg_t r;
    pd_wire_frame_t f;
    bool has_y = false;
    int rc;

    if (kind == NULL) {
        pd_log_warn("task %" PRIu64 " has kind %d, which this worker does not know", t->task_id,
                    (int)t->kind);
        return PD_EWIRE;
    }
    const uint64_t *keys = NULL;
    rc = t->key_count > 0 ? take_keys(w, in, &keys) : take_frames(w, in, kind, &has_y);
    if (rc == -ESTALE) {
        return 0; /* a task the server has cancelled: as for a CANCEL, nothing to send */
    }
    if (rc != 0) {
        return rc;
    }
    bool has_lsr1 = t->kind == PD_TASK_LOCAL_TR && t->local_tr.lsr1_pairs > 0;
    task_call_t call = {w, t, kind, {.x = w->x, .y = has_y ? w->y : NULL,
                                     .lsr1 = has_lsr1 ? w->lsr1 : NULL, .keys = keys,
                                     .n_keys = (size_t)t->key_count, .out = w->grad,
                                     .out_len = w->model.dim, .scratch = w->scratch}, 0.0};
    /* The last task of the same kind predicts this one: a quarter of the heartbeat interval
     * is where a helper thread starts to pay for itself. A slowed-down worker always uses it,
     * since even its first task may outlast the server's patience. */
    atomic_store(&w->cancel, 0);
    w->running_task = t->task_id;
    if (w->o->slowdown > 1.0 || w->last_seconds[t->kind] * 1000.0 >= w->hb_ms / 4.0) {
        rc = run_with_heartbeats(w, compute_task, &call);
    } else {
        rc = compute_task(&call); /* too short to be worth cancelling */
    }
    w->running_task = 0;
    /* We were computing, not listening: the server's silence meanwhile says nothing. */
    w->last_heard_ms = pd_clock_mono_ms();
    if (rc == PD_ECANCELED) {
        pd_log_debug("task %" PRIu64 " %s after %.3f s", t->task_id,
                     *w->stop ? "abandoned: stopping" : "cancelled by the server", call.seconds);
        return 0; /* the server expects nothing for it */
    }
    w->last_seconds[t->kind] = call.seconds;
    if (rc != 0) {
        pd_log_err("task %" PRIu64 " failed: %s", t->task_id, pd_strerror(rc));
        return rc;
    }
    pd_msg_init(&r, PD_MSG_RESULT);
    r.request_id = t->request_id;
    r.task_id = t->task_id;
    r.round_id = t->round_id;
    r.kind = t->kind;
    r.version = t->version;
    r.version_y = t->version_y;
    r.n_samples = call.io.samples;
    r.loss_sum = call.io.loss_sum;
    r.correct = call.io.correct;
    r.compute_seconds = call.seconds;
    r.key_count = t->key_count; /* the gradient at the task's keys, in their order */
    r.has_local_tr = t->kind == PD_TASK_LOCAL_TR;
    r.local_tr = call.io.local_tr;
    f = (pd_wire_frame_t){w->grad, call.io.out_len * sizeof(double), NULL};
    if (kind->result_frames == 1) {
        r.elem_type = PD_ELEM_F64;
        r.n_frames = 1;
        r.frame_counts[0] = call.io.out_len;
        /* a gradient at a key list goes back as float64, as its task came */
        if (keys == NULL && w->bf16 && t->kind == PD_TASK_GRAD) {
            pd_wire_compress_bf16(w->grad, w->ef, w->grad16, call.io.out_len);
            r.elem_type = PD_ELEM_BF16;
            f = (pd_wire_frame_t){w->grad16, call.io.out_len * sizeof(uint16_t), NULL};
        } else if (keys == NULL && w->wire_f32) {
            pd_wire_to_f32(w->grad, call.io.out_len, w->grad32);
            r.elem_type = PD_ELEM_F32;
            f = (pd_wire_frame_t){w->grad32, call.io.out_len * sizeof(float), NULL};
        }
    }
    if ((t->kind == PD_TASK_GRAD || t->kind == PD_TASK_GRAD_DIFF) && keys == NULL &&
        send_parts(w, t, &r, &f)) {
        /* the shards have their parts: shard 0 gets its keys alone */
        size_t size = f.len_bytes / r.frame_counts[0];
        r.frame_counts[0] = pd_client_job(w->client)->shards[0].key_end;
        f.len_bytes = (size_t)r.frame_counts[0] * size;
    }
    rc = send(w, &r, &f, r.n_frames);
    if (rc != 0 && rc != -EAGAIN) {
        return rc;
    }
    return 0; /* EAGAIN: no connection; the silence timeout will rejoin */
}

/* One message from the server, released here. Returns 0 to go on, or the exit code. */
static int handle_message(worker_t *w, pd_wire_in_t *in, volatile sig_atomic_t *stop)
{
    int code = 0;

    switch (in->msg.type) {
    case PD_MSG_TASK:
        if (run_task(w, in) == 0) {
            w->fail_pause_ms = 0;
            break;
        }
        /* Tasks that keep failing (a shard out of reach, a damaged data file) must not turn
         * into a storm of HELLOs: pause before rejoining, doubling while they fail. */
        w->fail_pause_ms = w->fail_pause_ms == 0 ? BACKOFF_MIN_MS : 2 * w->fail_pause_ms;
        if (w->fail_pause_ms > BACKOFF_MAX_MS) {
            w->fail_pause_ms = BACKOFF_MAX_MS;
        }
        pd_log_notice("rejoining in %" PRIu64 " ms", w->fail_pause_ms);
        sleep_ms(w->fail_pause_ms);
        code = *stop ? PD_WORKER_EXIT_OK : join(w, stop);
        break;
    case PD_MSG_CANCEL:
        break; /* of a task that is no longer computing (ours finished first) */
    case PD_MSG_BYE:
        if (in->msg.job_continues && !w->o->exit_with_server) {
            /* systemctl restart paramd: keep the data, wait for the next server, rejoin */
            pd_log_notice("%s; waiting for the server to come back (--exit-with-server to "
                          "leave instead)", in->msg.reason);
            pd_wire_in_release(in);
            return join(w, stop);
        }
        pd_log_info("the server ended the job: %s", in->msg.reason);
        *stop = 1;
        break;
    case PD_MSG_ERROR:
        if (in->msg.error == PD_WERR_UNKNOWN_WORKER) {
            pd_log_notice("the server does not know us (it restarted?); rejoining");
            pd_wire_in_release(in);
            return join(w, stop);
        }
        pd_log_warn("the server refused a message: %s: %s",
                    pd_wire_error_name(in->msg.error), in->msg.reason);
        break;
    default:
        break; /* HEARTBEAT answers and leftovers */
    }
    pd_wire_in_release(in);
    return code;
}

int pd_worker_run(const pd_worker_opts_t *o, volatile sig_atomic_t *stop)
{
    worker_t w = {0};
    int code = PD_WORKER_EXIT_OK;
    int rc;

    w.o = o;
    w.stop = stop;
    snprintf(w.hello.name, sizeof(w.hello.name), "%s", o->name != NULL ? o->name : "");
    gethostname(w.hello.host, sizeof(w.hello.host) - 1);
    if (w.hello.name[0] == '\0') {
        snprintf(w.hello.name, sizeof(w.hello.name), "%s", w.hello.host);
    }
    w.hello.cores = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    w.hello.accepts_f32 = true; /* pd_wire_in_doubles widens F32 task frames */
    w.hello.accepts_key_tasks = true;
    w.hello.reads_shard_keys = true;
    w.hello.reads_exact_versions = true;
    w.hello.threads = o->threads;
    w.hello.slowdown = o->slowdown;
    snprintf(w.hello.software, sizeof(w.hello.software), "paramd-worker %s", PACKAGE_VERSION);
    w.sec = (pd_client_opts_t){o->server_key, o->public_key, o->secret_key};
    rc = pd_client_open(&w.client, o->server, &w.sec);
    if (rc != 0) {
        pd_log_err("cannot connect to %s: %s", o->server, pd_strerror(rc));
        return PD_WORKER_EXIT_USAGE;
    }
    code = join(&w, stop);
    while (code == 0 && !*stop) {
        pd_wire_in_t in;
        uint64_t now = pd_clock_mono_ms();

        heartbeat_if_due(&w);
        if (now - w.last_heard_ms > w.timeout_ms) {
            pd_log_notice("no word from the server for %" PRIu64 " ms; rejoining",
                          now - w.last_heard_ms);
            code = join(&w, stop);
            continue;
        }
        pd_wire_in_t *msg = &in;
        if (w.n_pending > 0) {
            /* received while a task computed: handled in the order they came */
            msg = w.pending[0];
            memmove(w.pending, w.pending + 1, --w.n_pending * sizeof(w.pending[0]));
            rc = 0;
        } else {
            rc = pd_client_recv_msg(w.client, &in, (int)w.hb_ms);
        }
        if (rc == -ETIMEDOUT || rc == -EINTR) {
            continue;
        }
        if (rc != 0) {
            pd_log_warn("bad message from the server: %s", pd_strerror(rc));
            continue;
        }
        w.last_heard_ms = pd_clock_mono_ms();
        code = handle_message(&w, msg, stop);
        if (msg != &in) {
            free(msg);
        }
    }
    drop_pending(&w);
    unload(&w);
    pd_client_free(w.client); /* says BYE if we are still joined */
    return code;
}
