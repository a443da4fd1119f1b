/* sim.c - see sim.h. One thread, no event loop: the simulator owns the clock and calls into
 * the daemon the way the ZeroMQ loop would (pd_dispatch), and the daemon calls back through
 * the transport (sim_send, sim_now_ms). Each simulated worker has at most one task in flight,
 * as a real one: the daemon never sends a second TASK to a BUSY session. */
#include <config.h>
#include "sim.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute.h"
#include "error.h"
#include "log.h"
#include "task_kind.h"
#include "methods/method.h"
#include "quad.h"
#include "rng.h"
#include "scheduler.h"

typedef struct sim_worker {
    char rid[24];
    size_t rid_len;
    double tau;
    bool busy;
    double finish;       /* simulated time the result is delivered */
    pd_msg_t res;        /* the RESULT waiting for its time */
    double *out;         /* dim: its vector */
    pd_buf_t *xb, *yb;   /* the parameter snapshots received (a worker keeps the last x) */
    pd_buf_t *zb;        /* LOCAL_TR: the L-SR1 memory frame of the last task with one */
    bool has_x;
    uint64_t x_version;
} sim_worker_t;

struct pd_sim {
    pd_daemon_t *d;
    pd_transport_t tr;
    size_t n;
    sim_worker_t *w;
    uint32_t *heap;      /* indices of busy workers, a min-heap on (finish, index) */
    size_t heap_n;
    double now;
    uint64_t events;
    pd_task_ctx_t ctx;   /* the computation paramd-worker runs, one thread */
    bool ctx_ready;
    double *deliver;     /* dim: the vector of the RESULT being dispatched */
    double *scratch;     /* dim */
    double *full;        /* dim: the full gradient for the log */
    FILE *log;
    bool log_owned;
    bool has_fstar;
    double fstar;
    uint64_t logged_updates;
    int error;           /* first failure inside a transport callback */
};

/* ---- speeds -------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int pd_sim_speeds(const char *spec, size_t n, uint64_t seed, double *tau, char *err,
                  size_t errlen)
{
    if (strcmp(spec, "equal") == 0 || strcmp(spec, "sqrt") == 0) {
        for (size_t i = 0; i < n; i++) {
            tau[i] = spec[0] == 'e' ? 1.0 : sqrt((double)(i + 1));
        }
        return 0;
    }
    if (strcmp(spec, "gamma") == 0) {
        pd_rng_t r;
        pd_rng_seed(&r, seed);
        for (size_t i = 0; i < n; i++) {
            do {
                /* Gamma(2, 200) is the sum of two exponentials of mean 200; 1 - u is in (0, 1]. */
                double u1 = 1.0 - pd_rng_uniform(&r), u2 = 1.0 - pd_rng_uniform(&r);
                tau[i] = -200.0 * (log(u1) + log(u2)) / 400.0;
            } while (tau[i] < 1.0);
        }
        qsort(tau, n, sizeof(*tau), cmp_double);
        return 0;
    }
    const char *p = spec;
    for (size_t i = 0; i < n; i++) {
        char *end;
        errno = 0;
        tau[i] = strtod(p, &end);
        if (end == p || errno != 0 || !(tau[i] > 0) || !isfinite(tau[i]) ||
            (*end != ',' && *end != '\0') || (*end == '\0' && i + 1 < n)) {
            snprintf(err, errlen,
                     "[sim] speeds = %s: want equal, sqrt, gamma or %zu positive numbers "
                     "separated by commas",
                     spec, n);
            return -EINVAL;
        }
        p = *end == ',' ? end + 1 : end;
    }
    if (*p != '\0') {
        snprintf(err, errlen, "[sim] speeds = %s: more than [sim] workers = %zu values", spec, n);
        return -EINVAL;
    }
    return 0;
}

/* ---- the event queue ----------------------------------------------------------------------- */

static bool before(const pd_sim_t *sim, uint32_t a, uint32_t b)
{
    const sim_worker_t *x = &sim->w[a], *y = &sim->w[b];
    return x->finish < y->finish || (x->finish == y->finish && a < b);
}

static void sift_up(pd_sim_t *sim, size_t k);

static void heap_push(pd_sim_t *sim, uint32_t i)
{
    sim->heap[sim->heap_n] = i;
    sift_up(sim, sim->heap_n++);
}

/* Moves the entry at k down to where it belongs. */
static void sift_down(pd_sim_t *sim, size_t k)
{
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < sim->heap_n && before(sim, sim->heap[l], sim->heap[m])) {
            m = l;
        }
        if (r < sim->heap_n && before(sim, sim->heap[r], sim->heap[m])) {
            m = r;
        }
        if (m == k) {
            break;
        }
        uint32_t t = sim->heap[k];
        sim->heap[k] = sim->heap[m];
        sim->heap[m] = t;
        k = m;
    }
}

static void sift_up(pd_sim_t *sim, size_t k)
{
    while (k > 0 && before(sim, sim->heap[k], sim->heap[(k - 1) / 2])) {
        uint32_t t = sim->heap[k];
        sim->heap[k] = sim->heap[(k - 1) / 2];
        sim->heap[(k - 1) / 2] = t;
        k = (k - 1) / 2;
    }
}

static uint32_t heap_pop(pd_sim_t *sim)
{
    uint32_t top = sim->heap[0];

    sim->heap[0] = sim->heap[--sim->heap_n];
    sift_down(sim, 0);
    return top;
}

/* Worker i's pending result leaves the queue (its task was cancelled). */
static void heap_remove(pd_sim_t *sim, uint32_t i)
{
    for (size_t k = 0; k < sim->heap_n; k++) {
        if (sim->heap[k] == i) {
            sim->heap[k] = sim->heap[--sim->heap_n];
            if (k < sim->heap_n) {
                sift_up(sim, k);
                sift_down(sim, k);
            }
            return;
        }
    }
}

/* ---- the transport: what the daemon sends to a simulated worker --------------------------- */

static uint64_t sim_now_ms(void *ctx)
{
    const pd_sim_t *sim = ctx;
    /* One simulated time unit reads as one second in the daemon's metrics (round durations);
     * the log carries the exact double. */
    return (uint64_t)llround(sim->now * 1000.0);
}

static sim_worker_t *worker_of(pd_sim_t *sim, const void *rid, size_t rid_len)
{
    char buf[24];
    unsigned long i;

    if (rid_len == 0 || rid_len >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, rid, rid_len);
    buf[rid_len] = '\0';
    if (strncmp(buf, "sim-", 4) != 0) {
        return NULL;
    }
    i = strtoul(buf + 4, NULL, 10);
    return i >= 1 && i <= sim->n ? &sim->w[i - 1] : NULL;
}

static void fail(pd_sim_t *sim, int rc)
{
    if (sim->error == 0) {
        sim->error = rc != 0 ? rc : PD_ESTATE;
    }
}

/* Compute task m now (x fixed at assignment) and queue its result at now + cost x tau. */
static int run_task(pd_sim_t *sim, sim_worker_t *w, const pd_msg_t *m,
                    const pd_wire_frame_t *frames, size_t n_frames)
{
    size_t dim = sim->d->store.dim;
    const pd_task_kind_info_t *kind = pd_task_kind_info(m->kind);
    pd_msg_t *r = &w->res;
    size_t len[2] = {dim, dim};
    double cost;
    int rc;

    if (w->busy) {
        pd_log_err("sim: a second task for busy worker %s", w->rid);
        return PD_ESTATE;
    }
    bool has_lsr1 = m->kind == PD_TASK_LOCAL_TR && m->has_local_tr && m->local_tr.lsr1_pairs > 0;
    if (has_lsr1) {
        /* x, [gradient block], memory (task_kind.h): the last frame is the memory */
        size_t zlen = 0;
        if ((n_frames != 2 && n_frames != 3) ||
            pd_task_lsr1_len(&sim->d->model, m, &zlen) != 0 || frames[n_frames - 1].owner == NULL ||
            frames[n_frames - 1].len_bytes != zlen * sizeof(double)) {
            pd_log_err("sim: a LOCAL_TR memory frame for %s is malformed", w->rid);
            return PD_ESTATE;
        }
        pd_buf_unref(w->zb);
        w->zb = pd_buf_ref(frames[n_frames - 1].owner);
        n_frames--;
    }
    if (kind == NULL || n_frames > 2 ||
        (kind->frame2 != PD_FRAME2_NONE && kind->frame2 != PD_FRAME2_BLOCK && n_frames != 2) ||
        (n_frames == 2 && pd_task_frame2_len(&sim->d->model, m, &len[1]) != 0)) {
        pd_log_err("sim: task kind %d with %zu frames is not simulated", (int)m->kind, n_frames);
        return PD_ESTATE;
    }
    /* The daemon omits x when the worker holds that version already (scheduler.c). Snapshots
     * are immutable and reference-counted: keep a reference instead of a copy. */
    for (size_t i = 0; i < n_frames; i++) {
        pd_buf_t **keep = i == 0 ? &w->xb : &w->yb;
        if (frames[i].owner == NULL || frames[i].len_bytes != len[i] * sizeof(double)) {
            pd_log_err("sim: a task frame for %s is not a parameter snapshot", w->rid);
            return PD_ESTATE;
        }
        pd_buf_unref(*keep);
        *keep = pd_buf_ref(frames[i].owner);
    }
    if (n_frames >= 1) {
        w->has_x = true;
        w->x_version = m->version;
    } else if (!w->has_x || w->x_version != m->version) {
        pd_log_err("sim: task without parameters for %s, which holds no version %" PRIu64,
                   w->rid, m->version);
        return PD_ESTATE;
    }
    pd_task_io_t io = {.x = (const double *)w->xb->data,
                       .y = n_frames == 2 ? (const double *)w->yb->data : NULL,
                       .lsr1 = has_lsr1 ? (const double *)w->zb->data : NULL,
                       .out = w->out,
                       .out_len = dim,
                       .scratch = sim->scratch};
    rc = kind->run(&sim->ctx, m, &io);
    if (rc != 0) {
        pd_log_err("sim: task %" PRIu64 " on %s failed: %s", m->task_id, w->rid, pd_strerror(rc));
        return rc;
    }
    cost = kind->cost_per_sample * (double)io.touched;
    pd_msg_init(r, PD_MSG_RESULT);
    r->worker_id = m->worker_id;
    r->job_id = m->job_id;
    r->task_id = m->task_id;
    r->kind = m->kind;
    r->round_id = m->round_id;
    r->version = m->version;
    r->version_y = m->version_y;
    r->n_samples = io.samples;
    r->loss_sum = io.loss_sum;
    r->correct = io.correct;
    r->compute_seconds = cost * w->tau;
    r->elem_type = PD_ELEM_F64;
    r->has_local_tr = m->kind == PD_TASK_LOCAL_TR;
    r->local_tr = io.local_tr;
    if (kind->result_frames == 1) {
        r->n_frames = 1;
        r->frame_counts[0] = io.out_len;
    }
    w->finish = sim->now + cost * w->tau;
    w->busy = true;
    heap_push(sim, (uint32_t)(w - sim->w));
    return 0;
}

static int sim_send(void *ctx, const void *rid, size_t rid_len, const pd_msg_t *m,
                    const pd_wire_frame_t *frames, size_t n_frames)
{
    pd_sim_t *sim = ctx;
    sim_worker_t *w = worker_of(sim, rid, rid_len);
    int rc = 0;

    if (w == NULL) {
        return -EHOSTUNREACH; /* as ZMQ_ROUTER_MANDATORY says for an unknown peer */
    }
    switch (m->type) {
    case PD_MSG_TASK:
        rc = run_task(sim, w, m, frames, n_frames);
        if (rc != 0) {
            fail(sim, rc);
        }
        return rc;
    case PD_MSG_CANCEL:
        /* ALGORITHMS.md §0.5: a cancelled worker is free at the current simulated time and
         * its partial work is lost (the authors' stop_all_calculations) */
        if (w->busy && w->res.task_id == m->task_id) {
            heap_remove(sim, (uint32_t)(w - sim->w));
            w->busy = false;
        }
        return 0;
    case PD_MSG_ERROR:
        /* The daemon refused one of our results: a simulator bug, never part of a run. */
        pd_log_err("sim: the daemon refused a message of %s: %s: %s", w->rid,
                   pd_wire_error_name(m->error), m->reason);
        fail(sim, PD_ESTATE);
        return 0;
    default:
        return 0; /* WELCOME, BYE, HEARTBEAT: nothing for a simulated worker to do */
    }
}

/* Hand msg (with one vector of dim doubles when vec is not NULL) to the daemon as if it had
 * come from worker w's socket: the header is encoded and decoded like on the wire. */
static int dispatch(pd_sim_t *sim, sim_worker_t *w, const pd_msg_t *msg, const double *vec)
{
    pd_wire_in_t in;
    void *hdr = NULL;
    size_t hdr_len = 0, bytes = vec != NULL ? msg->frame_counts[0] * sizeof(double) : 0;
    int rc;

    memset(&in, 0, sizeof(in));
    memcpy(in.routing_id, w->rid, w->rid_len);
    in.routing_id_len = w->rid_len;
    rc = pd_wire_encode(msg, &hdr, &hdr_len);
    if (rc != 0) {
        return rc;
    }
    in.decode_rc = pd_wire_decode(hdr, hdr_len, &in.msg, &in.job);
    free(hdr);
    if (vec != NULL) {
        /* Zero-copy: the frame points at vec, which outlives the dispatch (no free function). */
        if (zmq_msg_init_data(&in.parts[0], (void *)vec, bytes, NULL, NULL) != 0) {
            return -zmq_errno();
        }
        in.n_parts = 1;
    }
    in.total_bytes = hdr_len + bytes;
    pd_dispatch(sim->d, &in);
    pd_wire_in_release(&in);
    return 0;
}

/* ---- the log ------------------------------------------------------------------------------- */

static int write_log(pd_sim_t *sim, const char *event)
{
    pd_daemon_t *d = sim->d;
    const pd_metrics_t *mt = &d->metrics;
    size_t dim = d->store.dim;
    double loss = 0, obj = NAN, g2 = NAN;
    uint64_t correct = 0;

    if (d->train != NULL && d->train->m > 0) {
        size_t m = d->train->m;
        if (pd_model_eval_range(&d->model, d->train, d->store.x, 0, m, &loss, &correct) == 0) {
            obj = pd_daemon_objective(d, d->store.x, loss, m);
        }
        if (pd_task_grad_range(&sim->ctx, d->store.x, 0, m, sim->full, &loss) == 0) {
            /* The gradient of the smooth part: the mean loss, plus the l2 term when that is
             * the whole regulariser (l1 and the box have no gradient). */
            bool l2 = d->optim.reg.kind == PD_REG_L2;
            g2 = 0;
            for (size_t i = 0; i < dim; i++) {
                double g = sim->full[i] / (double)m +
                           (l2 ? d->optim.reg.l2 * d->mask[i] * d->store.x[i] : 0.0);
                g2 += g * g;
            }
        }
    }
    fprintf(sim->log,
            "{\"sim_time\":%.17g,\"updates\":%.0f,\"version\":%" PRIu64 ",\"objective\":%.17g,"
            "\"grad_norm2\":%.17g",
            sim->now, mt->updates_total, d->store.version, obj, g2);
    if (sim->has_fstar) {
        fprintf(sim->log, ",\"gap\":%.17g", obj - sim->fstar);
    }
    fprintf(sim->log,
            ",\"tasks\":%.0f,\"discarded\":%.0f,\"dropped_stale\":%.0f,\"rounds_cg\":%.0f,"
            "\"rounds_cbd\":%.0f,\"round_cg_mean\":%.17g,\"round_cbd_mean\":%.17g",
            mt->tasks_sent_total, mt->results_discarded_total, mt->gradients_dropped_stale_total,
            mt->rounds_cg_total, mt->rounds_cbd_total, mt->round_cg_seconds_mean,
            mt->round_cbd_seconds_mean);
    if (event != NULL) {
        fprintf(sim->log, ",\"event\":\"%s\"", event);
    }
    fputs("}\n", sim->log);
    sim->logged_updates = (uint64_t)mt->updates_total;
    return ferror(sim->log) ? -EIO : 0;
}

/* ---- life ---------------------------------------------------------------------------------- */

double pd_sim_now(const pd_sim_t *sim)
{
    return sim->now;
}

uint64_t pd_sim_events(const pd_sim_t *sim)
{
    return sim->events;
}

pd_daemon_t *pd_sim_daemon(pd_sim_t *sim)
{
    return sim->d;
}

void pd_sim_free(pd_sim_t *sim)
{
    if (sim == NULL) {
        return;
    }
    pd_daemon_free(sim->d);
    if (sim->ctx_ready) {
        pd_task_ctx_release(&sim->ctx);
    }
    for (size_t i = 0; sim->w != NULL && i < sim->n; i++) {
        free(sim->w[i].out);
        pd_buf_unref(sim->w[i].xb);
        pd_buf_unref(sim->w[i].yb);
        pd_buf_unref(sim->w[i].zb);
    }
    free(sim->w);
    free(sim->heap);
    free(sim->deliver);
    free(sim->scratch);
    free(sim->full);
    if (sim->log_owned && sim->log != NULL) {
        fclose(sim->log);
    }
    free(sim);
}

int pd_sim_new(pd_sim_t **out, const pd_config_t *cfg)
{
    pd_sim_t *sim = calloc(1, sizeof(*sim));
    pd_daemon_opts_t opts = {0};
    double *tau = NULL;
    char err[256] = "";
    size_t dim;
    int rc;

    if (sim == NULL) {
        return -ENOMEM;
    }
    if (cfg->state_dir[0] != '\0') {
        /* Checkpoints run on the event loop's timers and thread pool, which a simulation
         * does not turn; a run is reproduced from its configuration instead. */
        pd_log_err("paramd-sim does not write checkpoints: leave [server] state_dir empty");
        free(sim);
        return PD_ECONFIG;
    }
    sim->n = (size_t)cfg->sim_workers;
    tau = calloc(sim->n, sizeof(double));
    sim->w = calloc(sim->n, sizeof(*sim->w));
    sim->heap = calloc(sim->n, sizeof(*sim->heap));
    if (tau == NULL || sim->w == NULL || sim->heap == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = pd_sim_speeds(cfg->sim_speeds, sim->n, (uint64_t)cfg->sim_seed, tau, err, sizeof(err));
    if (rc != 0) {
        pd_log_err("%s", err);
        rc = PD_ECONFIG;
        goto fail;
    }
    sim->tr = (pd_transport_t){.send = sim_send, .now_ms = sim_now_ms, .ctx = sim};
    opts.transport = &sim->tr;
    rc = pd_daemon_new(&sim->d, cfg, &opts);
    if (rc != 0) {
        goto fail;
    }
    /* The daemon object is ours to end: a finished simulation does not stay up to serve. */
    sim->d->cfg.exit_when_done = true;
    dim = sim->d->store.dim;
    if (sim->d->train == NULL) {
        pd_log_err("paramd-sim needs a model with samples ([model] type = none has none)");
        rc = PD_ECONFIG;
        goto fail;
    }
    rc = pd_task_ctx_init(&sim->ctx, &sim->d->model, sim->d->train, sim->d->test, 1);
    if (rc != 0) {
        goto fail;
    }
    sim->ctx_ready = true;
    sim->deliver = malloc(dim * sizeof(double));
    sim->scratch = malloc(dim * sizeof(double));
    sim->full = malloc(dim * sizeof(double));
    if (sim->deliver == NULL || sim->scratch == NULL || sim->full == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < sim->n; i++) {
        sim_worker_t *w = &sim->w[i];
        w->rid_len = (size_t)snprintf(w->rid, sizeof(w->rid), "sim-%zu", i + 1);
        w->tau = tau[i];
        w->out = malloc(dim * sizeof(double));
        if (w->out == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    if (sim->d->model.kind == PD_MODEL_QUADRATIC && sim->d->optim.reg.kind == PD_REG_NONE) {
        rc = pd_quad_solve(&sim->d->model, sim->d->train, NULL, &sim->fstar);
        if (rc != 0) {
            pd_log_err("cannot solve the quadratic for f*: %s", pd_strerror(rc));
            goto fail;
        }
        sim->has_fstar = true;
    }
    if (cfg->sim_log[0] != '\0') {
        sim->log = fopen(cfg->sim_log, "w");
        if (sim->log == NULL) {
            rc = -errno;
            pd_log_err("cannot open [sim] log %s: %s", cfg->sim_log, pd_strerror(rc));
            goto fail;
        }
        sim->log_owned = true;
    } else {
        sim->log = stdout;
    }
    free(tau);
    *out = sim;
    return 0;
fail:
    free(tau);
    pd_sim_free(sim);
    return rc;
}

/* All n workers join and say READY before the job starts, so the first round already sees
 * every worker (a real job whose workers connected before it began). READY is dispatched
 * while the daemon is still STARTING, so nothing is scheduled (and no evaluation round starts:
 * the log evaluates in process); then the daemon runs and every worker is offered work in id
 * order. */
static int join_all(pd_sim_t *sim)
{
    pd_daemon_t *d = sim->d;
    pd_msg_t m;
    int rc;

    d->state = PD_STATE_RUNNING; /* HELLO is only accepted from a running job */
    for (size_t i = 0; i < sim->n; i++) {
        pd_msg_init(&m, PD_MSG_HELLO);
        m.has_hello = true;
        snprintf(m.hello.name, sizeof(m.hello.name), "%s", sim->w[i].rid);
        snprintf(m.hello.host, sizeof(m.hello.host), "simulated");
        snprintf(m.hello.software, sizeof(m.hello.software), "paramd-sim %s", PACKAGE_VERSION);
        m.hello.cores = 1;
        m.hello.threads = 1;
        m.hello.slowdown = sim->w[i].tau;
        if ((rc = dispatch(sim, &sim->w[i], &m, NULL)) != 0) {
            return rc;
        }
    }
    d->state = PD_STATE_STARTING;
    for (size_t i = 0; i < sim->n; i++) {
        pd_msg_init(&m, PD_MSG_READY);
        m.job_id = d->job.job_id;
        if ((rc = dispatch(sim, &sim->w[i], &m, NULL)) != 0) {
            return rc;
        }
    }
    if (pd_sessions_count_ready(&d->sessions) != sim->n) {
        pd_log_err("sim: %zu of %zu simulated workers joined", pd_sessions_count_ready(&d->sessions),
                   sim->n);
        return PD_ESTATE;
    }
    d->state = PD_STATE_RUNNING;
    d->start_ms = 0;
    d->training_begun = true; /* every simulated worker is ready at time 0 */
    d->training_start_ms = 0;
    pd_log_info("simulating %zu workers: job %016" PRIx64 " method=%s model=%s dim=%zu samples=%zu",
                sim->n, d->job.job_id, d->method->name, pd_model_kind_name(d->model.kind),
                d->store.dim, d->train->m);
    pd_sched_kick(d);
    return sim->error;
}

int pd_sim_run(pd_sim_t *sim)
{
    pd_daemon_t *d = sim->d;
    const pd_config_t *c = &d->cfg;
    uint64_t every = (uint64_t)c->sim_log_every;
    int rc;

    rc = join_all(sim);
    if (rc != 0) {
        pd_log_err("sim: the workers could not join: %s", pd_strerror(rc));
        return 1;
    }
    write_log(sim, "start");
    while (d->state == PD_STATE_RUNNING) {
        sim_worker_t *w;
        uint64_t updates;

        if (sim->heap_n == 0) {
            pd_daemon_stop(d, "no simulated worker has work", 1);
            break;
        }
        w = &sim->w[sim->heap[0]];
        if (c->sim_max_time > 0 && w->finish > c->sim_max_time) {
            sim->now = c->sim_max_time;
            pd_daemon_stop(d, "[sim] max_time reached", 0);
            break;
        }
        heap_pop(sim);
        sim->now = w->finish;
        sim->events++;
        w->busy = false;
        /* The worker may get its next task inside the dispatch, which would overwrite w->out:
         * deliver from the spare buffer and give the worker the other one. */
        double *v = w->out;
        w->out = sim->deliver;
        sim->deliver = v;
        rc = dispatch(sim, w, &w->res, w->res.n_frames > 0 ? sim->deliver : NULL);
        if (rc != 0 || sim->error != 0) {
            pd_daemon_stop(d, "the simulation failed", 1);
            break;
        }
        /* One result applies at most one update, so checking after each event sees them all. */
        updates = (uint64_t)d->metrics.updates_total;
        if (updates != sim->logged_updates && updates % every == 0) {
            write_log(sim, NULL);
        }
    }
    if (write_log(sim, "done") != 0 || fflush(sim->log) != 0) {
        pd_log_err("cannot write the [sim] log");
        return 1;
    }
    if (sim->error != 0 && d->exit_code == 0) {
        return 1;
    }
    return d->exit_code;
}
