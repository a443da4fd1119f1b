/* lbfgs.c - bench/apts's single-process reference: full-batch L-BFGS on a paramd job.
 *
 * It reads the same job file paramd would, builds the daemon object without a socket (the
 * object of pd_daemon_new_offline, never driven), and so starts from exactly the
 * parameters, data and objective paramd's methods see: mean loss over the training set plus
 * the l2 term of [optimizer] (mean loss + pd_prox_value, as the metrics' `objective`). Then it
 * minimises that objective with the L-BFGS of method = lbfgs (server/methods/lbfgs_core.c:
 * `--memory` pairs, Armijo back-tracking from the unit step, pairs with too little curvature
 * skipped, so it also runs on the non-convex network objective), answering each evaluation it
 * asks for in this process, and writes one JSON line per accepted step
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

#include "clock.h"
#include "common/config.h"
#include "apts_task.h"
#include "compute.h"
#include "error.h"
#include "log.h"
#include "server/daemon.h"
#include "server/methods/lbfgs_core.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

#define MAX_OVERRIDES 64
#define MAX_MEMORY 100

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

/* *f (and, when g is not NULL, g) at x over the whole training set: the objective of the
 * metrics log and its gradient (the regulariser is none or l2, checked by the caller). */
static int evaluate(objective_t *o, const double *x, double *f, double *g)
{
    const pd_daemon_t *d = o->d;
    size_t dim = d->store.dim, n = 0;
    pd_sample_set_t all = {.begin = 0, .end = d->train->m};
    double loss = 0.0;
    int rc;

    if (g != NULL) {
        memset(g, 0, dim * sizeof(double));
        rc = pd_task_grad_set(&o->ctx, x, &all, g, &loss, &n);
    } else {
        rc = pd_task_loss(&o->ctx, x, &all, &loss, &n);
    }
    if (rc != 0) {
        return rc;
    }
    *f = pd_apts_objective(o->l2, d->mask, x, dim, loss, n, g);
    o->work += g != NULL ? (double)n : 0.5 * (double)n; /* a loss pass counts 1/2 */
    return 0;
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

static void print_line(const pd_daemon_t *d, const objective_t *o, const pd_lbfgs_t *b,
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

/* Drives the solver until the budget is spent or it ends; 0 or a negative code. Only the
 * solver's time is counted (print_line's test-accuracy pass is not). */
static int run(const lbfgs_args_t *a, pd_daemon_t *d, objective_t *o)
{
    pd_lbfgs_t b;
    pd_lbfgs_opts_t opts = {.memory = a->memory, .tolerance = 0.0};
    size_t n = d->store.dim;
    double *g = malloc(n * sizeof(double));
    double f = 0.0, timed = 0.0, mark = pd_clock_mono_s();
    const char *why = "time budget spent";
    int rc = g != NULL ? pd_lbfgs_init(&b, n, &opts, d->store.x) : -ENOMEM;

    if (rc != 0) {
        free(g);
        return rc;
    }
    pd_solver_need_t need = pd_lbfgs_begin(&b);
    rc = evaluate(o, pd_lbfgs_point(&b), &f, g);
    if (rc != 0) {
        goto out;
    }
    need = pd_lbfgs_on_grad(&b, f, g);
    timed = pd_clock_mono_s() - mark;
    print_line(d, o, &b, 0, f, timed, NULL); /* the start */
    mark = pd_clock_mono_s();
    while (need != PD_SOLVER_DONE && timed < a->seconds &&
           (a->max_iters == 0 || b.iters < a->max_iters)) {
        bool want_grad = need == PD_SOLVER_GRAD;
        rc = evaluate(o, pd_lbfgs_point(&b), &f, want_grad ? g : NULL);
        if (rc != 0) {
            goto out;
        }
        need = want_grad ? pd_lbfgs_on_grad(&b, f, g) : pd_lbfgs_on_loss(&b, f);
        timed += pd_clock_mono_s() - mark;
        if (b.moved) {
            b.moved = false;
            print_line(d, o, &b, b.iters, b.f, timed, NULL);
        }
        mark = pd_clock_mono_s();
    }
    if (need == PD_SOLVER_DONE) {
        why = b.why;
    }
    print_line(d, o, &b, b.iters, b.f, timed, "done");
    pd_log_info("%s after %" PRIu64 " iterations, %.1f s: objective %.10g", why, b.iters, timed,
                b.f);
out:
    pd_lbfgs_free(&b);
    free(g);
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
