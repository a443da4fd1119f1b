/* curve.c - reading CURVE key files (see curve.h for the formats). Owns no state; every
 * function works on the caller's buffers. Secret keys pass through stack buffers that are
 * cleared before return, so they do not linger in freed memory. */
#include <config.h>
#include "curve.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "error.h"

#define LINE_MAX_LEN 1024

static const char z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";

__attribute__((format(printf, 3, 4))) static void add_err(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    size_t used;
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    used = strnlen(err, errlen);
    if (used + 1 >= errlen) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
    if (n >= 0 && used + (size_t)n + 1 < errlen) {
        err[used + (size_t)n] = '\n';
        err[used + (size_t)n + 1] = '\0';
    }
}

static void wipe(void *p, size_t n)
{
    /* Through a volatile pointer, so the compiler cannot drop the stores as dead. */
    volatile unsigned char *v = p;
    while (n-- > 0) {
        *v++ = 0;
    }
}

bool pd_curve_key_valid(const char *text, size_t len)
{
    uint8_t bin[32];

    if (text == NULL || len != PD_CURVE_KEY_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0' || strchr(z85_alphabet, text[i]) == NULL) {
            return false;
        }
    }
    /* The alphabet check is not enough: a group of five characters can exceed 2^32. */
    char copy[PD_CURVE_KEY_LEN + 1];
    memcpy(copy, text, len);
    copy[len] = '\0';
    return zmq_z85_decode(bin, copy) != NULL;
}

/* One line of a file, without its newline. Returns 1 for a line, 0 at the end, PD_ECONFIG
 * for a line over LINE_MAX_LEN (the rest of it is skipped), -errno on a read error. */
static int read_line(FILE *f, char *buf, size_t len)
{
    if (fgets(buf, (int)len, f) == NULL) {
        return ferror(f) ? -EIO : 0;
    }
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r') {
            buf[--n] = '\0';
        }
        return 1;
    }
    if (!feof(f)) {
        int ch;
        while ((ch = fgetc(f)) != EOF && ch != '\n') {
        }
        return PD_ECONFIG;
    }
    return 1;
}

static char *skip_blank(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

/* The next line of a key file, blanks skipped, in *out: 1, or 0 at the end, or a negative
 * read error (reported). An over-long line is reported, counted in *problems and skipped,
 * so every error of a file is listed in one pass. */
static int next_line(FILE *f, char *line, size_t len, const char *path, int *lineno,
                     int *problems, char *err, size_t errlen, char **out)
{
    int r;

    while ((r = read_line(f, line, len)) != 0) {
        (*lineno)++;
        if (r == PD_ECONFIG) {
            add_err(err, errlen, "%s:%d: line longer than %d characters", path, *lineno,
                    LINE_MAX_LEN);
            (*problems)++;
            continue;
        }
        if (r < 0) {
            add_err(err, errlen, "%s:%d: read error: %s", path, *lineno, pd_strerror(r));
            return r;
        }
        *out = skip_blank(line);
        return 1;
    }
    return 0;
}

static size_t word_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t') {
        n++;
    }
    return n;
}

/* A comment or blank line. Z85 has '#': a line whose first word is a key is not a comment. */
static bool is_comment(const char *s)
{
    return s[0] == '\0' || (s[0] == '#' && !pd_curve_key_valid(s, word_len(s)));
}

static FILE *open_file(const char *path, char *err, size_t errlen, int *rc)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        *rc = -errno;
        add_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    }
    return f;
}

/* "name = value" with optional quotes around value: splits in place. */
static bool split_assignment(char *s, char **name, char **value)
{
    char *eq = strchr(s, '=');
    char *end;

    if (eq == NULL) {
        return false;
    }
    end = eq;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    *end = '\0';
    *name = s;
    char *v = skip_blank(eq + 1);
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        v[--n] = '\0';
    }
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
    }
    *value = v;
    return true;
}

/* True when the file holds nothing but blanks: the unit's SetCredential= default ("\n"; an
 * empty value is not allowed there), which stands for "no credential". */
static bool file_is_blank(const char *path)
{
    char head[64];
    size_t n;
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        return false; /* unreadable: let the real open say why */
    }
    n = fread(head, 1, sizeof(head), f);
    fclose(f);
    if (n == sizeof(head)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i] != '\r') {
            return false;
        }
    }
    return true;
}

const char *pd_curve_keypair_source(const char *path, char *buf, size_t len)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    const char *base = strrchr(path, '/');
    struct stat st;
    int n;

    base = base != NULL ? base + 1 : path;
    if (dir == NULL || dir[0] == '\0' || base[0] == '\0') {
        return path;
    }
    n = snprintf(buf, len, "%s/%s", dir, base);
    if (n < 0 || (size_t)n >= len || stat(buf, &st) != 0 || !S_ISREG(st.st_mode) ||
        file_is_blank(buf)) {
        return path;
    }
    return buf;
}

int pd_curve_load_keypair(const char *path, pd_curve_keypair_t *kp, char *err, size_t errlen)
{
    char cred[4096];
    char line[LINE_MAX_LEN + 2];
    char derived[PD_CURVE_KEY_LEN + 1];
    bool have_pub = false, have_sec = false;
    char *s;
    int lineno = 0, problems = 0;
    int rc = 0, r;
    FILE *f;

    memset(kp, 0, sizeof(*kp));
    path = pd_curve_keypair_source(path, cred, sizeof(cred));
    f = open_file(path, err, errlen, &rc);
    if (f == NULL && rc == -EACCES) {
        add_err(err, errlen,
                "%s: this user may not read the secret key: pass the file as the systemd "
                "credential '%s' (LoadCredential=, as paramd.service does), or let the user "
                "read it",
                path, strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path);
    }
    if (f == NULL) {
        return rc;
    }
    while ((r = next_line(f, line, sizeof(line), path, &lineno, &problems, err, errlen, &s)) > 0) {
        char *name, *value;
        if (is_comment(s) || strcmp(s, "metadata") == 0 || strcmp(s, "curve") == 0) {
            continue; /* the last two: section words of czmq certificates */
        }
        if (pd_curve_key_valid(s, word_len(s))) {
            add_err(err, errlen,
                    "%s:%d: a bare public key: this is a .pub file, but a key pair is needed "
                    "(the .key file written by paramctl keygen)",
                    path, lineno);
            problems++;
            continue;
        }
        if (!split_assignment(s, &name, &value)) {
            add_err(err, errlen,
                    "%s:%d: expected 'public-key = \"KEY\"' or 'secret-key = \"KEY\"' (a key-pair "
                    "file from paramctl keygen)",
                    path, lineno);
            problems++;
            continue;
        }
        bool is_pub = strcmp(name, "public-key") == 0;
        bool is_sec = strcmp(name, "secret-key") == 0;
        if (!is_pub && !is_sec) {
            continue; /* czmq metadata such as name = "..." */
        }
        if ((is_pub && have_pub) || (is_sec && have_sec)) {
            add_err(err, errlen, "%s:%d: %s given twice", path, lineno, name);
            problems++;
        } else if (!pd_curve_key_valid(value, strlen(value))) {
            add_err(err, errlen, "%s:%d: %s: not a Z85 key (40 characters of the Z85 alphabet)",
                    path, lineno, name);
            problems++;
        } else if (is_pub) {
            memcpy(kp->pub, value, PD_CURVE_KEY_LEN + 1);
            have_pub = true;
        } else {
            memcpy(kp->sec, value, PD_CURVE_KEY_LEN + 1);
            have_sec = true;
        }
        wipe(line, sizeof(line));
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    if (problems == 0 && !have_sec) {
        add_err(err, errlen,
                "%s:%d: no secret-key line: this is not a key-pair file (a .pub file holds only "
                "the public key; use the .key file written by paramctl keygen)",
                path, lineno);
        problems++;
    }
    if (problems == 0) {
        if (zmq_curve_public(derived, kp->sec) != 0) {
            add_err(err, errlen, "%s: cannot derive the public key: %s", path,
                    zmq_strerror(zmq_errno()));
            problems++;
        } else if (have_pub && strcmp(derived, kp->pub) != 0) {
            add_err(err, errlen, "%s: the public-key does not belong to the secret-key", path);
            problems++;
        } else {
            memcpy(kp->pub, derived, sizeof(derived));
        }
    }
    if (problems > 0) {
        rc = PD_ECONFIG;
    }
out:
    wipe(line, sizeof(line));
    fclose(f);
    if (rc != 0) {
        wipe(kp, sizeof(*kp));
    }
    return rc;
}

int pd_curve_load_public(const char *key_or_path, char pub[PD_CURVE_KEY_LEN + 1], char *err,
                         size_t errlen)
{
    char line[LINE_MAX_LEN + 2];
    int lineno = 0, rc = 0, r;
    FILE *f;

    if (pd_curve_key_valid(key_or_path, strlen(key_or_path))) {
        memcpy(pub, key_or_path, PD_CURVE_KEY_LEN + 1);
        return 0;
    }
    f = open_file(key_or_path, err, errlen, &rc);
    if (f == NULL) {
        return rc;
    }
    while ((r = read_line(f, line, sizeof(line))) != 0) {
        char *name, *value;
        lineno++;
        if (r < 0) {
            add_err(err, errlen, "%s:%d: %s", key_or_path, lineno,
                    r == PD_ECONFIG ? "line too long" : pd_strerror(r));
            rc = r < 0 && r != PD_ECONFIG ? r : PD_ECONFIG;
            goto out;
        }
        char *s = skip_blank(line);
        if (is_comment(s) || strcmp(s, "metadata") == 0 || strcmp(s, "curve") == 0) {
            continue;
        }
        size_t n = word_len(s);
        if (pd_curve_key_valid(s, n)) {
            memcpy(pub, s, PD_CURVE_KEY_LEN);
            pub[PD_CURVE_KEY_LEN] = '\0';
            goto out;
        }
        if (split_assignment(s, &name, &value)) {
            if (strcmp(name, "public-key") == 0 && pd_curve_key_valid(value, strlen(value))) {
                memcpy(pub, value, PD_CURVE_KEY_LEN + 1);
                goto out;
            }
            if (strcmp(name, "public-key") != 0) {
                continue; /* the secret-key line of a key-pair file, czmq metadata */
            }
        }
        add_err(err, errlen, "%s:%d: not a Z85 public key (40 characters of the Z85 alphabet)",
                key_or_path, lineno);
        rc = PD_ECONFIG;
        goto out;
    }
    add_err(err, errlen, "%s: no public key in the file (nor is it a 40-character Z85 key)",
            key_or_path);
    rc = PD_ECONFIG;
out:
    wipe(line, sizeof(line));
    fclose(f);
    return rc;
}

void pd_curve_list_release(pd_curve_list_t *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

const pd_curve_entry_t *pd_curve_list_find(const pd_curve_list_t *l, const char *key)
{
    /* Linear: lists are office-sized, and a lookup happens once per connection, not per
     * message. */
    for (size_t i = 0; i < l->n; i++) {
        if (memcmp(l->v[i].key, key, PD_CURVE_KEY_LEN) == 0) {
            return &l->v[i];
        }
    }
    return NULL;
}

/* Parse "KEY [NAME] [# comment]" into e; returns NULL or the problem. */
static const char *parse_entry(char *s, pd_curve_entry_t *e)
{
    size_t n = word_len(s);

    if (!pd_curve_key_valid(s, n)) {
        return n == PD_CURVE_KEY_LEN ? "not a Z85 key (a character outside the Z85 alphabet)"
                                     : "expected a 40-character Z85 public key at the start";
    }
    memcpy(e->key, s, PD_CURVE_KEY_LEN);
    e->key[PD_CURVE_KEY_LEN] = '\0';
    s = skip_blank(s + n);
    n = word_len(s);
    if (n == 0 || s[0] == '#') {
        snprintf(e->name, sizeof(e->name), "key-%.8s", e->key);
        return NULL;
    }
    if (n >= sizeof(e->name)) {
        return "name longer than 63 characters";
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return "the name has a non-printable or non-ASCII character";
        }
    }
    memcpy(e->name, s, n);
    e->name[n] = '\0';
    s = skip_blank(s + n);
    if (s[0] != '\0' && s[0] != '#') {
        return "unexpected text after the name (expected: KEY [NAME] [# comment])";
    }
    return NULL;
}

int pd_curve_load_list(const char *path, pd_curve_list_t *out, char *err, size_t errlen)
{
    char line[LINE_MAX_LEN + 2];
    size_t cap = 0;
    int lineno = 0, problems = 0;
    int *first_line = NULL; /* line of each entry, for the duplicate message */
    char *s;
    int rc = 0, r;
    FILE *f;

    out->v = NULL;
    out->n = 0;
    f = open_file(path, err, errlen, &rc);
    if (f == NULL) {
        return rc;
    }
    while ((r = next_line(f, line, sizeof(line), path, &lineno, &problems, err, errlen, &s)) > 0) {
        pd_curve_entry_t e;
        const char *why;
        if (is_comment(s)) {
            continue;
        }
        why = parse_entry(s, &e);
        if (why != NULL) {
            add_err(err, errlen, "%s:%d: %s", path, lineno, why);
            problems++;
            continue;
        }
        const pd_curve_entry_t *dup = pd_curve_list_find(out, e.key);
        if (dup != NULL) {
            add_err(err, errlen, "%s:%d: key of %s listed again (first at line %d)", path, lineno,
                    e.name, first_line[dup - out->v]);
            problems++;
            continue;
        }
        if (out->n == cap) {
            size_t ncap = cap > 0 ? cap * 2 : 16;
            pd_curve_entry_t *nv = realloc(out->v, ncap * sizeof(*nv));
            int *nl = nv != NULL ? realloc(first_line, ncap * sizeof(*nl)) : NULL;
            if (nv != NULL) {
                out->v = nv;
            }
            if (nl == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            first_line = nl;
            cap = ncap;
        }
        first_line[out->n] = lineno;
        out->v[out->n++] = e;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    if (problems > 0) {
        rc = PD_ECONFIG;
    }
out:
    fclose(f);
    free(first_line);
    if (rc != 0) {
        pd_curve_list_release(out);
    }
    return rc;
}
