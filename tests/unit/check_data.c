/* check_data.c - the data loaders (data.h): LIBSVM, IDX and CSV content, gzip transparency,
 * every malformed-input message as "FILE:LINE: problem", size limits, the fingerprint and
 * the class count. Each test writes its files into its own mkdtemp directory. */
#include <config.h>
#include "data.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "error.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/check_data.XXXXXX", base != NULL ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    DIR *dir = opendir(tmpdir);
    if (dir != NULL) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
                unlink(path);
            }
        }
        closedir(dir);
    }
    rmdir(tmpdir);
}

/* Path of `name` in the test directory; a static buffer per call slot so two paths can be
 * alive at once. */
static const char *tpath(const char *name, int slot)
{
    static char buf[4][512];
    snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", tmpdir, name);
    return buf[slot];
}

static const char *write_bytes(const char *name, const void *data, size_t len, int slot)
{
    const char *path = tpath(name, slot);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static const char *write_text(const char *name, const char *text, int slot)
{
    return write_bytes(name, text, strlen(text), slot);
}

static const char *write_gz(const char *name, const void *data, size_t len, int slot)
{
    const char *path = tpath(name, slot);
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    return path;
}

static int load(pd_data_t **d, const char *path, const pd_data_opts_t *opts, char *err)
{
    err[0] = '\0';
    return pd_data_load(d, path, opts, err, 256);
}

/* The error text must be "PATH:LINE: msg..." (or "PATH: msg..." for line 0). */
static void assert_msg(const char *err, const char *path, int line, const char *msg)
{
    char want[600];
    if (line > 0) {
        snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
    } else {
        snprintf(want, sizeof(want), "%s: %s", path, msg);
    }
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error '%s', expected '%s...'", err,
                  want);
}

/* ---- LIBSVM ---- */

static const char svm_good[] = "# a comment line\n"
                               "+1 1:0.5 3:-2 # trailing comment\n"
                               "\n"
                               "-1\t2:1.5\r\n"
                               "0 1:1e-3   4:7\n"
                               "2.5";

static void check_svm_good(const pd_data_t *d, size_t p)
{
    static const double y[] = {1, -1, 0, 2.5};
    static const size_t row_ptr[] = {0, 2, 3, 5, 5};
    static const uint32_t col[] = {0, 2, 1, 0, 3};
    static const double val[] = {0.5, -2, 1.5, 1e-3, 7};

    ck_assert_uint_eq(d->m, 4);
    ck_assert_uint_eq(d->p, p);
    ck_assert(d->sparse);
    ck_assert_uint_eq(d->nnz, 5);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_double_eq(d->y[i], y[i]);
    }
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(d->row_ptr[i], row_ptr[i]);
        ck_assert_uint_eq(d->col[i], col[i]);
        ck_assert_double_eq(d->val[i], val[i]);
    }
}

START_TEST(test_libsvm_good)
{
    char err[256];
    pd_data_t *d = NULL;
    const char *path = write_text("good.svm", svm_good, 0);

    ck_assert_int_eq(load(&d, path, NULL, err), 0);
    check_svm_good(d, 4);
    ck_assert_uint_eq(pd_data_count_classes(d), 4);
    pd_data_free(d);
}
END_TEST

/* Values are parsed by an exact fast path when they are short decimals, by strtod() when
 * not; both must give strtod()'s bits for every spelling: lengths up to and past 2^53 and
 * 22 decimals, signs, leading zeros, a bare point, exponents, and the forms strtod() alone
 * takes (hex, inf in a label is refused elsewhere). */
START_TEST(test_libsvm_values_as_strtod)
{
    enum { N = 20000 };
    static const char *const fixed[] = {
        "0.1", "-0.1", "+2.5", "1.", ".5", "-.5", "0.00390625", "9007199254740993",
        "9007199254740992", "900719925474099.3", "0.3333333333333333333333", "1e-5", "2E3",
        "123456789012345678901234567890", "0.0000000000000000000000001", "-0", "0x1p-3",
        "4.9406564584124654e-324", "17976931348623157e292", "0.99609375", "1234567.125"};
    size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
    char (*tok)[48] = calloc(N, sizeof(*tok));
    char *text = malloc((size_t)N * 60);
    char err[256];
    pd_data_t *d = NULL;
    uint64_t r = 88172645463325252ULL;
    size_t len = 0;

    ck_assert_ptr_nonnull(tok);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < N; i++) {
        if (i < n_fixed) {
            snprintf(tok[i], sizeof(tok[i]), "%s", fixed[i]);
        } else {
            /* xorshift: digits before and after the point, a sign, sometimes an exponent */
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            int before = (int)(r % 12), after = (int)((r >> 8) % 26);
            size_t k = 0;
            tok[i][k++] = (r >> 20) % 3 == 0 ? '-' : '1';
            for (int j = 0; j < before; j++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                tok[i][k++] = (char)('0' + r % 10);
            }
            tok[i][k++] = '.';
            for (int j = 0; j < after; j++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                tok[i][k++] = (char)('0' + r % 10);
            }
            tok[i][k++] = '7';
            if ((r >> 30) % 7 == 0) {
                k += (size_t)snprintf(tok[i] + k, sizeof(tok[i]) - k, "e%d", (int)(r % 40) - 20);
            }
            tok[i][k] = '\0';
        }
        len += (size_t)sprintf(text + len, "1 1:%s\n", tok[i]);
    }
    ck_assert_int_eq(load(&d, write_bytes("values.svm", text, len, 0), NULL, err), 0);
    ck_assert_uint_eq(d->m, N);
    for (size_t i = 0; i < N; i++) {
        double want = strtod(tok[i], NULL);
        double got = d->row_ptr[i + 1] > d->row_ptr[i] ? d->val[d->row_ptr[i]] : 0.0;
        ck_assert_msg(memcmp(&got, &want, sizeof(want)) == 0 || (want == 0.0 && got == 0.0),
                      "'%s': %.17g, strtod %.17g", tok[i], got, want);
    }
    pd_data_free(d);
    free(tok);
    free(text);
}
END_TEST

START_TEST(test_libsvm_n_features)
{
    char err[256];
    pd_data_t *d = NULL, *e = NULL;
    const char *path = write_text("good.txt", svm_good, 0);
    pd_data_opts_t o = {.n_features = 10};

    ck_assert_int_eq(load(&d, path, &o, err), 0);
    check_svm_good(d, 10);
    ck_assert_int_eq(load(&e, path, NULL, err), 0);
    /* p is part of the content: a padded set is a different set */
    ck_assert(pd_data_fingerprint(d) != pd_data_fingerprint(e));
    pd_data_free(d);
    pd_data_free(e);

    o.n_features = 3;
    d = NULL;
    ck_assert_int_eq(load(&d, path, &o, err), PD_EDATA);
    ck_assert_ptr_null(d);
    assert_msg(err, path, 5, "feature index 4 but n_features is 3");

    /* labels only: with n_features the set is valid, and its CSR arrays are not NULL */
    const char *empty = write_text("empty.svm", "1\n-1 # nothing\n", 1);
    o.n_features = 5;
    ck_assert_int_eq(load(&d, empty, &o, err), 0);
    ck_assert_uint_eq(d->m, 2);
    ck_assert_uint_eq(d->nnz, 0);
    ck_assert_uint_eq(d->row_ptr[2], 0);
    ck_assert_ptr_nonnull(d->col);
    ck_assert_ptr_nonnull(d->val);
    pd_data_free(d);
}
END_TEST

START_TEST(test_libsvm_gzip)
{
    char err[256];
    pd_data_t *d = NULL, *z = NULL;
    const char *plain = write_text("good.svm", svm_good, 0);
    /* a name with no hint of gzip: detection is by magic bytes */
    const char *gz = write_gz("good-compressed.svm", svm_good, strlen(svm_good), 1);

    ck_assert_int_eq(load(&d, plain, NULL, err), 0);
    ck_assert_int_eq(load(&z, gz, NULL, err), 0);
    check_svm_good(z, 4);
    ck_assert_uint_eq(pd_data_fingerprint(d), pd_data_fingerprint(z));
    pd_data_free(d);
    pd_data_free(z);
}
END_TEST

START_TEST(test_libsvm_gzip_truncated)
{
    char err[256];
    pd_data_t *d = NULL;
    /* Enough varied text that the compressed stream is long, then cut it in half. */
    char text[8192];
    size_t n = 0;
    for (int i = 0; n + 64 < sizeof(text); i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%d 1:%d.%d 7:%d\n", i % 3, i, i * 7,
                              i * 13);
    }
    const char *gz = write_gz("t.svm.gz", text, n, 0);
    FILE *f = fopen(gz, "rb");
    unsigned char buf[16384];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert(len > 100);
    const char *cut = write_bytes("cut.svm.gz", buf, len / 2, 1);

    ck_assert_int_eq(load(&d, cut, NULL, err), PD_EDATA);
    ck_assert_ptr_null(d);
    assert_msg(err, cut, 0, "truncated gzip stream");
}
END_TEST

static const struct bad_case {
    const char *text;
    int rc;
    int line;
    const char *msg;
} svm_bad[] = {
    {"1 0:1\n", PD_EDATA, 1, "feature index 0 (indices start at 1)"},
    {"1 1:1\n\n1 3:1 2:1\n", PD_EDATA, 3, "indices not increasing"},
    {"1 2:1 2:1\n", PD_EDATA, 1, "indices not increasing"},
    {"# c\n1 1:abc\n", PD_EDATA, 2, "bad value 'abc'"},
    {"1 1:\n", PD_EDATA, 1, "bad value ''"},
    {"1 1:2x\n", PD_EDATA, 1, "bad value '2x'"},
    {"1 1:nan\n", PD_EDATA, 1, "non-finite value 'nan'"},
    {"1 1:-inf\n", PD_EDATA, 1, "non-finite value '-inf'"},
    {"1 1:1e999\n", PD_EDATA, 1, "non-finite value '1e999'"},
    {"abc 1:1\n", PD_EDATA, 1, "bad label 'abc'"},
    {"nan 1:1\n", PD_EDATA, 1, "bad label 'nan'"},
    {"1 x:1\n", PD_EDATA, 1, "bad feature index 'x'"},
    {"1 -1:1\n", PD_EDATA, 1, "bad feature index '-1'"},
    {"1 qid:3 1:1\n", PD_EDATA, 1, "bad feature index 'qid'"},
    {"1 7\n", PD_EDATA, 1, "bad feature '7' (expected index:value)"},
    {"1 99999999999999999999999:1\n", PD_ETOOBIG, 1, "feature index over the limit"},
    {"", PD_EDATA, 0, "no samples"},
    {"# only a comment\n\n   \n", PD_EDATA, 0, "no samples"},
    {"1\n-1 # no features anywhere\n", PD_EDATA, 0, "no features in any sample"},
};

START_TEST(test_libsvm_bad)
{
    char err[256];
    pd_data_t *d = NULL;
    const struct bad_case *c = &svm_bad[_i];
    const char *path = write_text("bad.svm", c->text, 0);

    ck_assert_int_eq(load(&d, path, NULL, err), c->rc);
    ck_assert_ptr_null(d);
    assert_msg(err, path, c->line, c->msg);
}
END_TEST

START_TEST(test_libsvm_nul_byte)
{
    char err[256];
    pd_data_t *d = NULL;
    static const char text[] = "1 1:1\n1 2:\0003\n";
    const char *path = write_bytes("nul.svm", text, sizeof(text) - 1, 0);

    ck_assert_int_eq(load(&d, path, NULL, err), PD_EDATA);
    assert_msg(err, path, 2, "NUL byte in a text line");
}
END_TEST

START_TEST(test_libsvm_long_line)
{
    char err[256];
    pd_data_t *d = NULL;
    const char *path = tpath("long.svm", 0);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("1 1:1\n1 ", f);
    /* One line of PD_DATA_MAX_LINE + 1 bytes: just over the limit. */
    size_t chunk = 1 << 16;
    char *spaces = malloc(chunk);
    memset(spaces, ' ', chunk);
    for (size_t left = PD_DATA_MAX_LINE - 1; left > 0;) {
        size_t k = left < chunk ? left : chunk;
        ck_assert_uint_eq(fwrite(spaces, 1, k, f), k);
        left -= k;
    }
    free(spaces);
    fputs("\n", f);
    ck_assert_int_eq(fclose(f), 0);

    ck_assert_int_eq(load(&d, path, NULL, err), PD_EDATA);
    char msg[64];
    snprintf(msg, sizeof(msg), "line longer than %u bytes", PD_DATA_MAX_LINE);
    assert_msg(err, path, 2, msg);
}
END_TEST

START_TEST(test_libsvm_long_token_quoted_short)
{
    char err[256];
    pd_data_t *d = NULL;
    char text[1000];
    memset(text, 'z', sizeof(text));
    memcpy(text, "1 1:", 4);
    text[sizeof(text) - 2] = '\n';
    text[sizeof(text) - 1] = '\0';
    const char *path = write_text("tok.svm", text, 0);

    ck_assert_int_eq(load(&d, path, NULL, err), PD_EDATA);
    assert_msg(err, path, 1, "bad value 'zzzz");
    /* a garbage token is quoted, not copied whole */
    ck_assert(strstr(err, "...'") != NULL);
    ck_assert(strlen(err) < 200);
}
END_TEST

START_TEST(test_missing_file)
{
    char err[256];
    pd_data_t *d = NULL;
    const char *path = tpath("does-not-exist.svm", 0);

    ck_assert_int_eq(load(&d, path, NULL, err), -ENOENT);
    ck_assert_ptr_null(d);
    assert_msg(err, path, 0, "");
    ck_assert_int_eq(load(&d, tmpdir, NULL, err), -EISDIR);
}
END_TEST

/* max_samples keeps the first samples and ignores the rest, which is not even parsed. */
START_TEST(test_max_samples)
{
    char err[256];
    pd_data_t *d = NULL;
    const char *svm = write_text("cap.svm", "1 1:1\n# c\n\n-1 2:2\n0 3:oops\n", 0);
    const char *csv = write_text("cap.csv", "1,2\n3,4\n5\n", 1);
    pd_data_opts_t o = {.max_samples = 2};

    ck_assert_int_eq(load(&d, svm, &o, err), 0);
    ck_assert_uint_eq(d->m, 2);
    ck_assert_uint_eq(d->p, 2);
    ck_assert_double_eq(d->y[1], -1);
    pd_data_free(d);
    d = NULL;
    o.max_samples = 3;
    ck_assert_int_eq(load(&d, svm, &o, err), PD_EDATA);
    assert_msg(err, svm, 5, "bad value 'oops'");

    o.max_samples = 2;
    ck_assert_int_eq(load(&d, csv, &o, err), 0);
    ck_assert_uint_eq(d->m, 2);
    ck_assert_double_eq(d->x[1], 4);
    pd_data_free(d);
    d = NULL;
    o.max_samples = 0;
    ck_assert_int_eq(load(&d, csv, &o, err), PD_EDATA);
    assert_msg(err, csv, 3, "expected 2 columns, found 1");

    /* a cap larger than the file is no cap */
    o.max_samples = 100;
    ck_assert_int_eq(load(&d, csv, &o, err), PD_EDATA);

    o = (pd_data_opts_t){.n_features = (size_t)PD_DATA_MAX_FEATURES + 1};
    ck_assert_int_eq(load(&d, svm, &o, err), PD_ETOOBIG);
    ck_assert_ptr_null(d);
}
END_TEST

/* ---- fingerprint and classes ---- */

START_TEST(test_fingerprint)
{
    char err[256];
    pd_data_t *a = NULL, *b = NULL, *c = NULL, *e = NULL, *f = NULL;
    const char *p1 = write_text("a.svm", "1 1:0.5 3:2\n-1 2:1\n", 0);
    /* same content: other spacing, a comment, explicit zeros, other spellings of numbers */
    const char *p2 =
        write_text("b.svm", "# same set\n+1.0  1:5e-1 2:0 3:2.000\n\n-1 1:-0 2:1  \n", 1);
    const char *p3 = write_text("c.svm", "1 1:0.5 3:2.0000001\n-1 2:1\n", 2);
    const char *p4 = write_text("d.svm", "1 1:0.5 3:2\n1 2:1\n", 3);

    ck_assert_int_eq(load(&a, p1, NULL, err), 0);
    ck_assert_int_eq(load(&b, p1, NULL, err), 0);
    ck_assert_uint_eq(pd_data_fingerprint(a), pd_data_fingerprint(b));
    ck_assert_int_eq(load(&c, p2, NULL, err), 0);
    ck_assert_uint_eq(pd_data_fingerprint(a), pd_data_fingerprint(c));
    ck_assert_int_eq(load(&e, p3, NULL, err), 0);
    ck_assert(pd_data_fingerprint(a) != pd_data_fingerprint(e));
    ck_assert_int_eq(load(&f, p4, NULL, err), 0);
    ck_assert(pd_data_fingerprint(a) != pd_data_fingerprint(f));
    pd_data_free(a);
    pd_data_free(b);
    pd_data_free(c);
    pd_data_free(e);
    pd_data_free(f);
}
END_TEST

/* Any single-bit change of a dense value, including in the tail that does not fill all four
 * lanes, changes the fingerprint. */
START_TEST(test_fingerprint_dense_every_position)
{
    double x[7 * 3], y[7];
    for (size_t i = 0; i < 21; i++) {
        x[i] = (double)i * 0.25;
    }
    for (size_t i = 0; i < 7; i++) {
        y[i] = (double)(i % 2);
    }
    pd_data_t d = {.m = 7, .p = 3, .y = y, .x = x};
    uint64_t base = pd_data_fingerprint(&d);
    for (size_t i = 0; i < 21; i++) {
        double keep = x[i];
        x[i] = nextafter(keep, 100.0);
        ck_assert(pd_data_fingerprint(&d) != base);
        x[i] = keep;
    }
    for (size_t i = 0; i < 7; i++) {
        double keep = y[i];
        y[i] = 2.0;
        ck_assert(pd_data_fingerprint(&d) != base);
        y[i] = keep;
    }
    ck_assert_uint_eq(pd_data_fingerprint(&d), base);
    /* the shape counts: 7 x 3 is not 3 x 7 over the same words */
    d.m = 3;
    d.p = 7;
    ck_assert(pd_data_fingerprint(&d) != base);
}
END_TEST

START_TEST(test_count_classes)
{
    double y[6] = {0.5, -1, 0.5, 3, -1, 1e9};
    pd_data_t d = {.m = 6, .p = 1, .y = y};
    ck_assert_uint_eq(pd_data_count_classes(&d), 4);
    double z[5] = {2, 0, 1, 2, -0.0};
    d = (pd_data_t){.m = 5, .p = 1, .y = z};
    ck_assert_uint_eq(pd_data_count_classes(&d), 3);
    d.m = 0;
    ck_assert_uint_eq(pd_data_count_classes(&d), 0);
}
END_TEST

/* ---- IDX ---- */

static size_t idx_images(unsigned char *b, uint32_t m, uint32_t rows, uint32_t cols)
{
    const uint32_t h[4] = {0x803, m, rows, cols};
    for (int i = 0; i < 4; i++) {
        b[4 * i] = (unsigned char)(h[i] >> 24);
        b[4 * i + 1] = (unsigned char)(h[i] >> 16);
        b[4 * i + 2] = (unsigned char)(h[i] >> 8);
        b[4 * i + 3] = (unsigned char)h[i];
    }
    return 16;
}

static size_t idx_labels(unsigned char *b, uint32_t m)
{
    const uint32_t h[2] = {0x801, m};
    for (int i = 0; i < 2; i++) {
        b[4 * i] = (unsigned char)(h[i] >> 24);
        b[4 * i + 1] = (unsigned char)(h[i] >> 16);
        b[4 * i + 2] = (unsigned char)(h[i] >> 8);
        b[4 * i + 3] = (unsigned char)h[i];
    }
    return 8;
}

/* Three 2x2 images and their labels 0, 1, 2. */
static const unsigned char pixels[12] = {0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0};

static void write_idx(const char *img, const char *lab, bool gz, size_t cut_pixels,
                      uint32_t n_labels)
{
    unsigned char b[64];
    size_t n = idx_images(b, 3, 2, 2);
    memcpy(b + n, pixels, sizeof(pixels) - cut_pixels);
    n += sizeof(pixels) - cut_pixels;
    if (gz) {
        write_gz(img, b, n, 0);
    } else {
        write_bytes(img, b, n, 0);
    }
    n = idx_labels(b, n_labels);
    for (uint32_t i = 0; i < n_labels; i++) {
        b[n++] = (unsigned char)i;
    }
    if (gz) {
        write_gz(lab, b, n, 1);
    } else {
        write_bytes(lab, b, n, 1);
    }
}

START_TEST(test_idx_good)
{
    char err[256];
    pd_data_t *d = NULL, *z = NULL, *r = NULL;

    write_idx("img-idx3-ubyte", "lab-idx1-ubyte", false, 0, 3);
    char img[512], lab[512];
    snprintf(img, sizeof(img), "%s", tpath("img-idx3-ubyte", 0));
    snprintf(lab, sizeof(lab), "%s", tpath("lab-idx1-ubyte", 1));
    pd_data_opts_t o = {.labels_path = lab};
    ck_assert_int_eq(load(&d, img, &o, err), 0);
    ck_assert_uint_eq(d->m, 3);
    ck_assert_uint_eq(d->p, 4);
    ck_assert(!d->sparse);
    for (size_t i = 0; i < 12; i++) {
        ck_assert_double_eq_tol(d->x[i], pixels[i] / 255.0, 1e-15);
    }
    for (size_t i = 0; i < 3; i++) {
        ck_assert_double_eq(d->y[i], (double)i);
        ck_assert_ptr_eq(pd_data_dense_row(d, i), d->x + 4 * i);
    }
    ck_assert_uint_eq(pd_data_count_classes(d), 3);

    /* a cap reads the first images only; the rest of the file is not an error */
    pd_data_t *c = NULL;
    o.max_samples = 2;
    ck_assert_int_eq(load(&c, img, &o, err), 0);
    ck_assert_uint_eq(c->m, 2);
    ck_assert_mem_eq(c->x, d->x, 8 * sizeof(double));
    ck_assert_double_eq(c->y[1], 1);
    pd_data_free(c);
    o.max_samples = 0;

    /* gzip'd copies, named the MNIST way: same content, same fingerprint */
    write_idx("img-idx3-ubyte.gz", "lab-idx1-ubyte.gz", true, 0, 3);
    char gimg[512], glab[512];
    snprintf(gimg, sizeof(gimg), "%s", tpath("img-idx3-ubyte.gz", 0));
    snprintf(glab, sizeof(glab), "%s", tpath("lab-idx1-ubyte.gz", 1));
    o.labels_path = glab;
    ck_assert_int_eq(load(&z, gimg, &o, err), 0);
    ck_assert_uint_eq(pd_data_fingerprint(d), pd_data_fingerprint(z));

    /* idx_scale 1 keeps raw bytes; n_features pads each row with zeros */
    o = (pd_data_opts_t){.format = PD_DATA_IDX, .labels_path = lab, .idx_scale = 1.0,
                         .n_features = 6};
    ck_assert_int_eq(load(&r, img, &o, err), 0);
    ck_assert_uint_eq(r->p, 6);
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 6; j++) {
            double want = j < 4 ? pixels[i * 4 + j] : 0.0;
            ck_assert_double_eq(pd_data_dense_row(r, i)[j], want);
        }
    }
    pd_data_free(d);
    pd_data_free(z);
    pd_data_free(r);
}
END_TEST

START_TEST(test_idx_truncated)
{
    char err[256];
    pd_data_t *d = NULL;
    char img[512], lab[512];

    for (int gz = 0; gz < 2; gz++) {
        write_idx("img.idx", "lab.idx", gz != 0, 1, 3);
        snprintf(img, sizeof(img), "%s", tpath("img.idx", 0));
        snprintf(lab, sizeof(lab), "%s", tpath("lab.idx", 1));
        pd_data_opts_t o = {.labels_path = lab};
        ck_assert_int_eq(load(&d, img, &o, err), PD_EDATA);
        ck_assert_ptr_null(d);
        assert_msg(err, img, 0, "truncated: expected 12 bytes of image data");
    }

    /* a header that stops early */
    unsigned char b[16];
    idx_images(b, 3, 2, 2);
    const char *shorth = write_bytes("short.idx", b, 10, 0);
    pd_data_opts_t o = {.labels_path = lab};
    ck_assert_int_eq(load(&d, shorth, &o, err), PD_EDATA);
    assert_msg(err, shorth, 0, "truncated IDX header");
}
END_TEST

/* A tiny gzip file claiming 2^31 - 1 images of 784 pixels must fail on the missing data,
 * not by allocating 13 GB first. */
START_TEST(test_idx_huge_header)
{
    char err[256];
    pd_data_t *d = NULL;
    unsigned char b[64];
    size_t n = idx_images(b, 0x7fffffff, 28, 28);
    memset(b + n, 7, 32);
    const char *img = write_gz("huge-idx3-ubyte.gz", b, n + 32, 0);
    n = idx_labels(b, 0x7fffffff);
    memset(b + n, 1, 32);
    const char *lab = write_gz("huge-idx1-ubyte.gz", b, n + 32, 1);
    pd_data_opts_t o = {.labels_path = lab};

    ck_assert_int_eq(load(&d, img, &o, err), PD_EDATA);
    assert_msg(err, lab, 0, "truncated: expected 2147483647 bytes of label data");

    o.max_samples = 1000;
    ck_assert_int_eq(load(&d, img, &o, err), PD_EDATA);
    assert_msg(err, lab, 0, "truncated: expected 1000 bytes of label data");

    /* over the hard limit of 2^31 samples: refused from the header alone */
    n = idx_images(b, 0xffffffff, 28, 28);
    img = write_gz("huge-idx3-ubyte.gz", b, n, 0);
    n = idx_labels(b, 0xffffffff);
    lab = write_gz("huge-idx1-ubyte.gz", b, n, 1);
    o = (pd_data_opts_t){.labels_path = lab};
    ck_assert_int_eq(load(&d, img, &o, err), PD_ETOOBIG);
    assert_msg(err, img, 0, "4294967295 samples, over the limit");
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_idx_mismatch)
{
    char err[256];
    pd_data_t *d = NULL;
    char img[512], lab[512];

    write_idx("i-idx3-ubyte", "l-idx1-ubyte", false, 0, 2);
    snprintf(img, sizeof(img), "%s", tpath("i-idx3-ubyte", 0));
    snprintf(lab, sizeof(lab), "%s", tpath("l-idx1-ubyte", 1));
    pd_data_opts_t o = {.labels_path = lab};
    ck_assert_int_eq(load(&d, img, &o, err), PD_EDATA);
    assert_msg(err, lab, 0, "2 labels but");

    /* images and labels swapped */
    write_idx("i-idx3-ubyte", "l-idx1-ubyte", false, 0, 3);
    o.labels_path = img;
    ck_assert_int_eq(load(&d, lab, &o, err), PD_EDATA);
    assert_msg(err, lab, 0, "not an IDX images file (magic 0x00000801");

    /* no labels file at all */
    o.labels_path = NULL;
    ck_assert_int_eq(load(&d, img, &o, err), -EINVAL);

    /* bytes after the data: the header does not describe the file */
    unsigned char b[64];
    size_t n = idx_images(b, 3, 2, 2);
    memcpy(b + n, pixels, sizeof(pixels));
    n += sizeof(pixels);
    b[n++] = 9;
    write_bytes("i-idx3-ubyte", b, n, 0);
    o.labels_path = lab;
    ck_assert_int_eq(load(&d, img, &o, err), PD_EDATA);
    assert_msg(err, img, 0, "data after the 12 bytes of image data");
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_fashion_mnist_t10k)
{
    char err[256];
    pd_data_t *d = NULL;
    const char *img = FASHION_DIR "/t10k-images-idx3-ubyte.gz";
    pd_data_opts_t o = {.labels_path = FASHION_DIR "/t10k-labels-idx1-ubyte.gz"};

    if (access(FASHION_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 ||
        access(img, R_OK) != 0) {
        return; /* data set not installed on this machine */
    }
    ck_assert_msg(load(&d, img, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(d->m, 10000);
    ck_assert_uint_eq(d->p, 784);
    ck_assert_uint_eq(pd_data_count_classes(d), 10);
    for (size_t i = 0; i < d->m; i++) {
        ck_assert(d->y[i] >= 0 && d->y[i] <= 9 && d->y[i] == floor(d->y[i]));
    }
    double lo = 1, hi = 0;
    for (size_t i = 0; i < d->m * d->p; i++) {
        lo = fmin(lo, d->x[i]);
        hi = fmax(hi, d->x[i]);
    }
    ck_assert_double_eq(lo, 0.0);
    ck_assert_double_eq(hi, 1.0);
    pd_data_free(d);
}
END_TEST

/* ---- CSV ---- */

START_TEST(test_csv_good)
{
    char err[256];
    pd_data_t *d = NULL, *e = NULL, *z = NULL;
    static const char text[] = "y,a,b\r\n1,0.5,2\r\n\r\n0, 1.5 ,-3\n";
    const char *path = write_text("good.csv", text, 0);
    pd_data_opts_t o = {.csv_header = true};

    ck_assert_int_eq(load(&d, path, &o, err), 0);
    ck_assert_uint_eq(d->m, 2);
    ck_assert_uint_eq(d->p, 2);
    ck_assert(!d->sparse);
    ck_assert_double_eq(d->y[0], 1);
    ck_assert_double_eq(d->y[1], 0);
    ck_assert_double_eq(d->x[0], 0.5);
    ck_assert_double_eq(d->x[1], 2);
    ck_assert_double_eq(d->x[2], 1.5);
    ck_assert_double_eq(d->x[3], -3);

    /* label last, padded to 4 features, gzip'd under a .csv.gz name */
    static const char text2[] = "0.5,2,1\n1.5,-3,0\n";
    const char *gz = write_gz("last.csv.gz", text2, strlen(text2), 1);
    o = (pd_data_opts_t){.csv_label_column = 2, .n_features = 4};
    ck_assert_int_eq(load(&e, gz, &o, err), 0);
    ck_assert_uint_eq(e->p, 4);
    ck_assert_double_eq(e->y[0], 1);
    ck_assert_double_eq(e->x[1], 2);
    ck_assert_double_eq(e->x[3], 0);
    ck_assert_double_eq(e->x[4], 1.5);

    /* the same numbers in the same places: the fingerprint follows content, not layout */
    o.n_features = 0;
    ck_assert_int_eq(load(&z, gz, &o, err), 0);
    ck_assert_uint_eq(pd_data_fingerprint(d), pd_data_fingerprint(z));
    pd_data_free(d);
    pd_data_free(e);
    pd_data_free(z);
}
END_TEST

static const struct bad_case csv_bad[] = {
    {"1,2,3\n4,5,6\n7,8\n", PD_EDATA, 3, "expected 3 columns, found 2"},
    {"1,2,3\n4,5,6,7\n", PD_EDATA, 2, "expected 3 columns, found 4"},
    {"1,2\nx,3\n", PD_EDATA, 2, "bad value 'x' in column 1"},
    {"1,2\n3,,\n", PD_EDATA, 2, "bad value '' in column 2"},
    {"1,2\n3,inf\n", PD_EDATA, 2, "non-finite value 'inf' in column 2"},
    {"label,x\n1,2\n", PD_EDATA, 1, "bad value 'label' in column 1"},
    {"1\n2\n", PD_EDATA, 1, "no feature columns besides the label"},
    {"\n\n", PD_EDATA, 0, "no samples"},
};

START_TEST(test_csv_bad)
{
    char err[256];
    pd_data_t *d = NULL;
    const struct bad_case *c = &csv_bad[_i];
    const char *path = write_text("bad.csv", c->text, 0);

    ck_assert_int_eq(load(&d, path, NULL, err), c->rc);
    ck_assert_ptr_null(d);
    assert_msg(err, path, c->line, c->msg);
}
END_TEST

START_TEST(test_csv_options)
{
    char err[256];
    pd_data_t *d = NULL;
    const char *path = write_text("o.csv", "1,2,3\n", 0);
    pd_data_opts_t o = {.csv_label_column = 3};

    ck_assert_int_eq(load(&d, path, &o, err), PD_EDATA);
    assert_msg(err, path, 1, "label column 3 but only 3 columns");
    o.csv_label_column = -1;
    ck_assert_int_eq(load(&d, path, &o, err), -EINVAL);
    o = (pd_data_opts_t){.n_features = 1};
    ck_assert_int_eq(load(&d, path, &o, err), PD_EDATA);
    assert_msg(err, path, 1, "2 feature columns but n_features is 1");
    /* an explicit format wins over the name */
    const char *svm = write_text("looks-like.csv", "1 1:2\n", 1);
    o = (pd_data_opts_t){.format = PD_DATA_LIBSVM};
    ck_assert_int_eq(load(&d, svm, &o, err), 0);
    ck_assert(d->sparse);
    pd_data_free(d);
    d = NULL;
    o.format = (pd_data_format_t)42;
    ck_assert_int_eq(load(&d, svm, &o, err), -EINVAL);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");

    TCase *tc = tcase_create("libsvm");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_libsvm_good);
    tcase_add_test(tc, test_libsvm_values_as_strtod);
    tcase_add_test(tc, test_libsvm_n_features);
    tcase_add_test(tc, test_libsvm_gzip);
    tcase_add_test(tc, test_libsvm_gzip_truncated);
    tcase_add_loop_test(tc, test_libsvm_bad, 0, (int)(sizeof(svm_bad) / sizeof(svm_bad[0])));
    tcase_add_test(tc, test_libsvm_nul_byte);
    tcase_add_test(tc, test_libsvm_long_line);
    tcase_add_test(tc, test_libsvm_long_token_quoted_short);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_max_samples);
    suite_add_tcase(s, tc);

    tc = tcase_create("fingerprint");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fingerprint);
    tcase_add_test(tc, test_fingerprint_dense_every_position);
    tcase_add_test(tc, test_count_classes);
    suite_add_tcase(s, tc);

    tc = tcase_create("idx");
    tcase_set_timeout(tc, 60); /* t10k decompresses 7.8 MB */
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_idx_good);
    tcase_add_test(tc, test_idx_truncated);
    tcase_add_test(tc, test_idx_huge_header);
    tcase_add_test(tc, test_idx_mismatch);
    tcase_add_test(tc, test_fashion_mnist_t10k);
    suite_add_tcase(s, tc);

    tc = tcase_create("csv");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_csv_good);
    tcase_add_loop_test(tc, test_csv_bad, 0, (int)(sizeof(csv_bad) / sizeof(csv_bad[0])));
    tcase_add_test(tc, test_csv_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
