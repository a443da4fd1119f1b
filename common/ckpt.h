/* ckpt.h - the checkpoint file format (STYLE.md §2.8, DESIGN.md "Durability"): bytes in,
 * struct out. No scheduling, no file naming, no uv: server/ops/checkpoint.c does those.
 *
 * Layout (all integers little-endian):
 *   0   magic "\x89PDCKPT\n" (8 bytes)
 *   8   u32 format version (PD_CKPT_FORMAT_VERSION)
 *   12  u32 header length (32: the fixed header; metadata starts here)
 *   16  u64 metadata length (bytes of the protobuf Checkpoint message)
 *   24  u64 file length (the whole file, trailer included)
 *   32  metadata (proto/paramd.proto message Checkpoint), zero padding to a multiple of 64
 *   ... one float64 array per metadata `arrays` entry, in order, each starting at a multiple
 *       of 64 and zero-padded to the next multiple of 64
 *   end-16: u32 crc32 (zlib) of every byte before the trailer, u32 zero, end magic "PDCKEND\n"
 * The loader checks all of this before it allocates anything. */
#ifndef PD_COMMON_CKPT_H
#define PD_COMMON_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_CKPT_FORMAT_VERSION 1
#define PD_CKPT_HEADER_BYTES 32
#define PD_CKPT_TRAILER_BYTES 16
#define PD_CKPT_ALIGN 64
#define PD_CKPT_MAX_ARRAYS 8
#define PD_CKPT_MAX_METADATA (1u << 20)
#define PD_CKPT_NAME_MAX 32

typedef struct pd_ckpt_array {
    char name[PD_CKPT_NAME_MAX];
    size_t count;
    double *data; /* owned by the pd_ckpt_t that holds it (loader), or borrowed (writer) */
} pd_ckpt_array_t;

/* One checkpoint's content. The loader fills every field and owns the arrays and
 * method_state (release with pd_ckpt_release); for the writer they are borrowed. */
typedef struct pd_ckpt {
    uint64_t job_id;
    uint64_t version;
    int method;    /* pd_method_kind_t */
    int optimizer; /* pd_optimizer_kind_t */
    uint64_t optimizer_t;
    uint64_t task_seq;
    uint64_t updates_total;
    double wall_time;
    size_t dim;
    size_t n_arrays;
    pd_ckpt_array_t arrays[PD_CKPT_MAX_ARRAYS];
    uint8_t *method_state;
    size_t method_state_len;
} pd_ckpt_t;

/* Output stream in the manner of Redis's rio: the crc32 advances as bytes pass, and the first
 * error sticks (later writes do nothing), so the caller checks once at the end. Either over a
 * file descriptor (borrowed, never closed here) or over a growing memory buffer. */
typedef struct pd_ckpt_stream {
    int fd;          /* -1: memory */
    uint8_t *mem;    /* memory target (Returned: free() it, or pd_ckpt_stream_release) */
    size_t mem_len;
    size_t mem_cap;
    uint64_t offset; /* bytes written so far */
    uint32_t crc;
    int err;         /* 0, or the first error (-errno, -ENOMEM) */
} pd_ckpt_stream_t;

void pd_ckpt_stream_init_fd(pd_ckpt_stream_t *s, int fd);
void pd_ckpt_stream_init_mem(pd_ckpt_stream_t *s);
/* Frees a memory stream's buffer; nothing for an fd stream. */
void pd_ckpt_stream_release(pd_ckpt_stream_t *s);
/* Append bytes (retries EINTR and short writes). Returns the sticky error. */
int pd_ckpt_stream_write(pd_ckpt_stream_t *s, const void *buf, size_t len);

/* Find an array by name; NULL when absent. */
const pd_ckpt_array_t *pd_ckpt_array(const pd_ckpt_t *c, const char *name);

/* Write c as one complete checkpoint to s. c and its arrays are borrowed; array names must be
 * non-empty and shorter than PD_CKPT_NAME_MAX. Returns 0, -EINVAL for a malformed c, or the
 * stream's error. Thread-safe (runs on the libuv pool). */
int pd_ckpt_write(pd_ckpt_stream_t *s, const pd_ckpt_t *c);

/* Parse a checkpoint held in memory (borrowed). On success *out owns fresh copies of the
 * arrays (release with pd_ckpt_release). Errors, with one line in errbuf:
 *   PD_ECORRUPT  bad magic, bad lengths, truncated, checksum mismatch, bad metadata
 *   PD_EVERSION  a format version newer than this program's (refused, never guessed at)
 *   -ENOMEM
 * On error *out is untouched. Every length is checked against len before anything is
 * allocated. Thread-safe. */
int pd_ckpt_load_mem(const void *buf, size_t len, pd_ckpt_t *out, char *errbuf, size_t errlen);
/* Same for an open file (borrowed fd; mapped read-only, the offset is not used). */
int pd_ckpt_load_fd(int fd, pd_ckpt_t *out, char *errbuf, size_t errlen);

/* Free what the loader allocated; accepts a zeroed struct. */
void pd_ckpt_release(pd_ckpt_t *c);

#endif
