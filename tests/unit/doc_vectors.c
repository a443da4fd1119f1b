/* doc_vectors.c - see doc_vectors.h. The parser is strict on purpose: a block it cannot read
 * exactly is an error, never a vector that is quietly skipped, because a skipped vector is
 * a part of the document nobody checks any more. */
#include <config.h>
#include "doc_vectors.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const string_keys[] = {"kind",   "model",    "activation",  "format",
                                          "file",   "regularizer", "type",     "schedule",
                                          "fingerprint", "text"};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

bool dv_is_string_key(const char *key)
{
    for (size_t i = 0; i < sizeof(string_keys) / sizeof(string_keys[0]); i++) {
        if (strcmp(key, string_keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* One token of a numeric value: what strtod() takes whole, and finite (%.17g never writes
 * anything else for the values the document holds). */
static bool number_ok(const char *tok, size_t len)
{
    char buf[64], *end;
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, tok, len);
    buf[len] = '\0';
    double v = strtod(buf, &end);
    return *end == '\0' && isfinite(v);
}

/* Numbers separated by single spaces, nothing before the first or after the last. */
static bool numbers_ok(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (;;) {
        const char *sp = strchr(s, ' ');
        size_t len = sp != NULL ? (size_t)(sp - s) : strlen(s);
        if (!number_ok(s, len)) {
            return false;
        }
        if (sp == NULL) {
            return true;
        }
        s = sp + 1;
    }
}

/* Parse one block line into e. 0 or -EINVAL with the reason in err. */
static int parse_line(const char *line, dv_entry_t *e, char *err, size_t errlen)
{
    size_t k = 0;
    while ((line[k] >= 'a' && line[k] <= 'z') || (line[k] >= '0' && line[k] <= '9') ||
           line[k] == '_') {
        k++;
    }
    if (k == 0 || k >= DV_KEY_MAX || line[k] != ':') {
        return fail(err, errlen, -EINVAL, "not a 'key: value' line: '%.40s'", line);
    }
    memcpy(e->key, line, k);
    e->key[k] = '\0';
    const char *value = line + k + 1;
    bool is_text = strcmp(e->key, "text") == 0;
    if (*value == '\0' && is_text) {
        value = ""; /* an empty file line; editors strip the trailing space */
    } else if (*value != ' ') {
        return fail(err, errlen, -EINVAL, "key '%s': expected one space after the colon",
                    e->key);
    } else {
        value++;
    }
    if (!dv_is_string_key(e->key) && !numbers_ok(value)) {
        return fail(err, errlen, -EINVAL,
                    "key '%s': value is not numbers separated by single spaces: '%.40s'",
                    e->key, value);
    }
    if (!is_text && dv_is_string_key(e->key) && *value == '\0') {
        return fail(err, errlen, -EINVAL, "key '%s': empty value", e->key);
    }
    e->value = strdup(value);
    return e->value != NULL ? 0 : -ENOMEM;
}

static int add_entry(dv_vector_t *v, const dv_entry_t *e, char *err, size_t errlen)
{
    if (strcmp(e->key, "text") != 0) {
        for (size_t i = 0; i < v->n; i++) {
            if (strcmp(v->e[i].key, e->key) == 0) {
                return fail(err, errlen, -EINVAL, "key '%s' repeated", e->key);
            }
        }
    }
    dv_entry_t *ne = realloc(v->e, (v->n + 1) * sizeof(*ne));
    if (ne == NULL) {
        return -ENOMEM;
    }
    v->e = ne;
    v->e[v->n++] = *e;
    return 0;
}

static void vector_free(dv_vector_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->e[i].value);
    }
    free(v->e);
}

void dv_doc_free(dv_doc_t *doc)
{
    for (size_t i = 0; i < doc->n; i++) {
        vector_free(&doc->v[i]);
    }
    free(doc->v);
    doc->v = NULL;
    doc->n = 0;
}

int dv_parse(const char *text, const char *name, dv_doc_t *doc, char *err, size_t errlen)
{
    dv_doc_t out = {0, NULL};
    dv_vector_t cur = {0, 0, NULL};
    bool in_block = false;
    size_t lineno = 0;
    char *line = NULL;
    int rc = 0;

    for (const char *s = text; *s != '\0';) {
        const char *nl = strchr(s, '\n');
        size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);
        lineno++;
        free(line);
        line = strndup(s, len);
        if (line == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        s += len + (nl != NULL ? 1 : 0);
        if (!in_block) {
            /* Only an exact opening fence starts a vector; "```vector2" is a typo to catch. */
            if (strncmp(line, "```vector", 9) == 0) {
                if (strcmp(line, "```vector") != 0) {
                    rc = fail(err, errlen, -EINVAL, "%s:%zu: bad fence '%.40s'", name, lineno,
                              line);
                    goto out;
                }
                in_block = true;
                cur = (dv_vector_t){lineno, 0, NULL};
            }
            continue;
        }
        if (strcmp(line, "```") == 0) {
            if (cur.n == 0 || strcmp(cur.e[0].key, "kind") != 0) {
                rc = fail(err, errlen, -EINVAL, "%s:%zu: a vector must start with 'kind:'",
                          name, cur.line);
                goto out;
            }
            dv_vector_t *nv = realloc(out.v, (out.n + 1) * sizeof(*nv));
            if (nv == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            out.v = nv;
            out.v[out.n++] = cur;
            cur = (dv_vector_t){0, 0, NULL};
            in_block = false;
            continue;
        }
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        dv_entry_t e = {.value = NULL};
        char why[256];
        rc = parse_line(line, &e, why, sizeof(why));
        if (rc == 0) {
            rc = add_entry(&cur, &e, why, sizeof(why));
            if (rc != 0) {
                free(e.value);
            }
        }
        if (rc != 0) {
            fail(err, errlen, rc, "%s:%zu: %s", name, lineno,
                 rc == -ENOMEM ? "out of memory" : why);
            goto out;
        }
    }
    if (in_block) {
        rc = fail(err, errlen, -EINVAL, "%s:%zu: vector block not closed", name, cur.line);
        goto out;
    }
    *doc = out;
    out = (dv_doc_t){0, NULL};
out:
    free(line);
    vector_free(&cur);
    dv_doc_free(&out);
    return rc;
}

int dv_parse_file(const char *path, dv_doc_t *doc, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (f == NULL) {
        return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = 2 * cap + 8192);
            if (nb == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        rc = fail(err, errlen, -EIO, "%s: read error", path);
        goto out;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL) {
        rc = fail(err, errlen, -EINVAL, "%s: NUL byte in the document", path);
        goto out;
    }
    rc = dv_parse(buf, path, doc, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

static dv_entry_t *find(dv_vector_t *v, const char *key)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->e[i].key, key) == 0) {
            return &v->e[i];
        }
    }
    return NULL;
}

const char *dv_get(dv_vector_t *v, const char *key)
{
    dv_entry_t *e = find(v, key);
    if (e == NULL) {
        return NULL;
    }
    e->used = true;
    return e->value;
}

/* The tokens of a numeric value (already checked by the parser), converted by `conv`. */
static int tokens(dv_vector_t *v, const char *key, size_t elem, void **out, size_t *n,
                  bool (*conv)(const char *tok, void *dst), const char *what, char *err,
                  size_t errlen)
{
    const char *s = dv_get(v, key);
    if (s == NULL) {
        return fail(err, errlen, -ENOENT, "missing key '%s'", key);
    }
    size_t count = 1;
    for (const char *p = s; *p != '\0'; p++) {
        count += *p == ' ';
    }
    unsigned char *arr = malloc(count * elem);
    if (arr == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const char *sp = strchr(s, ' ');
        size_t len = sp != NULL ? (size_t)(sp - s) : strlen(s);
        char tok[64];
        snprintf(tok, sizeof(tok), "%.*s", (int)len, s);
        if (!conv(tok, arr + i * elem)) {
            free(arr);
            return fail(err, errlen, -EINVAL, "key '%s': '%s' is not %s", key, tok, what);
        }
        s = sp != NULL ? sp + 1 : s + len;
    }
    *out = arr;
    *n = count;
    return 0;
}

static bool conv_double(const char *tok, void *dst)
{
    *(double *)dst = strtod(tok, NULL); /* the parser has checked the syntax */
    return true;
}

static bool conv_u64(const char *tok, void *dst)
{
    char *end;
    if (tok[0] < '0' || tok[0] > '9') {
        return false;
    }
    errno = 0;
    unsigned long long u = strtoull(tok, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *(uint64_t *)dst = (uint64_t)u;
    return true;
}

int dv_doubles(dv_vector_t *v, const char *key, double **out, size_t *n, char *err,
               size_t errlen)
{
    return tokens(v, key, sizeof(double), (void **)out, n, conv_double, "a number", err, errlen);
}

int dv_u64s(dv_vector_t *v, const char *key, uint64_t **out, size_t *n, char *err,
            size_t errlen)
{
    return tokens(v, key, sizeof(uint64_t), (void **)out, n, conv_u64,
                  "an unsigned decimal integer", err, errlen);
}

/* Exactly one token of `key`, converted into *out (elem bytes). */
static int one_value(dv_vector_t *v, const char *key, size_t elem,
                     bool (*conv)(const char *tok, void *dst), const char *what, void *out,
                     char *err, size_t errlen)
{
    void *a = NULL;
    size_t n = 0;
    int rc = tokens(v, key, elem, &a, &n, conv, what, err, errlen);
    if (rc == 0 && n != 1) {
        rc = fail(err, errlen, -EINVAL, "key '%s': expected one value, got %zu", key, n);
    }
    if (rc == 0) {
        memcpy(out, a, elem);
    }
    free(a);
    return rc;
}

int dv_double(dv_vector_t *v, const char *key, double *out, char *err, size_t errlen)
{
    return one_value(v, key, sizeof(*out), conv_double, "a number", out, err, errlen);
}

int dv_double_or(dv_vector_t *v, const char *key, double dflt, double *out, char *err,
                 size_t errlen)
{
    if (find(v, key) == NULL) {
        *out = dflt;
        return 0;
    }
    return dv_double(v, key, out, err, errlen);
}

int dv_u64(dv_vector_t *v, const char *key, uint64_t *out, char *err, size_t errlen)
{
    return one_value(v, key, sizeof(*out), conv_u64, "an unsigned decimal integer", out, err,
                     errlen);
}

const char *dv_unused(const dv_vector_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (!v->e[i].used) {
            return v->e[i].key;
        }
    }
    return NULL;
}
