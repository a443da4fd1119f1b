/* refsolve.c - single-process reference for the integration tests. It loads a LIBSVM set and
 * binds the model exactly as the daemon does (server/job.c), then either
 *   sgd      replays the sync-sgd iterates: round k, part i draws batch samples from
 *            pd_rng_mix(pd_rng_mix(seed, k), i), the parts are summed in part order, divided by
 *            the sample count and applied with pd_optim_apply at pd_optim_lr (the server's own
 *            optimiser code), so the daemon's save_params must match it to rounding;
 *   page     replays sync-page with one worker (--page-s S, --page-p p; 0: the defaults):
 *            the same coin stream, full gradients over [0, m) and difference batches drawn
 *            as the daemon draws them, --iters steps;
 *   gd       replays freya-page with p = 1 (full-batch gradient descent): the full gradient is
 *            formed as the daemon forms it (sums over blocks [b*block, min(m, (b+1)*block)),
 *            added in block order, times 1/m) and applied with pd_optim_apply, --iters times;
 *   optimum  minimises mean loss + Psi(x) with full-batch accelerated proximal gradient (FISTA
 *            with adaptive restart, step 1/(L + l2)) and prints the optimal objective;
 *   objective  prints the objective of the parameters in --params (one value per line).
 * Output: one %.17g value per line. Exit 0 ok, 1 runtime error, 2 usage. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "data.h"
#include "error.h"
#include "model.h"
#include "prox.h"
#include "rng.h"
#include "compute.h"
#include "server/methods/freya_core.h"
#include "server/methods/method.h"
#include "server/optim.h"

typedef struct ref_args {
    const char *mode;
    const char *train;
    const char *params;
    uint64_t features;
    int model;
    bool bias;
    bool bias_regularized;
    uint64_t seed;
    uint32_t batch;
    uint64_t block;
    uint32_t workers;
    uint64_t iters;
    double lr;
    uint64_t page_s;
    double page_p;
    int schedule;
    int64_t decay_steps;
    double decay_rate;
    int optimizer;
    double momentum;
    pd_reg_t reg;
} ref_args_t;

static void usage(FILE *f)
{
    fputs("usage: refsolve sgd|page|gd|optimum|objective --train FILE [--features P] [--model KIND]\n"
          "         [--bias yes|no] [--bias-regularized yes|no] [--seed S] [--batch B]\n"
          "         [--block N] [--workers N] [--iters K]\n"
          "         [--lr G] [--schedule constant|inverse-sqrt|step] [--decay-steps N]\n"
          "         [--decay-rate R] [--optimizer sgd|momentum] [--momentum B]\n"
          "         [--reg none|l1|l2|elastic-net|box|nonneg] [--l1 A] [--l2 B]\n"
          "         [--page-s S] [--page-p P]\n"
          "         [--lower L] [--upper U] [--params FILE]\n",
          f);
}

static int parse_enum(const char *text, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(text, names[i]) == 0) {
            return (int)i;
        }
    }
    return -EINVAL;
}

static int parse_args(ref_args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"train", required_argument, NULL, 't'},   {"features", required_argument, NULL, 'f'},
        {"model", required_argument, NULL, 'm'},   {"bias", required_argument, NULL, 'b'},
        {"bias-regularized", required_argument, NULL, 'Z'},
        {"seed", required_argument, NULL, 's'},    {"batch", required_argument, NULL, 'B'},
        {"workers", required_argument, NULL, 'w'}, {"iters", required_argument, NULL, 'k'},
        {"lr", required_argument, NULL, 'g'},      {"schedule", required_argument, NULL, 'S'},
        {"decay-steps", required_argument, NULL, 'd'},
        {"decay-rate", required_argument, NULL, 'r'},
        {"optimizer", required_argument, NULL, 'o'},
        {"momentum", required_argument, NULL, 'M'}, {"reg", required_argument, NULL, 'R'},
        {"l1", required_argument, NULL, '1'},      {"l2", required_argument, NULL, '2'},
        {"lower", required_argument, NULL, 'L'},   {"upper", required_argument, NULL, 'U'},
        {"params", required_argument, NULL, 'p'},  {"block", required_argument, NULL, 'C'},
        {"page-s", required_argument, NULL, 'P'},  {"page-p", required_argument, NULL, 'Q'},
        {NULL, 0, NULL, 0},
    };
    static const char *const schedules[] = {"constant", "inverse-sqrt", "step"};
    static const char *const optimizers[] = {"sgd", "momentum"};
    int c, v;

    /* The daemon's defaults (common/config_keys.h). */
    memset(a, 0, sizeof(*a));
    a->model = PD_MODEL_LOGISTIC;
    a->bias = true;
    a->seed = 1;
    a->batch = 32;
    a->block = 64;
    a->workers = 1;
    a->lr = 0.1;
    a->schedule = PD_SCHED_CONSTANT;
    a->decay_steps = 1000;
    a->decay_rate = 0.5;
    a->optimizer = PD_OPT_SGD;
    a->momentum = 0.9;
    a->reg.kind = PD_REG_NONE;
    a->reg.lower = -1;
    a->reg.upper = 1;
    if (argc < 2) {
        return -EINVAL;
    }
    a->mode = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': a->train = optarg; break;
        case 'p': a->params = optarg; break;
        case 'f': a->features = strtoull(optarg, NULL, 10); break;
        case 'm':
            if ((v = pd_model_kind_parse(optarg)) < 0) {
                return -EINVAL;
            }
            a->model = v;
            break;
        case 'b': a->bias = strcmp(optarg, "yes") == 0; break;
        case 'Z': a->bias_regularized = strcmp(optarg, "yes") == 0; break;
        case 's': a->seed = strtoull(optarg, NULL, 10); break;
        case 'B': a->batch = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'C': a->block = strtoull(optarg, NULL, 10); break;
        case 'P': a->page_s = strtoull(optarg, NULL, 10); break;
        case 'Q': a->page_p = strtod(optarg, NULL); break;
        case 'w': a->workers = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'k': a->iters = strtoull(optarg, NULL, 10); break;
        case 'g': a->lr = strtod(optarg, NULL); break;
        case 'S':
            if ((v = parse_enum(optarg, schedules, 3)) < 0) {
                return -EINVAL;
            }
            a->schedule = v;
            break;
        case 'd': a->decay_steps = strtoll(optarg, NULL, 10); break;
        case 'r': a->decay_rate = strtod(optarg, NULL); break;
        case 'o':
            if ((v = parse_enum(optarg, optimizers, 2)) < 0) {
                return -EINVAL;
            }
            a->optimizer = v;
            break;
        case 'M': a->momentum = strtod(optarg, NULL); break;
        case 'R':
            if ((v = pd_reg_kind_parse(optarg)) < 0) {
                return -EINVAL;
            }
            a->reg.kind = (pd_reg_kind_t)v;
            break;
        case '1': a->reg.l1 = strtod(optarg, NULL); break;
        case '2': a->reg.l2 = strtod(optarg, NULL); break;
        case 'L': a->reg.lower = strtod(optarg, NULL); break;
        case 'U': a->reg.upper = strtod(optarg, NULL); break;
        default: return -EINVAL;
        }
    }
    if (optind != argc || a->train == NULL || a->batch == 0 || a->block == 0 || a->workers == 0 ||
        a->decay_steps <= 0) {
        return -EINVAL;
    }
    return 0;
}

static void print_vec(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("%.17g\n", x[i]);
    }
}

/* Objective exactly as the daemon's final evaluation computes it. */
static double objective(const pd_model_t *m, const pd_data_t *d, const pd_reg_t *reg,
                        const double *mask, const double *x)
{
    double loss = 0;
    uint64_t correct = 0;

    if (pd_model_eval_range(m, d, x, 0, d->m, &loss, &correct) != 0) {
        return NAN;
    }
    return loss / (double)d->m + pd_prox_value(reg, x, mask, m->dim);
}

/* The server's optimiser as server/job.c sets it up from the job. 0 or -ENOMEM. */
static int optim_setup(const ref_args_t *a, pd_optim_t *o, size_t dim, double *mask)
{
    int rc = pd_optim_init(o, dim);

    if (rc != 0) {
        return rc;
    }
    o->kind = a->optimizer;
    o->schedule = a->schedule;
    o->lr = a->lr;
    o->decay_steps = a->decay_steps;
    o->decay_rate = a->decay_rate;
    o->momentum = a->momentum;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->epsilon = 1e-8;
    o->reg = a->reg;
    o->mask = mask;
    return 0;
}

static int run_sgd(const ref_args_t *a, const pd_model_t *m, const pd_data_t *d, double *mask)
{
    size_t dim = m->dim;
    size_t n_idx = a->batch;
    double *x = calloc(dim, sizeof(double));
    double *part = calloc(dim, sizeof(double));
    double *total = calloc(dim, sizeof(double));
    uint32_t *idx = calloc(n_idx, sizeof(uint32_t));
    pd_optim_t o;
    int rc;

    memset(&o, 0, sizeof(o));
    if (x == NULL || part == NULL || total == NULL || idx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = optim_setup(a, &o, dim, mask);
    if (rc != 0) {
        goto out;
    }
    for (uint64_t k = 0; k < a->iters; k++) {
        uint64_t round_seed = pd_rng_mix(a->seed, k);
        uint64_t n_total = 0;
        double loss;

        memset(total, 0, dim * sizeof(double));
        /* Each part's sum is formed on its own, then added in part order, as in
         * server/methods/method_sync.c (the worker's one-thread sum is a plain pd_model_grad_sum). */
        for (uint32_t i = 0; i < a->workers; i++) {
            pd_rng_sample(pd_rng_mix(round_seed, i), d->m, a->batch, idx);
            memset(part, 0, dim * sizeof(double));
            rc = pd_model_grad_sum(m, d, x, idx, n_idx, part, &loss);
            if (rc != 0) {
                goto out;
            }
            for (size_t j = 0; j < dim; j++) {
                total[j] += part[j];
            }
            n_total += a->batch;
        }
        /* server/methods/method.c pd_method_apply(): multiply by 1/n, then the optimiser step. */
        double inv = 1.0 / (double)n_total;
        for (size_t j = 0; j < dim; j++) {
            total[j] *= inv;
        }
        pd_optim_apply(&o, x, 0, dim, total, pd_optim_lr(&o));
    }
    print_vec(x, dim);
out:
    pd_optim_release(&o);
    free(x);
    free(part);
    free(total);
    free(idx);
    return rc;
}

/* sync-page with one worker (server/methods/method_syncpage.c): a full gradient over
 * [0, m) in one range task, then per step the PAGE coin from its own stream, and either a
 * full gradient or a difference over the S samples of part 0 of 1, g += diff / S. */
static int run_page(const ref_args_t *a, const pd_model_t *m, const pd_data_t *d, double *mask)
{
    size_t dim = m->dim;
    uint64_t s_count = a->page_s > 0 ? a->page_s : pd_freya_default_s(d->m);
    double p = a->page_p > 0 ? a->page_p : pd_freya_default_p(s_count, d->m);
    double *x = calloc(dim, sizeof(double));
    double *x_prev = calloc(dim, sizeof(double));
    double *g = calloc(dim, sizeof(double));
    double *sum = calloc(dim, sizeof(double));
    double *scratch = calloc(dim, sizeof(double));
    pd_task_ctx_t ctx;
    pd_optim_t o;
    pd_rng_t coin;
    double loss;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&ctx, 0, sizeof(ctx));
    if (x == NULL || x_prev == NULL || g == NULL || sum == NULL || scratch == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = optim_setup(a, &o, dim, mask)) != 0 ||
        (rc = pd_task_ctx_init(&ctx, m, d, NULL, 1)) != 0) {
        goto out;
    }
    pd_rng_seed(&coin, pd_method_sync_page_coin_seed(a->seed));
    bool full = true;
    for (uint64_t k = 0; k < a->iters; k++) {
        if (full) {
            rc = pd_task_grad_range(&ctx, x, 0, d->m, sum, &loss);
            double inv = 1.0 / (double)d->m;
            for (size_t j = 0; j < dim; j++) {
                g[j] = sum[j] * inv;
            }
        } else {
            pd_sample_set_t set = pd_method_sync_page_part(a->seed, k, 0, s_count, 1);
            rc = pd_task_grad_diff(&ctx, x, x_prev, set.seed, set.batch, sum, scratch, &loss);
            for (size_t j = 0; j < dim; j++) {
                g[j] += sum[j] / (double)set.batch;
            }
        }
        if (rc != 0) {
            goto out;
        }
        memcpy(x_prev, x, dim * sizeof(double));
        pd_optim_apply(&o, x, 0, dim, g, pd_optim_lr(&o));
        full = pd_rng_uniform(&coin) < p;
    }
    print_vec(x, dim);
out:
    pd_task_ctx_release(&ctx);
    pd_optim_release(&o);
    free(x);
    free(x_prev);
    free(g);
    free(sum);
    free(scratch);
    return rc;
}

static int run_gd(const ref_args_t *a, const pd_model_t *m, const pd_data_t *d, double *mask)
{
    size_t dim = m->dim;
    uint64_t block = a->block < d->m ? a->block : d->m;
    double *x = calloc(dim, sizeof(double));
    double *part = calloc(dim, sizeof(double));
    double *total = calloc(dim, sizeof(double));
    uint32_t *idx = calloc(block, sizeof(uint32_t));
    pd_optim_t o;
    int rc;

    memset(&o, 0, sizeof(o));
    if (x == NULL || part == NULL || total == NULL || idx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = optim_setup(a, &o, dim, mask);
    if (rc != 0) {
        goto out;
    }
    for (uint64_t k = 0; k < a->iters; k++) {
        double loss;

        memset(total, 0, dim * sizeof(double));
        /* server/methods/freya_core.c: each block's sum on its own (a one-thread worker's
         * pd_task_grad_range), then added in block order. */
        for (uint64_t lo = 0; lo < d->m; lo += block) {
            uint64_t hi = lo + block < d->m ? lo + block : d->m;
            for (uint64_t j = lo; j < hi; j++) {
                idx[j - lo] = (uint32_t)j;
            }
            memset(part, 0, dim * sizeof(double));
            rc = pd_model_grad_sum(m, d, x, idx, (size_t)(hi - lo), part, &loss);
            if (rc != 0) {
                goto out;
            }
            for (size_t j = 0; j < dim; j++) {
                total[j] += part[j];
            }
        }
        /* server/methods/method_freya.c: g = sum x (1/m), then pd_method_apply with n = 1. */
        double inv = 1.0 / (double)d->m;
        for (size_t j = 0; j < dim; j++) {
            total[j] *= inv;
        }
        pd_optim_apply(&o, x, 0, dim, total, pd_optim_lr(&o));
    }
    print_vec(x, dim);
out:
    pd_optim_release(&o);
    free(x);
    free(part);
    free(total);
    free(idx);
    return rc;
}

/* FISTA with function-value restart (O'Donoghue & Candes) on F = mean loss + Psi. Psi enters
 * through its prox; the step 1/(L + l2), with L from pd_model_lipschitz, is below 1/L of the
 * smooth part whatever Psi is. Stops when the iterate moves less than 1e-13 (relative). */
static int run_optimum(const ref_args_t *a, const pd_model_t *m, const pd_data_t *d,
                       const double *mask)
{
    size_t dim = m->dim;
    double *x = calloc(dim, sizeof(double));
    double *x_prev = calloc(dim, sizeof(double));
    double *y = calloc(dim, sizeof(double));
    double *g = calloc(dim, sizeof(double));
    uint32_t *idx = calloc(d->m, sizeof(uint32_t));
    double lip = pd_model_lipschitz(m, d);
    double step, t = 1.0, f_prev = INFINITY, loss;
    uint64_t max_iters = a->iters > 0 ? a->iters : 200000;
    int rc = 0;

    if (x == NULL || x_prev == NULL || y == NULL || g == NULL || idx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (!(lip > 0) || !isfinite(lip)) {
        fprintf(stderr, "refsolve: bad Lipschitz bound %g\n", lip);
        rc = PD_EDATA;
        goto out;
    }
    step = 1.0 / (lip + a->reg.l2);
    for (size_t i = 0; i < d->m; i++) {
        idx[i] = (uint32_t)i;
    }
    for (uint64_t k = 0; k < max_iters; k++) {
        double t_next, beta, f, moved = 0, scale = 0;

        memset(g, 0, dim * sizeof(double));
        rc = pd_model_grad_sum(m, d, y, idx, d->m, g, &loss);
        if (rc != 0) {
            goto out;
        }
        memcpy(x_prev, x, dim * sizeof(double));
        for (size_t j = 0; j < dim; j++) {
            x[j] = y[j] - step * g[j] / (double)d->m;
        }
        pd_prox_apply(&a->reg, x, x, step, mask, dim);
        f = objective(m, d, &a->reg, mask, x);
        if (f > f_prev) {
            /* A plain step (t == 1) that does not decrease F: rounding noise, we are there. */
            if (t == 1.0) {
                memcpy(x, x_prev, dim * sizeof(double));
                break;
            }
            /* Restart: momentum overshot; take a plain step from x_prev next time. */
            t = 1.0;
            memcpy(x, x_prev, dim * sizeof(double));
            memcpy(y, x_prev, dim * sizeof(double));
            continue;
        }
        t_next = (1.0 + sqrt(1.0 + 4.0 * t * t)) / 2.0;
        beta = (t - 1.0) / t_next;
        for (size_t j = 0; j < dim; j++) {
            double dx = x[j] - x_prev[j];
            y[j] = x[j] + beta * dx;
            moved = fmax(moved, fabs(dx));
            scale = fmax(scale, fabs(x[j]));
        }
        t = t_next;
        f_prev = f;
        if (k > 10 && moved <= 1e-13 * fmax(1.0, scale)) {
            break;
        }
    }
    printf("%.17g\n", objective(m, d, &a->reg, mask, x));
out:
    free(x);
    free(x_prev);
    free(y);
    free(g);
    free(idx);
    return rc;
}

static int run_objective(const ref_args_t *a, const pd_model_t *m, const pd_data_t *d,
                         const double *mask)
{
    double *x = calloc(m->dim, sizeof(double));
    FILE *f = NULL;
    int rc = 0;

    if (x == NULL || a->params == NULL) {
        rc = x == NULL ? -ENOMEM : -EINVAL;
        goto out;
    }
    f = fopen(a->params, "r");
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    for (size_t j = 0; j < m->dim; j++) {
        if (fscanf(f, "%lf", &x[j]) != 1) {
            fprintf(stderr, "refsolve: %s: fewer than %zu values\n", a->params, m->dim);
            rc = PD_EDIM;
            goto out;
        }
    }
    printf("%.17g\n", objective(m, d, &a->reg, mask, x));
out:
    if (f != NULL) {
        fclose(f);
    }
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    ref_args_t a;
    pd_data_opts_t o = {0};
    pd_data_t *d = NULL;
    pd_model_t m;
    double *mask = NULL;
    char err[1024] = "";
    int rc;

    if (parse_args(&a, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    /* As server/job.c load_set() with format = auto and max_samples = 0. */
    o.format = PD_DATA_AUTO;
    o.n_features = (size_t)a.features;
    rc = pd_data_load(&d, a.train, &o, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "refsolve: cannot load %s: %s\n", a.train,
                err[0] != '\0' ? err : pd_strerror(rc));
        return 1;
    }
    rc = pd_model_bind(&m, (pd_model_kind_t)a.model, d, 0, a.bias, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "refsolve: %s\n", err);
        goto out;
    }
    mask = malloc(m.dim * sizeof(double));
    if (mask == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    m.bias_regularized = a.bias_regularized;
    pd_model_bias_mask(&m, mask);
    if (strcmp(a.mode, "sgd") == 0) {
        rc = run_sgd(&a, &m, d, mask);
    } else if (strcmp(a.mode, "page") == 0) {
        rc = run_page(&a, &m, d, mask);
    } else if (strcmp(a.mode, "gd") == 0) {
        rc = run_gd(&a, &m, d, mask);
    } else if (strcmp(a.mode, "optimum") == 0) {
        rc = run_optimum(&a, &m, d, mask);
    } else if (strcmp(a.mode, "objective") == 0) {
        rc = run_objective(&a, &m, d, mask);
    } else {
        usage(stderr);
        free(mask);
        pd_data_free(d);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "refsolve %s: %s\n", a.mode, pd_strerror(rc));
    }
out:
    free(mask);
    pd_data_free(d);
    return rc == 0 ? 0 : 1;
}
