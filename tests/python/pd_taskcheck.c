/* pd_taskcheck.c - the reference side of tests/python/test_compute.py: loads a job's data as
 * paramd-worker does, binds its model, runs one task through the task-kind table with one
 * thread, and prints what the RESULT would carry (doubles as %a, so nothing is lost).
 * Test helper only: arguments are key=value pairs, output is "key value" lines, and the
 * result vector goes raw (little-endian float64) to the file given as out=. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute.h"
#include "data.h"
#include "error.h"
#include "model.h"
#include "task_kind.h"
#include "wire.h"

typedef struct args {
    const char *model, *train, *train_labels, *test, *test_labels, *format, *layers;
    const char *activation, *x, *y, *lsr1, *out;
    uint64_t features, classes, max_samples, seed, begin, end, tbegin, tend, kind, batch;
    bool bias, bias_regularized;
    pd_local_tr_t tr;
} args_t;

/* Reads a file of raw doubles of exactly n values into a new array; NULL on any problem. */
static double *read_doubles(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    double *v = NULL;

    if (f == NULL) {
        fprintf(stderr, "pd_taskcheck: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    v = malloc((n > 0 ? n : 1) * sizeof(double));
    if (v == NULL || fread(v, sizeof(double), n, f) != n || fgetc(f) != EOF) {
        fprintf(stderr, "pd_taskcheck: %s: not %zu doubles\n", path, n);
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

static int parse_arg(args_t *a, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL) {
        return -1;
    }
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
#define STR(name)                                                                             \
    if (kl == strlen(#name) && strncmp(kv, #name, kl) == 0) {                                 \
        a->name = v;                                                                          \
        return 0;                                                                             \
    }
#define U64(name)                                                                             \
    if (kl == strlen(#name) && strncmp(kv, #name, kl) == 0) {                                 \
        a->name = strtoull(v, NULL, 0);                                                       \
        return 0;                                                                             \
    }
#define TRU(name)                                                                             \
    if (kl == strlen(#name) && strncmp(kv, #name, kl) == 0) {                                 \
        a->tr.name = (uint32_t)strtoul(v, NULL, 0);                                           \
        return 0;                                                                             \
    }
#define TRD(name)                                                                             \
    if (kl == strlen(#name) && strncmp(kv, #name, kl) == 0) {                                 \
        a->tr.name = strtod(v, NULL);                                                         \
        return 0;                                                                             \
    }
    STR(model) STR(train) STR(train_labels) STR(test) STR(test_labels) STR(format)
    STR(layers) STR(activation) STR(x) STR(y) STR(lsr1) STR(out)
    U64(features) U64(classes) U64(max_samples) U64(seed) U64(begin) U64(end) U64(tbegin)
    U64(tend) U64(kind) U64(batch)
    TRU(block) TRU(n_blocks) TRU(local_iters) TRU(lsr1_pairs) TRD(radius) TRD(l2)
    TRD(lsr1_gamma)
    if (kl == 4 && strncmp(kv, "bias", 4) == 0) {
        a->bias = strcmp(v, "1") == 0;
        return 0;
    }
    if (kl == 16 && strncmp(kv, "bias_regularized", 16) == 0) {
        a->bias_regularized = strcmp(v, "1") == 0;
        return 0;
    }
    return -1;
}

static int load(const args_t *a, const char *path, const char *labels, pd_data_t **out)
{
    static const char *const names[] = {"auto", "libsvm", "idx", "csv"};
    static const pd_data_format_t formats[] = {PD_DATA_AUTO, PD_DATA_LIBSVM, PD_DATA_IDX,
                                               PD_DATA_CSV};
    pd_data_opts_t o = {0};
    char err[512] = "";

    for (size_t i = 0; i < 4; i++) {
        if (a->format != NULL && strcmp(a->format, names[i]) == 0) {
            o.format = formats[i];
        }
    }
    o.labels_path = labels;
    o.n_features = (size_t)a->features;
    o.max_samples = (size_t)a->max_samples;
    int rc = pd_data_load(out, path, &o, err, sizeof(err));
    if (rc != 0) {
        printf("error %s\n", err);
    }
    return rc;
}

int main(int argc, char **argv)
{
    args_t a = {0};
    pd_data_t *train = NULL, *test = NULL;
    pd_model_t model = {0};
    pd_task_ctx_t ctx = {0};
    double *x = NULL, *y = NULL, *lsr1 = NULL, *out = NULL, *scratch = NULL;
    char err[512] = "";
    int rc = 2;

    for (int i = 1; i < argc; i++) {
        if (parse_arg(&a, argv[i]) != 0) {
            fprintf(stderr, "pd_taskcheck: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (a.train == NULL) {
        fprintf(stderr, "pd_taskcheck: need train=PATH\n");
        return 2;
    }
    if (load(&a, a.train, a.train_labels, &train) != 0) {
        return 1;
    }
    printf("train_fingerprint %" PRIu64 "\ntrain_m %zu\ntrain_p %zu\n",
           pd_data_fingerprint(train), train->m, train->p);
    if (a.test != NULL) {
        if (load(&a, a.test, a.test_labels, &test) != 0) {
            goto out;
        }
        printf("test_fingerprint %" PRIu64 "\n", pd_data_fingerprint(test));
    }
    if (a.model == NULL) {
        rc = 0;
        goto out;
    }
    int kind = pd_model_kind_parse(a.model);
    if (kind == PD_MODEL_MLP) {
        pd_mlp_shape_t shape = {0};
        int act = pd_activation_parse(a.activation != NULL ? a.activation : "tanh");
        if (act < 0 || pd_mlp_parse_layers(a.layers != NULL ? a.layers : "", &shape, err,
                                           sizeof(err)) != 0) {
            printf("error bad network: %s\n", err);
            goto out;
        }
        shape.activation = (pd_activation_t)act;
        rc = pd_model_bind_mlp(&model, train, &shape, err, sizeof(err));
    } else if (kind > 0) {
        rc = pd_model_bind(&model, (pd_model_kind_t)kind, train, (size_t)a.classes, a.bias, err,
                           sizeof(err));
    } else {
        snprintf(err, sizeof(err), "model '%s' is not one a worker runs", a.model);
        rc = -EINVAL;
    }
    if (rc != 0) {
        printf("error bind: %s\n", err);
        rc = 1;
        goto out;
    }
    model.bias_regularized = a.bias_regularized;
    printf("dim %zu\n", model.dim);
    const pd_task_kind_info_t *info = pd_task_kind_info((int)a.kind);
    if (info == NULL) {
        rc = 0; /* no task: data and model only */
        goto out;
    }
    pd_msg_t t;
    pd_msg_init(&t, PD_MSG_TASK);
    t.kind = (pd_task_kind_t)a.kind;
    t.seed = a.seed;
    t.batch = (uint32_t)a.batch;
    t.range_begin = a.begin;
    t.range_end = a.end;
    t.test_begin = a.tbegin;
    t.test_end = a.tend;
    t.has_local_tr = a.kind == PD_TASK_LOCAL_TR;
    t.local_tr = a.tr;
    size_t ylen = 0, mlen = 0;
    x = read_doubles(a.x, model.dim);
    if (x == NULL) {
        goto out;
    }
    if (a.y != NULL) {
        if (pd_task_frame2_len(&model, &t, &ylen) != 0 || (y = read_doubles(a.y, ylen)) == NULL) {
            printf("error frame 2\n");
            rc = 1;
            goto out;
        }
    }
    if (a.lsr1 != NULL) {
        if (pd_task_lsr1_len(&model, &t, &mlen) != 0 ||
            (lsr1 = read_doubles(a.lsr1, mlen)) == NULL) {
            printf("error memory frame\n");
            rc = 1;
            goto out;
        }
    }
    out = calloc(model.dim, sizeof(double));
    scratch = calloc(model.dim, sizeof(double));
    if (out == NULL || scratch == NULL || pd_task_ctx_init(&ctx, &model, train, test, 1) != 0) {
        goto out;
    }
    pd_task_io_t io = {.x = x, .y = y, .lsr1 = lsr1, .out = out, .out_len = model.dim,
                       .scratch = scratch};
    rc = info->run(&ctx, &t, &io);
    printf("rc %d\n", rc);
    if (rc != 0) {
        printf("error task: %s\n", pd_strerror(rc));
        rc = 1;
        goto out;
    }
    printf("loss_sum %a\nn_samples %" PRIu64 "\ncorrect %" PRIu64 "\n", io.loss_sum, io.samples,
           io.correct);
    if (a.kind == PD_TASK_LOCAL_TR) {
        const pd_local_tr_t *r = &io.local_tr;
        printf("pred %a\nradius_acc %a\nany_accepted %d\nloss %a\nloss_evals %" PRIu32
               "\ngrad_evals %" PRIu32 "\naccepted %" PRIu32 "\nrejected %" PRIu32
               "\nfoc_norm %a\n",
               r->pred, r->radius_acc, r->any_accepted ? 1 : 0, r->loss, r->loss_evals,
               r->grad_evals, r->accepted, r->rejected, r->foc_norm);
    }
    if (info->result_frames == 1 && a.out != NULL) {
        FILE *f = fopen(a.out, "wb");
        if (f == NULL || fwrite(out, sizeof(double), io.out_len, f) != io.out_len ||
            fclose(f) != 0) {
            fprintf(stderr, "pd_taskcheck: cannot write %s\n", a.out);
            rc = 2;
            goto out;
        }
        printf("out_len %zu\n", io.out_len);
    }
    rc = 0;
out:
    pd_task_ctx_release(&ctx);
    free(x);
    free(y);
    free(lsr1);
    free(out);
    free(scratch);
    pd_data_free(train);
    pd_data_free(test);
    return rc;
}
