/* datagen.c - paramd-datagen: seedable synthetic data sets in LIBSVM format, so a new user
 * (and the integration tests) can run a job without downloading anything.
 * The same arguments always give the same files: all randomness comes from pd_rng
 * (splitmix64) streams derived from --seed, and the true weights depend only on --seed,
 * --features and --nnz-weights, so train and test files share them. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "rng.h"

enum datagen_exit {
    DATAGEN_EXIT_OK = 0,
    DATAGEN_EXIT_IO = 1,    /* could not write the output, or out of memory */
    DATAGEN_EXIT_USAGE = 2, /* bad command line */
};

typedef enum kind {
    KIND_LOGISTIC,
    KIND_LASSO,
    KIND_LSQ,
} kind_t;

typedef struct args {
    kind_t kind;
    uint64_t samples;
    uint64_t features;
    double density;     /* < 0: the kind's default */
    uint64_t nnz_weights; /* 0: the kind's default */
    double noise;       /* < 0: the kind's default */
    uint64_t seed;
    double test_fraction;
    const char *out;
} args_t;

static void usage(FILE *f)
{
    fputs("usage: paramd-datagen logistic|lasso|lsq --samples M --features P [--density D]\n"
          "         [--nnz-weights K] [--noise S] [--seed N] [--test-fraction F] --out PREFIX\n"
          "\n"
          "Writes PREFIX.train.svm and PREFIX.test.svm (LIBSVM format, 1-based indices).\n"
          "  logistic  labels +1/-1 = sign(a.w*), each flipped with probability S (default 0.05)\n"
          "  lasso     y = a.w* + S * N(0,1) with a sparse w* (default S = 0.1)\n"
          "  lsq       like lasso, but w* is dense unless --nnz-weights is given\n"
          "  --density D        fraction of non-zero features per sample, in (0, 1]\n"
          "                     (default 0.1; 1 for lsq)\n"
          "  --nnz-weights K    non-zeros of w*, 1..P (default max(1, P/10); P for lsq)\n"
          "  --seed N           random seed (default 1)\n"
          "  --test-fraction F  share of samples in the test file, in [0, 1) (default 0.2;\n"
          "                     0 writes no test file)\n"
          "A sample may have no non-zero feature, so load both files with n_features = P.\n",
          f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("paramd-datagen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(paramd-datagen --help for usage)\n", stderr);
    return DATAGEN_EXIT_USAGE;
}

/* Whole-string decimal parse; strtoull alone would accept "-1" (as a huge value) and "12x". */
static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (*s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *v = x;
    return true;
}

static bool parse_real(const char *s, double *v)
{
    char *end;
    if (*s == '\0') {
        return false;
    }
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v);
}

static int parse_args(int argc, char **argv, args_t *a)
{
    static const struct option longopts[] = {
        {"samples", required_argument, NULL, 'm'},
        {"features", required_argument, NULL, 'p'},
        {"density", required_argument, NULL, 'd'},
        {"nnz-weights", required_argument, NULL, 'k'},
        {"noise", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"test-fraction", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_m = false, have_p = false;
    int c;

    *a = (args_t){.density = -1.0, .noise = -1.0, .seed = 1, .test_fraction = 0.2};
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!parse_u64(optarg, &a->samples) || a->samples == 0 ||
                a->samples > PD_DATA_MAX_SAMPLES) {
                return usage_error("--samples must be an integer from 1 to 2^31, not '%s'",
                                   optarg);
            }
            have_m = true;
            break;
        case 'p':
            if (!parse_u64(optarg, &a->features) || a->features == 0 ||
                a->features > PD_DATA_MAX_FEATURES) {
                return usage_error("--features must be an integer from 1 to 2^31, not '%s'",
                                   optarg);
            }
            have_p = true;
            break;
        case 'd':
            if (!parse_real(optarg, &a->density) || !(a->density > 0.0 && a->density <= 1.0)) {
                return usage_error("--density must be a number in (0, 1], not '%s'", optarg);
            }
            break;
        case 'k':
            if (!parse_u64(optarg, &a->nnz_weights) || a->nnz_weights == 0) {
                return usage_error("--nnz-weights must be a positive integer, not '%s'", optarg);
            }
            break;
        case 'n':
            if (!parse_real(optarg, &a->noise) || a->noise < 0.0) {
                return usage_error("--noise must be a non-negative number, not '%s'", optarg);
            }
            break;
        case 's':
            if (!parse_u64(optarg, &a->seed)) {
                return usage_error("--seed must be a non-negative integer, not '%s'", optarg);
            }
            break;
        case 't':
            if (!parse_real(optarg, &a->test_fraction) ||
                !(a->test_fraction >= 0.0 && a->test_fraction < 1.0)) {
                return usage_error("--test-fraction must be a number in [0, 1), not '%s'",
                                   optarg);
            }
            break;
        case 'o':
            if (*optarg == '\0') {
                return usage_error("--out must not be empty");
            }
            a->out = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(DATAGEN_EXIT_OK);
        default:
            /* getopt_long has already named the bad option */
            return usage_error("bad option");
        }
    }
    if (optind >= argc) {
        return usage_error("missing the kind: logistic, lasso or lsq");
    }
    const char *k = argv[optind];
    if (strcmp(k, "logistic") == 0) {
        a->kind = KIND_LOGISTIC;
    } else if (strcmp(k, "lasso") == 0) {
        a->kind = KIND_LASSO;
    } else if (strcmp(k, "lsq") == 0) {
        a->kind = KIND_LSQ;
    } else {
        return usage_error("unknown kind '%s' (logistic, lasso or lsq)", k);
    }
    if (optind + 1 < argc) {
        return usage_error("unexpected argument '%s'", argv[optind + 1]);
    }
    if (!have_m) {
        return usage_error("--samples is required");
    }
    if (!have_p) {
        return usage_error("--features is required");
    }
    if (a->out == NULL) {
        return usage_error("--out is required");
    }
    if (a->density < 0.0) {
        a->density = a->kind == KIND_LSQ ? 1.0 : 0.1;
    }
    if (a->nnz_weights == 0) {
        a->nnz_weights = a->kind == KIND_LSQ ? a->features
                         : a->features / 10 > 0 ? a->features / 10 : 1;
    }
    if (a->nnz_weights > a->features) {
        return usage_error("--nnz-weights must not exceed --features");
    }
    if (a->noise < 0.0) {
        a->noise = a->kind == KIND_LOGISTIC ? 0.05 : 0.1;
    }
    if (a->kind == KIND_LOGISTIC && a->noise > 0.5) {
        return usage_error("--noise is a flip probability for logistic: at most 0.5");
    }
    return DATAGEN_EXIT_OK;
}

/* w* with exactly k non-zeros at distinct positions (a partial Fisher-Yates shuffle). */
static int make_weights(const args_t *a, double **out)
{
    size_t p = (size_t)a->features;
    double *w = calloc(p, sizeof(*w));
    uint32_t *perm = malloc(p * sizeof(*perm));
    int rc;

    if (w == NULL || perm == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pd_rng_t r;
    pd_rng_seed(&r, pd_rng_mix(a->seed, 1));
    for (size_t j = 0; j < p; j++) {
        perm[j] = (uint32_t)j;
    }
    for (size_t i = 0; i < a->nnz_weights; i++) {
        size_t j = i + (size_t)pd_rng_below(&r, p - i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        w[perm[i]] = pd_rng_normal(&r);
    }
    *out = w;
    w = NULL;
    rc = 0;
out:
    free(perm);
    free(w);
    return rc;
}

/* Appends to a growable text buffer. */
static int buf_printf(char **buf, size_t *cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int buf_printf(char **buf, size_t *cap, size_t *used, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *used, *cap - *used, fmt, ap);
        va_end(ap);
        if (n < 0) {
            return -EIO;
        }
        if ((size_t)n < *cap - *used) {
            *used += (size_t)n;
            return 0;
        }
        size_t nc = *cap * 2 + (size_t)n;
        char *nb = realloc(*buf, nc);
        if (nb == NULL) {
            return -ENOMEM;
        }
        *buf = nb;
        *cap = nc;
    }
}

/* Writes `count` samples to path (through path.tmp and a rename, so an interrupted run
 * never leaves a half file under the real name). */
static int write_set(const args_t *a, const double *w, pd_rng_t *r, size_t count,
                     const char *path, size_t *nnz_out)
{
    char *tmp = NULL;
    char *line = NULL;
    size_t cap = 4096;
    FILE *f = NULL;
    size_t nnz = 0;
    int rc;

    size_t tl = strlen(path) + 5;
    tmp = malloc(tl);
    line = malloc(cap);
    if (tmp == NULL || line == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(tmp, tl, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    /* Feature positions are drawn by geometric gaps: O(nnz) per sample, not O(P), so wide
     * sparse sets stay cheap. log1p(-D) is 0 for D = 1; that case takes every feature. */
    double log_skip = a->density < 1.0 ? log1p(-a->density) : 0.0;
    for (size_t i = 0; i < count; i++) {
        /* The features are drawn before the label (which needs a.w*) but printed after it. */
        size_t used = 0;
        double z = 0.0;
        for (uint64_t j = 0;; j++) {
            if (log_skip != 0.0) {
                double gap = floor(log1p(-pd_rng_uniform(r)) / log_skip);
                if (gap >= (double)(a->features - j)) {
                    break;
                }
                j += (uint64_t)gap;
            }
            if (j >= a->features) {
                break;
            }
            double v = pd_rng_normal(r);
            z += v * w[j];
            rc = buf_printf(&line, &cap, &used, " %llu:%.8g", (unsigned long long)j + 1, v);
            if (rc < 0) {
                goto out;
            }
            nnz++;
        }
        double y;
        if (a->kind == KIND_LOGISTIC) {
            /* A sample that touches no non-zero weight carries no signal: a fair coin. */
            y = z > 0.0 ? 1.0 : z < 0.0 ? -1.0 : ((pd_rng_next(r) & 1) != 0 ? 1.0 : -1.0);
            if (pd_rng_uniform(r) < a->noise) {
                y = -y;
            }
        } else {
            y = z + a->noise * pd_rng_normal(r);
        }
        int n = a->kind == KIND_LOGISTIC ? fprintf(f, "%+g", y) : fprintf(f, "%.10g", y);
        if (n < 0 || fwrite(line, 1, used, f) != used || fputc('\n', f) == EOF) {
            rc = -EIO;
            goto out;
        }
    }
    if (fflush(f) != 0) {
        rc = -errno;
        goto out;
    }
    FILE *g = f;
    f = NULL;
    if (fclose(g) != 0) {
        rc = -errno;
        goto out;
    }
    if (rename(tmp, path) < 0) {
        rc = -errno;
        goto out;
    }
    *nnz_out = nnz;
    rc = 0;
out:
    if (f != NULL) {
        fclose(f);
    }
    if (rc < 0 && tmp != NULL) {
        remove(tmp);
    }
    free(line);
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    args_t a;
    int ex = parse_args(argc, argv, &a);
    if (ex != DATAGEN_EXIT_OK) {
        return ex;
    }

    size_t m = (size_t)a.samples;
    size_t n_test = (size_t)floor((double)m * a.test_fraction + 0.5);
    if (a.test_fraction > 0.0 && n_test == 0) {
        n_test = 1;
    }
    if (n_test >= m) {
        return usage_error("--samples is too small for --test-fraction: no training sample "
                           "left");
    }
    size_t n_train = m - n_test;

    double *w = NULL;
    char *path = NULL;
    ex = DATAGEN_EXIT_IO;
    int rc = make_weights(&a, &w);
    if (rc < 0) {
        fprintf(stderr, "paramd-datagen: weights: %s\n", strerror(-rc));
        goto out;
    }
    size_t pl = strlen(a.out) + sizeof(".train.svm");
    path = malloc(pl);
    if (path == NULL) {
        fprintf(stderr, "paramd-datagen: out of memory\n");
        goto out;
    }
    /* One sample stream for both files: the test set continues where training stopped. */
    pd_rng_t r;
    pd_rng_seed(&r, pd_rng_mix(a.seed, 2));
    static const char *const suffix[2] = {".train.svm", ".test.svm"};
    size_t counts[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        if (counts[s] == 0) {
            continue;
        }
        size_t nnz = 0;
        snprintf(path, pl, "%s%s", a.out, suffix[s]);
        rc = write_set(&a, w, &r, counts[s], path, &nnz);
        if (rc < 0) {
            fprintf(stderr, "paramd-datagen: %s: %s\n", path, strerror(-rc));
            goto out;
        }
        fprintf(stderr, "paramd-datagen: wrote %s: samples=%zu features=%llu nnz=%zu\n", path,
                counts[s], (unsigned long long)a.features, nnz);
    }
    ex = DATAGEN_EXIT_OK;
out:
    free(path);
    free(w);
    return ex;
}
