/* load.c - `make bench-load`: N clients pushing and pulling as fast as they can against one
 * paramd for a fixed time. Each client is a thread with its own libparamd-client connection
 * (a DEALER socket in its own context), alternating a push and a pull of a small key range,
 * one request at a time. Reported per N: requests per second, p50 and p99 latency, the
 * daemon's peak RSS, and throughput against N = 1 measured in the same run.
 *
 * --dims 16,100000000 runs the same at several model sizes: a pull of 13 values costs the
 * same from a model of 10^8 parameters as from one of 16 (the daemon copies only the range
 * it sends), so the rows should match.
 *
 * It is also a check: when the run ends, the number of pushes the daemon counts as applied
 * (pushes_applied_total in its metrics log) must equal the number of pushes acknowledged as
 * APPLIED to the clients, and every request must have been answered. Exit status 1 when a
 * check fails. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "paramd/client.h"

#define DEFAULT_DIM 65536u
#define MAX_DIM 1000000000ull /* 8 GB of parameters */
#define KEYS 13u              /* 104 B per request, like bench/wire's smallest block */
#define MAX_SAMPLES 400000u   /* latencies kept per client */
#define MAX_CLIENTS 256

typedef struct client {
    pthread_t thread;
    int index;
    uint64_t dim;
    const char *endpoint;
    double deadline;
    /* results */
    int rc;                   /* 0, or the first error */
    uint64_t pushes_applied;  /* ACKs with status APPLIED */
    uint64_t pushes_other;    /* dropped or rejected */
    uint64_t pulls;
    size_t n_lat;
    double *lat_us;
} client_t;

typedef struct row {
    int clients;
    uint64_t dim;
    double seconds, ops_per_s, push_per_s, pull_per_s, p50_us, p99_us, rss_mib;
    uint64_t acked, applied_by_server;
    bool ok;
} row_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    pd_client_t *pc = NULL;
    double vals[KEYS];
    uint64_t offset = ((uint64_t)c->index * 977u * KEYS) % (c->dim - KEYS + 1);
    uint64_t version = PD_CLIENT_NO_VERSION;
    char name[32];

    for (unsigned i = 0; i < KEYS; i++) {
        vals[i] = 1e-9 * (double)(i + 1);
    }
    snprintf(name, sizeof(name), "load-%d", c->index);
    c->rc = pd_client_connect(&pc, c->endpoint, name, 20000);
    if (c->rc != 0) {
        fprintf(stderr, "load: client %d cannot join: %s\n", c->index,
                pd_client_strerror(c->rc));
        return NULL;
    }
    for (uint64_t op = 0; bench_now_s() < c->deadline; op++) {
        double t0 = bench_now_s();
        if (op % 2 == 0) {
            pd_client_ack_t ack;
            c->rc = pd_client_push(pc, offset, KEYS, vals,
                                   version == PD_CLIENT_NO_VERSION ? 0 : version, &ack);
            if (c->rc == 0 && ack.status == PD_CLIENT_APPLIED) {
                c->pushes_applied++;
                version = ack.version;
            } else if (c->rc == 0) {
                c->pushes_other++;
            }
        } else {
            uint64_t v = PD_CLIENT_NO_VERSION;
            c->rc = pd_client_pull(pc, offset, KEYS, vals, &v, NULL);
            c->pulls++;
        }
        if (c->rc != 0) {
            fprintf(stderr, "load: client %d: %s\n", c->index, pd_client_strerror(c->rc));
            break;
        }
        if (c->n_lat < MAX_SAMPLES) {
            c->lat_us[c->n_lat++] = (bench_now_s() - t0) * 1e6;
        }
    }
    pd_client_free(pc);
    return NULL;
}

/* pushes_applied_total of the metrics log's "done" line; -1 when it cannot be read. */
static int64_t applied_by_server(const bench_daemon_t *dp)
{
    char path[256], line[1 << 16];
    int64_t v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/metrics.jsonl", dp->dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "\"pushes_applied_total\":");
        if (p != NULL && strstr(line, "\"event\":\"done\"") != NULL) {
            v = strtoll(p + strlen("\"pushes_applied_total\":"), NULL, 10);
        }
    }
    fclose(f);
    return v;
}

static int run(const char *paramd, uint64_t dim, int n, double seconds, row_t *row)
{
    static const char *const extra[] = {"metrics.jsonl", NULL};
    bench_daemon_t dp = {0};
    client_t *cl = calloc((size_t)n, sizeof(*cl));
    double *all = NULL;
    size_t n_all = 0;
    uint64_t other = 0, pulls = 0;
    int rc;
    char rest[512];

    memset(row, 0, sizeof(*row));
    row->clients = n;
    row->dim = dim;
    if (cl == NULL) {
        return -ENOMEM;
    }
    /* max_staleness is huge and each push carries the version of its client's last ACK, so
     * none is dropped as stale; the tiny step keeps the vector finite. */
    snprintf(rest, sizeof(rest),
             "metrics_log = metrics.jsonl\nworker_timeout = 1h\nmax_connections = 1024\n"
             "[job]\nmethod = async-sgd\nmax_staleness = 1000000\neval_interval = 0\n"
             "[model]\ntype = none\ndim = %" PRIu64 "\n"
             "[optimizer]\ntype = sgd\nlearning_rate = 1e-12\n",
             dim);
    rc = bench_daemon_start(&dp, paramd, "load", rest);
    if (rc != 0) {
        goto out;
    }
    double start = bench_now_s() + 0.5; /* time to connect all of them */
    for (int i = 0; i < n; i++) {
        cl[i].index = i;
        cl[i].dim = dim;
        cl[i].endpoint = dp.endpoint;
        cl[i].deadline = start + seconds;
        cl[i].lat_us = malloc(MAX_SAMPLES * sizeof(double));
        if (cl[i].lat_us == NULL || pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0) {
            fprintf(stderr, "load: cannot start client %d\n", i);
            n = i; /* join the ones started */
            rc = -ENOMEM;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_join(cl[i].thread, NULL);
        if (cl[i].rc != 0 && rc == 0) {
            rc = cl[i].rc;
        }
    }
    row->seconds = bench_now_s() - start;
    row->rss_mib = bench_proc_mib(dp.pid, "VmHWM:");
    int stop_rc = bench_daemon_stop(&dp, "load");
    if (rc == 0) {
        rc = stop_rc;
    }
    for (int i = 0; i < n; i++) {
        row->acked += cl[i].pushes_applied;
        other += cl[i].pushes_other;
        pulls += cl[i].pulls;
        n_all += cl[i].n_lat;
    }
    int64_t server = applied_by_server(&dp);
    row->applied_by_server = server < 0 ? 0 : (uint64_t)server;
    all = malloc((n_all > 0 ? n_all : 1) * sizeof(double));
    if (all != NULL) {
        n_all = 0;
        for (int i = 0; i < n; i++) {
            memcpy(all + n_all, cl[i].lat_us, cl[i].n_lat * sizeof(double));
            n_all += cl[i].n_lat;
        }
        qsort(all, n_all, sizeof(double), cmp_double);
        row->p50_us = n_all > 0 ? all[n_all / 2] : NAN;
        row->p99_us = n_all > 0 ? all[(size_t)((double)n_all * 0.99)] : NAN;
    }
    row->ops_per_s = (double)(row->acked + other + pulls) / row->seconds;
    row->push_per_s = (double)(row->acked + other) / row->seconds;
    row->pull_per_s = (double)pulls / row->seconds;
    row->ok = rc == 0 && server >= 0 && (uint64_t)server == row->acked && other == 0;
    if (server >= 0 && (uint64_t)server != row->acked) {
        fprintf(stderr, "load: %d clients: the server applied %" PRId64 " pushes, %" PRIu64
                        " were acknowledged as applied\n", n, server, row->acked);
    }
    if (other > 0) {
        fprintf(stderr, "load: %d clients: %" PRIu64 " pushes were dropped or rejected\n", n,
                other);
    }
out:
    if (rc != 0) {
        bench_daemon_print_log(&dp);
    }
    bench_daemon_cleanup(&dp, rc != 0, extra);
    for (int i = 0; i < n; i++) {
        free(cl[i].lat_us);
    }
    free(cl);
    free(all);
    return rc;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: load [--clients N[,N...]] [--dims D[,D...]] [--seconds S] [--paramd PATH]\n"
                "  N clients (threads, one connection each) push and pull 13 keys at a time\n"
                "  against one paramd; throughput, p50/p99 latency, the daemon's peak RSS,\n"
                "  and a check that applied pushes equal acknowledged ones.\n"
                "  --clients LIST  client counts to run (default 1,8,64; at most %d)\n"
                "  --dims LIST     model sizes to run each count at (default %u; %u to %llu):\n"
                "                  ratios are against the first size's row of the same count\n"
                "  --seconds S     measuring time per count (default 5)\n"
                "  --paramd PATH   the daemon (default: $PARAMD, else ../server/paramd)\n",
            MAX_CLIENTS, DEFAULT_DIM, KEYS, MAX_DIM);
}

/* "a,b,c" into out (at most cap); 0, or -1 when an item is not a whole number in [lo, hi]. */
static int parse_list(const char *s, uint64_t lo, uint64_t hi, uint64_t *out, int cap, int *n)
{
    char *end;

    *n = 0;
    while (*s != '\0') {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || errno != 0 || v < lo || v > hi || *n == cap ||
            (*end != ',' && *end != '\0')) {
            return -1;
        }
        out[(*n)++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    uint64_t counts[16] = {1, 8, 64}, dims[8] = {DEFAULT_DIM};
    int n_counts = 3, n_dims = 1;
    double seconds = 5.0;
    const char *paramd = NULL;
    char pbuf[4096];
    row_t rows[8][16];
    int exit_code = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--paramd") == 0 && i + 1 < argc) {
            paramd = argv[++i];
        } else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
            if (parse_list(argv[++i], 1, MAX_CLIENTS, counts, 16, &n_counts) != 0) {
                fprintf(stderr, "load: --clients wants up to 16 counts from 1 to %d\n",
                        MAX_CLIENTS);
                return 2;
            }
        } else if (strcmp(argv[i], "--dims") == 0 && i + 1 < argc) {
            if (parse_list(argv[++i], KEYS, MAX_DIM, dims, 8, &n_dims) != 0) {
                fprintf(stderr, "load: --dims wants up to 8 sizes from %u to %llu\n", KEYS,
                        MAX_DIM);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!(seconds > 0)) {
        fprintf(stderr, "load: --seconds wants a positive number\n");
        return 2;
    }
    paramd = bench_find_paramd(paramd, argv[0], pbuf, sizeof(pbuf), "load");
    if (paramd == NULL) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("paramd load benchmark: N clients (threads, one libparamd-client connection each),\n"
           "each alternating a push and a pull of %u keys, one request at a time, %.1f s per N;\n"
           "%ld CPUs online; the clients and the daemon share them.\n\n",
           KEYS, seconds, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%10s %7s | %9s %9s %9s | %8s %8s | %8s | %8s %9s | %s\n", "dim", "clients",
           "req/s", "push/s", "pull/s", "p50 us", "p99 us", "RSS MiB", "vs N=1", "vs dim 1",
           "applied pushes = acked");
    for (int j = 0; j < n_dims; j++) {
        for (int k = 0; k < n_counts; k++) {
            row_t *r = &rows[j][k];
            const row_t *n1 = &rows[j][0], *d1 = &rows[0][k];
            int rc = run(paramd, dims[j], (int)counts[k], seconds, r);
            printf("%10" PRIu64 " %7d | %9.0f %9.0f %9.0f | %8.1f %8.1f | %8.1f | %7.2fx %8.2fx | "
                   "%s (%" PRIu64 " applied, %" PRIu64 " acked)\n",
                   r->dim, r->clients, r->ops_per_s, r->push_per_s, r->pull_per_s, r->p50_us,
                   r->p99_us, r->rss_mib, n1->ops_per_s > 0 ? r->ops_per_s / n1->ops_per_s : NAN,
                   d1->ops_per_s > 0 ? r->ops_per_s / d1->ops_per_s : NAN, r->ok ? "yes" : "NO",
                   r->applied_by_server, r->acked);
            fflush(stdout);
            if (rc != 0 || !r->ok) {
                exit_code = 1;
            }
        }
    }
    printf("\n%s\n", exit_code == 0 ? "every count: all requests answered, applied = acked"
                                    : "FAILED: see above");
    return exit_code;
}
