/* wire.c - `make bench`: round-trip latency and bandwidth of libparamd-client against a real
 * paramd daemon, next to the same traffic over raw ZeroMQ (a ROUTER echo thread in this
 * process), for pull and push of 100 B, 64 KiB and 1 MiB blocks at 1 and 16 requests in flight.
 * A last table puts (iv) 100,000 values at explicit keys (pd_client_pull_keys/push_keys) next
 * to the dense range of as many values, both against paramd in the same run.
 *
 * Fairness of the reference: both sides use a DEALER client and a ROUTER server with one I/O
 * thread each, a header frame plus a data frame, one copy into or out of the caller's buffer on
 * the client (zmq_recv/zmq_send here, memcpy in the library), and zero-copy replies on the
 * server (paramd sends pull data from its snapshot). So the ratio measures paramd's own work:
 * protobuf headers, validation, dispatch, the optimiser step of a push, and the event loop.
 * The daemon is spawned before any zmq context exists, so no thread is ever forked.
 *
 * At depth 1 the library's push is its blocking call, pd_client_push (what a caller with one
 * request at a time uses; from 128 KiB on it lends the block to libzmq for the call instead
 * of copying it); at depth 16 the pipelined pd_client_push_send, which copies.
 * "push0" rows push with pd_client_push_send_nocopy (the library lends the caller's block to
 * libzmq instead of copying it) against the same copying raw push: its ratio to raw, next to
 * the "push" row's, shows what the copy costs. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_daemon.h"
#include "paramd/client.h"

#define DIM 131072u       /* doubles: the 1 MiB block is the whole vector */
#define MAX_DEPTH 16
#define MAX_SAMPLES 2000000u
#define WARMUP_OPS 10
#define SLICES 4         /* paramd and raw alternate this many times per cell */
#define RAW_HDR 16        /* raw reference header: reply bytes, sequence */
#define N_KEYS 100000u    /* (iv): values per key-list request, spread over the DIM keys */

/* Targets of the performance issue, printed as information only. */
#define TARGET_LATENCY_RATIO 1.25
#define TARGET_BANDWIDTH_RATIO 0.85

typedef enum { OP_PULL, OP_PUSH, OP_PUSH_NOCOPY } op_t;
static const char *const op_names[] = {"pull", "push", "push0"};

typedef struct result {
    size_t ops;
    double seconds;
    double mean_us, p50_us, p99_us;
    double cpu_us; /* CPU time of client and server (all threads) per op */
} result_t;

/* One transport under test: send one request, take the oldest reply. */
typedef struct transport {
    const char *name;
    int (*send)(struct transport *t, op_t op, size_t n);
    int (*recv)(struct transport *t, op_t op, size_t n);
    pd_client_t *client;   /* paramd */
    uint64_t version;      /* paramd: version of the last ACK, pushed back as "computed at" */
    void *sock;            /* raw */
    clockid_t peer_cpu;    /* paramd: the daemon's CPU clock (its own process) */
    bool has_peer;
    double *buf;           /* caller's block: pull destination / push source */
    unsigned long lent;    /* paramd: nocopy pushes sent, ... */
    atomic_ulong released; /* ... and released by libzmq (on its I/O thread) */
    const uint64_t *keys;  /* key lists: the keys of every request */
    bool blocking;         /* paramd, depth 1: a push is pd_client_push, the whole trip ... */
    int blocking_rc;       /* ... whose outcome the next recv returns */
} transport_t;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) {
        return NAN;
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void)
{
    return bench_now_s();
}

/* CPU seconds used so far by both ends of a transport. This process holds the client and
 * the echo server, which sleep while the other transport runs, so the sum is that
 * transport's cost, largely independent of what else the machine is doing. */
static double cpu_s(const struct transport *t);

static double cpu_s(const transport_t *t)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID) + (t->has_peer ? clock_s(t->peer_cpu) : 0);
}

/* ---------------------------------------------------------------- paramd transport */

/* A lent block comes back: counted only, since the block is never written while pushing. */
static void on_block_released(void *grad, void *hint)
{
    (void)grad;
    atomic_fetch_add((atomic_ulong *)hint, 1);
}

/* The ACK of a push: applied, and its version is the next push's "computed at". */
static int take_ack(transport_t *t, int rc, const pd_client_ack_t *ack);

static int pd_send(transport_t *t, op_t op, size_t n)
{
    if (op == OP_PULL) {
        return pd_client_pull_send(t->client, 0, n, PD_CLIENT_NO_VERSION);
    }
    if (op == OP_PUSH_NOCOPY) {
        int rc = pd_client_push_send_nocopy(t->client, 0, n, t->buf, t->version,
                                            on_block_released, &t->released);
        t->lent += rc == 0;
        return rc;
    }
    if (t->blocking) {
        pd_client_ack_t ack;
        t->blocking_rc = take_ack(t, pd_client_push(t->client, 0, n, t->buf, t->version, &ack),
                                  &ack);
        return 0;
    }
    return pd_client_push_send(t->client, 0, n, t->buf, t->version);
}


static int pd_recv(transport_t *t, op_t op, size_t n)
{
    pd_client_ack_t ack;
    uint64_t v;

    if (op == OP_PULL) {
        return pd_client_pull_recv(t->client, t->buf, n, &v, NULL);
    }
    if (t->blocking && op == OP_PUSH) {
        return t->blocking_rc;
    }
    return take_ack(t, pd_client_push_recv(t->client, &ack), &ack);
}

static int take_ack(transport_t *t, int rc, const pd_client_ack_t *ack)
{
    if (rc != 0) {
        return rc;
    }
    if (ack->status != PD_CLIENT_APPLIED) {
        fprintf(stderr, "wire: push not applied (status %d): %s\n", (int)ack->status,
                ack->reason);
        return -EPROTO;
    }
    t->version = ack->version;
    return 0;
}

/* Key lists have no pipelined form: the send makes the whole round trip (depth 1 only). */
static int keys_send(transport_t *t, op_t op, size_t n)
{
    pd_client_ack_t ack;
    uint64_t v = PD_CLIENT_NO_VERSION;

    if (op == OP_PULL) {
        return pd_client_pull_keys(t->client, t->keys, n, t->buf, &v, NULL);
    }
    return take_ack(t, pd_client_push_keys(t->client, t->keys, n, t->buf, t->version, &ack), &ack);
}

static int keys_recv(transport_t *t, op_t op, size_t n)
{
    (void)t;
    (void)op;
    (void)n;
    return 0;
}

/* ---------------------------------------------------------------- raw zmq transport */

/* Request: [hdr: u64 reply bytes, u64 seq] [payload for a push]. Reply: [hdr] [payload of
 * the requested bytes for a pull]. */
static int raw_send(transport_t *t, op_t op, size_t n)
{
    uint64_t hdr[2] = {op == OP_PULL ? n * sizeof(double) : 0, 0};

    if (op == OP_PULL) {
        return zmq_send(t->sock, hdr, sizeof(hdr), 0) < 0 ? -zmq_errno() : 0;
    }
    if (zmq_send(t->sock, hdr, sizeof(hdr), ZMQ_SNDMORE) < 0 ||
        zmq_send(t->sock, t->buf, n * sizeof(double), 0) < 0) {
        return -zmq_errno();
    }
    return 0;
}

static int raw_recv(transport_t *t, op_t op, size_t n)
{
    uint64_t hdr[2];
    int more = 0;
    size_t sz = sizeof(more);

    if (zmq_recv(t->sock, hdr, sizeof(hdr), 0) < 0) {
        return -zmq_errno();
    }
    if (zmq_getsockopt(t->sock, ZMQ_RCVMORE, &more, &sz) != 0) {
        return -zmq_errno();
    }
    if (op == OP_PULL) {
        int got;
        if (!more) {
            return -EPROTO;
        }
        got = zmq_recv(t->sock, t->buf, n * sizeof(double), 0);
        if (got < 0) {
            return -zmq_errno();
        }
        if ((size_t)got != n * sizeof(double)) {
            return -EPROTO;
        }
    } else if (more) {
        return -EPROTO;
    }
    return 0;
}

/* The echo server: owns `sock` once started; stops when its context is shut down. */
typedef struct echo {
    void *ctx;
    void *sock;
    unsigned char *block; /* DIM doubles, replies point into it (zero-copy, never written) */
    pthread_t thread;
} echo_t;

static void *echo_main(void *arg)
{
    echo_t *e = arg;

    for (;;) {
        unsigned char rid[256];
        uint64_t hdr[2] = {0, 0};
        int more = 0;
        size_t sz = sizeof(more);
        int n = zmq_recv(e->sock, rid, sizeof(rid), 0);
        if (n < 0) {
            break; /* ETERM: the bench is over */
        }
        if (zmq_recv(e->sock, hdr, sizeof(hdr), 0) < 0) {
            break;
        }
        /* Take (and drop) the pushed payload as a zmq_msg_t, as paramd's receive does. */
        while (zmq_getsockopt(e->sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, e->sock, 0) < 0) {
                zmq_msg_close(&part);
                goto out;
            }
            zmq_msg_close(&part);
        }
        uint64_t reply = hdr[0] <= (uint64_t)DIM * sizeof(double) ? hdr[0] : 0;
        if (zmq_send(e->sock, rid, (size_t)n, ZMQ_SNDMORE) < 0 ||
            zmq_send(e->sock, hdr, sizeof(hdr), reply > 0 ? ZMQ_SNDMORE : 0) < 0) {
            break;
        }
        if (reply > 0) {
            zmq_msg_t part;
            if (zmq_msg_init_data(&part, e->block, (size_t)reply, NULL, NULL) != 0 ||
                zmq_msg_send(&part, e->sock, 0) < 0) {
                zmq_msg_close(&part);
                break;
            }
        }
    }
out:
    zmq_close(e->sock);
    return NULL;
}

/* ---------------------------------------------------------------- measurement */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Samples of one transport in one cell, gathered over several slices. */
typedef struct samples {
    double *lat; /* MAX_SAMPLES round trips, us */
    size_t n;
    double seconds;
    double cpu_s;
} samples_t;

/* Keep `depth` requests in flight for `budget_s` (after a short warm-up), timing each request
 * from just before its send to its reply; appends to `sm`. */
static int run_slice(transport_t *t, op_t op, size_t n, int depth, double budget_s,
                     samples_t *sm)
{
    double sent_at[MAX_DEPTH];
    size_t head = 0, inflight = 0;
    double t0, stop_at;
    int rc;

    t->blocking = depth == 1;
    for (int i = 0; i < WARMUP_OPS; i++) {
        if ((rc = t->send(t, op, n)) != 0 || (rc = t->recv(t, op, n)) != 0) {
            return rc;
        }
    }
    double c0 = cpu_s(t);
    t0 = now_s();
    stop_at = t0 + budget_s;
    for (;;) {
        double now = now_s();
        bool more = now < stop_at;
        while (more && inflight < (size_t)depth && sm->n + inflight < MAX_SAMPLES) {
            sent_at[(head + inflight) % MAX_DEPTH] = now;
            if ((rc = t->send(t, op, n)) != 0) {
                return rc;
            }
            inflight++;
            now = now_s();
        }
        if (inflight == 0) {
            break;
        }
        if ((rc = t->recv(t, op, n)) != 0) {
            return rc;
        }
        sm->lat[sm->n++] = (now_s() - sent_at[head]) * 1e6;
        head = (head + 1) % MAX_DEPTH;
        inflight--;
    }
    sm->seconds += now_s() - t0;
    sm->cpu_s += cpu_s(t) - c0;
    return 0;
}

static void summarise(samples_t *sm, result_t *res)
{
    double sum = 0;

    for (size_t i = 0; i < sm->n; i++) {
        sum += sm->lat[i];
    }
    res->ops = sm->n;
    res->seconds = sm->seconds;
    res->cpu_us = sm->n > 0 ? sm->cpu_s * 1e6 / (double)sm->n : NAN;
    res->mean_us = sm->n > 0 ? sum / (double)sm->n : NAN;
    qsort(sm->lat, sm->n, sizeof(double), cmp_double);
    res->p50_us = sm->n > 0 ? sm->lat[sm->n / 2] : NAN;
    res->p99_us = sm->n > 0 ? sm->lat[(size_t)((double)(sm->n - 1) * 0.99)] : NAN;
}

/* Samples of one cell: `slices` alternations of the two transports, summarised. */
static int run_cell(transport_t *a, transport_t *b, op_t op, size_t n, int depth, double budget,
                    samples_t *sa, samples_t *sb, result_t *ra, result_t *rb)
{
    int rc;

    /* Alternate the two transports in slices, so drift of the machine (other load,
     * frequency) hits both alike. */
    sa->n = sb->n = 0;
    sa->seconds = sb->seconds = 0;
    sa->cpu_s = sb->cpu_s = 0;
    for (int slice = 0; slice < SLICES; slice++) {
        if ((rc = run_slice(a, op, n, depth, budget / SLICES, sa)) != 0) {
            fprintf(stderr, "wire: %s %s failed: %s\n", a->name, op_names[op],
                    pd_client_strerror(rc));
            return rc;
        }
        if ((rc = run_slice(b, op, n, depth, budget / SLICES, sb)) != 0) {
            fprintf(stderr, "wire: %s %s failed: %s\n", b->name, op_names[op],
                    b->client != NULL ? pd_client_strerror(rc) : zmq_strerror(-rc));
            return rc;
        }
    }
    summarise(sa, ra);
    summarise(sb, rb);
    return 0;
}

/* (iv): N_KEYS values at keys spread over the vector (every 1.31st key) against the dense
 * range [0, N_KEYS), one request in flight, on the same daemon and client. */
static int keys_table(transport_t *range, double budget, const char *only, samples_t *sa,
                      samples_t *sb)
{
    transport_t tk = *range;
    uint64_t *keys = malloc(N_KEYS * sizeof(uint64_t));
    int rc = 0;

    if (keys == NULL) {
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < N_KEYS; i++) {
        keys[i] = i * DIM / N_KEYS;
    }
    tk.name = "paramd keys";
    tk.send = keys_send;
    tk.recv = keys_recv;
    tk.keys = keys;
    printf("\n(iv) %u values as explicit keys (spread over %u) vs the dense range of %u, depth 1\n",
           N_KEYS, DIM, N_KEYS);
    printf("%-4s | %7s %7s %7s %6s | %7s %7s %7s %6s | %5s %5s %5s\n", "op", "p50", "p99",
           "ops/s", "cpu", "p50", "p99", "ops/s", "cpu", "p50", "ops", "cpu");
    printf("%-4s | %-29s | %-29s | %s\n", "", "keys (us, us, /s, us/op)",
           "range (us, us, /s, us/op)", "keys / range");
    for (int oi = 0; oi < 2; oi++) {
        op_t op = oi == 0 ? OP_PULL : OP_PUSH;
        result_t rk, rr;
        char tag[32];

        snprintf(tag, sizeof(tag), "keys/%s", op == OP_PULL ? "pull" : "push");
        if (only != NULL && strncmp(tag, only, strlen(only)) != 0) {
            continue;
        }
        rc = run_cell(&tk, range, op, N_KEYS, 1, budget, sa, sb, &rk, &rr);
        range->version = tk.version > range->version ? tk.version : range->version;
        if (rc != 0) {
            break;
        }
        double ops_k = (double)rk.ops / rk.seconds, ops_r = (double)rr.ops / rr.seconds;
        printf("%-4s | %7.1f %7.1f %7.0f %6.1f | %7.1f %7.1f %7.0f %6.1f | %5.2f %5.2f %5.2f\n",
               op == OP_PULL ? "pull" : "push", rk.p50_us, rk.p99_us, ops_k, rk.cpu_us,
               rr.p50_us, rr.p99_us, ops_r, rr.cpu_us, rk.p50_us / rr.p50_us, ops_k / ops_r,
               rk.cpu_us / rr.cpu_us);
        fflush(stdout);
    }
    free(keys);
    return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to)
{
    fprintf(to, "usage: wire [--seconds S] [--only OP[/SIZE[/DEPTH]]] [--paramd PATH]\n"
                "  Round trip and bandwidth of libparamd-client against paramd vs raw ZeroMQ.\n"
                "  --seconds S   measuring time per cell and transport (default 0.8)\n"
                "  --only SPEC   run only the cells whose OP/SIZE/DEPTH starts with SPEC,\n"
                "                e.g. push, pull/1MiB, push/100B/16, or keys/pull, keys/push\n"
                "                for the table of (iv) explicit keys (for profiling)\n"
                "  --paramd PATH the daemon to start (default: $PARAMD, else\n"
                "                ../server/paramd relative to this program)\n");
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {13, 8192, DIM}; /* doubles: 104 B, 64 KiB, 1 MiB */
    static const char *const size_names[] = {"100 B", "64 KiB", "1 MiB"};
    static const char *const size_tags[] = {"100B", "64KiB", "1MiB"};
    static const int depths[] = {1, 16};
    char pbuf[4096];
    const char *paramd = NULL;
    double budget = 0.8;
    const char *only = NULL;
    bench_daemon_t dp = {0};
    echo_t echo = {0};
    bool echo_started = false;
    void *raw_ctx = NULL;
    transport_t tp = {.name = "paramd", .send = pd_send, .recv = pd_recv};
    transport_t tr = {.name = "raw", .send = raw_send, .recv = raw_recv};
    samples_t sp = {0}, sr = {0};
    double worst_lat = NAN, worst_bw = NAN; /* fmax/fmin skip the NaN start */
    int rc = 0, exit_code = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            budget = strtod(argv[++i], NULL);
            if (!(budget > 0 && budget < 600)) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--paramd") == 0 && i + 1 < argc) {
            paramd = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    paramd = bench_find_paramd(paramd, argv[0], pbuf, sizeof(pbuf), "wire");
    if (paramd == NULL) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    /* Before any zmq context: posix_spawn may fork. */
    /* max_staleness is huge and pushes carry the last ACK's version, so no push is dropped;
     * the tiny step keeps the vector finite however long the bench runs. */
    {
        char rest[512];
        snprintf(rest, sizeof(rest),
                 "max_message_size = 8M\nworker_timeout = 1h\n"
                 "[job]\nmethod = async-sgd\nmax_staleness = 1000000\neval_interval = 0\n"
                 "[model]\ntype = none\ndim = %u\n"
                 "[optimizer]\ntype = sgd\nlearning_rate = 1e-12\n",
                 DIM);
        rc = bench_daemon_start(&dp, paramd, "wire", rest);
    }
    if (rc != 0) {
        goto out;
    }
    sp.lat = malloc(MAX_SAMPLES * sizeof(double));
    sr.lat = malloc(MAX_SAMPLES * sizeof(double));
    tp.buf = aligned_alloc(64, DIM * sizeof(double));
    tr.buf = aligned_alloc(64, DIM * sizeof(double));
    echo.block = aligned_alloc(64, DIM * sizeof(double));
    if (sp.lat == NULL || sr.lat == NULL || tp.buf == NULL || tr.buf == NULL || echo.block == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < DIM; i++) {
        tp.buf[i] = tr.buf[i] = 1e-9 * (double)(i % 7);
    }
    memset(echo.block, 0, DIM * sizeof(double));

    rc = pd_client_connect(&tp.client, dp.endpoint, "bench-wire", 10000);
    if (rc != 0) {
        fprintf(stderr, "wire: cannot join paramd at %s: %s\n", dp.endpoint,
                pd_client_strerror(rc));
        goto out;
    }
    if (clock_getcpuclockid(dp.pid, &tp.peer_cpu) == 0 && !isnan(clock_s(tp.peer_cpu))) {
        tp.has_peer = true;
    } else {
        fprintf(stderr, "wire: cannot read paramd's CPU clock; cpu columns count the client only\n");
    }
    if (pd_client_dim(tp.client) < DIM) {
        fprintf(stderr, "wire: paramd has %" PRIu64 " keys, need %u\n",
                pd_client_dim(tp.client), DIM);
        rc = -EPROTO;
        goto out;
    }

    /* The raw reference: an echo ROUTER in its own context (own I/O thread, like the daemon)
     * and a DEALER client in another. */
    {
        char ep[256];
        size_t ep_len = sizeof(ep);
        echo.ctx = zmq_ctx_new();
        raw_ctx = zmq_ctx_new();
        if (echo.ctx == NULL || raw_ctx == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        echo.sock = zmq_socket(echo.ctx, ZMQ_ROUTER);
        tr.sock = zmq_socket(raw_ctx, ZMQ_DEALER);
        int linger = 0;
        if (echo.sock == NULL || tr.sock == NULL ||
            zmq_setsockopt(echo.sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
            zmq_setsockopt(tr.sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
            zmq_bind(echo.sock, "tcp://127.0.0.1:*") != 0 ||
            zmq_getsockopt(echo.sock, ZMQ_LAST_ENDPOINT, ep, &ep_len) != 0 ||
            zmq_connect(tr.sock, ep) != 0) {
            rc = -zmq_errno();
            fprintf(stderr, "wire: raw zmq setup: %s\n", zmq_strerror(-rc));
            goto out;
        }
        /* The socket moves to the echo thread; pthread_create is the memory barrier. */
        rc = pthread_create(&echo.thread, NULL, echo_main, &echo);
        if (rc != 0) {
            rc = -rc;
            goto out;
        }
        echo_started = true;
    }

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("paramd wire benchmark: libparamd-client -> paramd (%s) vs raw ZeroMQ %d.%d.%d "
           "DEALER/ROUTER echo\n",
           dp.endpoint, ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH);
    printf("machine: %ld CPUs online (nproc); %.1f s per cell and transport; loopback TCP\n",
           ncpu, budget);
    printf("note: client, daemon and echo server share these CPUs, so on few cores the\n"
           "      numbers are noisy; compare ratios of runs made back to back.\n\n");
    printf("%-15s | %-45s | %-45s | %s\n", "", "paramd (libparamd-client -> daemon)",
           "raw zmq (DEALER -> ROUTER echo)", "paramd / raw");
    printf("%-5s %-6s %2s | %7s %7s %7s %7s %6s %6s | %7s %7s %7s %7s %6s %6s | %5s %5s %5s\n",
           "op", "size", "dep", "mean", "p50", "p99", "ops/s", "GB/s", "cpu", "mean", "p50", "p99",
           "ops/s", "GB/s", "cpu", "p50", "bw", "cpu");
    printf("%-15s | %7s %7s %7s %7s %6s %6s | %7s %7s %7s %7s %6s %6s |\n", "", "us", "us", "us",
           "", "", "us/op", "us", "us", "us", "", "", "us/op");

    for (op_t op = OP_PULL; op <= OP_PUSH_NOCOPY; op++) {
        /* Zero-copy pays off for large blocks only: no 100 B row. */
        for (size_t si = op == OP_PUSH_NOCOPY; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            for (size_t di = 0; di < sizeof(depths) / sizeof(depths[0]); di++) {
                result_t rp, rr;
                double bytes = (double)(sizes[si] * sizeof(double));
                int depth = depths[di];
                char tag[64];

                snprintf(tag, sizeof(tag), "%s/%s/%d", op_names[op], size_tags[si], depth);
                if (only != NULL && strncmp(tag, only, strlen(only)) != 0) {
                    continue;
                }
                rc = run_cell(&tp, &tr, op, sizes[si], depth, budget, &sp, &sr, &rp, &rr);
                if (rc != 0) {
                    goto out;
                }
                double ops_p = (double)rp.ops / rp.seconds, ops_r = (double)rr.ops / rr.seconds;
                double lat_ratio = rp.p50_us / rr.p50_us, bw_ratio = ops_p / ops_r;
                printf("%-5s %-6s %2d | %7.1f %7.1f %7.1f %7.0f %6.3f %6.1f | %7.1f %7.1f %7.1f "
                       "%7.0f %6.3f %6.1f | %5.2f %5.2f %5.2f\n",
                       op_names[op], size_names[si], depth, rp.mean_us,
                       rp.p50_us, rp.p99_us, ops_p, ops_p * bytes / 1e9, rp.cpu_us, rr.mean_us,
                       rr.p50_us, rr.p99_us, ops_r, ops_r * bytes / 1e9, rr.cpu_us, lat_ratio,
                       bw_ratio, rp.cpu_us / rr.cpu_us);
                fflush(stdout);
                if (depth == 1) {
                    worst_lat = fmax(worst_lat, lat_ratio);
                }
                if (sizes[si] == DIM) {
                    worst_bw = fmin(worst_bw, bw_ratio);
                }
            }
        }
    }
    printf("\nmean/p50/p99: round trip from send to reply, per request; ops/s and GB/s: completed\n"
           "requests (block bytes only); cpu: CPU time of both ends, all threads, per request;\n"
           "push0: pd_client_push_send_nocopy against the same (copying) raw push.\n");
    printf("targets (information only; the bench does not fail on them):\n");
    printf("  round trip (p50), depth 1, every op and size: paramd <= %.2fx raw: worst %.2fx %s\n",
           TARGET_LATENCY_RATIO, worst_lat,
           isnan(worst_lat) ? "(not run)" : worst_lat <= TARGET_LATENCY_RATIO ? "PASS" : "MISS");
    printf("  bandwidth at 1 MiB, every op and depth:       paramd >= %.2fx raw: worst %.2fx %s\n",
           TARGET_BANDWIDTH_RATIO, worst_bw,
           isnan(worst_bw) ? "(not run)" : worst_bw >= TARGET_BANDWIDTH_RATIO ? "PASS" : "MISS");
    rc = keys_table(&tp, budget, only, &sp, &sr);
    if (rc != 0) {
        goto out;
    }
    exit_code = 0;
out:
    if (rc != 0) {
        exit_code = 1;
    }
    pd_client_free(tp.client);
    /* pd_client_free() returns only after libzmq released every lent block. */
    if (tp.lent != atomic_load(&tp.released)) {
        fprintf(stderr, "wire: %lu nocopy pushes but %lu releases\n", tp.lent,
                atomic_load(&tp.released));
        exit_code = 1;
    }
    if (tr.sock != NULL) {
        zmq_close(tr.sock);
    }
    if (echo_started) {
        zmq_ctx_shutdown(echo.ctx); /* the echo thread's blocking calls return ETERM */
        pthread_join(echo.thread, NULL);
    } else if (echo.sock != NULL) {
        zmq_close(echo.sock);
    }
    if (echo.ctx != NULL) {
        zmq_ctx_term(echo.ctx);
    }
    if (raw_ctx != NULL) {
        zmq_ctx_term(raw_ctx);
    }
    if (dp.pid > 0) {
        if (bench_daemon_stop(&dp, "wire") != 0) {
            exit_code = 1;
        } else {
            printf("paramd stopped with SIGTERM and exited 0\n");
        }
    }
    if (exit_code != 0) {
        bench_daemon_print_log(&dp);
    }
    bench_daemon_cleanup(&dp, exit_code != 0, NULL);
    free(echo.block);
    free(tr.buf);
    free(tp.buf);
    free(sr.lat);
    free(sp.lat);
    return exit_code;
}
