/* lbfgs.c - bench/apts's single-process reference: full-batch L-BFGS on a paramd job.
 *
 * It reads the same job file paramd would, builds the daemon object without a socket (the
 * object of pd_daemon_new_offline, never driven), and so starts from exactly the
 * parameters, data and objective paramd's methods see: mean loss over the training set plus
 * the l2 term of [optimizer] (mean loss + pd_prox_value, as the metrics' `objective`). Then it
 * minimises that objective with L-BFGS (two-loop recursion, `--memory` pairs, initial scaling
 * sᵀy/yᵀy, Armijo back-tracking from the unit step, pairs with too little curvature skipped, so
 * it also runs on the non-convex network objective) and writes one JSON line per iteration
 * with the keys of paramd's metrics log that bench/apts reads: elapsed_s, version, objective,
 * test_accuracy, gradient_equivalents_total (a value-and-gradient pass over m samples counts
 * m). The test accuracy's forward pass is not timed: paramd's evaluation rounds are not part
 * of what L-BFGS pays for either way, and the note in bench/results-apts says so.
 *
 * Exit status: 0 done (time, iterations or a stationary point), 1 runtime error, 2 usage,
 * 3 configuration. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "clock.h"
#include "common/config.h"
#include "apts_task.h"
#include "compute.h"
#include "error.h"
#include "log.h"
#include "server/daemon.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

#define MAX_OVERRIDES 64
#define MAX_MEMORY 100
#define MAX_BACKTRACKS 30
#define ARMIJO_C1 1e-4

typedef struct lbfgs_args {
    const char *config_path;
    const char *overrides[MAX_OVERRIDES + 1];
    size_t n_overrides;
    double seconds;
    uint64_t max_iters;
    unsigned memory;
    unsigned threads;
} lbfgs_args_t;

/* The objective and what it needs: the daemon's data, model, mask and regulariser. */
typedef struct objective {
    pd_daemon_t *d;
    pd_task_ctx_t ctx;
    double l2;
    double work; /* gradient equivalents so far */
} objective_t;

/* The L-BFGS state: pairs in a ring, newest at (head + count - 1) % mem. */
typedef struct lbfgs {
    size_t n, mem, count, head;
    double *s, *y, *rho, *alpha;
    double *x, *g, *dir, *x_new, *g_new;
} lbfgs_t;

static void usage(FILE *f)
{
    fputs("usage: lbfgs -c JOB.conf [-o section.key=value]... [--seconds S] [--max-iters K]\n"
          "             [--memory M] [--threads T]\n"
          "Full-batch L-BFGS on the job's model, data, starting point and objective; one JSON\n"
          "line per iteration on standard output (the keys of paramd's metrics log).\n"
          "  --seconds S    wall-time budget (default 60)\n"
          "  --max-iters K  iteration budget (default: none)\n"
          "  --memory M     pairs kept, 1..100 (default 10)\n"
          "  --threads T    compute threads, 1..64 (default 1)\n",
          f);
}

static int parse_args(lbfgs_args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"set", required_argument, NULL, 'o'},
        {"seconds", required_argument, NULL, 's'},  {"max-iters", required_argument, NULL, 'k'},
        {"memory", required_argument, NULL, 'm'},   {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    char *end;
    int c;

    *a = (lbfgs_args_t){.seconds = 60.0, .memory = 10, .threads = 1};
    while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
        errno = 0;
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'o':
            if (a->n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "lbfgs: more than %d -o options\n", MAX_OVERRIDES);
                return -EINVAL;
            }
            a->overrides[a->n_overrides++] = optarg;
            break;
        case 's':
            a->seconds = strtod(optarg, &end);
            if (*end != '\0' || !(a->seconds > 0.0) || !isfinite(a->seconds)) {
                fprintf(stderr, "lbfgs: --seconds wants a positive number, not '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case 'k':
            a->max_iters = strtoull(optarg, &end, 10);
            if (*end != '\0' || errno != 0 || a->max_iters == 0) {
                fprintf(stderr, "lbfgs: --max-iters wants a positive integer, not '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case 'm':
        case 't': {
            unsigned long v = strtoul(optarg, &end, 10);
            unsigned long max = c == 'm' ? MAX_MEMORY : 64;
            if (*end != '\0' || errno != 0 || v == 0 || v > max) {
                fprintf(stderr, "lbfgs: --%s wants an integer in 1..%lu, not '%s'\n",
                        c == 'm' ? "memory" : "threads", max, optarg);
                return -EINVAL;
            }
            *(c == 'm' ? &a->memory : &a->threads) = (unsigned)v;
            break;
        }
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        default:
            return -EINVAL;
        }
    }
    if (optind < argc || a->config_path == NULL) {
        fprintf(stderr, "lbfgs: %s\n", optind < argc ? "unexpected argument" : "-c JOB.conf is required");
        return -EINVAL;
    }
    a->overrides[a->n_overrides] = NULL;
    return 0;
}

/* *f and g at x over the whole training set: the objective of the metrics log and its
 * gradient (the regulariser is none or l2, checked by the caller). */
static int value_and_grad(objective_t *o, const double *x, double *f, double *g)
{
    const pd_daemon_t *d = o->d;
    size_t dim = d->store.dim, n = 0;
    pd_sample_set_t all = {.begin = 0, .end = d->train->m};
    double loss = 0.0;
    int rc;

    memset(g, 0, dim * sizeof(double));
    rc = pd_task_grad_set(&o->ctx, x, &all, g, &loss, &n);
    if (rc != 0) {
        return rc;
    }
    *f = pd_apts_objective(o->l2, d->mask, x, dim, loss, n, g);
    o->work += (double)n;
    return isfinite(*f) ? 0 : PD_ENONFINITE;
}

static double test_accuracy(const pd_daemon_t *d, const double *x)
{
    double loss;
    uint64_t correct = 0;

    if (!pd_daemon_has_accuracy(d) ||
        pd_model_eval_range(&d->model, d->test, x, 0, d->test->m, &loss, &correct) != 0) {
        return NAN;
    }
    return (double)correct / (double)d->test->m;
}

static void print_line(const pd_daemon_t *d, const objective_t *o, const lbfgs_t *b,
                       uint64_t k, double f, double elapsed, const char *event)
{
    double acc = test_accuracy(d, b->x);

    printf("{\"elapsed_s\": %.6f, \"version\": %" PRIu64 ", \"objective\": %.17g, ", elapsed, k, f);
    if (isnan(acc)) {
        printf("\"test_accuracy\": null, ");
    } else {
        printf("\"test_accuracy\": %.17g, ", acc);
    }
    printf("\"gradient_equivalents_total\": %.17g, \"pairs\": %zu%s%s%s}\n", o->work, b->count,
           event != NULL ? ", \"event\": \"" : "", event != NULL ? event : "",
           event != NULL ? "\"" : "");
    fflush(stdout);
}

static void lbfgs_free(lbfgs_t *b)
{
    free(b->s);
    free(b->y);
    free(b->rho);
    free(b->alpha);
    free(b->x);
    free(b->g);
    free(b->dir);
    free(b->x_new);
    free(b->g_new);
    memset(b, 0, sizeof(*b));
}

static int lbfgs_init(lbfgs_t *b, size_t n, size_t mem)
{
    *b = (lbfgs_t){.n = n, .mem = mem};
    b->s = malloc(n * mem * sizeof(double));
    b->y = malloc(n * mem * sizeof(double));
    b->rho = malloc(mem * sizeof(double));
    b->alpha = malloc(mem * sizeof(double));
    b->x = malloc(n * sizeof(double));
    b->g = malloc(n * sizeof(double));
    b->dir = malloc(n * sizeof(double));
    b->x_new = malloc(n * sizeof(double));
    b->g_new = malloc(n * sizeof(double));
    if (b->s == NULL || b->y == NULL || b->rho == NULL || b->alpha == NULL || b->x == NULL ||
        b->g == NULL || b->dir == NULL || b->x_new == NULL || b->g_new == NULL) {
        lbfgs_free(b);
        return -ENOMEM;
    }
    return 0;
}

/* dir = −H g by the two-loop recursion, H0 = (sᵀy / yᵀy) I of the newest pair (I when empty). */
static void two_loop(lbfgs_t *b)
{
    size_t n = b->n;
    int count = (int)b->count;
    double gamma = 1.0;

    for (size_t i = 0; i < n; i++) {
        b->dir[i] = -b->g[i];
    }
    for (int j = count - 1; j >= 0; j--) {
        size_t c = (b->head + (size_t)j) % b->mem;
        b->alpha[c] = b->rho[c] * cblas_ddot((int)n, b->s + c * n, 1, b->dir, 1);
        cblas_daxpy((int)n, -b->alpha[c], b->y + c * n, 1, b->dir, 1);
    }
    if (count > 0) {
        size_t c = (b->head + (size_t)count - 1) % b->mem;
        const double *yc = b->y + c * n;
        gamma = 1.0 / (b->rho[c] * cblas_ddot((int)n, yc, 1, yc, 1));
    }
    cblas_dscal((int)n, gamma, b->dir, 1);
    for (int j = 0; j < count; j++) {
        size_t c = (b->head + (size_t)j) % b->mem;
        double beta = b->rho[c] * cblas_ddot((int)n, b->y + c * n, 1, b->dir, 1);
        cblas_daxpy((int)n, b->alpha[c] - beta, b->s + c * n, 1, b->dir, 1);
    }
}

/* Keeps (s, y) = (x_new − x, g_new − g) when sᵀy > 1e-10 ‖s‖‖y‖ (dropping the oldest when
 * full); a pair with less curvature would make H indefinite on the non-convex objective. */
static void push_pair(lbfgs_t *b)
{
    size_t n = b->n;
    size_t c = b->count < b->mem ? (b->head + b->count) % b->mem : b->head;
    double *s = b->s + c * n, *y = b->y + c * n;

    for (size_t i = 0; i < n; i++) {
        s[i] = b->x_new[i] - b->x[i];
        y[i] = b->g_new[i] - b->g[i];
    }
    double sy = cblas_ddot((int)n, s, 1, y, 1);
    if (!(sy > 1e-10 * cblas_dnrm2((int)n, s, 1) * cblas_dnrm2((int)n, y, 1))) {
        return;
    }
    b->rho[c] = 1.0 / sy;
    if (b->count < b->mem) {
        b->count++;
    } else {
        b->head = (b->head + 1) % b->mem;
    }
}

/* Iterates until the budget is spent or no descent step is found; 0 or a negative code. */
static int run(const lbfgs_args_t *a, pd_daemon_t *d, objective_t *o)
{
    lbfgs_t b;
    size_t n = d->store.dim;
    double f, f_new = 0.0, t0, timed = 0.0, mark;
    uint64_t k = 0;
    const char *why = "time budget spent";
    int rc = lbfgs_init(&b, n, a->memory);

    if (rc != 0) {
        return rc;
    }
    memcpy(b.x, d->store.x, n * sizeof(double));
    t0 = pd_clock_mono_s();
    rc = value_and_grad(o, b.x, &f, b.g);
    if (rc != 0) {
        goto out;
    }
    timed = pd_clock_mono_s() - t0;
    print_line(d, o, &b, k, f, timed, NULL);
    while (timed < a->seconds && (a->max_iters == 0 || k < a->max_iters)) {
        mark = pd_clock_mono_s();
        two_loop(&b);
        double slope = cblas_ddot((int)n, b.g, 1, b.dir, 1);
        if (!(slope < 0.0)) {
            /* H lost positive definiteness to rounding: restart from steepest descent */
            b.count = 0;
            two_loop(&b);
            slope = cblas_ddot((int)n, b.g, 1, b.dir, 1);
        }
        if (!(slope < 0.0)) {
            why = "stationary point (zero gradient)";
            break;
        }
        /* The first step of an empty memory has no scale: make it 1 in the ∞-norm at most. */
        double step = 1.0;
        if (b.count == 0) {
            double gmax = fabs(b.g[cblas_idamax((int)n, b.g, 1)]);
            step = gmax > 1.0 ? 1.0 / gmax : 1.0;
        }
        int tries = 0;
        for (; tries < MAX_BACKTRACKS; tries++, step *= 0.5) {
            for (size_t i = 0; i < n; i++) {
                b.x_new[i] = b.x[i] + step * b.dir[i];
            }
            rc = value_and_grad(o, b.x_new, &f_new, b.g_new);
            if (rc != 0 && rc != PD_ENONFINITE) {
                goto out;
            }
            if (rc == 0 && f_new <= f + ARMIJO_C1 * step * slope) {
                break;
            }
        }
        rc = 0;
        if (tries == MAX_BACKTRACKS) {
            why = "no decrease along the search direction";
            break;
        }
        push_pair(&b);
        memcpy(b.x, b.x_new, n * sizeof(double));
        memcpy(b.g, b.g_new, n * sizeof(double));
        f = f_new;
        k++;
        timed += pd_clock_mono_s() - mark;
        print_line(d, o, &b, k, f, timed, NULL);
    }
    print_line(d, o, &b, k, f, timed, "done");
    pd_log_info("%s after %" PRIu64 " iterations, %.1f s: objective %.10g", why, k, timed, f);
out:
    lbfgs_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    lbfgs_args_t a;
    pd_config_t cfg = {0};
    pd_daemon_t *d = NULL;
    objective_t o = {0};
    char err[8192] = "";
    int code = EXIT_OK;
    int rc;

    pd_log_setup("lbfgs", PD_LOG_INFO);
    if (parse_args(&a, argc, argv) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    rc = pd_config_build(&cfg, a.config_path, a.overrides, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s\n", err[0] != '\0' ? err : pd_strerror(rc));
        code = EXIT_CONFIG;
        goto out;
    }
    pd_log_set_level(cfg.log_level + PD_LOG_ERR);
    rc = pd_daemon_new_offline(&d, &cfg);
    if (rc != 0) {
        code = rc == PD_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
        goto out;
    }
    if (d->train == NULL || (d->optim.reg.kind != PD_REG_NONE && d->optim.reg.kind != PD_REG_L2)) {
        pd_log_err("L-BFGS needs a model with a training set and a smooth objective "
                   "([optimizer] regularizer none or l2)");
        code = EXIT_CONFIG;
        goto out;
    }
    o.d = d;
    o.l2 = d->optim.reg.kind == PD_REG_L2 ? d->optim.reg.l2 : 0.0;
    rc = pd_task_ctx_init(&o.ctx, &d->model, d->train, d->test, a.threads);
    if (rc == 0) {
        rc = run(&a, d, &o);
        pd_task_ctx_release(&o.ctx);
    }
    if (rc != 0) {
        pd_log_err("L-BFGS stopped: %s", pd_strerror(rc));
        code = EXIT_RUNTIME;
    }
out:
    pd_daemon_free(d);
    pd_config_release(&cfg);
    return code;
}
