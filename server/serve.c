/* serve.c - see serve.h. Loop thread, except the reads (libuv's thread pool). */
#include <config.h>
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "filesum.h"
#include "log.h"

typedef struct served_file {
    int fd;            /* -1: the job has no such file, or it could not be opened */
    uint64_t size;
    uint32_t crc;
    const char *path;  /* borrowed from d->job */
} served_file_t;

/* One FETCH waiting for, or being served by, a read. */
typedef struct fetch_req {
    unsigned char rid[PD_WIRE_MAX_ROUTING_ID];
    size_t rid_len;
    uint64_t request_id;
    pd_data_file_t file;
    uint64_t offset;
    size_t len;
} fetch_req_t;

typedef struct read_job {
    uv_fs_t req;
    pd_daemon_t *d;
    fetch_req_t r;
    pd_buf_t *buf;     /* the DATA frame, sent zero-copy */
} read_job_t;

struct pd_serve {
    served_file_t files[PD_FILE__COUNT];
    fetch_req_t waiting[PD_SERVE_MAX_WAITING]; /* ring */
    size_t head;
    size_t n_waiting;
    read_job_t *reading[PD_SERVE_MAX_READS];   /* in flight, for the per-peer count */
    unsigned n_reading;
};

static const char *const file_names[PD_FILE__COUNT] = {
    "none", "training set", "training labels", "test set", "test labels",
};

static void open_file(served_file_t *f, const char *path)
{
    uint64_t size = 0;
    uint32_t crc = 0;
    int rc;

    f->fd = -1;
    f->path = path;
    if (path[0] == '\0') {
        return;
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        pd_log_warn("cannot open %s to serve it to workers: %s", path, pd_strerror(-errno));
        return;
    }
    rc = pd_filesum_crc32(f->fd, &size, &crc);
    if (rc != 0) {
        pd_log_warn("cannot read %s to serve it to workers: %s", path, pd_strerror(rc));
        close(f->fd);
        f->fd = -1;
        return;
    }
    f->size = size;
    f->crc = crc;
}

int pd_serve_open(pd_daemon_t *d)
{
    const pd_job_desc_t *j = &d->job;
    struct pd_serve *sv;
    double total = 0;
    unsigned n = 0;

    if (!d->cfg.serve_data || d->train == NULL) {
        return 0; /* FETCH is refused; a job without data has nothing to send */
    }
    sv = calloc(1, sizeof(*sv));
    if (sv == NULL) {
        return -ENOMEM;
    }
    sv->files[PD_FILE_NONE].fd = -1;
    open_file(&sv->files[PD_FILE_TRAIN], j->train_path);
    open_file(&sv->files[PD_FILE_TRAIN_LABELS], j->train_labels_path);
    open_file(&sv->files[PD_FILE_TEST], j->test_path);
    open_file(&sv->files[PD_FILE_TEST_LABELS], j->test_labels_path);
    for (int i = 1; i < PD_FILE__COUNT; i++) {
        if (sv->files[i].fd >= 0) {
            total += (double)sv->files[i].size;
            n++;
        }
    }
    pd_log_info("serving %u data files (%.1f MB) to workers that lack them, in chunks of %" PRIu64
                " KiB",
                n, total / 1e6, d->cfg.data_chunk_size / 1024);
    d->serve = sv;
    return 0;
}

void pd_serve_free(pd_daemon_t *d)
{
    struct pd_serve *sv = d->serve;

    if (sv == NULL) {
        return;
    }
    for (int i = 0; i < PD_FILE__COUNT; i++) {
        if (sv->files[i].fd >= 0) {
            close(sv->files[i].fd);
        }
    }
    free(sv);
    d->serve = NULL;
}

static bool same_peer(const fetch_req_t *r, const void *rid, size_t rid_len)
{
    return r->rid_len == rid_len && memcmp(r->rid, rid, rid_len) == 0;
}

/* Requests of one peer waiting or being read: a well-behaved worker keeps a small window. */
static unsigned peer_load(const struct pd_serve *sv, const void *rid, size_t rid_len)
{
    unsigned n = 0;

    for (size_t i = 0; i < sv->n_waiting; i++) {
        n += same_peer(&sv->waiting[(sv->head + i) % PD_SERVE_MAX_WAITING], rid, rid_len);
    }
    for (unsigned i = 0; i < sv->n_reading; i++) {
        n += same_peer(&sv->reading[i]->r, rid, rid_len);
    }
    return n;
}

static void send_read_error(pd_daemon_t *d, const fetch_req_t *r, int rc)
{
    pd_session_t *s = pd_sessions_find(&d->sessions, r->rid, r->rid_len);
    pd_msg_t req;

    if (s == NULL) {
        return;
    }
    pd_msg_init(&req, PD_MSG_FETCH);
    req.request_id = r->request_id;
    pd_daemon_send_error(d, r->rid, r->rid_len, s, &req, PD_WERR_INTERNAL,
                         "cannot read the %s at offset %" PRIu64 ": %s", file_names[r->file],
                         r->offset, pd_strerror(rc));
}

static void pump(pd_daemon_t *d);

static void forget_read(struct pd_serve *sv, read_job_t *job)
{
    for (unsigned i = 0; i < sv->n_reading; i++) {
        if (sv->reading[i] == job) {
            sv->reading[i] = sv->reading[--sv->n_reading];
            return;
        }
    }
}

static void on_read(uv_fs_t *req)
{
    read_job_t *job = req->data;
    pd_daemon_t *d = job->d;
    struct pd_serve *sv = d->serve;
    const served_file_t *f = &sv->files[job->r.file];
    ssize_t got = req->result;
    pd_session_t *s;

    uv_fs_req_cleanup(req);
    forget_read(sv, job);
    if (d->state == PD_STATE_STOPPED) {
        goto out; /* finish() is closing the loop: nobody to answer */
    }
    if (got < 0 || (size_t)got != job->r.len) {
        /* Short: the file shrank under us, which the checksum could not describe anyway. */
        send_read_error(d, &job->r, got < 0 ? (int)got : PD_ECORRUPT);
        goto next;
    }
    s = pd_sessions_find(&d->sessions, job->r.rid, job->r.rid_len);
    if (s != NULL) {
        pd_msg_t m;
        pd_wire_frame_t fr = {job->buf->data, job->r.len, job->buf};

        pd_msg_init(&m, PD_MSG_DATA);
        m.request_id = job->r.request_id;
        m.worker_id = s->id;
        m.job_id = d->job.job_id;
        m.data_file = job->r.file;
        m.data_offset = job->r.offset;
        m.data_size = f->size;
        m.data_crc32 = f->crc;
        m.elem_type = PD_ELEM_U8;
        m.n_frames = 1;
        m.frame_counts[0] = job->r.len;
        if (pd_daemon_send(d, s->rid, s->rid_len, &m, &fr, 1) == 0) {
            d->metrics.data_chunks_served_total++;
            d->metrics.data_bytes_served_total += (double)job->r.len;
        }
    }
next:
    pump(d);
out:
    pd_buf_unref(job->buf);
    free(job);
}

/* Start reads for waiting requests while there is room on the pool. */
static void pump(pd_daemon_t *d)
{
    struct pd_serve *sv = d->serve;

    while (sv->n_waiting > 0 && sv->n_reading < PD_SERVE_MAX_READS) {
        fetch_req_t r = sv->waiting[sv->head];
        read_job_t *job = calloc(1, sizeof(*job));
        uv_buf_t ub;
        int rc = -ENOMEM;

        sv->head = (sv->head + 1) % PD_SERVE_MAX_WAITING;
        sv->n_waiting--;
        /* One byte at least: an empty file's DATA still needs a buffer to point into. */
        if (job == NULL || (rc = pd_buf_new(&job->buf, r.len > 0 ? r.len : 1)) != 0) {
            free(job);
            send_read_error(d, &r, rc);
            continue;
        }
        job->d = d;
        job->r = r;
        job->req.data = job;
        ub = uv_buf_init((char *)job->buf->data, (unsigned)r.len);
        rc = uv_fs_read(&d->loop, &job->req, sv->files[r.file].fd, &ub, 1, (int64_t)r.offset,
                        on_read);
        if (rc != 0) {
            pd_buf_unref(job->buf);
            free(job);
            send_read_error(d, &r, rc);
            continue;
        }
        sv->reading[sv->n_reading++] = job;
    }
}

void pd_serve_fetch(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    struct pd_serve *sv = d->serve;
    const served_file_t *f;
    fetch_req_t *r;
    uint64_t len;

    if (!d->cfg.serve_data) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "this server does not send data files ([server] serve_data = no): "
                             "give the worker its own copy (--data, --data-dir)");
        return;
    }
    if (m->n_frames != 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_FRAMES,
                             "FETCH carries no array frames");
        return;
    }
    if (m->data_file == PD_FILE_NONE) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_MALFORMED,
                             "FETCH names no file (data_file 1-4: training set, training "
                             "labels, test set, test labels)");
        return;
    }
    f = sv != NULL ? &sv->files[m->data_file] : NULL;
    if (f == NULL || f->fd < 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_DIMENSION,
                             "the job has no %s to send%s", file_names[m->data_file],
                             f != NULL && f->path[0] != '\0' ? " (the server cannot read it)" : "");
        return;
    }
    if (m->data_offset > f->size || (m->data_offset == f->size && f->size > 0)) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_DIMENSION,
                             "offset %" PRIu64 " is beyond the end of the %s (%" PRIu64 " bytes)",
                             m->data_offset, file_names[m->data_file], f->size);
        return;
    }
    if (peer_load(sv, s->rid, s->rid_len) >= PD_SERVE_MAX_PER_PEER ||
        sv->n_waiting == PD_SERVE_MAX_WAITING) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "too many data requests in flight (at most %d per peer, %d in all): "
                             "wait for DATA before asking for more",
                             PD_SERVE_MAX_PER_PEER, PD_SERVE_MAX_WAITING);
        return;
    }
    /* A chunk is at most data_chunk_size and never runs past the end of the file. */
    len = f->size - m->data_offset;
    if (len > d->cfg.data_chunk_size) {
        len = d->cfg.data_chunk_size;
    }
    if (m->data_length > 0 && m->data_length < len) {
        len = m->data_length;
    }
    r = &sv->waiting[(sv->head + sv->n_waiting) % PD_SERVE_MAX_WAITING];
    memcpy(r->rid, s->rid, s->rid_len);
    r->rid_len = s->rid_len;
    r->request_id = m->request_id;
    r->file = m->data_file;
    r->offset = m->data_offset;
    r->len = (size_t)len;
    sv->n_waiting++;
    pump(d);
}
