/* config.c - the one configuration table (config_keys.h) and everything that walks it:
 * defaults, the INI loader, -o overrides, cross-key checks, the /status walk, the Markdown
 * reference and the job hash. Owns no state besides the constant table; every function works
 * on the caller's struct. The only file that includes <ini.h> (STYLE.md §2.1). */
/* <config.h> with angle brackets: a quoted "config.h" would find common/config.h beside this
 * file before the autoconf header in the build directory. */
#include <config.h>
#define _XOPEN_SOURCE 700 /* realpath; before any system header */
#include "common/config.h"

#include "common/config_keys.h"
#include "common/curve.h"
#include "common/error.h"
#include "common/model.h"
#include "common/prox.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

typedef enum key_type {
    KT_BOOL,
    KT_INT,
    KT_DOUBLE,
    KT_SIZE,
    KT_DURATION,
    KT_ENUM,
    KT_STRING,
    KT_PATH,
    KT_ENDPOINT,
} key_type_t;

typedef struct key_row {
    const char *section;
    const char *name;
    size_t section_len, name_len; /* compile-time strlen: lookups run per line of a file */
    key_type_t type;
    size_t offset;
    const char *default_text;
    double min; /* INT, DOUBLE, SIZE (bytes), DURATION (ms) */
    double max;
    const char *values; /* ENUM: "a|b|c" */
    int flags;
    const char *doc;
} key_row_t;

#define ROW_(s_, n_, t_, f_, def_, lo_, hi_, ev_, fl_, doc_) \
    {.section = #s_,                                         \
     .name = #n_,                                            \
     .section_len = sizeof(#s_) - 1,                         \
     .name_len = sizeof(#n_) - 1,                            \
     .type = KT_##t_,                                        \
     .offset = offsetof(pd_config_t, f_),                    \
     .default_text = def_,                                   \
     .min = lo_,                                             \
     .max = hi_,                                             \
     .values = ev_,                                          \
     .flags = fl_,                                           \
     .doc = doc_},
static const key_row_t rows[] = {PD_CONFIG_KEYS(ROW_)};
#undef ROW_
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* The table writes through offsets, so a row whose type disagrees with its field would
 * corrupt the struct; refuse to compile instead. */
#define CTYPE_BOOL bool
#define CTYPE_INT int64_t
#define CTYPE_DOUBLE double
#define CTYPE_SIZE uint64_t
#define CTYPE_DURATION int64_t
#define CTYPE_ENUM int
#define CTYPE_STRING char *
#define CTYPE_PATH char *
#define CTYPE_ENDPOINT char *
#define CHECK_FIELD_(s_, n_, t_, f_, def_, lo_, hi_, ev_, fl_, doc_)              \
    _Static_assert(_Generic(((pd_config_t *)0)->f_, CTYPE_##t_ : 1, default : 0), \
                   "pd_config_t." #f_ " does not have the C type of " #t_);
PD_CONFIG_KEYS(CHECK_FIELD_)
#undef CHECK_FIELD_

/* The table's enum strings are stored as indexes that other modules compare with their own
 * enums; these are the orders they rely on. */
_Static_assert(PD_MODEL_NONE == 0 && PD_MODEL_LOGISTIC == 1 && PD_MODEL_SOFTMAX == 2 &&
                   PD_MODEL_LSQ == 3 && PD_MODEL_QUADRATIC == 4 && PD_MODEL_MLP == 5,
               "[model] type values are none|logistic|softmax|least-squares|quadratic|mlp");
_Static_assert(PD_ACT_TANH == 0 && PD_ACT_RELU == 1, "[model] activation values are tanh|relu");
_Static_assert(PD_REG_NONE == 0 && PD_REG_BOX == 4 && PD_REG__COUNT == 6,
               "[optimizer] regularizer values are none|l1|l2|elastic-net|box|nonneg");
_Static_assert(PD_DATA_AUTO == 0 && PD_DATA_IDX == 2,
               "[data] format values are auto|libsvm|idx|csv");

/* ---- error sink ---------------------------------------------------------------------------- */

/* Appends lines to the caller's buffer and counts them; the count, not the text, decides the
 * result, so a buffer that is too small (or NULL) truncates the report but not the verdict. */
typedef struct err_sink {
    char *buf;
    size_t len;
    size_t used;
    int count;
} err_sink_t;

static void sink_init(err_sink_t *s, char *buf, size_t len)
{
    s->buf = len > 0 ? buf : NULL;
    s->len = len;
    s->used = 0;
    s->count = 0;
    if (s->buf != NULL) {
        s->used = strnlen(buf, len);
        if (s->used == len) {
            /* Not terminated: we cannot append safely, so keep what fits. */
            s->used = len - 1;
            s->buf[s->used] = '\0';
        }
    }
}

/* No room left for another message (they are still counted). */
static bool sink_full(const err_sink_t *s)
{
    return s->buf == NULL || s->used + 1 >= s->len;
}

__attribute__((format(printf, 2, 3))) static void sink_add(err_sink_t *s, const char *fmt, ...)
{
    s->count++;
    if (sink_full(s)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->used, s->len - s->used, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->buf[s->used] = '\0';
        return;
    }
    s->used += (size_t)n;
    if (s->used + 1 >= s->len) {
        s->used = s->len - 1;
        return;
    }
    s->buf[s->used++] = '\n';
    s->buf[s->used] = '\0';
}

/* ---- parsers ------------------------------------------------------------------------------- */

/* One or more decimal digits; stops at the first non-digit. */
static int parse_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (__builtin_mul_overflow(v, 10u, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v)) {
            return -ERANGE;
        }
    }
    *p = s;
    *out = v;
    return 0;
}

/* A leading '-' before a digit is a well-formed negative number, which no size or duration can
 * be: report it as out of range rather than as garbage. */
static int unsigned_prefix(const char **p, uint64_t *out)
{
    if ((*p)[0] == '-' && (*p)[1] >= '0' && (*p)[1] <= '9') {
        return -ERANGE;
    }
    return parse_digits(p, out);
}

int pd_config_parse_size(const char *text, uint64_t *out_bytes)
{
    const char *p = text;
    uint64_t v = 0;
    uint64_t unit = 1;
    int rc = unsigned_prefix(&p, &v);

    if (rc < 0) {
        return rc;
    }
    switch (*p) {
    case '\0': break;
    case 'K':
    case 'k':
        unit = UINT64_C(1) << 10;
        p++;
        break;
    case 'M':
    case 'm':
        unit = UINT64_C(1) << 20;
        p++;
        break;
    case 'G':
    case 'g':
        unit = UINT64_C(1) << 30;
        p++;
        break;
    default: return -EINVAL;
    }
    if (*p != '\0') {
        return -EINVAL;
    }
    if (__builtin_mul_overflow(v, unit, &v)) {
        return -ERANGE;
    }
    *out_bytes = v;
    return 0;
}

int pd_config_parse_duration_ms(const char *text, int64_t *out_ms)
{
    const char *p = text;
    uint64_t v = 0;
    uint64_t unit_ms = 1000; /* a bare number is seconds */
    int rc = unsigned_prefix(&p, &v);

    if (rc < 0) {
        return rc;
    }
    if (strcmp(p, "ms") == 0) {
        unit_ms = 1;
    } else if (strcmp(p, "s") == 0 || *p == '\0') {
        unit_ms = 1000;
    } else if (strcmp(p, "m") == 0) {
        unit_ms = 60 * 1000;
    } else if (strcmp(p, "h") == 0) {
        unit_ms = 3600 * 1000;
    } else if (strcmp(p, "d") == 0) {
        unit_ms = 86400 * 1000;
    } else {
        return -EINVAL;
    }
    if (__builtin_mul_overflow(v, unit_ms, &v) || v > (uint64_t)INT64_MAX) {
        return -ERANGE;
    }
    *out_ms = (int64_t)v;
    return 0;
}

static int parse_bool(const char *t, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(t, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(t, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_int(const char *t, int64_t *out)
{
    const char *d = (*t == '-' || *t == '+') ? t + 1 : t;
    char *end = NULL;

    /* strtoll would skip leading blanks and accept a bare sign; we want the whole text to be
     * one decimal number. */
    if (*d < '0' || *d > '9') {
        return -EINVAL;
    }
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (*end != '\0') {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *out = (int64_t)v;
    return 0;
}

/* -EINVAL: not a number; -EDOM: NaN or infinite; -ERANGE: overflows a double. strtod follows
 * LC_NUMERIC, which paramd leaves at "C". */
static int parse_double(const char *t, double *out)
{
    char *end = NULL;

    if (*t == '\0' || strchr(" \t\n\r\f\v", *t) != NULL) {
        return -EINVAL;
    }
    errno = 0;
    double v = strtod(t, &end);
    if (*end != '\0') {
        return -EINVAL;
    }
    if (!isfinite(v)) {
        return errno == ERANGE ? -ERANGE : -EDOM;
    }
    if (errno == ERANGE && fabs(v) > 1.0) {
        return -ERANGE;
    }
    /* Underflow to a denormal or zero is a loss of precision, not an error worth refusing. */
    *out = v;
    return 0;
}

/* Index of t in "a|b|c", or -EINVAL. */
static int parse_enum(const char *values, const char *t, int *out)
{
    size_t tlen = strlen(t);
    int idx = 0;

    for (const char *p = values; p != NULL; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == tlen && memcmp(p, t, len) == 0) {
            *out = idx;
            return 0;
        }
        p = bar != NULL ? bar + 1 : NULL;
    }
    return -EINVAL;
}

/* Copies the idx-th name of "a|b|c" into buf ("?" if out of range). */
static const char *enum_name(const char *values, int idx, char *buf, size_t len)
{
    const char *p = values;

    for (int i = 0; p != NULL && i < idx; i++) {
        p = strchr(p, '|');
        p = p != NULL ? p + 1 : NULL;
    }
    if (p == NULL || idx < 0) {
        snprintf(buf, len, "?");
        return buf;
    }
    const char *bar = strchr(p, '|');
    int n = bar != NULL ? (int)(bar - p) : (int)strlen(p);
    snprintf(buf, len, "%.*s", n, p);
    return buf;
}

/* tcp://HOST:PORT (PORT a number up to 65535, or *), ipc://PATH, inproc://NAME. zmq checks
 * the rest when binding; this catches typos before the daemon starts. */
static bool endpoint_ok(const char *t)
{
    if (strpbrk(t, " \t\r\n") != NULL) {
        return false;
    }
    if (strncmp(t, "ipc://", 6) == 0) {
        return t[6] != '\0';
    }
    if (strncmp(t, "inproc://", 9) == 0) {
        return t[9] != '\0';
    }
    if (strncmp(t, "tcp://", 6) != 0) {
        return false;
    }
    const char *host = t + 6;
    const char *colon = strrchr(host, ':');
    if (colon == NULL || colon == host || strchr(host, '/') != NULL) {
        return false;
    }
    if (host[0] == '[' && colon[-1] != ']') {
        return false;
    }
    const char *port = colon + 1;
    if (strcmp(port, "*") == 0) {
        return true;
    }
    uint64_t v = 0;
    const char *p = port;
    return parse_digits(&p, &v) == 0 && *p == '\0' && p - port <= 5 && v <= 65535;
}

static bool is_string_type(key_type_t t)
{
    return t == KT_STRING || t == KT_PATH || t == KT_ENDPOINT;
}

static char **string_field(pd_config_t *c, const key_row_t *r)
{
    return (char **)(void *)((char *)c + r->offset);
}

static const char *string_value(const pd_config_t *c, const key_row_t *r)
{
    return *(char *const *)(const void *)((const char *)c + r->offset);
}

/* ---- formatting ---------------------------------------------------------------------------- */

static const char *format_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        const char *suffix;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};

    if (ms == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%" PRId64 "%s", ms / units[i].ms, units[i].suffix);
            return buf;
        }
    }
    snprintf(buf, len, "%" PRId64 "ms", ms);
    return buf;
}

static const char *format_size(uint64_t bytes, char *buf, size_t len)
{
    static const struct {
        unsigned shift;
        const char *suffix;
    } units[] = {{30, "G"}, {20, "M"}, {10, "K"}};

    for (size_t i = 0; bytes != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t unit = UINT64_C(1) << units[i].shift;
        if (bytes % unit == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", bytes / unit, units[i].suffix);
            return buf;
        }
    }
    snprintf(buf, len, "%" PRIu64, bytes);
    return buf;
}

/* Shortest of %.15g / %.17g that reads back as the same double, so "0.1" stays "0.1" in
 * /status and in the job hash text, yet distinct values never print alike. */
static const char *format_double(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v) {
        snprintf(buf, len, "%.17g", v);
    }
    return buf;
}

static int64_t i64_bound(double d)
{
    if (d >= 9223372036854775807.0) {
        return INT64_MAX;
    }
    if (d <= -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)d;
}

static uint64_t u64_bound(double d)
{
    if (d >= 18446744073709551615.0) {
        return UINT64_MAX;
    }
    return d <= 0 ? 0 : (uint64_t)d;
}

/* "LO..HI" in the row's own units, for messages and the reference; "" for unranged types. */
static const char *format_range(const key_row_t *r, char *buf, size_t len)
{
    char lo[32];
    char hi[32];

    switch (r->type) {
    case KT_INT:
        snprintf(buf, len, "%" PRId64 "..%" PRId64, i64_bound(r->min), i64_bound(r->max));
        break;
    case KT_DOUBLE:
        snprintf(buf, len, "%s..%s", format_double(r->min, lo, sizeof(lo)),
                 format_double(r->max, hi, sizeof(hi)));
        break;
    case KT_SIZE:
        snprintf(buf, len, "%s..%s", format_size(u64_bound(r->min), lo, sizeof(lo)),
                 format_size(u64_bound(r->max), hi, sizeof(hi)));
        break;
    case KT_DURATION:
        snprintf(buf, len, "%s..%s", format_duration(i64_bound(r->min), lo, sizeof(lo)),
                 format_duration(i64_bound(r->max), hi, sizeof(hi)));
        break;
    default: buf[0] = '\0'; break;
    }
    return buf;
}

/* The value as text that the same parser reads back (secrets included: callers redact). */
static const char *value_text(const pd_config_t *c, const key_row_t *r, char *buf, size_t len)
{
    const void *f = (const char *)c + r->offset;

    switch (r->type) {
    case KT_BOOL: return *(const bool *)f ? "yes" : "no";
    case KT_INT: snprintf(buf, len, "%" PRId64, *(const int64_t *)f); return buf;
    case KT_DOUBLE: return format_double(*(const double *)f, buf, len);
    case KT_SIZE: return format_size(*(const uint64_t *)f, buf, len);
    case KT_DURATION: return format_duration(*(const int64_t *)f, buf, len);
    case KT_ENUM: return enum_name(r->values, *(const int *)f, buf, len);
    case KT_STRING:
    case KT_PATH:
    case KT_ENDPOINT: {
        const char *s = string_value(c, r);
        return s != NULL ? s : "";
    }
    }
    return "";
}

/* ---- table access -------------------------------------------------------------------------- */

static bool section_known(const char *sec, size_t sec_len)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].section_len == sec_len && memcmp(rows[i].section, sec, sec_len) == 0) {
            return true;
        }
    }
    return false;
}

static const key_row_t *find_row(const char *sec, size_t sec_len, const char *key, size_t key_len)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if (r->section_len == sec_len && memcmp(r->section, sec, sec_len) == 0 &&
            r->name_len == key_len && memcmp(r->name, key, key_len) == 0) {
            return r;
        }
    }
    return NULL;
}

/* Edit distance between a[0..an) and b[0..bn) (insertions, deletions, substitutions) when it
 * is at most k, else k + 1. Only the band |i - j| <= k of the table can hold such a path, so
 * a row costs 2k + 1 cells instead of bn, and a row with every cell over k ends the search:
 * a long junk key from a fuzzer, or a typo, costs next to nothing against each known key. */
static size_t edit_distance_upto(const char *a, size_t an, const char *b, size_t bn, size_t k)
{
    const size_t over = k + 1;
    size_t prev[66], cur[66];

    if (an > 64 || bn > 64 || (an > bn ? an - bn : bn - an) > k) {
        return over;
    }
    for (size_t j = 0; j <= bn; j++) {
        prev[j] = j <= k ? j : over;
    }
    prev[bn + 1] = over;
    for (size_t i = 1; i <= an; i++) {
        size_t lo = i > k ? i - k : 1, hi = i + k < bn ? i + k : bn;
        size_t row_min = cur[0] = i <= k ? i : over;

        cur[lo - 1] = lo > 1 ? over : cur[0]; /* left of the band */
        for (size_t j = lo; j <= hi; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t v = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            cur[j] = v < over ? v : over;
            row_min = cur[j] < row_min ? cur[j] : row_min;
        }
        cur[hi + 1] = over; /* right of the band: the next row reads it */
        if (row_min > k) {
            return over;
        }
        memcpy(prev, cur, (hi + 2) * sizeof(size_t));
    }
    return prev[bn];
}

/* For an unknown key: " (did you mean [section] key?)" naming the same key in another
 * section, or the key of this section closest in spelling (at most 2 edits, and fewer than
 * half its length, so "l1" is not offered for "l3"), or "" when nothing is close. */
static void suggest_key(const char *sec, size_t sec_len, const char *key, size_t key_len,
                        char *out, size_t out_len)
{
    const key_row_t *best = NULL;
    size_t best_d = SIZE_MAX;

    out[0] = '\0';
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        bool same_sec = r->section_len == sec_len && memcmp(r->section, sec, sec_len) == 0;
        if (!same_sec && r->name_len == key_len && memcmp(r->name, key, key_len) == 0) {
            snprintf(out, out_len, " (did you mean [%s] %s?)", r->section, r->name);
            return;
        }
        /* only distances up to 2 are suggested, and they need lengths within 2: skip the
         * quadratic distance otherwise (a long junk key would cost it for every key) */
        size_t rl = r->name_len;
        bool near = rl + 2 >= key_len && key_len + 2 >= rl;
        size_t d =
            same_sec && near ? edit_distance_upto(key, key_len, r->name, rl, 2) : SIZE_MAX;
        if (d < best_d) {
            best_d = d;
            best = r;
        }
    }
    if (best != NULL && best_d <= 2 && 2 * best_d < key_len) {
        snprintf(out, out_len, " (did you mean %s?)", best->name);
    }
}

static const key_row_t *row_by_field(size_t offset)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].offset == offset) {
            return &rows[i];
        }
    }
    return NULL;
}

/* Parse text for row r and store it in c; the field changes only on success. Returns 0,
 * PD_ECONFIG with the problem in why (without file or key), or -ENOMEM. base_dir ("dir/"),
 * when set, is prefixed to relative PATH values. */
/* Refuse a value: "'TEXT' problem" in why, with TEXT cut to 120 characters ("..." marks a
 * cut) so a huge value cannot flood the message. Returns PD_ECONFIG. */
__attribute__((format(printf, 4, 5))) static int refuse(char *why, size_t whylen,
                                                       const char *text, const char *fmt, ...)
{
    const int q = 120;
    int n = snprintf(why, whylen, "'%.*s%s' ", q, text, strlen(text) > (size_t)q ? "..." : "");
    va_list ap;

    if (n >= 0 && (size_t)n < whylen) {
        va_start(ap, fmt);
        vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return PD_ECONFIG;
}

static int set_value(pd_config_t *c, const key_row_t *r, const char *text, const char *base_dir,
                     char *why, size_t whylen)
{
    void *f = (char *)c + r->offset;
    char range[80];
    int rc = 0;


    switch (r->type) {
    case KT_BOOL: {
        bool v = false;
        if (parse_bool(text, &v) < 0) {
            return refuse(why, whylen, text,
                          "is not a boolean (allowed: yes|no|true|false|on|off|1|0)");
        }
        *(bool *)f = v;
        return 0;
    }
    case KT_INT: {
        int64_t v = 0;
        rc = parse_int(text, &v);
        if (rc == -EINVAL) {
            return refuse(why, whylen, text, "is not an integer");
        }
        if (rc < 0 || v < i64_bound(r->min) || v > i64_bound(r->max)) {
            return refuse(why, whylen, text, "is out of range (allowed: %s)",
                          format_range(r, range, sizeof(range)));
        }
        *(int64_t *)f = v;
        return 0;
    }
    case KT_DOUBLE: {
        double v = 0;
        rc = parse_double(text, &v);
        if (rc == -EINVAL) {
            return refuse(why, whylen, text, "is not a number");
        }
        if (rc == -EDOM) {
            return refuse(why, whylen, text, "is not a finite number");
        }
        if (rc < 0 || v < r->min || v > r->max) {
            return refuse(why, whylen, text, "is out of range (allowed: %s)",
                          format_range(r, range, sizeof(range)));
        }
        *(double *)f = v;
        return 0;
    }
    case KT_SIZE: {
        uint64_t v = 0;
        rc = pd_config_parse_size(text, &v);
        if (rc == -EINVAL) {
            return refuse(why, whylen, text,
                          "is not a size (allowed: bytes, or a number with K, M or G)");
        }
        if (rc < 0 || v < u64_bound(r->min) || v > u64_bound(r->max)) {
            return refuse(why, whylen, text, "is out of range (allowed: %s)",
                          format_range(r, range, sizeof(range)));
        }
        *(uint64_t *)f = v;
        return 0;
    }
    case KT_DURATION: {
        int64_t v = 0;
        rc = pd_config_parse_duration_ms(text, &v);
        if (rc == -EINVAL) {
            return refuse(why, whylen, text,
                          "is not a duration (allowed: a whole number with ms, s, m, h or d; "
                          "no unit means seconds)");
        }
        if (rc < 0 || v < i64_bound(r->min) || v > i64_bound(r->max)) {
            return refuse(why, whylen, text, "is out of range (allowed: %s)",
                          format_range(r, range, sizeof(range)));
        }
        *(int64_t *)f = v;
        return 0;
    }
    case KT_ENUM: {
        int v = 0;
        if (parse_enum(r->values, text, &v) < 0) {
            return refuse(why, whylen, text, "is not one of %s", r->values);
        }
        *(int *)f = v;
        return 0;
    }
    case KT_ENDPOINT:
        if (!endpoint_ok(text)) {
            return refuse(why, whylen, text,
                          "is not an endpoint (allowed: tcp://HOST:PORT with PORT a number "
                          "or *, ipc://PATH, inproc://NAME)");
        }
        break;
    case KT_STRING:
    case KT_PATH: break;
    }

    /* Strings: an empty PATH means "none" and stays empty; absolute ones stay as written;
     * outputs stay relative to the working directory. */
    char *s = NULL;
    if (r->type == KT_PATH && !(r->flags & PD_CF_OUTPUT) && base_dir != NULL && text[0] != '\0' &&
        text[0] != '/') {
        size_t dl = strlen(base_dir);
        size_t tl = strlen(text);
        s = malloc(dl + tl + 1);
        if (s != NULL) {
            memcpy(s, base_dir, dl);
            memcpy(s + dl, text, tl + 1);
        }
    } else {
        s = strdup(text);
    }
    if (s == NULL) {
        return -ENOMEM;
    }
    char **sf = string_field(c, r);
    free(*sf);
    *sf = s;
    return 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

void pd_config_release(pd_config_t *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (is_string_type(rows[i].type)) {
            char **sf = string_field(c, &rows[i]);
            free(*sf);
            *sf = NULL;
        }
    }
}

int pd_config_init(pd_config_t *c)
{
    pd_config_t tmp;
    char why[512];
    int rc = 0;

    memset(&tmp, 0, sizeof(tmp));
    for (size_t i = 0; i < N_ROWS; i++) {
        rc = set_value(&tmp, &rows[i], rows[i].default_text, NULL, why, sizeof(why));
        /* A default that does not parse is a bug in config_keys.h, which check_config
         * catches row by row; it is never user input. */
        assert(rc != PD_ECONFIG);
        if (rc < 0) {
            goto out;
        }
    }
    *c = tmp;
    memset(&tmp, 0, sizeof(tmp));
    rc = 0;
out:
    pd_config_release(&tmp);
    return rc;
}

int pd_config_copy(pd_config_t *dst, const pd_config_t *src)
{
    pd_config_t tmp = *src;
    int rc = 0;

    /* First forget src's pointers so the cleanup below frees only our own copies. */
    for (size_t i = 0; i < N_ROWS; i++) {
        if (is_string_type(rows[i].type)) {
            *string_field(&tmp, &rows[i]) = NULL;
        }
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!is_string_type(rows[i].type)) {
            continue;
        }
        const char *s = string_value(src, &rows[i]);
        if (s != NULL) {
            char *d = strdup(s);
            if (d == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            *string_field(&tmp, &rows[i]) = d;
        }
    }
    *dst = tmp;
    memset(&tmp, 0, sizeof(tmp));
    rc = 0;
out:
    pd_config_release(&tmp);
    return rc;
}

/* ---- INI file ------------------------------------------------------------------------------ */

/* inih 55 as Debian ships it calls the handler without a line number (INI_HANDLER_LINENO is
 * 0 in the library's ABI), returns only the first syntax error, and silently splits a line
 * longer than its buffer into two. So we feed it through our own reader: it numbers lines,
 * reports over-long lines and lines inih would reject, and tells the handler where it is. */
typedef enum line_kind { LINE_BLANK, LINE_HEADER, LINE_KEY } line_kind_t;

typedef struct load_ctx {
    pd_config_t *cfg;
    const char *file;
    const char *base_dir;
    FILE *fp;
    err_sink_t *sink;
    int lineno;
    line_kind_t kind; /* of line `lineno` */
    bool handled;     /* the handler ran for line `lineno` */
    bool ended;
    int io_rc;        /* -errno from reading */
    int fatal_rc;     /* -ENOMEM from the handler */
    char section[64]; /* our view of the current section, for messages only */
    char line[512];
    int set_at[N_ROWS]; /* line where each key was set in this file (0: not yet) */
} load_ctx_t;

/* A line that looked like "key = value" to us but made inih call no handler is a syntax error;
 * this can only be known once inih asks for the next line (or returns). */
static void finish_line(load_ctx_t *lc)
{
    if (lc->lineno > 0 && lc->kind == LINE_KEY && !lc->handled) {
        sink_add(lc->sink, "%s:%d: expected 'key = value', '[section]' or a comment", lc->file,
                 lc->lineno);
    }
    lc->kind = LINE_BLANK;
}

/* Section header seen by the reader: remember it and report an unknown one here, at its own
 * line; the handler then ignores the keys under it instead of reporting each one. */
static void header_line(load_ctx_t *lc, const char *start)
{
    const char *close = strchr(start, ']');

    if (close == NULL) {
        sink_add(lc->sink, "%s:%d: '%.60s': section header without ']'", lc->file, lc->lineno,
                 start);
        snprintf(lc->section, sizeof(lc->section), "?");
        return;
    }
    size_t len = (size_t)(close - start - 1);
    snprintf(lc->section, sizeof(lc->section), "%.*s", (int)len, start + 1);
    if (!section_known(start + 1, len)) {
        sink_add(lc->sink, "%s:%d: [%.*s]: unknown section", lc->file, lc->lineno, (int)len,
                 start + 1);
    }
}

static char *on_read_line(char *str, int num, void *stream)
{
    load_ctx_t *lc = stream;
    size_t limit = sizeof(lc->line);
    size_t n = 0;
    size_t total = 0;
    bool nul = false;
    int ch = EOF;

    finish_line(lc);
    if (lc->ended || num < 2) {
        return NULL;
    }
    if ((size_t)num < limit) {
        limit = (size_t)num;
    }
    /* Read the whole physical line ourselves (getc, not fgets) so that a NUL byte or a line
     * longer than inih's buffer is seen and reported instead of cut. */
    while ((ch = getc(lc->fp)) != EOF) {
        total++;
        if (ch == '\n') {
            break;
        }
        if (ch == '\0') {
            nul = true;
        }
        if (n + 1 < limit) {
            lc->line[n++] = (char)ch;
        }
    }
    if (ch == EOF && ferror(lc->fp)) {
        lc->io_rc = errno != 0 ? -errno : -EIO;
        lc->ended = true;
        return NULL;
    }
    if (ch == EOF && total == 0) {
        lc->ended = true;
        return NULL;
    }
    lc->line[n] = '\0';
    lc->lineno++;
    lc->handled = false;

    size_t content = ch == '\n' ? total - 1 : total;
    char *start = lc->line;
    if (lc->lineno == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
    }
    /* Leading blanks are dropped: inih would read an indented line as the continuation of the
     * previous value, and paramd has no multi-line values, so indenting only means layout. */
    start += strspn(start, " \t");

    /* A comment may be as long as its writer likes: nothing in it is read. */
    if (!nul && (*start == ';' || *start == '#')) {
        lc->kind = LINE_BLANK;
        str[0] = '\0';
        return str;
    }
    if (nul || content > n) {
        const char *eq = strchr(start, '=');
        const char *what = nul ? "line contains a NUL byte" : "line is too long";
        if (eq != NULL && !nul) {
            int klen = (int)(eq - start);
            while (klen > 0 && (start[klen - 1] == ' ' || start[klen - 1] == '\t')) {
                klen--;
            }
            sink_add(lc->sink,
                     "%s:%d: [%s] %.*s: %s (%zu characters; allowed: %zu); value not read",
                     lc->file, lc->lineno, lc->section, klen, start, what, content, limit - 1);
        } else {
            sink_add(lc->sink, "%s:%d: %s (%zu characters; allowed: %zu)", lc->file, lc->lineno,
                     what, content, limit - 1);
        }
        lc->kind = LINE_BLANK;
        str[0] = '\0';
        return str;
    }
    if (*start == '\0' || *start == ';' || *start == '#') {
        lc->kind = LINE_BLANK;
    } else if (*start == '[') {
        lc->kind = LINE_HEADER;
        header_line(lc, start);
    } else {
        lc->kind = LINE_KEY;
    }
    /* start lies within a buffer of at most num bytes, so it fits. */
    memmove(str, start, strlen(start) + 1);
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_ctx_t *lc = user;
    char why[512];

    lc->handled = true;
    if (section[0] == '\0') {
        sink_add(lc->sink, "%s:%d: %s: key before the first [section]", lc->file, lc->lineno, name);
        return 1;
    }
    if (!section_known(section, strlen(section))) {
        return 1; /* reported at the header line */
    }
    const key_row_t *r = find_row(section, strlen(section), name, strlen(name));
    if (r == NULL) {
        char hint[160] = "";
        if (!sink_full(lc->sink)) { /* a message nobody will read needs no suggestion */
            suggest_key(section, strlen(section), name, strlen(name), hint, sizeof(hint));
        }
        sink_add(lc->sink, "%s:%d: [%s] %s: unknown key%s", lc->file, lc->lineno, section, name,
                 hint);
        return 1;
    }
    /* Last-one-wins would hide a typo or a merge gone wrong: a key is given once per file
     * (-o overrides are the way to change one). */
    int *first = &lc->set_at[r - rows];
    if (*first != 0) {
        sink_add(lc->sink, "%s:%d: [%s] %s: given twice (first at line %d); keep one",
                 lc->file, lc->lineno, section, name, *first);
        return 1;
    }
    *first = lc->lineno;
    int rc = set_value(lc->cfg, r, value, lc->base_dir, why, sizeof(why));
    if (rc == PD_ECONFIG) {
        sink_add(lc->sink, "%s:%d: [%s] %s: %s", lc->file, lc->lineno, section, name, why);
    } else if (rc < 0) {
        lc->fatal_rc = rc;
    }
    /* Always "success" to inih: its return value would only repeat a line we reported. */
    return 1;
}

int pd_config_load_file(pd_config_t *c, const char *path, char *errbuf, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    int rc;

    if (fp == NULL) {
        err_sink_t sink;
        rc = -errno;
        sink_init(&sink, errbuf, errlen);
        sink_add(&sink, "%s: cannot open: %s", path, pd_strerror(rc));
        return rc;
    }
    rc = pd_config_load_stream(c, fp, path, errbuf, errlen);
    fclose(fp);
    return rc;
}

int pd_config_load_stream(pd_config_t *c, FILE *fp, const char *path, char *errbuf,
                          size_t errlen)
{
    err_sink_t sink;
    pd_config_t next;
    bool have_next = false;
    char *base_dir = NULL;
    load_ctx_t lc;
    int rc = 0;

    sink_init(&sink, errbuf, errlen);
    /* Parse into a copy so that a file with errors leaves *c exactly as it was. */
    rc = pd_config_copy(&next, c);
    if (rc < 0) {
        goto out;
    }
    have_next = true;
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        /* Without a slash the file is in the working directory, against which relative paths
         * already resolve. */
        base_dir = strndup(path, (size_t)(slash - path) + 1);
        if (base_dir == NULL) {
            rc = -ENOMEM;
            goto out;
        }
    }

    memset(&lc, 0, sizeof(lc));
    lc.cfg = &next;
    lc.file = path;
    lc.base_dir = base_dir;
    lc.fp = fp;
    lc.sink = &sink;
    int irc = ini_parse_stream(on_read_line, &lc, on_key, &lc);
    finish_line(&lc);
    if (lc.io_rc < 0) {
        rc = lc.io_rc;
        sink_add(&sink, "%s:%d: read error: %s", path, lc.lineno + 1, pd_strerror(rc));
        goto out;
    }
    if (lc.fatal_rc < 0) {
        rc = lc.fatal_rc;
        goto out;
    }
    if (irc == -2) {
        rc = -ENOMEM;
        goto out;
    }
    if (irc > 0 && sink.count == 0) {
        /* inih found something our reader did not; say at least where. */
        sink_add(&sink, "%s:%d: syntax error", path, irc);
    }
    if (sink.count > 0) {
        rc = PD_ECONFIG;
        goto out;
    }
    pd_config_release(c);
    *c = next;
    have_next = false;
    rc = 0;
out:
    if (have_next) {
        pd_config_release(&next);
    }
    free(base_dir);
    return rc;
}

static void trim_span(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) {
        (*len)--;
    }
}

int pd_config_set_override(pd_config_t *c, const char *assignment, char *errbuf, size_t errlen)
{
    err_sink_t sink;
    char why[512];
    char *value = NULL;
    int rc = 0;

    sink_init(&sink, errbuf, errlen);
    const char *eq = strchr(assignment, '=');
    if (eq == NULL) {
        sink_add(&sink, "-o %s: missing '=' (expected section.key=value)", assignment);
        rc = PD_ECONFIG;
        goto out;
    }
    const char *lhs = assignment;
    size_t lhs_len = (size_t)(eq - assignment);
    trim_span(&lhs, &lhs_len);
    const char *dot = memchr(lhs, '.', lhs_len);
    if (dot == NULL || dot == lhs || dot == lhs + lhs_len - 1) {
        sink_add(&sink, "-o %s: expected section.key=value", assignment);
        rc = PD_ECONFIG;
        goto out;
    }
    size_t sec_len = (size_t)(dot - lhs);
    const char *key = dot + 1;
    size_t key_len = lhs_len - sec_len - 1;
    if (!section_known(lhs, sec_len)) {
        sink_add(&sink, "-o %s: [%.*s]: unknown section", assignment, (int)sec_len, lhs);
        rc = PD_ECONFIG;
        goto out;
    }
    const key_row_t *r = find_row(lhs, sec_len, key, key_len);
    if (r == NULL) {
        char hint[160];
        suggest_key(lhs, sec_len, key, key_len, hint, sizeof(hint));
        sink_add(&sink, "-o %s: [%.*s] %.*s: unknown key%s", assignment, (int)sec_len, lhs,
                 (int)key_len, key, hint);
        rc = PD_ECONFIG;
        goto out;
    }
    const char *v = eq + 1;
    size_t v_len = strlen(v);
    trim_span(&v, &v_len);
    value = strndup(v, v_len);
    if (value == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* set_value changes the field only on success, so no copy of *c is needed here. An
     * override's relative PATH is relative to the working directory, like any argument. */
    rc = set_value(c, r, value, NULL, why, sizeof(why));
    if (rc == PD_ECONFIG) {
        sink_add(&sink, "-o %s: [%s] %s: %s", assignment, r->section, r->name, why);
    }
out:
    free(value);
    return rc;
}

/* ---- cross-key checks ---------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t sl = strlen(s);
    size_t xl = strlen(suffix);
    return sl >= xl && strcmp(s + sl - xl, suffix) == 0;
}

/* The same rule as format = auto in data.h: *.idx*, *-ubyte and *-ubyte.gz are IDX. */
static bool is_idx(int format, const char *path)
{
    if (format == PD_DATA_IDX) {
        return true;
    }
    if (format != PD_DATA_AUTO || path == NULL || path[0] == '\0') {
        return false;
    }
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    return strstr(base, ".idx") != NULL || ends_with(base, "-ubyte") ||
           ends_with(base, "-ubyte.gz");
}

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

bool pd_endpoint_is_loopback(const char *ep)
{
    const char *host;

    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0) {
        return true;
    }
    if (strncmp(ep, "tcp://", 6) != 0) {
        return false;
    }
    host = ep + 6;
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
           strncmp(host, "[::1]:", 6) == 0 || strncmp(host, "lo:", 3) == 0;
}

/* Who may reach the endpoints: checked here, so --check-config refuses what the start would
 * (it used to pass these, and the start then exited 3 or 1). */
static void check_exposure(const pd_config_t *c, err_sink_t *sink)
{
    if (!pd_endpoint_is_loopback(c->listen) && !c->allow_insecure && empty(c->server_key_file)) {
        sink_add(sink, "[server] listen = %s: not a loopback address, and without encryption "
                       "anyone on the network could join or read the model: bind 127.0.0.1, "
                       "turn on CURVE ([security] server_key_file), or set [server] "
                       "allow_insecure = yes",
                 c->listen);
    }
    if (!empty(c->metrics_listen) && !pd_endpoint_is_loopback(c->metrics_listen) &&
        !c->allow_insecure) {
        sink_add(sink, "[server] metrics_listen = %s: not a loopback address; the endpoint is "
                       "plain HTTP (metrics, status, the dashboard) for anyone who can reach "
                       "it: bind 127.0.0.1, or set [server] allow_insecure = yes",
                 c->metrics_listen);
    }
}

/* [security]: the key files are part of the configuration, so --check-config and a reload
 * read them too, and a broken one is reported as FILE:LINE like any other config error. */
static void check_security(const pd_config_t *c, err_sink_t *sink)
{
    char err[4096] = "";
    char *save = NULL;
    int rc = 0;

    if (empty(c->server_key_file) != empty(c->authorized_workers)) {
        sink_add(sink, empty(c->server_key_file)
                           ? "[security] authorized_workers: has no effect without [security] "
                             "server_key_file (CURVE is off)"
                           : "[security] authorized_workers: required with [security] "
                             "server_key_file (or no worker could join)");
        return;
    }
    if (empty(c->server_key_file)) {
        return;
    }
    pd_curve_keypair_t kp;
    pd_curve_list_t list;
    if (pd_curve_load_keypair(c->server_key_file, &kp, err, sizeof(err)) != 0) {
        rc = PD_ECONFIG;
    }
    memset(&kp, 0, sizeof(kp));
    if (pd_curve_load_list(c->authorized_workers, &list, err, sizeof(err)) != 0) {
        rc = PD_ECONFIG;
    }
    pd_curve_list_release(&list);
    if (rc != 0) {
        for (char *l = strtok_r(err, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
            sink_add(sink, "[security] %s", l);
        }
    }
}

/* Second-order methods and trust regions compare small differences of objectives and
 * curvature: a float32 round trip of every vector would drown them. */
static bool method_needs_f64(int method)
{
    return method == PD_METHOD_APTS || method == PD_METHOD_FOSI || method == PD_METHOD_DHO2 ||
           method == PD_METHOD_NEWTON_CG || method == PD_METHOD_LBFGS;
}

bool pd_config_wire_f32(const pd_config_t *c)
{
    return c->wire_type == PD_WIRE_F32 ||
           (c->wire_type == PD_WIRE_AUTO && !method_needs_f64(c->method));
}

bool pd_config_sparse_tasks_fit(const pd_config_t *c)
{
    return (c->method == PD_METHOD_ASYNC_SGD || c->method == PD_METHOD_SSP) &&
           c->optimizer == PD_OPT_SGD &&
           (c->model_type == PD_MODEL_LOGISTIC || c->model_type == PD_MODEL_SOFTMAX ||
            c->model_type == PD_MODEL_LSQ) &&
           c->gradient_compression == PD_COMPRESS_NONE;
}

int pd_config_validate(const pd_config_t *c, char *errbuf, size_t errlen)
{
    err_sink_t sink;
    char a[64];
    char b[64];

    sink_init(&sink, errbuf, errlen);
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if ((r->flags & PD_CF_REQUIRED) && is_string_type(r->type) && empty(string_value(c, r))) {
            sink_add(&sink, "[%s] %s: required", r->section, r->name);
        }
    }
    if (c->regularizer == PD_REG_BOX && c->lower > c->upper) {
        sink_add(&sink,
                 "[optimizer] lower = %s is above [optimizer] upper = %s (regularizer = box needs "
                 "lower <= upper)",
                 format_double(c->lower, a, sizeof(a)), format_double(c->upper, b, sizeof(b)));
    }
    const key_row_t *type_row = row_by_field(offsetof(pd_config_t, model_type));
    assert(type_row != NULL);
    if (c->model_type != PD_MODEL_NONE && c->model_type != PD_MODEL_QUADRATIC &&
        empty(c->train_path)) {
        sink_add(&sink,
                 "[data] train: required when [model] type = %s (only type = none needs no data)",
                 enum_name(type_row->values, c->model_type, a, sizeof(a)));
    }
    if (c->model_type == PD_MODEL_NONE && c->dim <= 0) {
        sink_add(&sink, "[model] dim: must be > 0 when [model] type = none");
    }
    if (c->model_type == PD_MODEL_QUADRATIC && c->dim <= 0) {
        sink_add(&sink, "[model] dim: must be > 0 when [model] type = quadratic");
    }
    if (c->model_type == PD_MODEL_MLP) {
        pd_mlp_shape_t shape;
        char why[160] = "";
        if (empty(c->mlp_layers)) {
            sink_add(&sink, "[model] layers: required when [model] type = mlp (e.g. 784,128,10)");
        } else if (pd_mlp_parse_layers(c->mlp_layers, &shape, why, sizeof(why)) != 0) {
            sink_add(&sink, "[model] layers = %s: %s", c->mlp_layers, why);
        }
    }
    if (c->gradient_compression == PD_COMPRESS_BF16 && c->method != PD_METHOD_SYNC_SGD &&
        c->method != PD_METHOD_ASYNC_SGD && c->method != PD_METHOD_SSP &&
        c->method != PD_METHOD_RENNALA_SGD) {
        const key_row_t *method_row = row_by_field(offsetof(pd_config_t, method));
        assert(method_row != NULL);
        sink_add(&sink, "[job] gradient_compression = bf16: for sync-sgd, async-sgd, ssp and "
                        "rennala-sgd only (method = %s)",
                 enum_name(method_row->values, c->method, a, sizeof(a)));
    }
    if (c->shards > 1) {
        /* type = none: the plain vector of key-value clients, who push to async-sgd */
        if (c->model_type != PD_MODEL_LOGISTIC && c->model_type != PD_MODEL_SOFTMAX &&
            c->model_type != PD_MODEL_LSQ && c->model_type != PD_MODEL_MLP &&
            !(c->model_type == PD_MODEL_NONE && c->method == PD_METHOD_ASYNC_SGD)) {
            sink_add(&sink, "[server] shards = %" PRId64 ": for a logistic, softmax, "
                            "least-squares or mlp model, or type = none with async-sgd",
                     c->shards);
        }
    }
    if (c->sparse_tasks == PD_SPARSE_YES && !pd_config_sparse_tasks_fit(c)) {
        sink_add(&sink, "[job] sparse_tasks = yes: needs method async-sgd or ssp, [optimizer] "
                        "type = sgd, [model] type logistic, softmax or least-squares, and "
                        "gradient_compression = none");
    }
    if (c->wire_type == PD_WIRE_F32 && method_needs_f64(c->method)) {
        const key_row_t *method_row = row_by_field(offsetof(pd_config_t, method));
        assert(method_row != NULL);
        sink_add(&sink, "[job] wire_type = float32: method = %s needs float64 on the wire "
                        "(use auto or float64)",
                 enum_name(method_row->values, c->method, a, sizeof(a)));
    }
    if (c->method == PD_METHOD_APTS) {
        /* A trust region compares predicted and actual decrease of one smooth objective. */
        if (c->model_type == PD_MODEL_NONE) {
            sink_add(&sink, "[job] method = apts: needs a model with training data "
                            "([model] type = none has no objective)");
        }
        if (c->regularizer != PD_REG_NONE && c->regularizer != PD_REG_L2) {
            sink_add(&sink, "[job] method = apts: [optimizer] regularizer must be none or l2 "
                            "(the trust region needs a smooth objective)");
        }
        if (!(c->apts_radius_min <= c->apts_radius && c->apts_radius <= c->apts_radius_max)) {
            sink_add(&sink, "[job] apts_radius = %g: must lie in [apts_radius_min, "
                            "apts_radius_max] = [%g, %g]",
                     c->apts_radius, c->apts_radius_min, c->apts_radius_max);
        }
    }
    if (c->method == PD_METHOD_FOSI || c->method == PD_METHOD_DHO2) {
        const char *name = c->method == PD_METHOD_FOSI ? "fosi" : "dho2";
        /* Lanczos needs Hessian-vector products of one smooth loss; weight decay is in it. */
        if (c->model_type == PD_MODEL_NONE || c->model_type == PD_MODEL_QUADRATIC) {
            sink_add(&sink, "[job] method = %s: needs a model with training data and "
                            "Hessian-vector products (logistic, softmax, lsq or mlp)", name);
        }
        if (c->regularizer != PD_REG_NONE && c->regularizer != PD_REG_L2) {
            sink_add(&sink, "[job] method = %s: [optimizer] regularizer must be none or l2 "
                            "(the eigenpairs are of one smooth objective)", name);
        }
        if (c->fosi_l > c->fosi_k) {
            sink_add(&sink, "[job] fosi_l = %lld: at most fosi_k = %lld",
                     (long long)c->fosi_l, (long long)c->fosi_k);
        }
        if (c->fosi_lanczos_order != 0 && c->fosi_lanczos_order < c->fosi_k + c->fosi_l) {
            sink_add(&sink, "[job] fosi_lanczos_order = %lld: at least fosi_k + fosi_l = %lld "
                            "(or 0 for 4(k + l))",
                     (long long)c->fosi_lanczos_order, (long long)(c->fosi_k + c->fosi_l));
        }
    }
    if (c->method == PD_METHOD_NEWTON_CG || c->method == PD_METHOD_LBFGS) {
        const char *name = c->method == PD_METHOD_NEWTON_CG ? "newton-cg" : "lbfgs";
        /* Both take full steps on one smooth convex objective: their tests of decrease assume
         * it, and a network's Hessian would mislead the conjugate gradient. */
        if (c->model_type != PD_MODEL_LOGISTIC && c->model_type != PD_MODEL_SOFTMAX &&
            c->model_type != PD_MODEL_LSQ) {
            sink_add(&sink, "[job] method = %s: needs a convex model with training data "
                            "(logistic, softmax or least-squares)", name);
        }
        if (c->regularizer != PD_REG_NONE && c->regularizer != PD_REG_L2) {
            sink_add(&sink, "[job] method = %s: [optimizer] regularizer must be none or l2 "
                            "(the objective must be smooth)", name);
        }
    }
    /* Refused here rather than falling back to stop at the divergence: the operator asked
     * for the job to go on, and learns at --check-config time that it could not. */
    if (c->on_divergence == PD_DIVERGE_RESTORE && empty(c->state_dir)) {
        sink_add(&sink, "[stop] on_divergence = restore-checkpoint: needs [server] state_dir "
                        "(there is no checkpoint to restore without it)");
    }
    if (c->model_type == PD_MODEL_SOFTMAX && c->classes == 1) {
        sink_add(&sink, "[model] classes: 1 is invalid for type = softmax (allowed: 0 to count "
                        "the labels, or 2 and more)");
    }
    if (is_idx(c->data_format, c->train_path) && empty(c->train_labels_path)) {
        sink_add(&sink, "[data] train_labels: required for IDX training data ([data] train = %s)",
                 c->train_path != NULL ? c->train_path : "");
    }
    if (!empty(c->test_path) && is_idx(c->data_format, c->test_path) &&
        empty(c->test_labels_path)) {
        sink_add(&sink, "[data] test_labels: required for IDX test data ([data] test = %s)",
                 c->test_path);
    }
    if (c->heartbeat_interval_ms >= c->worker_timeout_ms) {
        sink_add(&sink,
                 "[server] heartbeat_interval = %s must be shorter than [server] worker_timeout = "
                 "%s, or every worker would be evicted",
                 format_duration(c->heartbeat_interval_ms, a, sizeof(a)),
                 format_duration(c->worker_timeout_ms, b, sizeof(b)));
    }
    check_security(c, &sink);
    check_exposure(c, &sink);
    return sink.count > 0 ? PD_ECONFIG : 0;
}

/* ---- walk, reference, hash ----------------------------------------------------------------- */

void pd_config_walk(const pd_config_t *c, pd_config_emit_fn emit, void *ctx)
{
    char buf[64];

    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        const char *v =
            (r->flags & PD_CF_SECRET) ? "(redacted)" : value_text(c, r, buf, sizeof(buf));
        emit(r->section, r->name, v, r->flags, r->doc, ctx);
    }
}

/* Markdown table cells end at '|', which docs use for norms ("||x||"). */
static void md_cell(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|') {
            fputs("\\|", out);
        } else {
            fputc(*s, out);
        }
    }
}

static const char *const type_names[] = {
    [KT_BOOL] = "bool",     [KT_INT] = "int",           [KT_DOUBLE] = "double",
    [KT_SIZE] = "size",     [KT_DURATION] = "duration", [KT_ENUM] = "enum",
    [KT_STRING] = "string", [KT_PATH] = "path",         [KT_ENDPOINT] = "endpoint",
};

static void md_allowed(FILE *out, const key_row_t *r)
{
    char range[80];

    switch (r->type) {
    case KT_BOOL: fputs("yes, no", out); break;
    case KT_ENUM:
        for (const char *p = r->values; *p != '\0'; p++) {
            if (p == r->values) {
                fputc('`', out);
            }
            if (*p == '|') {
                fputs("`, `", out);
            } else {
                fputc(*p, out);
            }
        }
        fputc('`', out);
        break;
    case KT_PATH:
        fputs((r->flags & PD_CF_OUTPUT) ? "file path; relative to the working directory"
                                        : "file path; relative to the configuration file",
              out);
        break;
    case KT_ENDPOINT:
        fputs("`tcp://HOST:PORT` (PORT may be `*`), `ipc://PATH`, `inproc://NAME`", out);
        break;
    case KT_STRING: break;
    default: fputs(format_range(r, range, sizeof(range)), out); break;
    }
}

int pd_config_write_reference_md(FILE *out)
{
    const char *prev_section = NULL;

    fputs("# paramd configuration reference\n\n"
          "<!-- Generated by `paramd --config-reference=md` from common/config_keys.h; do not "
          "edit. -->\n\n"
          "The configuration file is INI: `[section]` headers, `key = value` lines, comments "
          "starting with `;` or `#` at the start of a line (or ` ;` after a value). Every key can "
          "also be set with `-o section.key=value`. Unknown sections and keys are errors.\n\n"
          "Durations take `ms`, `s`, `m`, `h` or `d` (a bare number is seconds). Sizes take `K`, "
          "`M` or `G` (powers of 1024). Booleans accept yes/no, true/false, on/off, 1/0. "
          "Reloadable keys take effect on SIGHUP; the others need a restart. Keys marked (job key) "
          "define the job: changing one starts a different job, whose checkpoints are not "
          "interchangeable.\n",
          out);
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if (prev_section == NULL || strcmp(prev_section, r->section) != 0) {
            fprintf(out,
                    "\n## [%s]\n\n"
                    "| Key | Type | Default | Allowed | Reloadable | Description |\n"
                    "|-----|------|---------|---------|------------|-------------|\n",
                    r->section);
            prev_section = r->section;
        }
        fprintf(out, "| `%s` | %s | ", r->name, type_names[r->type]);
        if (r->default_text[0] == '\0') {
            fputs("(empty)", out);
        } else {
            fputc('`', out);
            md_cell(out, r->default_text);
            fputc('`', out);
        }
        fputs(" | ", out);
        md_allowed(out, r);
        fprintf(out, " | %s | ", (r->flags & PD_CF_RELOADABLE) ? "yes" : "no");
        md_cell(out, r->doc);
        if (r->flags & PD_CF_JOB) {
            fputs(" (job key)", out);
        }
        fputs(" |\n", out);
    }
    if (fflush(out) != 0 || ferror(out)) {
        return -EIO;
    }
    return 0;
}

/* ---- man page -------------------------------------------------------------------------- */

/* Text for a troff line: backslashes and minus signs escaped, a leading '.' or '\'' guarded
 * (it would start a request), and `code` spans (the table's Markdown) set in bold. */
static void man_text(FILE *out, const char *s, bool at_line_start)
{
    bool bold = false;

    for (; *s != '\0'; s++) {
        if (at_line_start && (*s == '.' || *s == '\'')) {
            fputs("\\&", out);
        }
        at_line_start = false;
        switch (*s) {
        case '\\': fputs("\\e", out); break;
        case '-': fputs("\\-", out); break;
        case '`':
            fputs(bold ? "\\fR" : "\\fB", out);
            bold = !bold;
            break;
        case '\n':
            fputc('\n', out);
            at_line_start = true;
            break;
        default: fputc(*s, out); break;
        }
    }
    if (bold) {
        fputs("\\fR", out);
    }
}

static void man_allowed(FILE *out, const key_row_t *r)
{
    char range[80];

    switch (r->type) {
    case KT_BOOL: fputs("yes, no", out); break;
    case KT_ENUM:
        fputs("\\fB", out);
        for (const char *p = r->values; *p != '\0'; p++) {
            if (*p == '|') {
                fputs("\\fR, \\fB", out);
            } else if (*p == '-') {
                fputs("\\-", out);
            } else {
                fputc(*p, out);
            }
        }
        fputs("\\fR", out);
        break;
    case KT_PATH:
        fputs((r->flags & PD_CF_OUTPUT) ? "a file path, relative to the working directory"
                                        : "a file path, relative to the configuration file",
              out);
        break;
    case KT_ENDPOINT:
        man_text(out, "`tcp://HOST:PORT` (PORT may be `*`), `ipc://PATH`, `inproc://NAME`", false);
        break;
    case KT_STRING: break;
    default: man_text(out, format_range(r, range, sizeof(range)), false); break;
    }
}

int pd_config_write_reference_man(FILE *out)
{
    const char *prev_section = NULL;

    fputs(".\\\" Generated by `paramd --config-reference=man` from common/config_keys.h;\n"
          ".\\\" do not edit: regenerate with paramd --config-reference=man > doc/paramd.conf.5\n"
          ".TH PARAMD.CONF 5 \"\" \"paramd\" \"File Formats\"\n"
          ".SH NAME\n"
          "paramd.conf \\- configuration file of the paramd parameter server\n"
          ".SH SYNOPSIS\n"
          ".I /etc/paramd/paramd.conf\n"
          ".SH DESCRIPTION\n"
          "The configuration file of\n"
          ".BR paramd (8)\n"
          "is INI:\n"
          ".B [section]\n"
          "headers and\n"
          ".B key = value\n"
          "lines.\n"
          "Lines starting with\n"
          ".B ;\n"
          "or\n"
          ".B #\n"
          "are comments, and so is the rest of a line after a blank and\n"
          ".BR ; .\n"
          "Every key can also be set on the command line with\n"
          ".BR \"\\-o section.key=value\" .\n"
          "Unknown sections and keys are errors, and every error is reported as\n"
          ".IR FILE : LINE :\n"
          ".RI [ section ]\n"
          ".IR key :\n"
          ".IR problem .\n"
          ".PP\n"
          "Durations take the suffixes\n"
          ".BR ms ,\n"
          ".BR s ,\n"
          ".BR m ,\n"
          ".B h\n"
          "or\n"
          ".B d\n"
          "(a bare number is seconds).\n"
          "Sizes take\n"
          ".BR K ,\n"
          ".B M\n"
          "or\n"
          ".B G\n"
          "(powers of 1024).\n"
          "Booleans accept yes/no, true/false, on/off and 1/0.\n"
          ".PP\n"
          "Keys marked\n"
          ".I reloadable\n"
          "take effect when\n"
          ".B paramd\n"
          "receives SIGHUP\n"
          ".RB ( \"systemctl reload paramd\" );\n"
          "a changed key that is not reloadable is reported in the log and keeps its value\n"
          "until the next restart.\n"
          "Keys marked\n"
          ".I job key\n"
          "define the job: changing one starts a different job, whose checkpoints are not\n"
          "interchangeable with the old one's.\n"
          ".SH KEYS\n",
          out);
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if (prev_section == NULL || strcmp(prev_section, r->section) != 0) {
            fprintf(out, ".SS \"[%s]\"\n", r->section);
            prev_section = r->section;
        }
        fputs(".TP\n\\fB", out);
        man_text(out, r->name, false);
        fprintf(out, "\\fR (%s", type_names[r->type]);
        if (r->default_text[0] == '\0') {
            fputs(", default empty", out);
        } else {
            fputs(", default \\fB", out);
            man_text(out, r->default_text, false);
            fputs("\\fR", out);
        }
        if (r->flags & PD_CF_RELOADABLE) {
            fputs(", \\fIreloadable\\fR", out);
        }
        if (r->flags & PD_CF_JOB) {
            fputs(", \\fIjob key\\fR", out);
        }
        if (r->flags & PD_CF_SECRET) {
            fputs(", \\fIsecret\\fR", out);
        }
        fputs(")\n", out);
        man_text(out, r->doc, true);
        fputc('\n', out);
        if (r->type != KT_STRING) {
            fputs("Allowed: ", out);
            man_allowed(out, r);
            fputs(".\n", out);
        }
    }
    fputs(".SH EXAMPLE\n"
          "A logistic regression trained by asynchronous SGD, as a service:\n"
          ".PP\n"
          ".nf\n"
          ".RS\n"
          "[server]\n"
          "listen = tcp://0.0.0.0:5555\n"
          "allow_insecure = yes\n"
          "status = unix:/run/paramd/status.sock\n"
          "save_params = /var/lib/paramd/final.params\n"
          "\n"
          "[job]\n"
          "method = async\\-sgd\n"
          "batch_size = 64\n"
          "\n"
          "[model]\n"
          "type = logistic\n"
          "\n"
          "[data]\n"
          "train = /srv/paramd/train.svm\n"
          "test = /srv/paramd/test.svm\n"
          "\n"
          "[optimizer]\n"
          "learning_rate = 0.5\n"
          "regularizer = l1\n"
          "l1 = 1e\\-4\n"
          "\n"
          "[stop]\n"
          "max_updates = 20000\n"
          ".RE\n"
          ".fi\n"
          ".SH FILES\n"
          ".TP\n"
          ".I /etc/paramd/paramd.conf\n"
          "The configuration read by paramd.service.\n"
          ".SH SEE ALSO\n"
          ".BR paramd (8),\n"
          ".BR paramd\\-worker (1),\n"
          ".BR paramctl (1)\n",
          out);
    if (fflush(out) != 0 || ferror(out)) {
        return -EIO;
    }
    return 0;
}

/* ---- reload -------------------------------------------------------------------------------- */

/* Bytes of a non-string field, by the same C types CHECK_FIELD_ asserts above. */
static size_t field_size(key_type_t t)
{
    switch (t) {
    case KT_BOOL: return sizeof(bool);
    case KT_INT:
    case KT_DURATION: return sizeof(int64_t);
    case KT_DOUBLE: return sizeof(double);
    case KT_SIZE: return sizeof(uint64_t);
    case KT_ENUM: return sizeof(int);
    case KT_STRING:
    case KT_PATH:
    case KT_ENDPOINT: break;
    }
    return 0;
}

void pd_config_diff(const pd_config_t *a, const pd_config_t *b, pd_config_diff_fn fn, void *ctx)
{
    char abuf[64];
    char bbuf[64];

    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        const char *av = value_text(a, r, abuf, sizeof(abuf));
        const char *bv = value_text(b, r, bbuf, sizeof(bbuf));
        if (strcmp(av, bv) == 0) {
            continue;
        }
        if (r->flags & PD_CF_SECRET) {
            av = bv = "(redacted)";
        }
        fn(r->section, r->name, av, bv, r->flags, ctx);
    }
}

int pd_config_apply_reloadable(pd_config_t *dst, const pd_config_t *src)
{
    char *copies[N_ROWS] = {NULL};
    int rc = 0;

    /* Duplicate every string first, so a failed allocation leaves dst exactly as it was. */
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if ((r->flags & PD_CF_RELOADABLE) && is_string_type(r->type)) {
            const char *s = string_value(src, r);
            copies[i] = strdup(s != NULL ? s : "");
            if (copies[i] == NULL) {
                rc = -ENOMEM;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if (!(r->flags & PD_CF_RELOADABLE)) {
            continue;
        }
        if (is_string_type(r->type)) {
            char **f = string_field(dst, r);
            free(*f);
            *f = copies[i];
            copies[i] = NULL;
        } else {
            memcpy((char *)dst + r->offset, (const char *)src + r->offset, field_size(r->type));
        }
    }
out:
    for (size_t i = 0; i < N_ROWS; i++) {
        free(copies[i]);
    }
    return rc;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

uint64_t pd_config_job_hash(const pd_config_t *c)
{
    uint64_t h = UINT64_C(14695981039346656037);
    char buf[64];

    /* Hash the canonical text, not the bytes of the struct: padding, pointers and the
     * representation of doubles must not make equal configs differ, and "64" and "064"
     * must not either. The key names are in the text so that moving a value between keys
     * changes the hash. */
    for (size_t i = 0; i < N_ROWS; i++) {
        const key_row_t *r = &rows[i];
        if (!(r->flags & PD_CF_JOB)) {
            continue;
        }
        const char *text = value_text(c, r, buf, sizeof(buf));
        /* A file is the same job's file however its path is spelled (-c /abs/job.conf or
         * -c job.conf, ./data or data/../data): its canonical path when it exists. */
        char *canon = r->type == KT_PATH && text[0] != '\0' ? realpath(text, NULL) : NULL;
        h = fnv1a(h, r->section);
        h = fnv1a(h, ".");
        h = fnv1a(h, r->name);
        h = fnv1a(h, "=");
        h = fnv1a(h, canon != NULL ? canon : text);
        h = fnv1a(h, "\n");
        free(canon);
    }
    return h;
}

/* The directory a file will be written in (its path up to the last slash; "." without one)
 * must exist and be writable by this user. */
static void check_writable_dir_of(err_sink_t *sink, const char *key, const char *path,
                                  bool path_is_dir)
{
    char dir[4096], trimmed[4096];
    struct stat st;
    size_t n = (size_t)snprintf(trimmed, sizeof(trimmed), "%s", path);

    while (n > 1 && n < sizeof(trimmed) && trimmed[n - 1] == '/') {
        trimmed[--n] = '\0'; /* state_dir = state/ is the directory state */
    }
    path = trimmed;
    const char *slash = strrchr(path, '/');
    if (path_is_dir && stat(path, &st) == 0) {
        snprintf(dir, sizeof(dir), "%s", path); /* an existing state_dir itself */
    } else if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    }
    if (stat(dir, &st) != 0) {
        sink_add(sink, "%s = %s: directory %s: %s", key, path, dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        sink_add(sink, "%s = %s: %s is not a directory", key, path, dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        sink_add(sink, "%s = %s: cannot write in %s: %s", key, path, dir, strerror(errno));
    }
}

int pd_config_check_environment(const pd_config_t *c, char *errbuf, size_t errlen)
{
    const struct {
        const char *key, *path;
    } files[] = {{"train", c->train_path},
                 {"train_labels", c->train_labels_path},
                 {"test", c->test_path},
                 {"test_labels", c->test_labels_path}};
    err_sink_t sink;

    sink_init(&sink, errbuf, errlen);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *p = files[i].path;
        struct stat st;
        if (empty(p)) {
            continue;
        }
        int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            sink_add(&sink, "[data] %s = %s: cannot read: %s", files[i].key, p, strerror(errno));
            continue;
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            sink_add(&sink, "[data] %s = %s: not a regular file", files[i].key, p);
        }
        close(fd);
    }
    if (!empty(c->status) && strncmp(c->status, "unix:", 5) == 0) {
        check_writable_dir_of(&sink, "[server] status", c->status + 5, false);
    }
    if (!empty(c->state_dir)) {
        check_writable_dir_of(&sink, "[server] state_dir", c->state_dir, true);
    }
    if (!empty(c->metrics_log)) {
        check_writable_dir_of(&sink, "[server] metrics_log", c->metrics_log, false);
    }
    if (!empty(c->save_params)) {
        check_writable_dir_of(&sink, "[server] save_params", c->save_params, false);
    }
    return sink.count == 0 ? 0 : PD_ECONFIG;
}

int pd_config_build(pd_config_t *c, const char *path, const char *const *overrides,
                    char *errbuf, size_t errlen)
{
    int rc = pd_config_init(c);

    if (rc == 0 && path != NULL) {
        rc = pd_config_load_file(c, path, errbuf, errlen);
    }
    for (const char *const *o = overrides; rc == 0 && o != NULL && *o != NULL; o++) {
        rc = pd_config_set_override(c, *o, errbuf, errlen);
    }
    if (rc == 0) {
        rc = pd_config_validate(c, errbuf, errlen);
    }
    if (rc != 0) {
        pd_config_release(c);
    }
    return rc;
}
