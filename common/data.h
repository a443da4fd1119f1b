/* data.h - a training or test set in memory, and its loaders (LIBSVM, IDX, CSV).
 * Dense sets are row-major float64; sparse sets (LIBSVM) stay CSR all the way through the
 * gradient. Loaders are pure file parsers: they report `FILE:LINE: problem` through an
 * error buffer, enforce size limits before allocating, and never call exit(). */
#ifndef PD_COMMON_DATA_H
#define PD_COMMON_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum pd_data_format {
    PD_DATA_AUTO = 0, /* from the file name: *.idx*, *-ubyte(.gz) -> IDX, *.csv(.gz) -> CSV, else LIBSVM */
    PD_DATA_LIBSVM,
    PD_DATA_IDX,
    PD_DATA_CSV,
} pd_data_format_t;

typedef struct pd_data {
    size_t m;        /* samples */
    size_t p;        /* features (no bias column) */
    /* Labels as read: LIBSVM/CSV the numeric label; IDX the class byte. Converting them to
     * the model's convention is the model's job (pd_model_bind). */
    double *y;
    bool sparse;
    /* dense: x[i * p + j] */
    double *x;
    /* sparse CSR: row i has entries row_ptr[i] .. row_ptr[i + 1] - 1 */
    size_t *row_ptr; /* m + 1 entries */
    uint32_t *col;   /* 0-based column (LIBSVM files are 1-based) */
    double *val;
    size_t nnz;
} pd_data_t;

typedef struct pd_data_opts {
    pd_data_format_t format;
    /* IDX keeps images and labels in two files; the other formats ignore it. */
    const char *labels_path;
    /* 0: infer from the file. Otherwise the number of features: a LIBSVM index above it is an
     * error, and fewer columns are padded (so train and test sets agree). */
    size_t n_features;
    size_t max_samples;  /* keep only the first max_samples samples; 0: all (up to the limit
                          * PD_DATA_MAX_SAMPLES, past which loading fails with PD_ETOOBIG) */
    int csv_label_column; /* 0-based column of the label in CSV (default 0) */
    bool csv_header;     /* first CSV line is a header to skip */
    double idx_scale;    /* IDX pixels are multiplied by this (1/255 when 0) */
} pd_data_opts_t;

/* Hard limits, checked before any allocation. */
#define PD_DATA_MAX_SAMPLES (UINT64_C(1) << 31)
#define PD_DATA_MAX_FEATURES (UINT64_C(1) << 31)
#define PD_DATA_MAX_LINE (1u << 24) /* bytes in one LIBSVM/CSV line */

/* Load `path` (gzip-compressed or not, detected from the magic bytes) into a new set.
 * On failure returns PD_EDATA (or -errno, -ENOMEM, PD_ETOOBIG) with a message of the form
 * "FILE:LINE: what is wrong" in errbuf, and leaves *out untouched. Returned: *out, free with
 * pd_data_free(). */
int pd_data_load(pd_data_t **out, const char *path, const pd_data_opts_t *opts, char *errbuf,
                 size_t errlen);
void pd_data_free(pd_data_t *d);

/* A job's data as paramd loads it: the training set with `opts` (opts->labels_path is
 * ignored: train_labels is used), then, when test_path is not NULL or "", the test set with
 * test_labels and opts->n_features set to the training set's p, so both sets have the same
 * features. Same return contract as pd_data_load(); the message names the failing file. On
 * failure neither *train nor *test is set. Returned: *train and *test (NULL without a test
 * set), free with pd_data_free(). Used by the daemon and by both --print-fingerprint modes,
 * so they cannot disagree on a fingerprint. */
int pd_data_load_job(pd_data_t **train, pd_data_t **test, const char *train_path,
                     const char *train_labels, const char *test_path, const char *test_labels,
                     const pd_data_opts_t *opts, char *errbuf, size_t errlen);

/* --print-fingerprint of paramd and paramd-worker: the fingerprint of train, then of test when
 * not NULL, one a line as 16 lower-case hex digits (the form logs and errors use), and
 * nothing else. 0 or -EIO when out cannot be written. */
int pd_data_print_fingerprints(FILE *out, const pd_data_t *train, const pd_data_t *test);

/* "auto", "libsvm", "idx", "csv" (the [data] format names, also on the wire in
 * Job.data_format) to the enum; -EINVAL for anything else. */
int pd_data_format_parse(const char *name);
/* The name of a format; "unknown" outside the enum. */
const char *pd_data_format_name(pd_data_format_t f);

/* 64-bit fingerprint of the content (m, p, labels, features; not the file bytes), so the
 * same set gives the same value however it is stored. Workers compare it with the server's. */
uint64_t pd_data_fingerprint(const pd_data_t *d);

/* Number of distinct label values C (-0.0 counts as 0.0; 0 for an empty set, or if memory for
 * counting unusual labels runs out). Whether they are exactly the integers 0..C-1 that softmax
 * needs is checked by pd_model_bind(). */
size_t pd_data_count_classes(const pd_data_t *d);

/* Row access for models: dense rows are a pointer into x; sparse rows are (col, val, nnz). */
static inline const double *pd_data_dense_row(const pd_data_t *d, size_t i)
{
    return d->x + i * d->p;
}

#endif
