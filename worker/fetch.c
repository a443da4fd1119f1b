/* fetch.c - see fetch.h. The cache is CACHE/<fingerprint as 16 hex digits>/<base name of the
 * server's file>: the fingerprint names the parsed set, so a cached file is reused by any job
 * with the same data, and a damaged one fails the same fingerprint check as a wrong local copy.
 * Downloads go to a temporary file beside the target (NAME.part-PID, so two workers sharing a
 * cache never write into one file) that is renamed into place only once its CRC-32 matched. */
#include <config.h>
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "filesum.h"
#include "log.h"

#define PROGRESS_EVERY_MS 2000

int pd_fetch_cache_dir(const char *dir, char *out, size_t len)
{
    const char *v;
    int n;

    if (dir != NULL && dir[0] != '\0') {
        n = snprintf(out, len, "%s", dir);
    } else if ((v = getenv("CACHE_DIRECTORY")) != NULL && v[0] != '\0') {
        /* systemd lists several directories separated by ':' when a unit names several. */
        n = snprintf(out, len, "%.*s", (int)strcspn(v, ":"), v);
    } else if ((v = getenv("XDG_CACHE_HOME")) != NULL && v[0] == '/') {
        n = snprintf(out, len, "%s/paramd", v);
    } else if ((v = getenv("HOME")) != NULL && v[0] == '/') {
        n = snprintf(out, len, "%s/.cache/paramd", v);
    } else {
        return PD_ECONFIG;
    }
    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* mkdir -p, private: the cache holds the job's data. */
static int make_dirs(const char *path)
{
    char p[PD_WIRE_PATH];

    if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p)) {
        return -ENAMETOOLONG;
    }
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                return -errno;
            }
            *s = c;
            if (c == '\0') {
                return 0;
            }
        }
    }
}

static bool readable(const char *path)
{
    return path[0] != '\0' && access(path, R_OK) == 0;
}

static const char *file_label(pd_data_file_t f)
{
    static const char *const names[PD_FILE__COUNT] = {
        "nothing", "training set", "training labels", "test set", "test labels",
    };
    return (unsigned)f < PD_FILE__COUNT ? names[f] : "file";
}

/* ----------------------------------------------------------------- one download */

typedef struct slot {
    bool used;
    uint64_t request_id;
    uint64_t offset;
    uint64_t want;      /* bytes asked for; 0: "one chunk" (the first request) */
} slot_t;

typedef struct download {
    const pd_fetch_env_t *e;
    pd_data_file_t file;
    int fd;
    bool have_size;
    uint64_t size;
    uint32_t crc;
    uint64_t chunk;     /* the server's chunk size, learnt from the first reply */
    uint64_t next;      /* next offset to ask for */
    uint64_t received;
    slot_t slots[PD_FETCH_WINDOW];
} download_t;

static int ask(download_t *dl, slot_t *s, uint64_t offset, uint64_t want)
{
    pd_msg_t m;
    int rc;

    pd_msg_init(&m, PD_MSG_FETCH);
    m.data_file = dl->file;
    m.data_offset = offset;
    m.data_length = want;
    rc = pd_client_send_msg(dl->e->client, &m, NULL, 0);
    if (rc != 0) {
        return rc == -EAGAIN ? PD_ETIMEOUT : rc; /* no connection: the caller rejoins */
    }
    s->used = true;
    s->request_id = m.request_id;
    s->offset = offset;
    s->want = want;
    return 0;
}

/* Keep the window full while bytes remain unrequested. */
static int fill_window(download_t *dl)
{
    for (size_t i = 0; i < PD_FETCH_WINDOW && dl->next < dl->size; i++) {
        slot_t *s = &dl->slots[i];
        uint64_t want;
        int rc;

        if (s->used) {
            continue;
        }
        want = dl->size - dl->next < dl->chunk ? dl->size - dl->next : dl->chunk;
        rc = ask(dl, s, dl->next, want);
        if (rc != 0) {
            return rc;
        }
        dl->next += want;
    }
    return 0;
}

static bool busy(const download_t *dl)
{
    for (size_t i = 0; i < PD_FETCH_WINDOW; i++) {
        if (dl->slots[i].used) {
            return true;
        }
    }
    return false;
}

static int write_all(int fd, const unsigned char *p, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* One DATA reply for slot s: check it against what we asked, write it, free or reuse s. */
static int take_data(download_t *dl, slot_t *s, pd_wire_in_t *in)
{
    const pd_msg_t *m = &in->msg;
    uint64_t got;
    int rc;

    if (in->n_parts != 1 || m->elem_type != PD_ELEM_U8 || m->data_file != dl->file ||
        m->data_offset != s->offset) {
        pd_log_err("the server's DATA reply does not answer our request (file %d offset %" PRIu64
                   ", %zu frames)", (int)m->data_file, m->data_offset, in->n_parts);
        return PD_EWIRE;
    }
    got = zmq_msg_size(&in->parts[0]);
    if (!dl->have_size) {
        dl->have_size = true;
        dl->size = m->data_size;
        dl->crc = m->data_crc32;
        dl->chunk = got > 0 ? got : 1;
        dl->next = got;
        if (dl->size > got) {
            pd_log_info("fetching the %s from the server: %.1f MB in chunks of %" PRIu64 " KiB",
                        file_label(dl->file), (double)dl->size / 1e6, dl->chunk / 1024);
        }
    } else if (m->data_size != dl->size || m->data_crc32 != dl->crc) {
        /* Another server (a restart with other data) answered: start again. */
        pd_log_warn("the server's %s changed during the transfer", file_label(dl->file));
        return PD_ECORRUPT;
    }
    if (s->offset + got > dl->size || (got == 0 && dl->size > 0) || (s->want > 0 && got > s->want)) {
        pd_log_err("the server sent %" PRIu64 " bytes at offset %" PRIu64 " of a %" PRIu64
                   "-byte file", got, s->offset, dl->size);
        return PD_EWIRE;
    }
    rc = write_all(dl->fd, zmq_msg_data(&in->parts[0]), (size_t)got, s->offset);
    if (rc != 0) {
        return rc;
    }
    dl->received += got;
    s->used = false;
    if (s->want > got) {
        /* A shorter piece than asked for: ask for the rest in the same slot. */
        return ask(dl, s, s->offset + got, s->want - got);
    }
    return 0;
}

static slot_t *slot_for(download_t *dl, uint64_t request_id)
{
    for (size_t i = 0; i < PD_FETCH_WINDOW; i++) {
        if (dl->slots[i].used && dl->slots[i].request_id == request_id) {
            return &dl->slots[i];
        }
    }
    return NULL;
}

/* Receive until the whole file is written to dl->fd. */
static int transfer(download_t *dl)
{
    const pd_fetch_env_t *e = dl->e;
    uint64_t t0 = pd_clock_mono_ms(), heard = t0, shown = t0;
    int rc;

    rc = ask(dl, &dl->slots[0], 0, 0);
    while (rc == 0 && (busy(dl) || !dl->have_size)) {
        pd_wire_in_t in;
        slot_t *s;
        uint64_t now;

        if (*e->stop) {
            return -ECANCELED;
        }
        e->idle(e->arg);
        now = pd_clock_mono_ms();
        if (now - heard > e->timeout_ms) {
            pd_log_warn("no data from the server for %" PRIu64 " ms", now - heard);
            return PD_ETIMEOUT;
        }
        if (now - shown >= PROGRESS_EVERY_MS && dl->have_size) {
            double secs = (double)(now - t0) / 1000.0;
            pd_log_info("fetching the %s: %.1f of %.1f MB (%.0f%%), %.1f MB/s",
                        file_label(dl->file), (double)dl->received / 1e6, (double)dl->size / 1e6,
                        100.0 * (double)dl->received / (double)(dl->size > 0 ? dl->size : 1),
                        (double)dl->received / 1e6 / secs);
            shown = now;
        }
        rc = pd_client_recv_msg(e->client, &in, (int)e->hb_ms);
        if (rc == -ETIMEDOUT || rc == -EINTR || rc == PD_EWIRE) {
            rc = 0; /* nothing yet, a signal, or a bad message: look again */
            continue;
        }
        if (rc != 0) {
            return rc;
        }
        heard = pd_clock_mono_ms();
        switch (in.msg.type) {
        case PD_MSG_DATA:
            s = slot_for(dl, in.msg.request_id);
            if (s != NULL) {
                rc = take_data(dl, s, &in);
                if (rc == 0) {
                    rc = fill_window(dl);
                }
            }
            break; /* no slot: a late reply of an earlier attempt */
        case PD_MSG_ERROR:
            if (in.msg.error == PD_WERR_UNKNOWN_WORKER) {
                rc = PD_EUNKNOWN_WORKER;
            } else if (slot_for(dl, in.msg.request_id) != NULL) {
                pd_log_err("the server refused to send the %s: %s", file_label(dl->file),
                           in.msg.reason);
                rc = PD_ESTATE;
            }
            break;
        case PD_MSG_BYE:
            pd_log_info("the server ended the job: %s", in.msg.reason);
            *e->stop = 1;
            rc = -ECANCELED;
            break;
        default:
            break; /* heartbeat answers */
        }
        pd_wire_in_release(&in);
    }
    if (rc == 0) {
        double secs = (double)(pd_clock_mono_ms() - t0) / 1000.0;
        pd_log_info("fetched the %s: %.1f MB in %.2f s (%.1f MB/s)", file_label(dl->file),
                    (double)dl->size / 1e6, secs,
                    secs > 0 ? (double)dl->size / 1e6 / secs : 0.0);
    }
    return rc;
}

/* Download one file to dest through a temporary file; PD_ECORRUPT when the CRC-32 of what
 * arrived is not the one the server announced (the temporary file is removed). */
static int fetch_once(const pd_fetch_env_t *e, pd_data_file_t file, const char *dest)
{
    char tmp[PD_WIRE_PATH + 32];
    download_t dl = {0};
    uint64_t size = 0;
    uint32_t crc = 0;
    int rc;

    if (snprintf(tmp, sizeof(tmp), "%s.part-%ld", dest, (long)getpid()) >= (int)sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    dl.e = e;
    dl.file = file;
    dl.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (dl.fd < 0) {
        rc = -errno;
        pd_log_err("cannot create %s: %s", tmp, pd_strerror(rc));
        return rc;
    }
    rc = transfer(&dl);
    if (rc != 0) {
        goto out;
    }
    rc = pd_filesum_crc32(dl.fd, &size, &crc);
    if (rc != 0) {
        pd_log_err("cannot read back %s: %s", tmp, pd_strerror(rc));
        goto out;
    }
    if (size != dl.size || crc != dl.crc) {
        pd_log_warn("the %s arrived damaged: %" PRIu64 " bytes with CRC-32 %08" PRIx32
                    ", the server's has %" PRIu64 " bytes and %08" PRIx32,
                    file_label(file), size, crc, dl.size, dl.crc);
        rc = PD_ECORRUPT;
        goto out;
    }
    /* No fsync: a copy cut short by a crash fails the fingerprint check and is fetched anew. */
    if (rename(tmp, dest) != 0) {
        rc = -errno;
        pd_log_err("cannot rename %s to %s: %s", tmp, dest, pd_strerror(rc));
    }
out:
    close(dl.fd);
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

static int fetch_file(const pd_fetch_env_t *e, pd_data_file_t file, const char *dest)
{
    int rc = fetch_once(e, file, dest);

    if (rc == PD_ECORRUPT) {
        pd_log_notice("fetching the %s once more", file_label(file));
        rc = fetch_once(e, file, dest);
        if (rc == PD_ECORRUPT) {
            pd_log_err("the %s arrived damaged twice (CRC-32 mismatch); giving up",
                       file_label(file));
        }
    }
    return rc;
}

/* ----------------------------------------------------------------- a whole set */

/* Load paths and compare the fingerprint. why gets the reason of a failure. */
static int try_load(const pd_fetch_env_t *e, const pd_fetch_set_t *set, const char *path,
                    const char *labels, pd_data_t **out, char *why, size_t why_len)
{
    pd_data_t *d = NULL;
    uint64_t fp;
    int rc;

    why[0] = '\0';
    rc = e->load(e->arg, path, labels[0] != '\0' ? labels : NULL, &d, why, why_len);
    if (rc != 0) {
        if (why[0] == '\0') {
            snprintf(why, why_len, "%s", pd_strerror(rc));
        }
        return rc;
    }
    fp = pd_data_fingerprint(d);
    if (fp != set->fingerprint) {
        snprintf(why, why_len, "fingerprint %016" PRIx64 ", the server's is %016" PRIx64, fp,
                 set->fingerprint);
        pd_data_free(d);
        return PD_EFINGERPRINT;
    }
    *out = d;
    return 0;
}

static int cache_path(char *out, size_t len, const char *dir, const char *job_path)
{
    char copy[PD_WIRE_PATH];

    out[0] = '\0';
    if (job_path[0] == '\0') {
        return 0;
    }
    snprintf(copy, sizeof(copy), "%s", job_path);
    return snprintf(out, len, "%s/%s", dir, basename(copy)) < (int)len ? 0 : -ENAMETOOLONG;
}

int pd_fetch_set_load(const pd_fetch_env_t *e, const pd_fetch_set_t *set, pd_data_t **out)
{
    char root[PD_WIRE_PATH], dir[PD_WIRE_PATH + 32];
    char cp[PD_WIRE_PATH + 64], cl[PD_WIRE_PATH + 64];
    char why[1024];
    bool has_labels = set->job_labels[0] != '\0';
    int rc;

    /* 1. The local copy, as before there was a cache. */
    if (readable(set->local_path) && (!has_labels || readable(set->local_labels))) {
        rc = try_load(e, set, set->local_path, has_labels ? set->local_labels : "", out, why,
                      sizeof(why));
        if (rc == 0 || rc == -ENOMEM) {
            return rc;
        }
        pd_log_warn("the %s set %s is not the job's data (%s); using the server's copy",
                    set->what, set->local_path, why);
    } else {
        pd_log_info("no %s set at %s; using the server's copy", set->what,
                    readable(set->local_path) ? set->local_labels : set->local_path);
    }
    /* 2. The cached copy. */
    rc = pd_fetch_cache_dir(e->cache_dir, root, sizeof(root));
    if (rc != 0) {
        pd_log_err("no cache directory for the server's copy of the data: give --cache-dir "
                   "(or set HOME or XDG_CACHE_HOME)");
        return rc;
    }
    snprintf(dir, sizeof(dir), "%s/%016" PRIx64, root, set->fingerprint);
    if ((rc = cache_path(cp, sizeof(cp), dir, set->job_path)) != 0 ||
        (rc = cache_path(cl, sizeof(cl), dir, set->job_labels)) != 0) {
        pd_log_err("cache path under %s is too long", dir);
        return rc;
    }
    if (readable(cp) && (!has_labels || readable(cl))) {
        rc = try_load(e, set, cp, cl, out, why, sizeof(why));
        if (rc == 0) {
            pd_log_info("using cached copy %s of the %s set", cp, set->what);
            return 0;
        }
        if (rc == -ENOMEM) {
            return rc;
        }
        pd_log_warn("the cached copy %s of the %s set is damaged (%s); fetching it again", cp,
                    set->what, why);
        unlink(cp);
        if (has_labels) {
            unlink(cl);
        }
    }
    /* 3. The server's copy, into the cache. */
    rc = make_dirs(dir);
    if (rc != 0) {
        pd_log_err("cannot create the cache directory %s: %s", dir, pd_strerror(rc));
        return rc;
    }
    if (!readable(cp) && (rc = fetch_file(e, set->file, cp)) != 0) {
        return rc;
    }
    if (has_labels && !readable(cl) && (rc = fetch_file(e, set->labels_file, cl)) != 0) {
        return rc;
    }
    rc = try_load(e, set, cp, cl, out, why, sizeof(why));
    if (rc != 0) {
        pd_log_err("the %s set fetched from the server into %s is not the job's data: %s",
                   set->what, cp, why);
        return rc == -ENOMEM ? rc : PD_EFINGERPRINT;
    }
    return 0;
}
