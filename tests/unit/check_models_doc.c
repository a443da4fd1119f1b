/* check_models_doc.c - every test vector of doc/models.md against the code it describes
 * (models, pd_rng_sample, the data loaders and fingerprint, the prox operators, the server
 * optimiser), so the normative document cannot drift from the code. The document's path is
 * compiled in (PD_MODELS_DOC, the source tree's doc/models.md); the environment variable of
 * the same name overrides it. With PD_MODELS_DOC_PRINT=1 the vectors are not compared but
 * printed with the outputs the code computes, which is how the document's values are made. */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "data.h"
#include "doc_vectors.h"
#include "model.h"
#include "optim.h"
#include "prox.h"
#include "rng.h"

#ifndef PD_MODELS_DOC
#error "PD_MODELS_DOC must name doc/models.md (set in tests/local.mk)"
#endif

/* One vector's run: its outputs are either compared (print == false) or collected as text. */
typedef struct run {
    dv_vector_t *v;
    bool print;
    double tol;
    char out[1 << 16]; /* print mode: the output lines */
    size_t out_len;
    char emitted[16][DV_KEY_MAX];
    size_t n_emitted;
    char err[512];
} run_t;

__attribute__((format(printf, 3, 4))) static int run_fail(run_t *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 2, 3))) static void out_add(run_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->out + r->out_len, sizeof(r->out) - r->out_len, fmt, ap);
    va_end(ap);
    if (k > 0) {
        r->out_len = r->out_len + (size_t)k < sizeof(r->out) ? r->out_len + (size_t)k
                                                               : sizeof(r->out) - 1;
    }
}

static void note_emitted(run_t *r, const char *key)
{
    if (r->n_emitted < sizeof(r->emitted) / sizeof(r->emitted[0])) {
        snprintf(r->emitted[r->n_emitted++], DV_KEY_MAX, "%s", key);
    }
}

/* Compare (or print) one numeric output. Bit for bit unless the vector has a tolerance;
 * -0.0 == 0.0 either way, as the document says. */
static int emit(run_t *r, const char *key, const double *got, size_t n)
{
    note_emitted(r, key);
    if (r->print) {
        out_add(r, "%s:", key);
        for (size_t i = 0; i < n; i++) {
            out_add(r, " %.17g", got[i]);
        }
        out_add(r, "\n");
        return 0;
    }
    double *want = NULL;
    size_t nw = 0;
    int rc = dv_doubles(r->v, key, &want, &nw, r->err, sizeof(r->err));
    if (rc != 0) {
        return rc;
    }
    if (nw != n) {
        rc = run_fail(r, -EINVAL, "%s: %zu numbers expected by the code, %zu in the document", key,
                  n, nw);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok = r->tol > 0.0 ? fabs(got[i] - want[i]) <= r->tol * fmax(1.0, fabs(want[i]))
                               : got[i] == want[i];
        if (!ok) {
            rc = run_fail(r, -EINVAL, "%s[%zu]: the code gives %.17g, the document %.17g", key, i,
                      got[i], want[i]);
            goto out;
        }
    }
    rc = 0;
out:
    free(want);
    return rc;
}

static int emit_one(run_t *r, const char *key, double got)
{
    return emit(r, key, &got, 1);
}

static int emit_string(run_t *r, const char *key, const char *got)
{
    note_emitted(r, key);
    if (r->print) {
        out_add(r, "%s: %s\n", key, got);
        return 0;
    }
    const char *want = dv_get(r->v, key);
    if (want == NULL) {
        return run_fail(r, -ENOENT, "missing key '%s'", key);
    }
    if (strcmp(want, got) != 0) {
        return run_fail(r, -EINVAL, "%s: the code gives '%s', the document '%s'", key, got, want);
    }
    return 0;
}

/* The length check of a list input: exactly `n` entries (n == 0: any, returned in *len).
 * On a mismatch *arr is freed and set to NULL. */
static int want_len(run_t *r, const char *key, size_t n, size_t got, void **arr, size_t *len)
{
    if (n != 0 && got != n) {
        free(*arr);
        *arr = NULL;
        return run_fail(r, -EINVAL, "%s: expected %zu values, found %zu", key, n, got);
    }
    if (len != NULL) {
        *len = got;
    }
    return 0;
}

static int get_list(run_t *r, const char *key, size_t n, double **out, size_t *len)
{
    size_t got = 0;
    int rc = dv_doubles(r->v, key, out, &got, r->err, sizeof(r->err));
    return rc != 0 ? rc : want_len(r, key, n, got, (void **)out, len);
}

static int get_u64_list(run_t *r, const char *key, size_t n, uint64_t **out, size_t *len)
{
    size_t got = 0;
    int rc = dv_u64s(r->v, key, out, &got, r->err, sizeof(r->err));
    return rc != 0 ? rc : want_len(r, key, n, got, (void **)out, len);
}

static int get_string(run_t *r, const char *key, const char **out)
{
    *out = dv_get(r->v, key);
    return *out != NULL ? 0 : run_fail(r, -ENOENT, "missing key '%s'", key);
}

/* A string key read by one of the code's own name parsers (pd_*_parse: index or -EINVAL). */
static int get_enum(run_t *r, const char *key, int (*parse)(const char *name), int *out)
{
    const char *name;
    int rc = get_string(r, key, &name);
    if (rc != 0) {
        return rc;
    }
    *out = parse(name);
    return *out >= 0 ? 0 : run_fail(r, -EINVAL, "unknown %s '%s'", key, name);
}

/* An optional 0/1 mask the length of the vector it masks. */
static int get_mask(run_t *r, size_t n, double **mask)
{
    *mask = NULL;
    if (dv_get(r->v, "mask") == NULL) {
        return 0;
    }
    int rc = get_list(r, "mask", n, mask, NULL);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((*mask)[i] != 0.0 && (*mask)[i] != 1.0) {
            rc = run_fail(r, -EINVAL, "mask[%zu] is not 0 or 1", i);
        }
    }
    return rc;
}

/* ---- kind: model ---- */

/* The data set of a model vector: dense `x`, or CSR `row_ptr`/`col`/`val`, checked as the
 * loaders would (columns below p, offsets increasing) so the models get valid input. */
static int model_data(run_t *r, pd_data_t *d)
{
    uint64_t m, p, *rp = NULL, *col = NULL;
    size_t nnz = 0, ncol = 0;
    int rc;

    if ((rc = dv_u64(r->v, "m", &m, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_u64(r->v, "p", &p, r->err, sizeof(r->err))) != 0) {
        return rc;
    }
    if (m == 0 || m > 1000 || p > 1000) {
        return run_fail(r, -EINVAL, "m = %" PRIu64 ", p = %" PRIu64 ": a vector is small", m, p);
    }
    d->m = m;
    d->p = p;
    if ((rc = get_list(r, "y", m, &d->y, NULL)) != 0) {
        return rc;
    }
    if (dv_get(r->v, "x") != NULL) {
        return get_list(r, "x", m * p, &d->x, NULL);
    }
    d->sparse = true;
    if ((rc = get_u64_list(r, "row_ptr", m + 1, &rp, NULL)) != 0) {
        goto out;
    }
    nnz = rp[m];
    if ((rc = get_u64_list(r, "col", 0, &col, &ncol)) != 0 ||
        (rc = get_list(r, "val", ncol, &d->val, NULL)) != 0) {
        goto out;
    }
    if (rp[0] != 0 || ncol != nnz) {
        rc = run_fail(r, -EINVAL, "row_ptr must start at 0 and end at the %zu columns", ncol);
        goto out;
    }
    d->nnz = nnz;
    d->row_ptr = malloc((m + 1) * sizeof(size_t));
    d->col = malloc((nnz > 0 ? nnz : 1) * sizeof(uint32_t));
    if (d->row_ptr == NULL || d->col == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i <= m; i++) {
        if (i > 0 && rp[i] < rp[i - 1]) {
            rc = run_fail(r, -EINVAL, "row_ptr decreases at %zu", i);
            goto out;
        }
        d->row_ptr[i] = rp[i];
    }
    for (size_t k = 0; k < nnz; k++) {
        if (col[k] >= p) {
            rc = run_fail(r, -EINVAL, "col[%zu] = %" PRIu64 " is not below p", k, col[k]);
            goto out;
        }
        d->col[k] = (uint32_t)col[k];
    }
    rc = 0;
out:
    free(rp);
    free(col);
    return rc;
}

static int model_bind(run_t *r, const pd_data_t *d, pd_model_t *m)
{
    uint64_t u;
    int kind, rc;

    if ((rc = get_enum(r, "model", pd_model_kind_parse, &kind)) != 0) {
        return rc;
    }
    if (kind == PD_MODEL_NONE) {
        return run_fail(r, -EINVAL, "model none has no samples to sum over");
    }
    if (kind == PD_MODEL_QUADRATIC) {
        if ((rc = dv_u64(r->v, "dim", &u, r->err, sizeof(r->err))) != 0) {
            return rc;
        }
        rc = pd_model_bind_quadratic(m, d, (size_t)u, r->err, sizeof(r->err));
    } else if (kind == PD_MODEL_MLP) {
        pd_mlp_shape_t shape = {0};
        uint64_t *w = NULL;
        size_t nw = 0;
        int a;
        if ((rc = get_u64_list(r, "layers", 0, &w, &nw)) != 0 ||
            (rc = get_enum(r, "activation", pd_activation_parse, &a)) != 0) {
            free(w);
            return rc;
        }
        if (nw < 2 || nw > PD_MLP_MAX_LAYERS + 1) {
            free(w);
            return run_fail(r, -EINVAL, "layers: 2 to %d widths", PD_MLP_MAX_LAYERS + 1);
        }
        shape.n_layers = nw - 1;
        for (size_t l = 0; l < nw; l++) {
            shape.width[l] = (size_t)w[l];
        }
        shape.activation = (pd_activation_t)a;
        free(w);
        rc = pd_model_bind_mlp(m, d, &shape, r->err, sizeof(r->err));
    } else {
        uint64_t bias, classes = 0;
        if ((rc = dv_u64(r->v, "bias", &bias, r->err, sizeof(r->err))) != 0) {
            return rc;
        }
        if (bias > 1) {
            return run_fail(r, -EINVAL, "bias must be 0 or 1");
        }
        if (kind == PD_MODEL_SOFTMAX &&
            (rc = dv_u64(r->v, "classes", &classes, r->err, sizeof(r->err))) != 0) {
            return rc;
        }
        rc = pd_model_bind(m, (pd_model_kind_t)kind, d, (size_t)classes, bias == 1, r->err,
                           sizeof(r->err));
    }
    return rc;
}

static int run_model(run_t *r)
{
    pd_data_t d = {0};
    pd_model_t m;
    double *x = NULL, *dir = NULL, *grad = NULL, *hv = NULL;
    uint64_t *idx64 = NULL;
    uint32_t *idx = NULL;
    size_t n = 0;
    double loss = 0.0, loss_only = 0.0, eval_loss = 0.0;
    uint64_t correct = 0;
    int rc;

    if ((rc = model_data(r, &d)) != 0 || (rc = model_bind(r, &d, &m)) != 0 ||
        (rc = get_list(r, "params", m.dim, &x, NULL)) != 0 ||
        (rc = get_list(r, "direction", m.dim, &dir, NULL)) != 0 ||
        (rc = get_u64_list(r, "indices", 0, &idx64, &n)) != 0) {
        goto out;
    }
    idx = malloc(n * sizeof(*idx));
    grad = calloc(m.dim, sizeof(*grad));
    hv = calloc(m.dim, sizeof(*hv));
    if (idx == NULL || grad == NULL || hv == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (idx64[i] >= d.m) {
            rc = run_fail(r, -EINVAL, "indices[%zu] is not below m", i);
            goto out;
        }
        idx[i] = (uint32_t)idx64[i];
    }
    if ((rc = pd_model_grad_sum(&m, &d, x, idx, n, grad, &loss)) != 0 ||
        (rc = pd_model_loss_sum(&m, &d, x, idx, n, &loss_only)) != 0 ||
        (rc = pd_model_hvp_sum(&m, &d, x, dir, idx, n, hv)) != 0 ||
        (rc = pd_model_eval_range(&m, &d, x, 0, d.m, &eval_loss, &correct)) != 0) {
        run_fail(r, rc, "the model refused the vector: %s", r->err[0] ? r->err : "(no message)");
        goto out;
    }
    /* GRAD reports the loss of grad_sum, LOSS that of loss_sum: the document gives one. */
    if (loss != loss_only) {
        rc = run_fail(r, -EINVAL, "grad_sum's loss %.17g differs from loss_sum's %.17g", loss,
                  loss_only);
        goto out;
    }
    if ((rc = emit_one(r, "loss", loss)) != 0 || (rc = emit(r, "grad", grad, m.dim)) != 0 ||
        (rc = emit(r, "hvp", hv, m.dim)) != 0 ||
        (rc = emit_one(r, "eval_loss", eval_loss)) != 0 ||
        (rc = emit_one(r, "correct", (double)correct)) != 0) {
        goto out;
    }
out:
    free(x);
    free(dir);
    free(grad);
    free(hv);
    free(idx64);
    free(idx);
    free(d.y);
    free(d.x);
    free(d.row_ptr);
    free(d.col);
    free(d.val);
    return rc;
}

/* ---- kind: rng ---- */

static int run_rng(run_t *r)
{
    uint64_t seed, m, count;
    uint32_t *draws = NULL;
    double *got = NULL;
    int rc;

    if ((rc = dv_u64(r->v, "seed", &seed, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_u64(r->v, "m", &m, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_u64(r->v, "count", &count, r->err, sizeof(r->err))) != 0) {
        return rc;
    }
    if (m == 0 || count == 0 || count > 100000) {
        return run_fail(r, -EINVAL, "m and count must be at least 1 (count at most 100000)");
    }
    draws = malloc(count * sizeof(*draws));
    got = malloc(count * sizeof(*got));
    if (draws == NULL || got == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pd_rng_sample(seed, m, (uint32_t)count, draws);
    for (size_t i = 0; i < count; i++) {
        got[i] = draws[i];
    }
    rc = emit(r, "draws", got, count);
out:
    free(draws);
    free(got);
    return rc;
}

/* ---- kind: data ---- */

static int write_file(run_t *r, const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return run_fail(r, -errno, "%s: %s", path, strerror(errno));
    }
    size_t put = fwrite(buf, 1, len, f);
    if (fclose(f) != 0 || put != len) {
        return run_fail(r, -EIO, "%s: write failed", path);
    }
    return 0;
}

/* The `text` lines, each ended by a newline. */
static int write_text(run_t *r, const char *path)
{
    char *buf = NULL;
    size_t len = 0, lines = 0;
    int rc;

    for (size_t i = 0; i < r->v->n; i++) {
        dv_entry_t *e = &r->v->e[i];
        if (strcmp(e->key, "text") != 0) {
            continue;
        }
        e->used = true;
        size_t l = strlen(e->value);
        char *nb = realloc(buf, len + l + 2);
        if (nb == NULL) {
            free(buf);
            return -ENOMEM;
        }
        buf = nb;
        memcpy(buf + len, e->value, l);
        buf[len + l] = '\n';
        len += l + 1;
        lines++;
    }
    rc = lines == 0 ? run_fail(r, -ENOENT, "missing key 'text'") : write_file(r, path, buf, len);
    free(buf);
    return rc;
}

static void put_be32(unsigned char *b, uint64_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* The two IDX files of a vector, as doc/models.md says to write them. */
static int write_idx(run_t *r, const char *images, const char *labels)
{
    uint64_t *dims = NULL, *pix = NULL, *lab = NULL;
    unsigned char *buf = NULL;
    size_t npix = 0, nlab = 0;
    int rc;

    if ((rc = get_u64_list(r, "idx_dims", 3, &dims, NULL)) != 0 ||
        (rc = get_u64_list(r, "idx_pixels", 0, &pix, &npix)) != 0 ||
        (rc = get_u64_list(r, "idx_labels", 0, &lab, &nlab)) != 0) {
        goto out;
    }
    if (dims[0] > 1000 || dims[1] > 1000 || dims[2] > 1000 ||
        npix != dims[0] * dims[1] * dims[2] || nlab != dims[0]) {
        rc = run_fail(r, -EINVAL, "idx_pixels must hold the product of idx_dims, idx_labels "
                  "idx_dims[0] bytes");
        goto out;
    }
    buf = malloc(16 + npix + 8 + nlab);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    put_be32(buf, 0x00000803);
    for (size_t i = 0; i < 3; i++) {
        put_be32(buf + 4 + 4 * i, dims[i]);
    }
    for (size_t i = 0; i < npix; i++) {
        if (pix[i] > 255) {
            rc = run_fail(r, -EINVAL, "idx_pixels[%zu] is not a byte", i);
            goto out;
        }
        buf[16 + i] = (unsigned char)pix[i];
    }
    if ((rc = write_file(r, images, buf, 16 + npix)) != 0) {
        goto out;
    }
    put_be32(buf, 0x00000801);
    put_be32(buf + 4, nlab);
    for (size_t i = 0; i < nlab; i++) {
        if (lab[i] > 255) {
            rc = run_fail(r, -EINVAL, "idx_labels[%zu] is not a byte", i);
            goto out;
        }
        buf[8 + i] = (unsigned char)lab[i];
    }
    rc = write_file(r, labels, buf, 8 + nlab);
out:
    free(dims);
    free(pix);
    free(lab);
    free(buf);
    return rc;
}

static int emit_set(run_t *r, const pd_data_t *d)
{
    double *a = malloc((d->m * d->p + d->m + d->nnz + 2) * sizeof(double));
    char hex[17];
    int rc;

    if (a == NULL) {
        return -ENOMEM;
    }
    if ((rc = emit_one(r, "m", (double)d->m)) != 0 || (rc = emit_one(r, "p", (double)d->p)) != 0 ||
        (rc = emit(r, "y", d->y, d->m)) != 0) {
        goto out;
    }
    if (!d->sparse) {
        rc = emit(r, "x", d->x, d->m * d->p);
    } else {
        for (size_t i = 0; i <= d->m; i++) {
            a[i] = (double)d->row_ptr[i];
        }
        rc = emit(r, "row_ptr", a, d->m + 1);
        for (size_t k = 0; rc == 0 && k < d->nnz; k++) {
            a[k] = d->col[k];
        }
        if (rc == 0) {
            rc = emit(r, "col", a, d->nnz);
        }
        if (rc == 0) {
            rc = emit(r, "val", d->val, d->nnz);
        }
    }
    if (rc == 0) {
        snprintf(hex, sizeof(hex), "%016" PRIx64, pd_data_fingerprint(d));
        rc = emit_string(r, "fingerprint", hex);
    }
out:
    free(a);
    return rc;
}

static int run_data(run_t *r)
{
    char dir[] = "/tmp/pd-models-doc-XXXXXX", path[512] = "", labels[512] = "";
    pd_data_opts_t o = {0};
    pd_data_t *d = NULL;
    const char *file;
    uint64_t features = 0;
    int rc, f;

    if ((rc = get_enum(r, "format", pd_data_format_parse, &f)) != 0) {
        return rc;
    }
    o.format = (pd_data_format_t)f;
    file = dv_get(r->v, "file");
    if (file == NULL && f == PD_DATA_AUTO) {
        return run_fail(r, -EINVAL, "format auto needs a 'file' name to look at");
    }
    if (file != NULL && (strchr(file, '/') != NULL || strlen(file) > 200)) {
        return run_fail(r, -EINVAL, "file must be a plain name");
    }
    if (dv_get(r->v, "features") != NULL &&
        (rc = dv_u64(r->v, "features", &features, r->err, sizeof(r->err))) != 0) {
        return rc;
    }
    o.n_features = (size_t)features;
    if (mkdtemp(dir) == NULL) {
        return run_fail(r, -errno, "mkdtemp: %s", strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/%s", dir, file != NULL ? file : "");
    if (file == NULL) {
        snprintf(path, sizeof(path), "%s/data.%s", dir, pd_data_format_name(o.format));
    }
    snprintf(labels, sizeof(labels), "%s/labels.idx", dir);
    /* What the loader will take the file for decides what the vector must give. */
    bool idx = f == PD_DATA_IDX ||
               (f == PD_DATA_AUTO && dv_get(r->v, "idx_dims") != NULL);
    rc = idx ? write_idx(r, path, labels) : write_text(r, path);
    if (rc != 0) {
        goto out;
    }
    o.labels_path = idx ? labels : NULL;
    rc = pd_data_load(&d, path, &o, r->err, sizeof(r->err));
    if (rc != 0) {
        char why[sizeof(r->err)];
        snprintf(why, sizeof(why), "%s", r->err);
        run_fail(r, rc, "the loader refused the vector's file: %s", why);
        goto out;
    }
    rc = emit_set(r, d);
out:
    pd_data_free(d);
    unlink(path);
    unlink(labels);
    rmdir(dir);
    return rc;
}

/* ---- kinds: prox and optim ---- */

/* regularizer, l1, l2, lower, upper. */
static int get_reg(run_t *r, pd_reg_t *reg)
{
    int rc, k;

    if ((rc = get_enum(r, "regularizer", pd_reg_kind_parse, &k)) != 0) {
        return rc;
    }
    reg->kind = (pd_reg_kind_t)k;
    if ((rc = dv_double_or(r->v, "l1", 0.0, &reg->l1, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double_or(r->v, "l2", 0.0, &reg->l2, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double_or(r->v, "lower", 0.0, &reg->lower, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double_or(r->v, "upper", 0.0, &reg->upper, r->err, sizeof(r->err))) != 0) {
        return rc;
    }
    return 0;
}

static int run_prox(run_t *r)
{
    pd_reg_t reg = {0};
    double alpha, *v = NULL, *mask = NULL, *out = NULL;
    size_t n = 0;
    int rc;

    if ((rc = get_reg(r, &reg)) != 0 ||
        (rc = dv_double(r->v, "alpha", &alpha, r->err, sizeof(r->err))) != 0 ||
        (rc = get_list(r, "v", 0, &v, &n)) != 0 || (rc = get_mask(r, n, &mask)) != 0) {
        goto out;
    }
    out = malloc(n * sizeof(*out));
    if (out == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pd_prox_apply(&reg, out, v, alpha, mask, n);
    if ((rc = emit(r, "out", out, n)) == 0) {
        rc = emit_one(r, "value", pd_prox_value(&reg, out, mask, n));
    }
out:
    free(v);
    free(mask);
    free(out);
    return rc;
}

/* The [optimizer] type and schedule names, in the order of their enums (common/config.h). */
static const char *const optim_types[] = {[PD_OPT_SGD] = "sgd", [PD_OPT_MOMENTUM] = "momentum",
                                          [PD_OPT_ADAM] = "adam"};
static const char *const schedules[] = {[PD_SCHED_CONSTANT] = "constant",
                                        [PD_SCHED_INVSQRT] = "inverse-sqrt",
                                        [PD_SCHED_STEP] = "step"};

static int lookup(run_t *r, const char *key, const char *const *names, size_t n, int *out)
{
    const char *name;
    int rc = get_string(r, key, &name);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return run_fail(r, -EINVAL, "unknown %s '%s'", key, name);
}

static int run_optim(run_t *r)
{
    pd_optim_t o = {0};
    double *x = NULL, *u = NULL, *v = NULL, *g = NULL, *mask = NULL, decay_steps;
    uint64_t t;
    size_t n = 0;
    int rc;

    if ((rc = lookup(r, "type", optim_types, 3, &o.kind)) != 0 ||
        (rc = lookup(r, "schedule", schedules, 3, &o.schedule)) != 0 ||
        (rc = dv_double(r->v, "learning_rate", &o.lr, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double(r->v, "decay_steps", &decay_steps, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double(r->v, "decay_rate", &o.decay_rate, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double(r->v, "momentum", &o.momentum, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double(r->v, "beta1", &o.beta1, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double(r->v, "beta2", &o.beta2, r->err, sizeof(r->err))) != 0 ||
        (rc = dv_double(r->v, "epsilon", &o.epsilon, r->err, sizeof(r->err))) != 0 ||
        (rc = get_reg(r, &o.reg)) != 0 ||
        (rc = dv_u64(r->v, "t", &t, r->err, sizeof(r->err))) != 0 ||
        (rc = get_list(r, "x", 0, &x, &n)) != 0 || (rc = get_list(r, "u", n, &u, NULL)) != 0 ||
        (rc = get_list(r, "v", n, &v, NULL)) != 0 || (rc = get_list(r, "g", n, &g, NULL)) != 0 ||
        (rc = get_mask(r, n, &mask)) != 0) {
        goto out;
    }
    if (!(decay_steps >= 1.0 && decay_steps == floor(decay_steps))) {
        rc = run_fail(r, -EINVAL, "decay_steps must be an integer >= 1");
        goto out;
    }
    o.decay_steps = (int64_t)decay_steps;
    if ((rc = pd_optim_init(&o, n)) != 0) {
        goto out;
    }
    memcpy(o.u, u, n * sizeof(double));
    memcpy(o.v, v, n * sizeof(double));
    o.t = t;
    o.mask = mask;
    double lr = pd_optim_lr(&o);
    pd_optim_apply(&o, x, 0, n, g, lr);
    if ((rc = emit_one(r, "lr", lr)) != 0 || (rc = emit(r, "x_out", x, n)) != 0 ||
        (rc = emit(r, "u_out", o.u, n)) != 0 || (rc = emit(r, "v_out", o.v, n)) != 0) {
        goto out;
    }
out:
    pd_optim_release(&o);
    free(x);
    free(u);
    free(v);
    free(g);
    free(mask);
    return rc;
}

/* ---- the runner ---- */

typedef struct kind_row {
    const char *name;
    int (*run)(run_t *r);
} kind_row_t;

static const kind_row_t kinds[] = {
    {"model", run_model}, {"rng", run_rng}, {"data", run_data},
    {"prox", run_prox},   {"optim", run_optim},
};

static bool was_emitted(const run_t *r, const char *key)
{
    for (size_t i = 0; i < r->n_emitted; i++) {
        if (strcmp(r->emitted[i], key) == 0) {
            return true;
        }
    }
    return false;
}

/* Run one vector. 0, or an error with "what is wrong" in err. In print mode the block is
 * written to `out` with its inputs as given and the outputs the code computes. */
static int run_vector(dv_vector_t *v, bool print, FILE *out, char *err, size_t errlen)
{
    run_t *r = calloc(1, sizeof(*r));
    const kind_row_t *k = NULL;
    const char *kind;
    int rc;

    if (r == NULL) {
        return -ENOMEM;
    }
    r->v = v;
    r->print = print;
    kind = dv_get(v, "kind");
    for (size_t i = 0; kind != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kinds[i].name) == 0) {
            k = &kinds[i];
        }
    }
    if (k == NULL) {
        rc = run_fail(r, -EINVAL, "unknown kind '%s'", kind != NULL ? kind : "(none)");
        goto out;
    }
    if ((rc = dv_double_or(v, "tolerance", 0.0, &r->tol, r->err, sizeof(r->err))) != 0) {
        goto out;
    }
    if (!(r->tol >= 0.0 && r->tol < 1e-6)) {
        rc = run_fail(r, -EINVAL, "tolerance must be in [0, 1e-6)");
        goto out;
    }
    if ((rc = k->run(r)) != 0) {
        goto out;
    }
    if (print) {
        fprintf(out, "```vector\n");
        for (size_t i = 0; i < v->n; i++) {
            if (!was_emitted(r, v->e[i].key)) {
                fprintf(out, "%s: %s\n", v->e[i].key, v->e[i].value);
            }
        }
        fprintf(out, "%s```\n\n", r->out);
        goto out;
    }
    const char *extra = dv_unused(v);
    if (extra != NULL) {
        rc = run_fail(r, -EINVAL, "key '%s' is not one of kind %s", extra, k->name);
    }
out:
    if (rc != 0) {
        snprintf(err, errlen, "vector at line %zu (%s): %s", v->line,
                 kind != NULL ? kind : "?", r->err[0] != '\0' ? r->err : strerror(-rc));
    }
    free(r);
    return rc;
}

static const char *doc_path(void)
{
    const char *env = getenv("PD_MODELS_DOC");
    return env != NULL && env[0] != '\0' ? env : PD_MODELS_DOC;
}

static void load_doc(dv_doc_t *doc)
{
    char err[512] = "";
    int rc = dv_parse_file(doc_path(), doc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
}

START_TEST(test_document_vectors)
{
    const char *pr = getenv("PD_MODELS_DOC_PRINT");
    bool print = pr != NULL && strcmp(pr, "1") == 0;
    dv_doc_t doc;
    char err[1024];
    size_t failed = 0;
    char first[1024] = "";

    load_doc(&doc);
    ck_assert_msg(doc.n > 0, "%s has no vector blocks", doc_path());
    for (size_t i = 0; i < doc.n; i++) {
        if (run_vector(&doc.v[i], print, stdout, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", doc_path(), err);
            if (failed++ == 0) {
                snprintf(first, sizeof(first), "%s", err);
            }
        }
    }
    dv_doc_free(&doc);
    ck_assert_msg(failed == 0, "%zu vectors fail; the first: %s", failed, first);
}
END_TEST

/* The brief of the document: every model, kind, loader, regulariser and optimiser has at
 * least one vector, so deleting a block cannot silently shrink what is checked. */
START_TEST(test_document_coverage)
{
    static const char *const need[][2] = {
        {"kind", "rng"},
        {"model", "logistic"},    {"model", "softmax"},   {"model", "least-squares"},
        {"model", "quadratic"},   {"model", "mlp"},       {"activation", "tanh"},
        {"activation", "relu"},   {"format", "libsvm"},   {"format", "csv"},
        {"format", "idx"},        {"format", "auto"},     {"regularizer", "l1"},
        {"regularizer", "l2"},    {"regularizer", "elastic-net"},
        {"regularizer", "box"},   {"regularizer", "nonneg"},
        {"type", "sgd"},          {"type", "momentum"},   {"type", "adam"},
        {"schedule", "constant"}, {"schedule", "inverse-sqrt"}, {"schedule", "step"},
    };
    dv_doc_t doc;

    load_doc(&doc);
    for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
        bool found = false;
        for (size_t i = 0; i < doc.n && !found; i++) {
            for (size_t j = 0; j < doc.v[i].n && !found; j++) {
                found = strcmp(doc.v[i].e[j].key, need[k][0]) == 0 &&
                        strcmp(doc.v[i].e[j].value, need[k][1]) == 0;
            }
        }
        ck_assert_msg(found, "no vector with %s: %s", need[k][0], need[k][1]);
    }
    /* a sparse and a dense vector of a linear model */
    bool sparse = false, dense = false;
    for (size_t i = 0; i < doc.n; i++) {
        sparse = sparse || dv_get(&doc.v[i], "row_ptr") != NULL;
        dense = dense || dv_get(&doc.v[i], "x") != NULL;
    }
    ck_assert(sparse && dense);
    dv_doc_free(&doc);
}
END_TEST

/* Blocks the parser must refuse: each breaks one rule of the format. */
START_TEST(test_parser_rejects)
{
    static const char *const bad[] = {
        "```vector\nkind: rng\nseed: 1\n",               /* not closed */
        "```vectors\nkind: rng\n```\n",                  /* bad fence */
        "```vector\nkind:rng\n```\n",                    /* no space after the colon */
        "```vector\nkind: rng\nseed: 1  2\n```\n",       /* two spaces */
        "```vector\nkind: rng\nseed: 1 \n```\n",         /* trailing space */
        "```vector\nkind: rng\nseed: x\n```\n",          /* not a number */
        "```vector\nkind: rng\nseed: 1\nseed: 2\n```\n", /* repeated key */
        "```vector\nseed: 1\nkind: rng\n```\n",          /* kind not first */
        "```vector\nKind: rng\n```\n",                   /* key characters */
        "```vector\nkind: rng\nm: inf\n```\n",           /* not finite */
        "```vector\nkind: \n```\n",                      /* empty string value */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dv_doc_t doc;
        char err[256] = "";
        ck_assert_msg(dv_parse(bad[i], "bad", &doc, err, sizeof(err)) == -EINVAL,
                      "block %zu was accepted", i);
        ck_assert_msg(strncmp(err, "bad:", 4) == 0, "block %zu: message '%s'", i, err);
    }
}
END_TEST

/* Blocks that parse but must fail when run: the checker is able to say no. */
START_TEST(test_runner_rejects)
{
    static const char *const bad[] = {
        "```vector\nkind: nosuch\n```\n",
        "```vector\nkind: rng\nseed: 42\nm: 1000\ncount: 5\ndraws: 741 159 278 344 39\n```\n",
        "```vector\nkind: rng\nseed: 42\nm: 1000\ncount: 5\ndraws: 741 159 278 344\n```\n",
        "```vector\nkind: rng\nseed: 42\nm: 1000\ncount: 5\n```\n",
        "```vector\nkind: rng\nseed: 42\nm: 1000\ncount: 5\ndraws: 741 159 278 344 38\n"
        "extra: 1\n```\n",
        "```vector\nkind: rng\nseed: -1\nm: 1000\ncount: 5\ndraws: 741 159 278 344 38\n```\n",
        "```vector\nkind: prox\nregularizer: l1\nl1: 1\nalpha: 1\nv: 3\nout: 2.0000000001\n"
        "value: 2\n```\n",
        "```vector\nkind: data\nformat: libsvm\ntext: 1 0:1\nm: 1\np: 1\ny: 1\nrow_ptr: 0 1\n"
        "col: 0\nval: 1\nfingerprint: 0000000000000000\n```\n",
    };
    static const char *const good =
        "```vector\nkind: rng\nseed: 42\nm: 1000\ncount: 5\ndraws: 741 159 278 344 38\n```\n";
    char err[512];
    dv_doc_t doc;

    ck_assert_int_eq(dv_parse(good, "good", &doc, err, sizeof(err)), 0);
    ck_assert_msg(run_vector(&doc.v[0], false, NULL, err, sizeof(err)) == 0, "%s", err);
    dv_doc_free(&doc);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(dv_parse(bad[i], "bad", &doc, err, sizeof(err)), 0);
        ck_assert_uint_eq(doc.n, 1);
        ck_assert_msg(run_vector(&doc.v[0], false, NULL, err, sizeof(err)) != 0,
                      "vector %zu was accepted", i);
        dv_doc_free(&doc);
    }
}
END_TEST

static Suite *models_doc_suite(void)
{
    Suite *s = suite_create("models_doc");
    TCase *tc = tcase_create("vectors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_document_vectors);
    tcase_add_test(tc, test_document_coverage);
    tcase_add_test(tc, test_parser_rejects);
    tcase_add_test(tc, test_runner_rejects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(models_doc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
