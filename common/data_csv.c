/* data_csv.c - numeric CSV: comma-separated numbers, one sample per line, the label in
 * column opts->csv_label_column, an optional header line; read into a dense row-major set.
 * No quoting: this is for numbers, and a quoted field is reported as a bad value.
 * Pure parser: no logging. */
#include <config.h>
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "error.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a line into numbers in *row (grown as needed); *ncol gets the field count. */
static int parse_row(char *s, double **row, size_t *row_cap, size_t *ncol, const char *path,
                     size_t lineno, char *errbuf, size_t errlen)
{
    size_t n = 0;
    int rc;

    for (;;) {
        char *field = s;
        while (*s != '\0' && *s != ',') {
            s++;
        }
        bool last = *s == '\0';
        *s = '\0';
        /* Trim blanks on both sides: "1, 2" is common and harmless. */
        while (is_blank(*field)) {
            field++;
        }
        char *e = s;
        while (e > field && is_blank(e[-1])) {
            *--e = '\0';
        }
        size_t fl = (size_t)(e - field);
        char *end;
        double v = fl > 0 ? strtod(field, &end) : 0.0;
        if (fl == 0 || *end != '\0') {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: bad value '%.*s%s' in column %zu",
                              path, lineno, pd_data_quote_len(fl), field, pd_data_quote_cut(fl),
                              n + 1);
            goto out;
        }
        if (!isfinite(v)) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                              "%s:%zu: non-finite value '%.*s%s' in column %zu", path, lineno,
                              pd_data_quote_len(fl), field, pd_data_quote_cut(fl), n + 1);
            goto out;
        }
        rc = pd_grow((void **)row, row_cap, n + 1, sizeof(**row));
        if (rc < 0) {
            rc = pd_data_fail(errbuf, errlen, rc, "%s:%zu: out of memory", path, lineno);
            goto out;
        }
        (*row)[n++] = v;
        if (last) {
            break;
        }
        s++;
    }
    *ncol = n;
    rc = 0;
out:
    return rc;
}

int pd_data_load_csv(pd_data_t **out, const char *path, const pd_data_opts_t *opts,
                     char *errbuf, size_t errlen)
{
    pd_data_reader_t r = {0};
    double *row = NULL, *x = NULL, *y = NULL;
    size_t row_cap = 0, x_cap = 0, y_cap = 0;
    size_t m = 0, k = 0, p = 0;
    size_t label = (size_t)opts->csv_label_column;
    int rc;

    rc = pd_data_reader_open(&r, path, errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
    bool header = opts->csv_header;
    for (;;) {
        char *line;
        size_t len;
        rc = pd_data_reader_line(&r, &line, &len, errbuf, errlen);
        if (rc < 0) {
            goto out;
        }
        if (rc == 0) {
            break;
        }
        if (header) {
            header = false;
            continue;
        }
        char *s = line;
        while (is_blank(*s)) {
            s++;
        }
        if (*s == '\0') {
            continue;
        }
        if (opts->max_samples != 0 && m == opts->max_samples) {
            break; /* the rest of the file is not even parsed */
        }
        size_t ncol = 0;
        rc = parse_row(line, &row, &row_cap, &ncol, path, r.lineno, errbuf, errlen);
        if (rc < 0) {
            goto out;
        }
        if (m == 0) {
            /* The first row fixes the shape; everything about it is checked here once. */
            k = ncol;
            if (label >= k) {
                rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                                  "%s:%zu: label column %zu but only %zu columns", path,
                                  r.lineno, label, k);
                goto out;
            }
            if (k < 2 && opts->n_features == 0) {
                rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                                  "%s:%zu: no feature columns besides the label", path,
                                  r.lineno);
                goto out;
            }
            if (k - 1 > PD_DATA_MAX_FEATURES) {
                rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG, "%s:%zu: too many columns", path,
                                  r.lineno);
                goto out;
            }
            if (opts->n_features != 0 && k - 1 > opts->n_features) {
                rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                                  "%s:%zu: %zu feature columns but n_features is %zu", path,
                                  r.lineno, k - 1, opts->n_features);
                goto out;
            }
            p = opts->n_features != 0 ? opts->n_features : k - 1;
        } else if (ncol != k) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: expected %zu columns, found %zu",
                              path, r.lineno, k, ncol);
            goto out;
        }
        if (m >= PD_DATA_MAX_SAMPLES) {
            rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG, "%s:%zu: more than %llu samples", path,
                              r.lineno, (unsigned long long)PD_DATA_MAX_SAMPLES);
            goto out;
        }
        size_t need;
        if (__builtin_mul_overflow(m + 1, p, &need)) {
            rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG, "%s:%zu: data set too large", path,
                              r.lineno);
            goto out;
        }
        rc = pd_grow((void **)&x, &x_cap, need, sizeof(*x));
        if (rc == 0) {
            rc = pd_grow((void **)&y, &y_cap, m + 1, sizeof(*y));
        }
        if (rc < 0) {
            rc = pd_data_fail(errbuf, errlen, rc, "%s:%zu: out of memory", path, r.lineno);
            goto out;
        }
        double *xr = x + m * p;
        size_t j = 0;
        for (size_t c = 0; c < k; c++) {
            if (c != label) {
                xr[j++] = row[c];
            }
        }
        /* Padding up to n_features, so train and test sets agree on p. */
        for (; j < p; j++) {
            xr[j] = 0.0;
        }
        y[m] = row[label];
        m++;
    }
    if (m == 0) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: no samples", path);
        goto out;
    }

    /* Give back the slack of geometric growth; a failed shrink keeps the larger block. */
    double *shrunk = realloc(x, m * p * sizeof(*x));
    x = shrunk != NULL ? shrunk : x;
    shrunk = realloc(y, m * sizeof(*y));
    y = shrunk != NULL ? shrunk : y;
    rc = pd_data_new_dense(out, m, p, &x, &y, path, errbuf, errlen);
out:
    free(row);
    free(x);
    free(y);
    pd_data_reader_close(&r);
    return rc;
}
