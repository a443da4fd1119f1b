/* data_libsvm.c - the LIBSVM / SVMlight text format: "label idx:val idx:val ... # comment",
 * 1-based strictly increasing indices, one sample per line, read into CSR.
 * Explicit zero values are dropped, so a file that spells its zeros out has the same
 * content (and fingerprint) as one that leaves them implicit. Pure parser: no logging. */
#include <config.h>
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "error.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* 10^k for k ≤ 22: each is exactly a double. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The common token "[+-]digits[.digits]" whose digits, read as an integer M, fit in 2^53
 * with at most 22 after the point: M and 10^k are then exact doubles, so M / 10^k, one
 * correctly rounded division, is the correctly rounded value of the decimal, the same bits
 * strtod() returns (Clinger's fast path). strtod() was half of the load time of a large file.
 * false: not of that form (the caller asks strtod()). */
static bool parse_decimal_fast(const char *s, double *v)
{
    bool neg = *s == '-';
    uint64_t mant = 0;
    int digits = 0, frac = -1;

    s += *s == '-' || *s == '+';
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            if (mant > ((UINT64_C(1) << 53) - 9) / 10) {
                return false; /* M could pass 2^53 */
            }
            mant = mant * 10 + (uint64_t)(*s - '0');
            digits++;
            frac += frac >= 0;
        } else if (*s == '.' && frac < 0) {
            frac = 0;
        } else {
            break;
        }
    }
    if (*s != '\0' || digits == 0 || frac > 22) {
        return false;
    }
    double r = (double)mant / exact_pow10[frac > 0 ? frac : 0];
    *v = neg ? -r : r;
    return true;
}

/* strtod() over the whole of a NUL-terminated token. strtod() follows LC_NUMERIC; paramd
 * never calls setlocale(), so the decimal point is '.'. */
static bool parse_double(const char *tok, double *v)
{
    char *end;
    if (*tok == '\0') {
        return false;
    }
    if (parse_decimal_fast(tok, v)) {
        return true;
    }
    *v = strtod(tok, &end);
    return *end == '\0';
}

/* The CSR arrays while they grow. */
typedef struct builder {
    double *y;
    size_t y_cap;
    size_t *row_ptr;
    size_t row_cap;
    uint32_t *col;
    size_t col_cap;
    double *val;
    size_t val_cap;
    size_t m;
    size_t nnz;
    size_t max_index; /* largest 1-based index seen */
} builder_t;

static int out_of_memory(const char *path, size_t lineno, char *errbuf, size_t errlen)
{
    return pd_data_fail(errbuf, errlen, -ENOMEM, "%s:%zu: out of memory", path, lineno);
}

/* Parses one non-blank line (already cut at '#') and appends it as row b->m. The line is
 * modified in place (tokens get NUL-terminated). Returns 0, PD_EDATA or -ENOMEM. */
static int parse_line(builder_t *b, char *s, const pd_data_opts_t *opts, const char *path,
                      size_t lineno, char *errbuf, size_t errlen)
{
    int rc;

    while (is_space(*s)) {
        s++;
    }
    char *tok = s;
    while (*s != '\0' && !is_space(*s)) {
        s++;
    }
    size_t tl = (size_t)(s - tok);
    if (*s != '\0') {
        *s++ = '\0';
    }
    double label;
    if (!parse_double(tok, &label) || !isfinite(label)) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: bad label '%.*s%s'", path, lineno,
                          pd_data_quote_len(tl), tok, pd_data_quote_cut(tl));
        goto out;
    }
    if (b->m >= PD_DATA_MAX_SAMPLES) {
        rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG, "%s:%zu: more than %llu samples", path,
                          lineno, (unsigned long long)PD_DATA_MAX_SAMPLES);
        goto out;
    }
    rc = pd_grow((void **)&b->y, &b->y_cap, b->m + 1, sizeof(*b->y));
    if (rc < 0) {
        rc = out_of_memory(path, lineno, errbuf, errlen);
        goto out;
    }
    rc = pd_grow((void **)&b->row_ptr, &b->row_cap, b->m + 2, sizeof(*b->row_ptr));
    if (rc < 0) {
        rc = out_of_memory(path, lineno, errbuf, errlen);
        goto out;
    }

    size_t nnz = b->nnz;
    uint64_t prev = 0;
    for (;;) {
        while (is_space(*s)) {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        tok = s;
        char *colon = NULL;
        while (*s != '\0' && !is_space(*s)) {
            if (*s == ':' && colon == NULL) {
                colon = s;
            }
            s++;
        }
        tl = (size_t)(s - tok);
        if (*s != '\0') {
            *s++ = '\0';
        }
        if (colon == NULL) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                              "%s:%zu: bad feature '%.*s%s' (expected index:value)", path,
                              lineno, pd_data_quote_len(tl), tok, pd_data_quote_cut(tl));
            goto out;
        }
        /* Digits only: strtoul() would take "-1", " 1" and "0x1f" as well. Stop adding
         * digits once past the limit so the number cannot wrap. */
        uint64_t idx = 0;
        const char *q = tok;
        for (; q < colon && *q >= '0' && *q <= '9'; q++) {
            if (idx <= PD_DATA_MAX_FEATURES) {
                idx = idx * 10 + (uint64_t)(*q - '0');
            }
        }
        if (q == tok || q != colon) {
            size_t il = (size_t)(colon - tok);
            rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: bad feature index '%.*s%s'",
                              path, lineno, pd_data_quote_len(il), tok, pd_data_quote_cut(il));
            goto out;
        }
        if (idx == 0) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                              "%s:%zu: feature index 0 (indices start at 1)", path, lineno);
            goto out;
        }
        if (idx > PD_DATA_MAX_FEATURES) {
            rc = pd_data_fail(errbuf, errlen, PD_ETOOBIG,
                              "%s:%zu: feature index over the limit of %llu", path, lineno,
                              (unsigned long long)PD_DATA_MAX_FEATURES);
            goto out;
        }
        if (opts->n_features != 0 && idx > opts->n_features) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                              "%s:%zu: feature index %llu but n_features is %zu", path, lineno,
                              (unsigned long long)idx, opts->n_features);
            goto out;
        }
        if (idx <= prev) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA,
                              "%s:%zu: indices not increasing (%llu after %llu)", path, lineno,
                              (unsigned long long)idx, (unsigned long long)prev);
            goto out;
        }
        prev = idx;
        const char *vtok = colon + 1;
        double v;
        bool parsed = parse_double(vtok, &v);
        if (!parsed || !isfinite(v)) {
            size_t vl = strlen(vtok);
            rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: %s value '%.*s%s'", path,
                              lineno, parsed ? "non-finite" : "bad", pd_data_quote_len(vl), vtok,
                              pd_data_quote_cut(vl));
            goto out;
        }
        if (idx > b->max_index) {
            b->max_index = idx;
        }
        if (v == 0.0) {
            continue;
        }
        rc = pd_grow((void **)&b->col, &b->col_cap, nnz + 1, sizeof(*b->col));
        if (rc < 0) {
            rc = out_of_memory(path, lineno, errbuf, errlen);
            goto out;
        }
        rc = pd_grow((void **)&b->val, &b->val_cap, nnz + 1, sizeof(*b->val));
        if (rc < 0) {
            rc = out_of_memory(path, lineno, errbuf, errlen);
            goto out;
        }
        b->col[nnz] = (uint32_t)(idx - 1);
        b->val[nnz] = v;
        nnz++;
    }
    /* Commit the row only now: a failure above leaves the builder as it was. */
    b->y[b->m] = label;
    b->row_ptr[b->m] = b->nnz;
    b->row_ptr[b->m + 1] = nnz;
    b->nnz = nnz;
    b->m++;
    rc = 0;
out:
    return rc;
}

/* Give back the slack of geometric growth; a failed shrink just keeps the larger block. */
static void *shrink(void *p, size_t count, size_t elem)
{
    void *q = realloc(p, count * elem);
    return q != NULL ? q : p;
}

int pd_data_load_libsvm(pd_data_t **out, const char *path, const pd_data_opts_t *opts,
                        char *errbuf, size_t errlen)
{
    pd_data_reader_t r = {0};
    builder_t b = {0};
    pd_data_t *d = NULL;
    int rc;

    rc = pd_data_reader_open(&r, path, errbuf, errlen);
    if (rc < 0) {
        goto out;
    }
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
        char *hash = memchr(line, '#', len);
        if (hash != NULL) {
            *hash = '\0';
        }
        char *s = line;
        while (is_space(*s)) {
            s++;
        }
        if (*s == '\0') {
            continue;
        }
        if (opts->max_samples != 0 && b.m == opts->max_samples) {
            break; /* the rest of the file is not even parsed */
        }
        rc = parse_line(&b, s, opts, path, r.lineno, errbuf, errlen);
        if (rc < 0) {
            goto out;
        }
    }
    if (b.m == 0) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: no samples", path);
        goto out;
    }
    size_t p = opts->n_features != 0 ? opts->n_features : b.max_index;
    if (p == 0) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s: no features in any sample", path);
        goto out;
    }

    /* A set with no non-zero at all still gets (empty) arrays, so users need no NULL case. */
    if (pd_grow((void **)&b.col, &b.col_cap, 1, sizeof(*b.col)) < 0 ||
        pd_grow((void **)&b.val, &b.val_cap, 1, sizeof(*b.val)) < 0 ||
        (d = calloc(1, sizeof(*d))) == NULL) {
        rc = pd_data_fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t keep = b.nnz > 0 ? b.nnz : 1;
    d->m = b.m;
    d->p = p;
    d->sparse = true;
    d->nnz = b.nnz;
    d->y = shrink(b.y, b.m, sizeof(*b.y));
    d->row_ptr = shrink(b.row_ptr, b.m + 1, sizeof(*b.row_ptr));
    d->col = shrink(b.col, keep, sizeof(*b.col));
    d->val = shrink(b.val, keep, sizeof(*b.val));
    b = (builder_t){0};
    *out = d;
    d = NULL;
    rc = 0;
out:
    pd_data_free(d);
    free(b.y);
    free(b.row_ptr);
    free(b.col);
    free(b.val);
    pd_data_reader_close(&r);
    return rc;
}
