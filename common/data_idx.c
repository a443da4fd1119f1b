/* data_idx.c - the IDX format of MNIST and Fashion-MNIST: big-endian headers, an images
 * file (magic 0x00000803: uint8, m x rows x cols) and a labels file (0x00000801: uint8, m).
 * Pixels become dense float64 features times opts->idx_scale; labels the class byte.
 * Both headers are checked against each other and the limits before any data is read, and
 * the data arrays grow as bytes actually arrive, so a ten-byte file that claims 2^31 images
 * costs nothing. Pure parser: no logging. */
#include <config.h>
#include "data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "error.h"

#define IDX_MAGIC_IMAGES UINT32_C(0x00000803)
#define IDX_MAGIC_LABELS UINT32_C(0x00000801)
#define IDX_CHUNK (64u * 1024u)

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads the magic and `ndim` dimensions. */
static int read_header(pd_data_reader_t *r, uint32_t magic, size_t ndim, uint32_t *dims,
                       const char *what, char *errbuf, size_t errlen)
{
    unsigned char h[4 * 4];
    size_t want = 4 * (1 + ndim);
    size_t got;
    int rc = pd_data_reader_read(r, h, want, &got, errbuf, errlen);
    if (rc < 0) {
        return rc;
    }
    if (got >= 4 && be32(h) != magic) {
        return pd_data_fail(errbuf, errlen, PD_EDATA,
                            "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)", r->path,
                            what, (unsigned)be32(h), (unsigned)magic);
    }
    if (got < want) {
        return pd_data_fail(errbuf, errlen, PD_EDATA, "%s: truncated IDX header", r->path);
    }
    for (size_t i = 0; i < ndim; i++) {
        dims[i] = be32(h + 4 * (i + 1));
    }
    return 0;
}

/* For a plain (not gzip) file the size on disk is known: refuse a short file up front. */
static int check_size(const pd_data_reader_t *r, size_t header, size_t data_bytes,
                      const char *what, char *errbuf, size_t errlen)
{
    if (r->direct && r->file_bytes >= 0 &&
        (uint64_t)r->file_bytes < (uint64_t)header + (uint64_t)data_bytes) {
        return pd_data_fail(errbuf, errlen, PD_EDATA,
                            "%s: truncated: expected %zu bytes of %s data", r->path, data_bytes,
                            what);
    }
    return 0;
}

/* Reads rows x q bytes and stores them, times `scale`, as rows of p >= q doubles (columns
 * q..p-1 are zero). *out grows with the data read, up to rows x p. `whole`: these rows are
 * the whole file, so nothing may follow them. */
static int read_u8_rows(pd_data_reader_t *r, size_t rows, size_t q, size_t p, double scale,
                        bool whole, const char *what, double **out, char *errbuf, size_t errlen)
{
    unsigned char *chunk = NULL;
    double *a = NULL;
    size_t cap = 0;
    size_t total = rows * q; /* no overflow: rows * p was checked and q <= p */
    size_t done = 0, i = 0, j = 0;
    int rc;

    chunk = malloc(IDX_CHUNK);
    if (chunk == NULL) {
        rc = pd_data_fail(errbuf, errlen, -ENOMEM, "%s: out of memory", r->path);
        goto out;
    }
    while (done < total) {
        size_t want = total - done < IDX_CHUNK ? total - done : IDX_CHUNK;
        size_t got;
        rc = pd_data_reader_read(r, chunk, want, &got, errbuf, errlen);
        if (rc < 0) {
            goto out;
        }
        if (got == 0) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                              "%s: truncated: expected %zu bytes of %s data, found %zu",
                              r->path, total, what, done);
            goto out;
        }
        /* Room for every row this chunk touches; new memory is zeroed for the padding. */
        size_t last_row = (done + got - 1) / q;
        size_t need = (last_row + 1) * p;
        size_t old_cap = cap;
        rc = pd_grow((void **)&a, &cap, need, sizeof(*a));
        if (rc < 0) {
            rc = pd_data_fail(errbuf, errlen, rc, "%s: out of memory", r->path);
            goto out;
        }
        if (cap > rows * p) {
            /* Never keep more than the final size; the grow above may overshoot. */
            double *t = realloc(a, rows * p * sizeof(*a));
            if (t != NULL) {
                a = t;
                cap = rows * p;
            }
        }
        if (p != q && cap > old_cap) {
            memset(a + old_cap, 0, (cap - old_cap) * sizeof(*a));
        }
        for (size_t k = 0; k < got; k++) {
            a[i * p + j] = chunk[k] * scale;
            if (++j == q) {
                j = 0;
                i++;
            }
        }
        done += got;
    }
    /* Extra bytes mean the header does not describe the file; better to say so than to
     * train on a set whose shape is a guess. */
    size_t extra = 0;
    if (whole) {
        rc = pd_data_reader_read(r, chunk, 1, &extra, errbuf, errlen);
        if (rc < 0) {
            goto out;
        }
    }
    if (extra != 0) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: data after the %zu bytes of %s data",
                          r->path, total, what);
        goto out;
    }
    *out = a;
    a = NULL;
    rc = 0;
out:
    free(a);
    free(chunk);
    return rc;
}

int pd_data_load_idx(pd_data_t **out, const char *path, const pd_data_opts_t *opts,
                     char *errbuf, size_t errlen)
{
    pd_data_reader_t ri = {0}, rl = {0};
    double *x = NULL, *y = NULL;
    uint32_t idim[3], ldim[1];
    int rc;

    if (opts->labels_path == NULL) {
        rc = pd_data_fail(errbuf, errlen, -EINVAL,
                          "%s: IDX images need a labels file (labels_path)", path);
        goto out;
    }
    rc = pd_data_reader_open(&ri, path, errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
    rc = read_header(&ri, IDX_MAGIC_IMAGES, 3, idim, "images", errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
    rc = pd_data_reader_open(&rl, opts->labels_path, errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
    rc = read_header(&rl, IDX_MAGIC_LABELS, 1, ldim, "labels", errbuf, errlen);
    if (rc < 0) {
        goto out;
    }

    size_t m = idim[0];
    size_t q = (size_t)idim[1] * idim[2]; /* two uint32: fits a 64-bit size_t */
    if (m == 0) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: no samples", path);
        goto out;
    }
    if (q == 0) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: images of %u x %u pixels", path,
                          (unsigned)idim[1], (unsigned)idim[2]);
        goto out;
    }
    if (ldim[0] != idim[0]) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: %zu labels but %s has %zu images",
                          opts->labels_path, (size_t)ldim[0], path, m);
        goto out;
    }
    if (m > PD_DATA_MAX_SAMPLES) {
        rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG, "%s: %zu samples, over the limit of %llu",
                          path, m, (unsigned long long)PD_DATA_MAX_SAMPLES);
        goto out;
    }
    /* With a cap, only the first images (and their labels) are read; the file as a whole
     * must still be consistent in its headers. */
    bool whole = opts->max_samples == 0 || m <= opts->max_samples;
    if (!whole) {
        m = opts->max_samples;
    }
    if (q > PD_DATA_MAX_FEATURES) {
        rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG,
                          "%s: %zu pixels per image, over the limit of %llu", path, q,
                          (unsigned long long)PD_DATA_MAX_FEATURES);
        goto out;
    }
    if (opts->n_features != 0 && q > opts->n_features) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                          "%s: %zu pixels per image but n_features is %zu", path, q,
                          opts->n_features);
        goto out;
    }
    size_t p = opts->n_features != 0 ? opts->n_features : q;
    size_t x_bytes;
    if (__builtin_mul_overflow(m, p, &x_bytes) ||
        __builtin_mul_overflow(x_bytes, sizeof(double), &x_bytes)) {
        rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG, "%s: data set too large", path);
        goto out;
    }
    rc = check_size(&ri, 16, m * q, "image", errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
    rc = check_size(&rl, 8, m, "label", errbuf, errlen);
    if (rc < 0) {
        goto out;
    }

    rc = read_u8_rows(&rl, m, 1, 1, 1.0, whole, "label", &y, errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
    rc = read_u8_rows(&ri, m, q, p, opts->idx_scale, whole, "image", &x, errbuf, errlen);
    if (rc < 0) {
        goto out;
    }

    rc = pd_data_new_dense(out, m, p, &x, &y, path, errbuf, errlen);
out:
    free(x);
    free(y);
    pd_data_reader_close(&rl);
    pd_data_reader_close(&ri);
    return rc;
}
