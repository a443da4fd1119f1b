/* kv_client.c - kv-client: training code of your own against paramd's key-value API.
 *
 * The program makes a least-squares problem y = A w* + noise in memory (its own seeded
 * generator, no files), connects to a paramd whose job is `method = async-sgd` with
 * `[model] type = none, dim = P` (see examples/kv.conf), and repeats:
 *   pull every key (sending the version it already holds, so an unchanged vector costs no
 *   bytes), compute a minibatch gradient of f(w) = 1/(2m) ||A w - y||^2, push it.
 * The server owns the parameters and applies its optimiser to each push.
 *
 * It uses only the installed interface <paramd/client.h> (link: pkg-config --libs
 * libparamd-client); on purpose it does not include the paramd tree's config.h, so it can
 * be copied out and built on its own:
 *   cc -std=c11 kv_client.c $(pkg-config --cflags --libs libparamd-client) -lm
 *
 * Exit status: 0 done, 1 runtime error (no server, refused push, ...), 2 usage. */
#include <paramd/client.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kv_exit {
    KV_EXIT_OK = 0,
    KV_EXIT_FAILURE = 1,
    KV_EXIT_USAGE = 2,
};

typedef struct args {
    const char *server;
    const char *name;
    uint64_t dim;
    uint64_t samples;
    uint64_t batch;
    uint64_t steps;
    uint64_t every;
    uint64_t seed;
    double noise;
    int timeout_ms;
} args_t;

/* The problem: m rows of A (row-major, m x p), the targets y and the true weights. */
typedef struct problem {
    uint64_t m, p;
    double *a;
    double *y;
    double *w_true;
} problem_t;

/* splitmix64: a tiny seeded generator, so the same --seed gives the same problem and
 * minibatches everywhere. */
typedef struct rng {
    uint64_t state;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_uniform(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_normal(rng_t *r)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log() stays finite */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* In [0, n); the modulo bias is below 2^-40 for any n an example uses. */
static uint64_t rng_below(rng_t *r, uint64_t n)
{
    return rng_next(r) % n;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kv-client --server ENDPOINT [options]\n"
            "Trains least squares y = A w + noise with its own gradients, keeping w in paramd.\n"
            "The server's job must be method = async-sgd, [model] type = none, dim = --dim.\n"
            "  --server EP      paramd endpoint, e.g. tcp://127.0.0.1:5555 (required)\n"
            "  --name NAME      client name shown in the server's log (default kv-client)\n"
            "  --dim P          number of parameters (default 20; must equal the server's dim)\n"
            "  --samples M      rows of A (default 2000)\n"
            "  --batch B        minibatch size (default 32)\n"
            "  --steps N        pull/push steps (default 500)\n"
            "  --every K        print the loss every K steps (default 50; 0: never)\n"
            "  --seed S         seed of the problem and the minibatches (default 1)\n"
            "  --noise SIGMA    standard deviation of the noise in y (default 0.1)\n"
            "  --timeout MS     how long to wait for the server's welcome (default 5000)\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s == '\0' || *s == '-') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;

    if (s == NULL || *s == '\0') {
        return false;
    }
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static int parse_args(int argc, char **argv, args_t *a)
{
    *a = (args_t){NULL, "kv-client", 20, 2000, 32, 500, 50, 1, 0.1, 5000};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t t;
        bool ok = true;

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            exit(KV_EXIT_OK);
        } else if (strcmp(opt, "--server") == 0) {
            a->server = val;
            ok = val != NULL;
        } else if (strcmp(opt, "--name") == 0) {
            a->name = val;
            ok = val != NULL;
        } else if (strcmp(opt, "--dim") == 0) {
            ok = parse_u64(val, &a->dim) && a->dim > 0;
        } else if (strcmp(opt, "--samples") == 0) {
            ok = parse_u64(val, &a->samples) && a->samples > 0;
        } else if (strcmp(opt, "--batch") == 0) {
            ok = parse_u64(val, &a->batch) && a->batch > 0;
        } else if (strcmp(opt, "--steps") == 0) {
            ok = parse_u64(val, &a->steps);
        } else if (strcmp(opt, "--every") == 0) {
            ok = parse_u64(val, &a->every);
        } else if (strcmp(opt, "--seed") == 0) {
            ok = parse_u64(val, &a->seed);
        } else if (strcmp(opt, "--noise") == 0) {
            ok = parse_double(val, &a->noise) && a->noise >= 0;
        } else if (strcmp(opt, "--timeout") == 0) {
            ok = parse_u64(val, &t) && t > 0 && t <= 3600000;
            a->timeout_ms = (int)t;
        } else {
            fprintf(stderr, "kv-client: unknown option '%s'\n", opt);
            return -1;
        }
        if (!ok) {
            fprintf(stderr, "kv-client: %s needs a valid value\n", opt);
            return -1;
        }
        i++;
    }
    if (a->server == NULL) {
        fprintf(stderr, "kv-client: --server is required\n");
        return -1;
    }
    /* The rows of A live in memory: refuse sizes that cannot be allocated honestly. */
    if (a->samples > SIZE_MAX / sizeof(double) / a->dim) {
        fprintf(stderr, "kv-client: --samples x --dim is too large\n");
        return -1;
    }
    return 0;
}

static void problem_free(problem_t *pb)
{
    free(pb->a);
    free(pb->y);
    free(pb->w_true);
    memset(pb, 0, sizeof(*pb));
}

/* A ~ N(0, 1) entries, w* ~ N(0, 1), y = A w* + N(0, noise^2). */
static int problem_make(problem_t *pb, const args_t *a)
{
    rng_t r = {a->seed};

    pb->m = a->samples;
    pb->p = a->dim;
    pb->a = malloc(pb->m * pb->p * sizeof(double));
    pb->y = malloc(pb->m * sizeof(double));
    pb->w_true = malloc(pb->p * sizeof(double));
    if (pb->a == NULL || pb->y == NULL || pb->w_true == NULL) {
        problem_free(pb);
        return -ENOMEM;
    }
    for (uint64_t j = 0; j < pb->p; j++) {
        pb->w_true[j] = rng_normal(&r);
    }
    for (uint64_t i = 0; i < pb->m; i++) {
        const double *row = pb->a + i * pb->p;
        double dot = 0;
        for (uint64_t j = 0; j < pb->p; j++) {
            pb->a[i * pb->p + j] = rng_normal(&r);
            dot += row[j] * pb->w_true[j];
        }
        pb->y[i] = dot + a->noise * rng_normal(&r);
    }
    return 0;
}

static double residual(const problem_t *pb, const double *w, uint64_t i)
{
    const double *row = pb->a + i * pb->p;
    double dot = 0;
    for (uint64_t j = 0; j < pb->p; j++) {
        dot += row[j] * w[j];
    }
    return dot - pb->y[i];
}

/* f(w) = 1/(2m) sum_i (a_i . w - y_i)^2 over the whole problem. */
static double loss(const problem_t *pb, const double *w)
{
    double sum = 0;
    for (uint64_t i = 0; i < pb->m; i++) {
        double r = residual(pb, w, i);
        sum += r * r;
    }
    return 0.5 * sum / (double)pb->m;
}

/* The mean gradient over `batch` rows drawn with replacement: the server applies
 * w <- w - lr * grad as pushed, so the client does the averaging. */
static void minibatch_grad(const problem_t *pb, const double *w, uint64_t batch, rng_t *r,
                           double *grad)
{
    memset(grad, 0, pb->p * sizeof(double));
    for (uint64_t b = 0; b < batch; b++) {
        uint64_t i = rng_below(r, pb->m);
        double res = residual(pb, w, i);
        const double *row = pb->a + i * pb->p;
        for (uint64_t j = 0; j < pb->p; j++) {
            grad[j] += res * row[j];
        }
    }
    for (uint64_t j = 0; j < pb->p; j++) {
        grad[j] /= (double)batch;
    }
}

/* Pull every key into w. *held is the version w already holds (PD_CLIENT_NO_VERSION at
 * first); when the server's vector is still that version, no bytes travel and w stays. */
static int pull_all(pd_client_t *c, double *w, uint64_t dim, uint64_t *held, uint64_t *not_mod)
{
    bool nm = false;
    int rc = pd_client_pull(c, 0, dim, w, held, &nm);

    if (rc != 0) {
        fprintf(stderr, "kv-client: pull failed: %s\n", pd_client_strerror(rc));
        return rc;
    }
    if (nm) {
        (*not_mod)++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    args_t a;
    problem_t pb = {0};
    pd_client_t *c = NULL;
    double *w = NULL, *grad = NULL;
    uint64_t held = PD_CLIENT_NO_VERSION;
    uint64_t pulls = 0, not_modified = 0, applied = 0, dropped = 0;
    rng_t batch_rng;
    double initial, final;
    int code = KV_EXIT_FAILURE;
    int rc;

    if (parse_args(argc, argv, &a) != 0) {
        usage(stderr);
        return KV_EXIT_USAGE;
    }
    if (problem_make(&pb, &a) != 0) {
        fprintf(stderr, "kv-client: out of memory for a %" PRIu64 " x %" PRIu64 " problem\n",
                a.samples, a.dim);
        goto out;
    }
    w = calloc(a.dim, sizeof(double));
    grad = calloc(a.dim, sizeof(double));
    if (w == NULL || grad == NULL) {
        fprintf(stderr, "kv-client: out of memory\n");
        goto out;
    }
    rc = pd_client_connect(&c, a.server, a.name, a.timeout_ms);
    if (rc != 0) {
        fprintf(stderr, "kv-client: cannot join the paramd at %s: %s\n", a.server,
                pd_client_strerror(rc));
        goto out;
    }
    if (pd_client_dim(c) != a.dim) {
        fprintf(stderr,
                "kv-client: the server's model has %" PRIu64 " parameters but this run uses "
                "--dim %" PRIu64 " (set [model] dim = %" PRIu64 " on the server, or pass --dim "
                "%" PRIu64 ")\n",
                pd_client_dim(c), a.dim, a.dim, pd_client_dim(c));
        goto out;
    }
    printf("joined %s: job %016" PRIx64 ", %" PRIu64 " parameters, %" PRIu64 " samples\n",
           a.server, pd_client_job_id(c), a.dim, a.samples);

    if (pull_all(c, w, a.dim, &held, &not_modified) != 0) {
        goto out;
    }
    pulls++;
    initial = loss(&pb, w);
    printf("step %6d  version %8" PRIu64 "  loss %.6g\n", 0, held, initial);
    /* Minibatches come from their own stream so they do not depend on the problem size. */
    batch_rng.state = a.seed ^ 0xD1B54A32D192ED03ULL;
    for (uint64_t step = 1; step <= a.steps; step++) {
        pd_client_ack_t ack;

        minibatch_grad(&pb, w, a.batch, &batch_rng, grad);
        rc = pd_client_push(c, 0, a.dim, grad, held, &ack);
        if (rc != 0) {
            fprintf(stderr, "kv-client: push at step %" PRIu64 " failed: %s\n", step,
                    pd_client_strerror(rc));
            goto out;
        }
        if (ack.status == PD_CLIENT_REJECTED) {
            fprintf(stderr, "kv-client: the server rejected the push at step %" PRIu64 ": %s\n",
                    step, ack.reason);
            goto out;
        }
        if (ack.status == PD_CLIENT_STALE_DROPPED) {
            dropped++; /* other clients moved w too far meanwhile: just pull and go on */
        } else {
            applied++;
        }
        if (pull_all(c, w, a.dim, &held, &not_modified) != 0) {
            goto out;
        }
        pulls++;
        if (a.every > 0 && step % a.every == 0) {
            printf("step %6" PRIu64 "  version %8" PRIu64 "  loss %.6g\n", step, held,
                   loss(&pb, w));
            fflush(stdout);
        }
    }
    final = loss(&pb, w);
    printf("pushes applied %" PRIu64 ", dropped as stale %" PRIu64 "; pulls %" PRIu64
           " (%" PRIu64 " not modified)\n",
           applied, dropped, pulls, not_modified);
    printf("initial loss %.6g\n", initial);
    printf("final loss %.6g\n", final);
    code = KV_EXIT_OK;
out:
    pd_client_free(c); /* says BYE */
    free(w);
    free(grad);
    problem_free(&pb);
    return code;
}
