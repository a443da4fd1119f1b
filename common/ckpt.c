/* ckpt.c - the checkpoint file format: writer (a rio-like stream with a running crc32 and a
 * sticky error) and loader (every length checked against the buffer and the checksum verified
 * before any allocation). Pure format code: no file names, no scheduling, no logging, so it
 * runs on the libuv pool and under the unit tests against memory buffers. */
#include <config.h>
#include "ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"
#include "grow.h"
#include "paramd.pb-c.h"

static const uint8_t ckpt_magic[8] = {0x89, 'P', 'D', 'C', 'K', 'P', 'T', '\n'};
static const uint8_t ckpt_end_magic[8] = {'P', 'D', 'C', 'K', 'E', 'N', 'D', '\n'};

/* zlib's crc32 takes a uInt length: feed large arrays in pieces. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

static bool host_is_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Round up to the alignment; false on overflow. */
static bool align_up(uint64_t v, uint64_t *out)
{
    uint64_t r = v % PD_CKPT_ALIGN;
    if (r == 0) {
        *out = v;
        return true;
    }
    return !__builtin_add_overflow(v, PD_CKPT_ALIGN - r, out);
}

/* ---- stream ----------------------------------------------------------------------------- */

void pd_ckpt_stream_init_fd(pd_ckpt_stream_t *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
}

void pd_ckpt_stream_init_mem(pd_ckpt_stream_t *s)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

void pd_ckpt_stream_release(pd_ckpt_stream_t *s)
{
    if (s->fd < 0) {
        free(s->mem);
        s->mem = NULL;
        s->mem_len = s->mem_cap = 0;
    }
}

static int write_fd_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_mem(pd_ckpt_stream_t *s, const uint8_t *p, size_t len)
{
    size_t need;

    if (__builtin_add_overflow(s->mem_len, len, &need) ||
        pd_grow((void **)&s->mem, &s->mem_cap, need, 1) != 0) {
        return -ENOMEM;
    }
    memcpy(s->mem + s->mem_len, p, len);
    s->mem_len = need;
    return 0;
}

int pd_ckpt_stream_write(pd_ckpt_stream_t *s, const void *buf, size_t len)
{
    int rc;

    if (s->err != 0 || len == 0) {
        return s->err;
    }
    rc = s->fd >= 0 ? write_fd_all(s->fd, buf, len) : write_mem(s, buf, len);
    if (rc != 0) {
        s->err = rc;
        return rc;
    }
    s->crc = crc_update(s->crc, buf, len);
    s->offset += len;
    return 0;
}

static int write_zeros(pd_ckpt_stream_t *s, size_t len)
{
    static const uint8_t zeros[PD_CKPT_ALIGN];
    while (len > 0) {
        size_t n = len > sizeof(zeros) ? sizeof(zeros) : len;
        pd_ckpt_stream_write(s, zeros, n);
        len -= n;
    }
    return s->err;
}

static int pad_to_alignment(pd_ckpt_stream_t *s)
{
    uint64_t r = s->offset % PD_CKPT_ALIGN;
    return r == 0 ? s->err : write_zeros(s, (size_t)(PD_CKPT_ALIGN - r));
}

static int write_f64(pd_ckpt_stream_t *s, const double *v, size_t n)
{
    uint8_t tmp[512 * 8];

    if (host_is_le()) {
        return pd_ckpt_stream_write(s, v, n * sizeof(double));
    }
    /* Big-endian host: the file is little-endian whatever wrote it. */
    while (n > 0) {
        size_t k = n > 512 ? 512 : n;
        for (size_t i = 0; i < k; i++) {
            uint64_t bits;
            memcpy(&bits, &v[i], 8);
            put_u64(tmp + 8 * i, bits);
        }
        pd_ckpt_stream_write(s, tmp, k * 8);
        v += k;
        n -= k;
    }
    return s->err;
}

/* ---- writer ----------------------------------------------------------------------------- */

const pd_ckpt_array_t *pd_ckpt_array(const pd_ckpt_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_arrays; i++) {
        if (strcmp(c->arrays[i].name, name) == 0) {
            return &c->arrays[i];
        }
    }
    return NULL;
}

int pd_ckpt_write(pd_ckpt_stream_t *s, const pd_ckpt_t *c)
{
    Paramd__Checkpoint meta = PARAMD__CHECKPOINT__INIT;
    Paramd__CheckpointArray arr[PD_CKPT_MAX_ARRAYS];
    Paramd__CheckpointArray *arrp[PD_CKPT_MAX_ARRAYS];
    uint8_t hdr[PD_CKPT_HEADER_BYTES];
    uint8_t trailer[PD_CKPT_TRAILER_BYTES];
    uint8_t *packed = NULL;
    size_t meta_len;
    uint64_t total;
    int rc;

    if (c->n_arrays > PD_CKPT_MAX_ARRAYS) {
        return -EINVAL;
    }
    for (size_t i = 0; i < c->n_arrays; i++) {
        size_t nl = strnlen(c->arrays[i].name, PD_CKPT_NAME_MAX);
        if (nl == 0 || nl >= PD_CKPT_NAME_MAX ||
            (c->arrays[i].count > 0 && c->arrays[i].data == NULL)) {
            return -EINVAL;
        }
        paramd__checkpoint_array__init(&arr[i]);
        arr[i].name = (char *)c->arrays[i].name;
        arr[i].count = c->arrays[i].count;
        arrp[i] = &arr[i];
    }
    meta.job_id = c->job_id;
    meta.version = c->version;
    meta.method = (Paramd__Method)c->method;
    meta.optimizer = (uint32_t)c->optimizer;
    meta.optimizer_t = c->optimizer_t;
    meta.dim = c->dim;
    meta.n_arrays = c->n_arrays;
    meta.arrays = arrp;
    meta.wall_time = c->wall_time;
    meta.task_seq = c->task_seq;
    meta.updates_total = c->updates_total;
    meta.method_state.data = c->method_state;
    meta.method_state.len = c->method_state_len;
    meta.software = (char *)PACKAGE_NAME " " PACKAGE_VERSION;

    meta_len = paramd__checkpoint__get_packed_size(&meta);
    if (meta_len > PD_CKPT_MAX_METADATA) {
        return -EINVAL;
    }
    packed = malloc(meta_len > 0 ? meta_len : 1);
    if (packed == NULL) {
        return -ENOMEM;
    }
    paramd__checkpoint__pack(&meta, packed);

    /* The file length goes in the header, so compute the layout first. */
    if (!align_up(PD_CKPT_HEADER_BYTES + meta_len, &total)) {
        rc = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < c->n_arrays; i++) {
        uint64_t bytes;
        if (__builtin_mul_overflow((uint64_t)c->arrays[i].count, 8, &bytes) ||
            __builtin_add_overflow(total, bytes, &total) || !align_up(total, &total)) {
            rc = -EINVAL;
            goto out;
        }
    }
    total += PD_CKPT_TRAILER_BYTES;

    memcpy(hdr, ckpt_magic, 8);
    put_u32(hdr + 8, PD_CKPT_FORMAT_VERSION);
    put_u32(hdr + 12, PD_CKPT_HEADER_BYTES);
    put_u64(hdr + 16, meta_len);
    put_u64(hdr + 24, total);
    pd_ckpt_stream_write(s, hdr, sizeof(hdr));
    pd_ckpt_stream_write(s, packed, meta_len);
    pad_to_alignment(s);
    for (size_t i = 0; i < c->n_arrays; i++) {
        write_f64(s, c->arrays[i].data, c->arrays[i].count);
        pad_to_alignment(s);
    }
    /* The crc covers everything before the trailer; the trailer itself is not summed. */
    put_u32(trailer, s->crc);
    put_u32(trailer + 4, 0);
    memcpy(trailer + 8, ckpt_end_magic, 8);
    pd_ckpt_stream_write(s, trailer, sizeof(trailer));
    rc = s->err;
    if (rc == 0 && s->offset != total) {
        rc = -EIO; /* a paramd bug: the layout and the writes disagree */
    }
out:
    free(packed);
    return rc;
}

/* ---- loader ----------------------------------------------------------------------------- */

static int fail(int rc, char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int rc, char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (errbuf != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void read_f64(double *dst, const uint8_t *src, size_t n)
{
    if (host_is_le()) {
        memcpy(dst, src, n * sizeof(double));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t bits = get_u64(src + 8 * i);
        memcpy(&dst[i], &bits, 8);
    }
}

int pd_ckpt_load_mem(const void *buf, size_t len, pd_ckpt_t *out, char *errbuf, size_t errlen)
{
    const uint8_t *p = buf;
    Paramd__Checkpoint *meta = NULL;
    pd_ckpt_t c;
    uint64_t meta_len, file_len, pos, offsets[PD_CKPT_MAX_ARRAYS];
    uint32_t version, crc;
    int rc;

    memset(&c, 0, sizeof(c));
    if (len < PD_CKPT_HEADER_BYTES + PD_CKPT_TRAILER_BYTES) {
        return fail(PD_ECORRUPT, errbuf, errlen, "truncated: %zu bytes, shorter than a header",
                    len);
    }
    if (memcmp(p, ckpt_magic, 8) != 0) {
        return fail(PD_ECORRUPT, errbuf, errlen, "not a paramd checkpoint (bad magic)");
    }
    /* The frame every format version keeps (end magic, checksum) first: only a file that is
     * intact may claim to be of a newer format. A flipped bit in the version field is damage,
     * to be set aside like any other, not a reason to refuse to start. */
    if (memcmp(p + len - 8, ckpt_end_magic, 8) != 0) {
        return fail(PD_ECORRUPT, errbuf, errlen, "bad end magic (truncated or overwritten)");
    }
    /* The trailer is outside the checksum, so each of its bytes is checked by value. */
    if (get_u32(p + len - 12) != 0) {
        return fail(PD_ECORRUPT, errbuf, errlen, "reserved trailer bytes are not zero");
    }
    crc = crc_update(0, p, len - PD_CKPT_TRAILER_BYTES);
    if (crc != get_u32(p + len - PD_CKPT_TRAILER_BYTES)) {
        return fail(PD_ECORRUPT, errbuf, errlen,
                    "checksum mismatch: crc32 %08" PRIx32 ", trailer says %08" PRIx32, crc,
                    get_u32(p + len - PD_CKPT_TRAILER_BYTES));
    }
    version = get_u32(p + 8);
    if (version > PD_CKPT_FORMAT_VERSION) {
        return fail(PD_EVERSION, errbuf, errlen,
                    "checkpoint format version %" PRIu32 " is newer than this paramd reads "
                    "(%d); refusing to guess at it",
                    version, PD_CKPT_FORMAT_VERSION);
    }
    if (version == 0) {
        return fail(PD_ECORRUPT, errbuf, errlen, "format version 0 is not a valid version");
    }
    if (get_u32(p + 12) != PD_CKPT_HEADER_BYTES) {
        return fail(PD_ECORRUPT, errbuf, errlen, "header length %" PRIu32 " is not %d",
                    get_u32(p + 12), PD_CKPT_HEADER_BYTES);
    }
    meta_len = get_u64(p + 16);
    file_len = get_u64(p + 24);
    if (file_len != len) {
        return fail(PD_ECORRUPT, errbuf, errlen,
                    "%s: the file has %zu bytes, its header says %" PRIu64,
                    file_len > len ? "truncated" : "wrong length", len, file_len);
    }
    if (meta_len > PD_CKPT_MAX_METADATA ||
        meta_len > len - PD_CKPT_HEADER_BYTES - PD_CKPT_TRAILER_BYTES) {
        return fail(PD_ECORRUPT, errbuf, errlen,
                    "metadata length %" PRIu64 " does not fit in %zu bytes", meta_len, len);
    }

    /* The bytes are what was written. The metadata still gets the same distrust: it could
     * come from a buggy or hostile writer with a correct checksum. */
    meta = paramd__checkpoint__unpack(NULL, (size_t)meta_len, p + PD_CKPT_HEADER_BYTES);
    if (meta == NULL) {
        return fail(PD_ECORRUPT, errbuf, errlen, "metadata does not parse");
    }
    if (meta->n_arrays > PD_CKPT_MAX_ARRAYS) {
        rc = fail(PD_ECORRUPT, errbuf, errlen, "%zu arrays, more than %d", meta->n_arrays,
                  PD_CKPT_MAX_ARRAYS);
        goto out;
    }
    if (meta->dim == 0 || meta->dim > SIZE_MAX / sizeof(double)) {
        rc = fail(PD_ECORRUPT, errbuf, errlen, "dimension %" PRIu64 " is invalid", meta->dim);
        goto out;
    }
    if (!align_up(PD_CKPT_HEADER_BYTES + meta_len, &pos)) {
        rc = fail(PD_ECORRUPT, errbuf, errlen, "length overflow");
        goto out;
    }
    for (size_t i = 0; i < meta->n_arrays; i++) {
        const Paramd__CheckpointArray *a = meta->arrays[i];
        uint64_t bytes;
        size_t nl = a->name != NULL ? strlen(a->name) : 0;
        if (nl == 0 || nl >= PD_CKPT_NAME_MAX) {
            rc = fail(PD_ECORRUPT, errbuf, errlen, "array %zu has an invalid name", i);
            goto out;
        }
        offsets[i] = pos;
        if (__builtin_mul_overflow(a->count, 8, &bytes) ||
            __builtin_add_overflow(pos, bytes, &pos) || !align_up(pos, &pos) ||
            pos > len - PD_CKPT_TRAILER_BYTES) {
            rc = fail(PD_ECORRUPT, errbuf, errlen,
                      "array %s of %" PRIu64 " values runs past the end of the file", a->name,
                      a->count);
            goto out;
        }
    }
    if (pos != len - PD_CKPT_TRAILER_BYTES) {
        rc = fail(PD_ECORRUPT, errbuf, errlen,
                  "arrays end at byte %" PRIu64 ", the trailer starts at %zu", pos,
                  len - PD_CKPT_TRAILER_BYTES);
        goto out;
    }

    /* Everything is checked: now allocate. */
    c.job_id = meta->job_id;
    c.version = meta->version;
    c.method = (int)meta->method;
    c.optimizer = (int)meta->optimizer;
    c.optimizer_t = meta->optimizer_t;
    c.task_seq = meta->task_seq;
    c.updates_total = meta->updates_total;
    c.wall_time = meta->wall_time;
    c.dim = (size_t)meta->dim;
    for (size_t i = 0; i < meta->n_arrays; i++) {
        const Paramd__CheckpointArray *a = meta->arrays[i];
        pd_ckpt_array_t *dst = &c.arrays[i];
        snprintf(dst->name, sizeof(dst->name), "%s", a->name);
        dst->count = (size_t)a->count;
        dst->data = malloc(a->count > 0 ? (size_t)a->count * sizeof(double) : 1);
        if (dst->data == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        c.n_arrays = i + 1;
        read_f64(dst->data, p + offsets[i], dst->count);
    }
    if (meta->method_state.len > 0) {
        c.method_state = malloc(meta->method_state.len);
        if (c.method_state == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(c.method_state, meta->method_state.data, meta->method_state.len);
        c.method_state_len = meta->method_state.len;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    rc = 0;
out:
    pd_ckpt_release(&c);
    if (meta != NULL) {
        paramd__checkpoint__free_unpacked(meta, NULL);
    }
    return rc;
}

int pd_ckpt_load_fd(int fd, pd_ckpt_t *out, char *errbuf, size_t errlen)
{
    struct stat st;
    void *map;
    int rc;

    if (fstat(fd, &st) != 0) {
        rc = -errno;
        return fail(rc, errbuf, errlen, "fstat: %s", pd_strerror(rc));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(PD_ECORRUPT, errbuf, errlen, "not a regular file");
    }
    if ((uint64_t)st.st_size < PD_CKPT_HEADER_BYTES + PD_CKPT_TRAILER_BYTES) {
        return fail(PD_ECORRUPT, errbuf, errlen, "truncated: %jd bytes, shorter than a header",
                    (intmax_t)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        return fail(PD_ECORRUPT, errbuf, errlen, "file too large");
    }
    /* Mapped, not read: the checksum pass needs no buffer of the file's size. */
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        return fail(rc, errbuf, errlen, "mmap: %s", pd_strerror(rc));
    }
    rc = pd_ckpt_load_mem(map, (size_t)st.st_size, out, errbuf, errlen);
    munmap(map, (size_t)st.st_size);
    return rc;
}

void pd_ckpt_release(pd_ckpt_t *c)
{
    for (size_t i = 0; i < c->n_arrays && i < PD_CKPT_MAX_ARRAYS; i++) {
        free(c->arrays[i].data);
        c->arrays[i].data = NULL;
    }
    c->n_arrays = 0;
    free(c->method_state);
    c->method_state = NULL;
    c->method_state_len = 0;
}
