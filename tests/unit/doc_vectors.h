/* doc_vectors.h - the test-vector blocks of doc/models.md ("Test vectors" there defines the
 * format): a parser that turns ```vector fences into key/value lists and rejects any block
 * that breaks the format, plus typed getters. Test support only (check_models_doc.c); the
 * code under test never reads documentation. */
#ifndef PD_TESTS_DOC_VECTORS_H
#define PD_TESTS_DOC_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DV_KEY_MAX 32

typedef struct dv_entry {
    char key[DV_KEY_MAX];
    char *value; /* verbatim text after "key: " */
    bool used;   /* read by a getter or compared: what is never used is an unknown key */
} dv_entry_t;

typedef struct dv_vector {
    size_t line;   /* of the opening fence, for messages */
    size_t n;
    dv_entry_t *e;
} dv_vector_t;

typedef struct dv_doc {
    size_t n;
    dv_vector_t *v;
} dv_doc_t;

/* Split `text` (a whole Markdown file called `name` in messages) into its vector blocks.
 * 0, or -EINVAL for a malformed block (unterminated fence, a line that is not `key: value`,
 * a bad key, a repeated key other than `text`, a number that does not parse, a double
 * space) or -ENOMEM, with "NAME:LINE: problem" in err. Returned: *doc, free with
 * dv_doc_free(). */
int dv_parse(const char *text, const char *name, dv_doc_t *doc, char *err, size_t errlen);
/* dv_parse on a file's content; -errno when it cannot be read. */
int dv_parse_file(const char *path, dv_doc_t *doc, char *err, size_t errlen);
void dv_doc_free(dv_doc_t *doc);

/* Whether a key's value is a string (format rule; everything else is numbers). */
bool dv_is_string_key(const char *key);

/* The value of the first `key` (marked used), or NULL when absent. */
const char *dv_get(dv_vector_t *v, const char *key);
/* The numbers of `key` as doubles: *out malloc'ed (free it), *n their count. 0, -ENOENT when
 * absent (err says which key), -ENOMEM. */
int dv_doubles(dv_vector_t *v, const char *key, double **out, size_t *n, char *err,
               size_t errlen);
/* One number as a double; -ENOENT when absent, -EINVAL when not exactly one number. */
int dv_double(dv_vector_t *v, const char *key, double *out, char *err, size_t errlen);
/* As dv_double with a default when absent. */
int dv_double_or(dv_vector_t *v, const char *key, double dflt, double *out, char *err,
                 size_t errlen);
/* Unsigned decimal integers (no sign, no exponent, up to 2^64 - 1). */
int dv_u64s(dv_vector_t *v, const char *key, uint64_t **out, size_t *n, char *err,
            size_t errlen);
int dv_u64(dv_vector_t *v, const char *key, uint64_t *out, char *err, size_t errlen);
/* The first key never read (an unknown key for the vector's kind), or NULL. */
const char *dv_unused(const dv_vector_t *v);

#endif
