/* paramd_driver.c - the paramd side of bench/compare-pslite: starts a paramd (bench_daemon.c)
 * whose job matches the ps-lite driver's server (a plain float64 vector of CMP_DIM values,
 * async-sgd with sgd and a tiny step), joins it through the public client
 * (paramd/client.h), runs the cells of workloads.h and prints one "result" line per cell,
 * the format of driver.cc. The daemon is spawned before any zmq context exists. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_daemon.h"
#include "paramd/client.h"
#include "workloads.h"

#define PROG "paramd-driver"

/* One cell's state. keys is used by workload (iv) only. */
typedef struct cell_state {
    pd_client_t *client;
    const cmp_cell_t *cell;
    double *grad;          /* n values, pushed */
    double *out;           /* n values, pulled into (one buffer: replies come in order) */
    uint64_t *keys;        /* n keys of cmp_key() */
    uint64_t version;      /* of the last ACK, pushed back as "computed at" */
    bool push_at[CMP_MAX_DEPTH]; /* kind of each request in flight, by ring slot */
} cell_state_t;

static bool is_push(const cmp_cell_t *cell, uint64_t seq)
{
    return cell->op == CMP_PUSH || (cell->op == CMP_MIXED && seq % 2 == 0);
}

static int check_ack(cell_state_t *st, const pd_client_ack_t *ack)
{
    if (ack->status != PD_CLIENT_APPLIED) {
        fprintf(stderr, PROG ": push not applied (status %d): %s\n", (int)ack->status,
                ack->reason);
        return -EPROTO;
    }
    st->version = ack->version;
    return 0;
}

/* Workload (iv) at depth 1: one blocking request naming the keys of cmp_key(), as ps-lite
 * does. */
static int iv_request(cell_state_t *st, bool push)
{
    const uint64_t n = st->cell->n;
    pd_client_ack_t ack;
    uint64_t v = PD_CLIENT_NO_VERSION;
    int rc;

    /* explicit keys, as ps-lite sends them */
    if (push) {
        rc = pd_client_push_keys(st->client, st->keys, n, st->grad, st->version, &ack);
        return rc != 0 ? rc : check_ack(st, &ack);
    }
    return pd_client_pull_keys(st->client, st->keys, n, st->out, &v, NULL);
}

/* Start request number seq; pulls always ask for data (no held version), as ps-lite's do. */
static int issue(cell_state_t *st, uint64_t seq)
{
    const cmp_cell_t *cell = st->cell;
    bool push = is_push(cell, seq);

    st->push_at[seq % (uint64_t)cell->depth] = push;
    if (push) {
        return pd_client_push_send(st->client, 0, cell->n, st->grad, st->version);
    }
    return pd_client_pull_send(st->client, 0, cell->n, PD_CLIENT_NO_VERSION);
}

/* Take the reply to request number seq (the oldest in flight). */
static int complete(cell_state_t *st, uint64_t seq)
{
    pd_client_ack_t ack;
    uint64_t v;
    int rc;

    if (st->push_at[seq % (uint64_t)st->cell->depth]) {
        rc = pd_client_push_recv(st->client, &ack);
        return rc != 0 ? rc : check_ack(st, &ack);
    }
    return pd_client_pull_recv(st->client, st->out, st->cell->n, &v, NULL);
}

/* One request of any cell, waited for (the warm-up). */
static int one_request(cell_state_t *st, uint64_t seq)
{
    int rc;

    if (st->cell->sparse_keys) {
        return iv_request(st, is_push(st->cell, seq));
    }
    if ((rc = issue(st, seq)) != 0) {
        return rc;
    }
    return complete(st, seq);
}

/* Keep cell->depth requests in flight for budget_s after the warm-up, taking replies in the
 * order sent: the loop of driver.cc. */
static int run_cell(cell_state_t *st, double budget_s, uint64_t *done, double *seconds)
{
    const cmp_cell_t *cell = st->cell;
    uint64_t sent = 0, head = 0;
    int rc;

    for (uint64_t w = 0; w < CMP_WARMUP_REQUESTS; w++) {
        if ((rc = one_request(st, w)) != 0) {
            return rc;
        }
    }
    double t0 = bench_now_s(), stop_at = t0 + budget_s;
    if (cell->sparse_keys) {
        /* depth 1 by construction: the key-list calls have no pipelined form */
        while (bench_now_s() < stop_at) {
            if ((rc = iv_request(st, is_push(cell, head))) != 0) {
                return rc;
            }
            head++;
        }
    } else {
        for (;;) {
            bool more = bench_now_s() < stop_at;
            while (more && sent - head < (uint64_t)cell->depth) {
                if ((rc = issue(st, sent)) != 0) {
                    return rc;
                }
                sent++;
            }
            if (sent == head) {
                break;
            }
            if ((rc = complete(st, head)) != 0) {
                return rc;
            }
            head++;
        }
    }
    *seconds = bench_now_s() - t0;
    *done = head;
    /* a light check that pulls returned the model: finite values */
    if (cell->op != CMP_PUSH) {
        for (uint32_t i = 0; i < cell->n; i++) {
            if (!(fabs(st->out[i]) < 1.0)) {
                fprintf(stderr, PROG ": pulled value %u is %g\n", i, st->out[i]);
                return -EPROTO;
            }
        }
    }
    return 0;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: paramd-driver [--seconds S] [--paramd PATH]\n"
                "  The paramd side of bench/compare-pslite (the script starts it).\n"
                "  --seconds S   measuring time per cell (default 2)\n"
                "  --paramd PATH the daemon to start (default: $PARAMD)\n");
}

int main(int argc, char **argv)
{
    char pbuf[4096];
    const char *paramd = NULL;
    double budget_s = 2.0;
    bench_daemon_t dp = {0};
    cell_state_t st = {0};
    int rc = 0, exit_code = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            budget_s = strtod(argv[++i], NULL);
            if (!(budget_s > 0 && budget_s < 600)) {
                usage(stderr);
                return 2;
            }
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
    paramd = bench_find_paramd(paramd, argv[0], pbuf, sizeof(pbuf), PROG);
    if (paramd == NULL) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    /* The job of bench/pslite/README.md: no model, a plain vector; async-sgd applies every
     * push (max_staleness huge, pushes carry the last ACK's version) with sgd at the step of
     * the ps-lite server. The largest request (1 MiB of values) fits max_message_size. */
    {
        char rest[512];
        snprintf(rest, sizeof(rest),
                 "max_message_size = 8M\nworker_timeout = 1h\n"
                 "[job]\nmethod = async-sgd\nmax_staleness = 1000000\neval_interval = 0\n"
                 "[model]\ntype = none\ndim = %u\n"
                 "[optimizer]\ntype = sgd\nlearning_rate = %g\n",
                 CMP_DIM, CMP_LR);
        rc = bench_daemon_start(&dp, paramd, PROG, rest);
    }
    if (rc != 0) {
        goto out;
    }
    st.grad = aligned_alloc(64, CMP_DIM * sizeof(double));
    st.out = aligned_alloc(64, CMP_DIM * sizeof(double));
    st.keys = malloc(CMP_DIM * sizeof(uint64_t));
    if (st.grad == NULL || st.out == NULL || st.keys == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < CMP_DIM; i++) {
        st.grad[i] = cmp_grad(i);
        st.keys[i] = cmp_key(i);
    }
    rc = pd_client_connect(&st.client, dp.endpoint, "bench-compare-pslite", 10000);
    if (rc != 0) {
        fprintf(stderr, PROG ": cannot join paramd at %s: %s\n", dp.endpoint,
                pd_client_strerror(rc));
        goto out;
    }
    if (pd_client_dim(st.client) != CMP_DIM) {
        fprintf(stderr, PROG ": paramd has %" PRIu64 " keys, want %u\n",
                pd_client_dim(st.client), CMP_DIM);
        rc = -EPROTO;
        goto out;
    }
    for (size_t c = 0; c < CMP_N_CELLS; c++) {
        uint64_t done = 0;
        double seconds = 0;
        st.cell = &cmp_cells[c];
        rc = run_cell(&st, budget_s, &done, &seconds);
        if (rc != 0) {
            fprintf(stderr, PROG ": cell %s failed: %s (%s)\n", st.cell->name,
                    pd_client_strerror(rc), pd_client_last_error(st.client));
            goto out;
        }
        printf("result %s %" PRIu64 " %.6f\n", st.cell->name, done, seconds);
        fflush(stdout);
    }
    exit_code = 0;
out:
    if (rc != 0) {
        exit_code = 1;
    }
    pd_client_free(st.client);
    if (dp.pid > 0 && bench_daemon_stop(&dp, PROG) != 0) {
        exit_code = 1;
    }
    if (exit_code != 0) {
        bench_daemon_print_log(&dp);
    }
    bench_daemon_cleanup(&dp, exit_code != 0, NULL);
    free(st.keys);
    free(st.out);
    free(st.grad);
    return exit_code;
}
