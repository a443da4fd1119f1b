/* data.c - pd_data_load() dispatch, the shared gzip-aware reader, and what every data set
 * supports whatever its format: free, fingerprint, class count.
 * Owns no state between calls; the format parsers live in data_libsvm.c, data_idx.c and
 * data_csv.c. Nothing here logs or exits: problems go back as a code plus errbuf text. */
#include <config.h>
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"
#include "error.h"

/* gzread() works in chunks of this size; zlib keeps its own buffer of the same order. */
#define READ_CHUNK (128u * 1024u)

int pd_data_fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
    if (errbuf != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int pd_data_quote_len(size_t len)
{
    return len > PD_DATA_QUOTE_MAX ? PD_DATA_QUOTE_MAX : (int)len;
}

const char *pd_data_quote_cut(size_t len)
{
    return len > PD_DATA_QUOTE_MAX ? "..." : "";
}

/* ---- reader ---- */

int pd_data_reader_open(pd_data_reader_t *r, const char *path, char *errbuf, size_t errlen)
{
    int rc;
    int fd = -1;
    gzFile gz = NULL;
    unsigned char *in = NULL;

    memset(r, 0, sizeof(*r));
    /* open() ourselves rather than gzopen(): gzopen does not promise a meaningful errno, and
     * "ENOENT" versus "EACCES" is the first thing an operator needs. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = pd_data_fail(errbuf, errlen, -errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = pd_data_fail(errbuf, errlen, -errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = pd_data_fail(errbuf, errlen, -EISDIR, "%s: is a directory", path);
        goto out;
    }
    in = malloc(READ_CHUNK);
    if (in == NULL) {
        rc = pd_data_fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    gz = gzdopen(fd, "rb");
    if (gz == NULL) {
        rc = pd_data_fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    fd = -1; /* gzclose() closes it from now on */
    gzbuffer(gz, READ_CHUNK);

    r->gz = gz;
    r->path = path;
    r->max_line = PD_DATA_MAX_LINE;
    r->direct = gzdirect(gz) != 0;
    r->file_bytes = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    r->in = in;
    gz = NULL;
    in = NULL;
    rc = 0;
out:
    if (gz != NULL) {
        gzclose(gz);
    }
    if (fd >= 0) {
        close(fd);
    }
    free(in);
    return rc;
}

void pd_data_reader_close(pd_data_reader_t *r)
{
    if (r->gz != NULL) {
        gzclose(r->gz);
        r->gz = NULL;
    }
    free(r->in);
    r->in = NULL;
    free(r->line);
    r->line = NULL;
    r->line_cap = 0;
}

/* zlib keeps a sticky error; turn it into our error space. Z_BUF_ERROR is how gzread()
 * reports a gzip stream that stops early, which is the common way a download goes wrong. */
static int reader_check(pd_data_reader_t *r, char *errbuf, size_t errlen)
{
    int errnum = Z_OK;
    (void)gzerror(r->gz, &errnum);
    switch (errnum) {
    case Z_OK:
        return 0;
    case Z_ERRNO:
        return pd_data_fail(errbuf, errlen, -EIO, "%s: read error: %s", r->path,
                            strerror(errno));
    case Z_MEM_ERROR:
        return pd_data_fail(errbuf, errlen, -ENOMEM, "%s: out of memory", r->path);
    case Z_BUF_ERROR:
        return pd_data_fail(errbuf, errlen, PD_EDATA, "%s: truncated gzip stream", r->path);
    default:
        return pd_data_fail(errbuf, errlen, PD_EDATA, "%s: corrupt gzip data", r->path);
    }
}

int pd_data_reader_read(pd_data_reader_t *r, void *dst, size_t n, size_t *got, char *errbuf,
                        size_t errlen)
{
    unsigned char *p = dst;
    size_t done = 0;
    int rc = 0;

    while (done < n && !r->eof) {
        /* gzread() counts in unsigned and returns int: stay well below INT_MAX. */
        size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        int k = gzread(r->gz, p + done, (unsigned)want);
        if (k < 0) {
            rc = reader_check(r, errbuf, errlen);
            if (rc == 0) {
                rc = pd_data_fail(errbuf, errlen, -EIO, "%s: read error", r->path);
            }
            goto out;
        }
        if (k == 0) {
            r->eof = true;
            rc = reader_check(r, errbuf, errlen);
            if (rc < 0) {
                goto out;
            }
            break;
        }
        done += (size_t)k;
    }
    rc = 0;
out:
    *got = done;
    return rc;
}

int pd_data_reader_line(pd_data_reader_t *r, char **line, size_t *len, char *errbuf,
                        size_t errlen)
{
    size_t n = 0;
    bool any = false;
    bool newline = false;
    int rc;

    while (!newline) {
        if (r->in_pos == r->in_len) {
            size_t got;
            rc = pd_data_reader_read(r, r->in, READ_CHUNK, &got, errbuf, errlen);
            if (rc < 0) {
                goto out;
            }
            r->in_pos = 0;
            r->in_len = got;
            if (got == 0) {
                break;
            }
        }
        any = true;
        unsigned char *s = r->in + r->in_pos;
        size_t avail = r->in_len - r->in_pos;
        unsigned char *nl = memchr(s, '\n', avail);
        size_t take = nl != NULL ? (size_t)(nl - s) : avail;
        /* Checked before growing: a file with no newline at all must not make us buffer
         * the whole of it. */
        if (n + take > r->max_line) {
            rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: line longer than %zu bytes",
                              r->path, r->lineno + 1, r->max_line);
            goto out;
        }
        rc = pd_grow((void **)&r->line, &r->line_cap, n + take + 1, 1);
        if (rc < 0) {
            rc = pd_data_fail(errbuf, errlen, rc, "%s:%zu: out of memory", r->path,
                              r->lineno + 1);
            goto out;
        }
        memcpy(r->line + n, s, take);
        n += take;
        r->in_pos += take + (nl != NULL ? 1 : 0);
        newline = nl != NULL;
    }
    if (!any) {
        rc = 0;
        goto out;
    }
    r->lineno++;
    if (n > 0 && r->line[n - 1] == '\r') {
        n--;
    }
    r->line[n] = '\0';
    /* The parsers work on C strings; a NUL would silently cut the line short. */
    if (memchr(r->line, '\0', n) != NULL) {
        rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: NUL byte in a text line", r->path,
                          r->lineno);
        goto out;
    }
    *line = r->line;
    *len = n;
    rc = 1;
out:
    return rc;
}

/* ---- dispatch ---- */

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && strncasecmp(s + len - sl, suffix, sl) == 0;
}

/* The rules of PD_DATA_AUTO in data.h: a ".gz" suffix is ignored, then "-ubyte" (the MNIST
 * names) or ".idx" anywhere in the base name means IDX, ".csv" means CSV, anything else is
 * LIBSVM (whose files carry every extension under the sun). */
static pd_data_format_t guess_format(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t len = strlen(base);
    if (ends_with(base, len, ".gz")) {
        len -= 3;
    }
    if (ends_with(base, len, "-ubyte")) {
        return PD_DATA_IDX;
    }
    for (size_t i = 0; i + 4 <= len; i++) {
        if (strncasecmp(base + i, ".idx", 4) == 0) {
            return PD_DATA_IDX;
        }
    }
    if (ends_with(base, len, ".csv")) {
        return PD_DATA_CSV;
    }
    return PD_DATA_LIBSVM;
}

static const char *const format_names[] = {
    [PD_DATA_AUTO] = "auto",
    [PD_DATA_LIBSVM] = "libsvm",
    [PD_DATA_IDX] = "idx",
    [PD_DATA_CSV] = "csv",
};
#define N_FORMATS (sizeof(format_names) / sizeof(format_names[0]))

int pd_data_format_parse(const char *name)
{
    for (size_t i = 0; i < N_FORMATS; i++) {
        if (strcmp(name, format_names[i]) == 0) {
            return (int)i;
        }
    }
    return -EINVAL;
}

const char *pd_data_format_name(pd_data_format_t f)
{
    return (size_t)f < N_FORMATS ? format_names[f] : "unknown";
}

int pd_data_load(pd_data_t **out, const char *path, const pd_data_opts_t *opts, char *errbuf,
                 size_t errlen)
{
    pd_data_opts_t o = {0};

    if (out == NULL || path == NULL) {
        return pd_data_fail(errbuf, errlen, -EINVAL, "pd_data_load: no path or output");
    }
    if (opts != NULL) {
        o = *opts;
    }
    /* A cap at or above the hard limit caps nothing; past the limit is an error, not a cut. */
    if (o.max_samples >= PD_DATA_MAX_SAMPLES) {
        o.max_samples = 0;
    }
    if (o.n_features > PD_DATA_MAX_FEATURES) {
        return pd_data_fail(errbuf, errlen, PD_ETOOBIG,
                            "%s: n_features %zu is over the limit of %llu", path, o.n_features,
                            (unsigned long long)PD_DATA_MAX_FEATURES);
    }
    if (o.idx_scale == 0.0) {
        o.idx_scale = 1.0 / 255.0;
    }
    if (!isfinite(o.idx_scale)) {
        return pd_data_fail(errbuf, errlen, -EINVAL, "%s: idx_scale is not finite", path);
    }
    if (o.csv_label_column < 0) {
        return pd_data_fail(errbuf, errlen, -EINVAL, "%s: csv_label_column %d is negative", path,
                            o.csv_label_column);
    }
    if (o.format == PD_DATA_AUTO) {
        o.format = guess_format(path);
    }
    switch (o.format) {
    case PD_DATA_LIBSVM:
        return pd_data_load_libsvm(out, path, &o, errbuf, errlen);
    case PD_DATA_IDX:
        return pd_data_load_idx(out, path, &o, errbuf, errlen);
    case PD_DATA_CSV:
        return pd_data_load_csv(out, path, &o, errbuf, errlen);
    case PD_DATA_AUTO:
    default:
        break;
    }
    return pd_data_fail(errbuf, errlen, -EINVAL, "%s: unknown data format %d", path,
                        (int)o.format);
}

void pd_data_free(pd_data_t *d)
{
    if (d == NULL) {
        return;
    }
    free(d->y);
    free(d->x);
    free(d->row_ptr);
    free(d->col);
    free(d->val);
    free(d);
}

/* ---- fingerprint ----
 * Workers and the server compare this value, possibly across machines and builds, so it
 * hashes values rather than memory: every item becomes one 64-bit word (doubles by their
 * IEEE bits with -0.0 folded into 0.0, sizes and indices zero-extended), so the result does
 * not depend on endianness, size_t width or padding. Four independent lanes let the
 * multiplies of consecutive words overlap; Fashion-MNIST (47M doubles) takes tens of
 * milliseconds. Not cryptographic: it catches the wrong file, not a forged one.
 * FP_VERSION is hashed first; change it whenever the word sequence changes. */
#define FP_VERSION UINT64_C(0x7064667000000001) /* "pdfp" 1 */
#define FP_K1 UINT64_C(0x9E3779B97F4A7C15)
#define FP_K2 UINT64_C(0xBF58476D1CE4E5B9)
#define FP_K3 UINT64_C(0x94D049BB133111EB)

typedef struct fp_state {
    uint64_t lane[4];
    uint64_t n; /* words so far; picks the lane of the next word */
} fp_state_t;

static inline uint64_t fp_step(uint64_t acc, uint64_t w)
{
    acc ^= w * FP_K1;
    acc = (acc << 27) | (acc >> 37);
    return acc * FP_K2;
}

static inline uint64_t fp_bits(double v)
{
    uint64_t b;
    if (v == 0.0) {
        return 0;
    }
    memcpy(&b, &v, sizeof(b));
    return b;
}

static void fp_word(fp_state_t *f, uint64_t w)
{
    f->lane[f->n & 3] = fp_step(f->lane[f->n & 3], w);
    f->n++;
}

/* Same word sequence as calling fp_word() for each element, but the main loop keeps the
 * four lanes in registers. */
#define FP_BULK(f, a, count, CONV)                                                            \
    do {                                                                                      \
        size_t i_ = 0, n_ = (count);                                                          \
        while (i_ < n_ && ((f)->n & 3) != 0) {                                                \
            fp_word((f), CONV((a)[i_]));                                                      \
            i_++;                                                                             \
        }                                                                                     \
        uint64_t l0_ = (f)->lane[0], l1_ = (f)->lane[1], l2_ = (f)->lane[2],                  \
                 l3_ = (f)->lane[3];                                                          \
        size_t start_ = i_;                                                                   \
        for (; i_ + 4 <= n_; i_ += 4) {                                                       \
            l0_ = fp_step(l0_, CONV((a)[i_]));                                                \
            l1_ = fp_step(l1_, CONV((a)[i_ + 1]));                                            \
            l2_ = fp_step(l2_, CONV((a)[i_ + 2]));                                            \
            l3_ = fp_step(l3_, CONV((a)[i_ + 3]));                                            \
        }                                                                                     \
        (f)->lane[0] = l0_;                                                                   \
        (f)->lane[1] = l1_;                                                                   \
        (f)->lane[2] = l2_;                                                                   \
        (f)->lane[3] = l3_;                                                                   \
        (f)->n += i_ - start_;                                                                \
        while (i_ < n_) {                                                                     \
            fp_word((f), CONV((a)[i_]));                                                      \
            i_++;                                                                             \
        }                                                                                     \
    } while (0)

#define FP_U64(v) ((uint64_t)(v))

uint64_t pd_data_fingerprint(const pd_data_t *d)
{
    fp_state_t f = {{FP_K1, FP_K2, FP_K3, FP_K1 ^ FP_K2}, 0};

    fp_word(&f, FP_VERSION);
    fp_word(&f, d->m);
    fp_word(&f, d->p);
    fp_word(&f, d->sparse ? 1 : 0);
    if (d->y != NULL) {
        FP_BULK(&f, d->y, d->m, fp_bits);
    }
    if (d->sparse) {
        fp_word(&f, d->nnz);
        if (d->row_ptr != NULL) {
            FP_BULK(&f, d->row_ptr, d->m + 1, FP_U64);
        }
        if (d->col != NULL) {
            FP_BULK(&f, d->col, d->nnz, FP_U64);
        }
        if (d->val != NULL) {
            FP_BULK(&f, d->val, d->nnz, fp_bits);
        }
    } else if (d->x != NULL) {
        FP_BULK(&f, d->x, d->m * d->p, fp_bits);
    }

    uint64_t h = FP_VERSION;
    for (int i = 0; i < 4; i++) {
        h = fp_step(h, f.lane[i]);
    }
    h = fp_step(h, f.n);
    /* Final avalanche (the splitmix64 output function, as in rng.c), so that sets differing
     * in one late word still differ in every bit position with even odds. */
    h = (h ^ (h >> 30)) * FP_K2;
    h = (h ^ (h >> 27)) * FP_K3;
    return h ^ (h >> 31);
}

/* ---- classes ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t pd_data_count_classes(const pd_data_t *d)
{
    /* Class labels are almost always small non-negative integers: count those with a bitmap
     * and no allocation; fall back to sorting a copy for anything else. */
    enum { SMALL = 4096 };
    uint64_t seen[SMALL / 64] = {0};
    size_t count = 0;
    size_t i;

    if (d == NULL || d->m == 0 || d->y == NULL) {
        return 0;
    }
    for (i = 0; i < d->m; i++) {
        double v = d->y[i];
        if (!(v >= 0.0 && v < SMALL && v == floor(v))) {
            break;
        }
        size_t k = (size_t)v;
        if ((seen[k / 64] & (UINT64_C(1) << (k % 64))) == 0) {
            seen[k / 64] |= UINT64_C(1) << (k % 64);
            count++;
        }
    }
    if (i == d->m) {
        return count;
    }

    double *s = malloc(d->m * sizeof(*s));
    if (s == NULL) {
        return 0;
    }
    memcpy(s, d->y, d->m * sizeof(*s));
    qsort(s, d->m, sizeof(*s), cmp_double);
    count = 1;
    for (i = 1; i < d->m; i++) {
        if (s[i] != s[i - 1]) {
            count++;
        }
    }
    free(s);
    return count;
}

int pd_data_new_dense(pd_data_t **out, size_t m, size_t p, double **x, double **y,
                      const char *path, char *errbuf, size_t errlen)
{
    pd_data_t *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return pd_data_fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
    }
    d->m = m;
    d->p = p;
    d->sparse = false;
    d->x = *x;
    d->y = *y;
    *x = NULL;
    *y = NULL;
    *out = d;
    return 0;
}
