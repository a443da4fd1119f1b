/* memory.c - `make bench-memory`: the daemon's resident memory against the bytes of the state
 * it must hold. For each model size (default 10^6 and 10^8 parameters) and each optimiser
 * (sgd keeps x; momentum x and u; adam x, u and v: 8 bytes each per parameter), a
 * key-value job (`[model] type = none`) is started and its RSS read from /proc after the
 * start, after one pull of every key and after one push to every key (both in requests of
 * 2^20 values, as a client would), with the peak (VmHWM) over the run. Printed against the
 * state's bytes and the target of issue 13: RSS <= 1.5 x state + 50 MiB.
 * Exit status 1 when a request fails (not when a target is missed: this is a measurement). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_daemon.h"
#include "paramd/client.h"

#define CHUNK ((uint64_t)1 << 20) /* values per request: 8 MiB */
#define MAX_DIM 1000000000ull
#define MAX_SIZES 8

static const struct {
    const char *name;
    int arrays; /* vectors of dim doubles the optimiser's state holds */
} OPTIMIZERS[] = {{"sgd", 1}, {"momentum", 2}, {"adam", 3}};
#define N_OPTIMIZERS (sizeof(OPTIMIZERS) / sizeof(OPTIMIZERS[0]))

typedef struct row {
    uint64_t dim;
    const char *optimizer;
    double state_mib, started_mib, pulled_mib, pushed_mib, peak_mib;
} row_t;

/* Pull every key, then push a small gradient to every key, CHUNK values per request. */
static int touch_everything(pd_client_t *c, uint64_t dim, double *buf, double *after_pull,
                            pid_t pid)
{
    uint64_t version = PD_CLIENT_NO_VERSION;
    int rc = 0;

    for (uint64_t off = 0; off < dim && rc == 0; off += CHUNK) {
        uint64_t n = dim - off < CHUNK ? dim - off : CHUNK, v = PD_CLIENT_NO_VERSION;
        rc = pd_client_pull(c, off, n, buf + off, &v, NULL);
        version = v;
    }
    *after_pull = bench_proc_mib(pid, "VmRSS:");
    for (uint64_t i = 0; i < dim && rc == 0; i++) {
        buf[i] = 1e-6 * (double)(i % 7) - 3e-6;
    }
    for (uint64_t off = 0; off < dim && rc == 0; off += CHUNK) {
        uint64_t n = dim - off < CHUNK ? dim - off : CHUNK;
        pd_client_ack_t ack;
        rc = pd_client_push(c, off, n, buf + off, version, &ack);
        if (rc == 0 && ack.status != PD_CLIENT_APPLIED) {
            fprintf(stderr, "memory: a push was not applied: %s\n", ack.reason);
            rc = -EPROTO;
        }
        version = ack.version;
    }
    if (rc != 0) {
        fprintf(stderr, "memory: request failed: %s\n", pd_client_strerror(rc));
    }
    return rc;
}

static int run(const char *paramd, uint64_t dim, size_t opt, row_t *row)
{
    bench_daemon_t dp = {0};
    pd_client_t *c = NULL;
    double *buf = malloc(dim * sizeof(double));
    char rest[512];
    int rc;

    memset(row, 0, sizeof(*row));
    row->dim = dim;
    row->optimizer = OPTIMIZERS[opt].name;
    row->state_mib = (double)OPTIMIZERS[opt].arrays * (double)dim * 8.0 / 1048576.0;
    if (buf == NULL) {
        fprintf(stderr, "memory: cannot allocate the client's %" PRIu64 " values\n", dim);
        return -ENOMEM;
    }
    /* max_staleness is huge so that no push is dropped; tiny steps keep x finite */
    snprintf(rest, sizeof(rest),
             "worker_timeout = 1h\n"
             "[job]\nmethod = async-sgd\nmax_staleness = 1000000\neval_interval = 0\n"
             "[model]\ntype = none\ndim = %" PRIu64 "\n"
             "[optimizer]\ntype = %s\nlearning_rate = 1e-6\n",
             dim, OPTIMIZERS[opt].name);
    rc = bench_daemon_start(&dp, paramd, "memory", rest);
    if (rc != 0) {
        goto out;
    }
    row->started_mib = bench_proc_mib(dp.pid, "VmRSS:");
    rc = pd_client_connect(&c, dp.endpoint, "bench-memory", 10000);
    if (rc != 0) {
        fprintf(stderr, "memory: cannot connect: %s\n", pd_client_strerror(rc));
        goto stop;
    }
    rc = touch_everything(c, dim, buf, &row->pulled_mib, dp.pid);
    row->pushed_mib = bench_proc_mib(dp.pid, "VmRSS:");
    row->peak_mib = bench_proc_mib(dp.pid, "VmHWM:");
stop:
    pd_client_free(c);
    if (bench_daemon_stop(&dp, "memory") != 0 && rc == 0) {
        rc = -EIO;
    }
    bench_daemon_cleanup(&dp, rc != 0, NULL);
out:
    free(buf);
    return rc;
}

static int parse_dims(const char *s, uint64_t *dims, size_t *n)
{
    *n = 0;
    while (*s != '\0') {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || v < 1 || v > MAX_DIM || *n == MAX_SIZES || (*end != ',' && *end != 0)) {
            fprintf(stderr, "memory: --dims wants up to %d sizes of 1 .. %llu, comma-separated\n",
                    MAX_SIZES, MAX_DIM);
            return -EINVAL;
        }
        dims[(*n)++] = (uint64_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return *n > 0 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
    uint64_t dims[MAX_SIZES] = {1000000, 100000000};
    size_t n_dims = 2;
    const char *given = NULL, *paramd;
    char buf[4096];
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dims") == 0 && i + 1 < argc) {
            if (parse_dims(argv[++i], dims, &n_dims) != 0) {
                return 2;
            }
        } else if (strcmp(argv[i], "--paramd") == 0 && i + 1 < argc) {
            given = argv[++i];
        } else {
            fprintf(stderr, "usage: memory [--dims D1,D2,...] [--paramd PATH]\n");
            return 2;
        }
    }
    paramd = bench_find_paramd(given, argv[0], buf, sizeof(buf), "memory");
    if (paramd == NULL) {
        return 2;
    }
    printf("bench/memory: the daemon's resident memory (MiB) against its state's bytes\n");
    printf("%11s | %-8s | %9s | %9s | %9s | %9s | %9s | %6s | %s\n", "parameters", "optim",
           "state", "started", "pulled", "pushed", "peak", "peak/s", "<= 1.5 state + 50");
    for (size_t d = 0; d < n_dims; d++) {
        for (size_t o = 0; o < N_OPTIMIZERS; o++) {
            row_t r;
            if (run(paramd, dims[d], o, &r) != 0) {
                failed = 1;
                continue;
            }
            printf("%11" PRIu64 " | %-8s | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %5.2fx | %s\n",
                   r.dim, r.optimizer, r.state_mib, r.started_mib, r.pulled_mib, r.pushed_mib,
                   r.peak_mib, r.peak_mib / r.state_mib,
                   r.pushed_mib <= 1.5 * r.state_mib + 50 ? "yes" : "NO");
            fflush(stdout);
        }
    }
    printf("\nstate: 8 bytes per parameter per vector the optimiser keeps (x; u; v). started,\n"
           "pulled, pushed: VmRSS after the start, a pull of every key and a push to every key\n"
           "(requests of %" PRIu64 " values); peak: VmHWM, which includes the largest request\n"
           "in flight. The target column compares the RSS after the pushes.\n",
           CHUNK);
    return failed;
}
