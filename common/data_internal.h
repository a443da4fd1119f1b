/* data_internal.h - helpers shared by the data loaders (data*.c only; not installed).
 * A reader over a gzFile that hands out length-limited lines with a line counter (text
 * formats) or raw bytes (IDX), a growable array, and the "FILE:LINE: problem" formatter.
 * The per-format loaders get options that pd_data_load() has already defaulted and checked. */
#ifndef PD_COMMON_DATA_INTERNAL_H
#define PD_COMMON_DATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "data.h"
#include "grow.h"

/* Longest token quoted back in an error message; a 16 MB garbage token must not become a
 * 16 MB log line. */
#define PD_DATA_QUOTE_MAX 40

typedef struct pd_data_reader {
    gzFile gz;
    const char *path;    /* borrowed, only for messages */
    size_t lineno;       /* of the line last returned by pd_data_reader_line() */
    size_t max_line;     /* bytes, without the newline */
    bool direct;         /* not gzip: the file size is the data size */
    int64_t file_bytes;  /* size of the file on disk (fstat) */
    bool eof;
    unsigned char *in;   /* raw chunk from gzread */
    size_t in_len, in_pos;
    char *line;          /* current line, NUL-terminated */
    size_t line_cap;
} pd_data_reader_t;

/* Open `path` for reading; gzip is recognised by its magic bytes, anything else is read as
 * is. Returns 0, -errno or -ENOMEM, with "FILE: reason" in errbuf. On failure *r needs no
 * close. */
int pd_data_reader_open(pd_data_reader_t *r, const char *path, char *errbuf, size_t errlen);
/* Closes and frees; safe on a zeroed or already-closed reader. */
void pd_data_reader_close(pd_data_reader_t *r);

/* Next line without its "\n" or "\r\n", NUL-terminated in a buffer the reader owns (valid
 * until the next call; the caller may write into it). Returns 1 with a line, 0 at the end of
 * the file, or PD_EDATA (line over max_line bytes, a NUL byte, broken gzip stream) / -ENOMEM
 * with the message in errbuf. A last line without a newline is still returned. */
int pd_data_reader_line(pd_data_reader_t *r, char **line, size_t *len, char *errbuf,
                        size_t errlen);

/* Up to n raw bytes into dst; *got < n only at the end of the file. Returns 0 or PD_EDATA
 * for a broken gzip stream (message in errbuf). */
int pd_data_reader_read(pd_data_reader_t *r, void *dst, size_t n, size_t *got, char *errbuf,
                        size_t errlen);

/* Write the message into errbuf (if any) and return rc, so a failure is one statement:
 * `rc = pd_data_fail(errbuf, errlen, PD_EDATA, "%s:%zu: ...", ...); goto out;` */
int pd_data_fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A dense set of m rows of p features that takes over *x (m * p values) and *y (m labels):
 * on success both pointers are set to NULL and *out owns the arrays. -ENOMEM (message in
 * errbuf) leaves them with the caller. */
int pd_data_new_dense(pd_data_t **out, size_t m, size_t p, double **x, double **y,
                      const char *path, char *errbuf, size_t errlen);

/* Length to print with "%.*s" for a token in a message, and the suffix that marks a cut. */
int pd_data_quote_len(size_t len);
const char *pd_data_quote_cut(size_t len);

/* The loaders. `opts` is complete (defaults applied, limits checked); `out` is set only on
 * success. Same return contract as pd_data_load(). opts->max_samples is 0 or a cap below
 * PD_DATA_MAX_SAMPLES: the loader keeps the first max_samples samples and ignores the rest of
 * the file, while a file over PD_DATA_MAX_SAMPLES with no cap is PD_ETOOBIG. */
int pd_data_load_libsvm(pd_data_t **out, const char *path, const pd_data_opts_t *opts,
                        char *errbuf, size_t errlen);
int pd_data_load_idx(pd_data_t **out, const char *path, const pd_data_opts_t *opts,
                     char *errbuf, size_t errlen);
int pd_data_load_csv(pd_data_t **out, const char *path, const pd_data_opts_t *opts,
                     char *errbuf, size_t errlen);

#endif
