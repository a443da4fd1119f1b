/* client_reads.c - the pulls of libparamd-client (paramd/client.h), from one server or from
 * the shards of a sharded job. There, the keys are spread over several paramd processes
 * (WELCOME lists them): a pull sends each server the part it holds, every part before any
 * answer is read, and puts the answers together in the caller's array. Pushes go to shard 0
 * alone (client.c), which relays each shard's share. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "client_impl.h"
#include "error.h"

/* What a pull asks for. */
typedef struct read_req {
    uint64_t offset, length;  /* keys [offset, offset + length), or ... */
    const uint64_t *keys;     /* ... these `length` keys (increasing), when not NULL */
    pd_elem_type_t wire;      /* asked of the servers: F64, or F32 (rounded) */
    uint64_t held;            /* the version the caller holds, or PD_CLIENT_NO_VERSION */
    uint64_t min_version;     /* shards i > 0 answer once they have reached it ... */
    bool exact;               /* ... with the values of that version exactly */
} read_req_t;

static pd_client_t *server(pd_client_t *c, unsigned shard)
{
    return shard == 0 ? c : c->shard[shard];
}

/* The part of r that shard i holds: values [*first, *first + *count) of the answer. */
static void part_of(const pd_client_t *c, unsigned i, const read_req_t *r, uint64_t *first,
                    uint64_t *count)
{
    uint64_t b = c->shard_map[i].key_begin, e = c->shard_map[i].key_end;

    if (r->keys != NULL) {
        *first = pd_wire_keys_below(r->keys, r->length, b);
        *count = pd_wire_keys_below(r->keys, r->length, e) - *first;
        return;
    }
    b = r->offset > b ? r->offset : b;
    e = r->offset + r->length < e ? r->offset + r->length : e;
    *first = b < e ? b - r->offset : 0;
    *count = b < e ? e - b : 0;
}

/* A sharded client splits what it asks for, so it checks it first (one server checks alone,
 * and names the problem in its ERROR). PD_EDIM or PD_EWIRE with the reason kept. */
static int check_sharded(pd_client_t *c, const read_req_t *r)
{
    uint64_t end;

    if (r->keys != NULL) {
        int rc = pd_wire_check_keys(r->keys, r->length, c->job.dim, c->last_reason,
                                    sizeof(c->last_reason));
        return rc == PD_EDIM ? PD_EDIM : rc != 0 ? PD_EWIRE : 0;
    }
    if (r->length == 0 || __builtin_add_overflow(r->offset, r->length, &end) ||
        end > c->job.dim) {
        snprintf(c->last_reason, sizeof(c->last_reason), "key range [%llu, +%llu) is outside "
                 "the job's %llu keys", (unsigned long long)r->offset,
                 (unsigned long long)r->length, (unsigned long long)c->job.dim);
        return PD_EDIM;
    }
    return 0;
}

/* Send the PULL of part i (values [first, first + count) of r). */
static int send_part(pd_client_t *c, unsigned i, const read_req_t *r, uint64_t first,
                     uint64_t count, pd_client_read_part_t *p)
{
    pd_wire_frame_t f;
    pd_msg_t m;
    int rc;

    pd_msg_init(&m, PD_MSG_PULL);
    m.elem_type = r->wire;
    if (r->held != PD_CLIENT_NO_VERSION) {
        m.version = r->held;
        m.not_modified = true;
    }
    m.min_version = i > 0 ? r->min_version : 0;
    m.exact_version = i > 0 && r->exact;
    if (r->keys != NULL) {
        /* key_offset and key_length stay 0: a server older than key lists answers the range
         * [0, dim), which the key_count check of the answer refuses */
        f = (pd_wire_frame_t){r->keys + first, count * sizeof(uint64_t), NULL};
        m.key_count = count;
        m.n_frames = 1;
        m.frame_counts[0] = count;
    } else {
        m.key_offset = r->offset + first;
        m.key_length = count;
    }
    rc = pd_client_send_request(server(c, i), &m, &f, m.n_frames);
    *p = (pd_client_read_part_t){i, m.request_id, first, count, r->keys != NULL};
    return rc;
}

/* Send r to the servers holding its keys; p records the parts. */
static int send_read(pd_client_t *c, const read_req_t *r, pd_client_pending_t *p)
{
    int rc = 0;

    p->n_parts = 0;
    p->length = r->length;
    if (c->n_shards <= 1) {
        rc = send_part(c, 0, r, 0, r->length, &p->part[0]);
        p->n_parts = rc == 0;
        return rc;
    }
    if ((rc = check_sharded(c, r)) != 0) {
        return rc;
    }
    for (unsigned i = 0; i < c->n_shards && rc == 0; i++) {
        uint64_t first, count;
        part_of(c, i, r, &first, &count);
        if (count > 0) {
            rc = send_part(c, i, r, first, count, &p->part[p->n_parts]);
            p->n_parts += rc == 0;
        }
    }
    return rc;
}

/* The values of a PARAMS answer into out[0 .. length) as floats (out_f32) or doubles; the
 * answer may be float64 or float32 (a server older than float32 pulls answers float64).
 * Nothing is written for NOT_MODIFIED, or when out is NULL. */
static int read_values(const pd_wire_in_t *in, void *out, bool out_f32, uint64_t length)
{
    pd_elem_type_t t = in->msg.elem_type;
    const unsigned char *data;

    if (in->msg.not_modified) {
        return 0;
    }
    if (in->msg.n_frames != 1 || in->n_parts != 1 || in->msg.frame_counts[0] != length ||
        (t != PD_ELEM_F64 && t != PD_ELEM_F32)) {
        return PD_EDIM;
    }
    if (out == NULL) {
        return 0;
    }
    /* Perf: straight from the frame. memcpy needs no alignment, while pd_wire_in_doubles()
     * would first copy an unaligned frame (small answers sit at odd offsets in libzmq's
     * receive buffer) into a malloc'd one. pd_wire_recv checked the frame's length. */
    data = zmq_msg_data((zmq_msg_t *)&in->parts[0]);
    if ((t == PD_ELEM_F32) == out_f32) {
        memcpy(out, data, length * (out_f32 ? sizeof(float) : sizeof(double)));
    } else if (out_f32) {
        for (uint64_t i = 0; i < length; i++) {
            double v;
            memcpy(&v, data + i * sizeof(v), sizeof(v));
            pd_wire_to_f32(&v, 1, (float *)out + i);
        }
    } else {
        for (uint64_t i = 0; i < length; i++) {
            float v;
            memcpy(&v, data + i * sizeof(v), sizeof(v));
            ((double *)out)[i] = v;
        }
    }
    return 0;
}

/* Take the answers of every part of p (the first error is returned, but the other parts'
 * answers are still taken, so none is left for a later call). *version: the oldest of the
 * parts' versions; *not_modified: whether every part was. */
static int recv_read(pd_client_t *c, const pd_client_pending_t *p, void *out, bool out_f32,
                     int timeout_ms, uint64_t *version, bool *not_modified)
{
    size_t size = out_f32 ? sizeof(float) : sizeof(double);
    uint64_t v = UINT64_MAX;
    bool nm = true;
    int rc = 0;

    for (unsigned k = 0; k < p->n_parts; k++) {
        const pd_client_read_part_t *part = &p->part[k];
        pd_wire_in_t in;
        int prc = pd_client_recv_reply(server(c, part->shard), &in, PD_MSG_PARAMS,
                                       part->request_id, timeout_ms);
        if (prc == -ETIMEDOUT) {
            return prc; /* the others would time out too */
        }
        if (prc == 0) {
            /* a server that ignored key_count answered a range: not our keys' values */
            prc = part->keys && in.msg.key_count != part->count ? PD_EWIRE
                  : read_values(&in, out != NULL ? (char *)out + part->first * size : NULL,
                                out_f32, part->count);
            v = in.msg.version < v ? in.msg.version : v;
            nm = nm && in.msg.not_modified;
            if (part->shard == 0) {
                pd_client_saw_version(c, in.msg.version);
            }
            pd_wire_in_release(&in);
        }
        rc = rc != 0 ? rc : prc;
    }
    if (rc == 0 && version != NULL) {
        *version = v;
    }
    if (rc == 0 && not_modified != NULL) {
        *not_modified = nm;
    }
    return rc;
}

/* A pull from start to end. */
static int read_now(pd_client_t *c, const read_req_t *r, void *out, bool out_f32,
                    uint64_t *version, bool *not_modified)
{
    pd_client_pending_t p;
    int rc = send_read(c, r, &p);

    if (rc != 0) {
        return rc;
    }
    return recv_read(c, &p, out, out_f32, PD_CLIENT_REPLY_MS, version, not_modified);
}

static uint64_t held_of(const uint64_t *version)
{
    return version != NULL ? *version : PD_CLIENT_NO_VERSION;
}

PD_EXPORT int pd_client_pull(pd_client_t *c, uint64_t offset, uint64_t length, double *out,
                             uint64_t *version, bool *not_modified)
{
    read_req_t r = {offset, length, NULL, PD_ELEM_F64, held_of(version), c->seen_version, false};
    return read_now(c, &r, out, false, version, not_modified);
}

PD_EXPORT int pd_client_pull_f32(pd_client_t *c, uint64_t offset, uint64_t length, float *out,
                                 uint64_t *version, bool *not_modified)
{
    read_req_t r = {offset, length, NULL, PD_ELEM_F32, held_of(version), c->seen_version, false};
    return read_now(c, &r, out, true, version, not_modified);
}

PD_EXPORT int pd_client_pull_keys(pd_client_t *c, const uint64_t *keys, uint64_t n,
                                  double *out, uint64_t *version, bool *not_modified)
{
    read_req_t r = {0, n, keys, PD_ELEM_F64, held_of(version), c->seen_version, false};

    if (n == 0 || n > SIZE_MAX / sizeof(double)) {
        return -EINVAL; /* key_count 0 would mean a range; the other cannot be a frame */
    }
    return read_now(c, &r, out, false, version, not_modified);
}

/* A worker's read of r into out (doubles), waiting at most timeout_ms for the answers. */
static int read_within(pd_client_t *c, const read_req_t *r, double *out, int timeout_ms)
{
    pd_client_pending_t p;
    int rc = send_read(c, r, &p);

    if (rc != 0) {
        return rc;
    }
    return recv_read(c, &p, out, false, timeout_ms, NULL, NULL);
}

int pd_client_read_range(pd_client_t *c, uint64_t offset, uint64_t length, double *out,
                         pd_elem_type_t wire, uint64_t min_version, int timeout_ms)
{
    read_req_t r = {offset, length, NULL, wire, PD_CLIENT_NO_VERSION, min_version, false};

    return read_within(c, &r, out, timeout_ms);
}

int pd_client_read_range_at(pd_client_t *c, uint64_t offset, uint64_t length, double *out,
                            pd_elem_type_t wire, uint64_t version, int timeout_ms)
{
    read_req_t r = {offset, length, NULL, wire, PD_CLIENT_NO_VERSION, version, true};

    return read_within(c, &r, out, timeout_ms);
}

int pd_client_read_keys(pd_client_t *c, const uint64_t *keys, uint64_t n, double *out,
                        uint64_t min_version, int timeout_ms)
{
    read_req_t r = {0, n, keys, PD_ELEM_F64, PD_CLIENT_NO_VERSION, min_version, false};

    return read_within(c, &r, out, timeout_ms);
}

PD_EXPORT int pd_client_pull_send(pd_client_t *c, uint64_t offset, uint64_t length,
                                  uint64_t held_version)
{
    read_req_t r = {offset, length, NULL, PD_ELEM_F64, held_version, c->seen_version, false};
    pd_client_pending_t *p;
    int rc;

    if (c->pending_len == c->pending_cap) {
        size_t cap = c->pending_cap > 0 ? 2 * c->pending_cap : 16;
        pd_client_pending_t *q = malloc(cap * sizeof(*q));
        if (q == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < c->pending_len; i++) { /* unwrap the ring */
            q[i] = c->pending[(c->pending_head + i) % c->pending_cap];
        }
        free(c->pending);
        c->pending = q;
        c->pending_head = 0;
        c->pending_cap = cap;
    }
    p = &c->pending[(c->pending_head + c->pending_len) % c->pending_cap];
    rc = send_read(c, &r, p);
    /* On failure, answers to parts already sent are older than any later request's and
     * pd_client_recv_reply passes them over. */
    c->pending_len += rc == 0;
    return rc;
}

PD_EXPORT int pd_client_pull_recv(pd_client_t *c, double *out, uint64_t length,
                                  uint64_t *version, bool *not_modified)
{
    pd_client_pending_t *p;
    int rc;

    if (c->pending_len == 0) {
        return -EINVAL; /* no pull was sent */
    }
    p = &c->pending[c->pending_head];
    c->pending_head = (c->pending_head + 1) % c->pending_cap;
    c->pending_len--;
    rc = recv_read(c, p, length == p->length ? out : NULL, false, PD_CLIENT_REPLY_MS, version,
                   not_modified);
    return rc == 0 && length != p->length ? PD_EDIM : rc;
}

/* The connection to shard `shard` > 0, or NULL when there is none. */
static pd_client_t *other_shard(pd_client_t *c, unsigned shard)
{
    return shard > 0 && shard < c->n_shards ? c->shard[shard] : NULL;
}

int pd_client_send_to_shard(pd_client_t *c, unsigned shard, pd_msg_t *m,
                            const pd_wire_frame_t *f, size_t n)
{
    pd_client_t *s = other_shard(c, shard);

    return s != NULL ? pd_client_send_request(s, m, f, n) : -EINVAL;
}

int pd_client_shard_ack(pd_client_t *c, unsigned shard, uint64_t request_id, int timeout_ms)
{
    pd_client_t *s = other_shard(c, shard);
    pd_wire_in_t in;
    int rc;

    if (s == NULL) {
        return -EINVAL;
    }
    rc = pd_client_recv_reply(s, &in, PD_MSG_ACK, request_id, timeout_ms);
    if (rc == 0) {
        pd_wire_in_release(&in);
    }
    return rc;
}

void pd_client_heartbeat_shards(pd_client_t *c)
{
    for (unsigned i = 1; i < c->n_shards; i++) {
        pd_msg_t hb;
        pd_msg_init(&hb, PD_MSG_HEARTBEAT);
        (void)pd_client_send_msg(c->shard[i], &hb, NULL, 0); /* a lost one: the next goes */
    }
}

static bool same_map(const pd_client_t *c)
{
    if (c->n_shards != c->job.n_shards) {
        return false;
    }
    for (unsigned i = 0; i < c->n_shards; i++) {
        if (strcmp(c->shard_map[i].endpoint, c->job.shards[i].endpoint) != 0 ||
            c->shard_map[i].key_begin != c->job.shards[i].key_begin ||
            c->shard_map[i].key_end != c->job.shards[i].key_end) {
            return false;
        }
    }
    return true;
}

int pd_client_open_shards(pd_client_t *c, const pd_client_opts_t *opts, const pd_hello_t *hello,
                          int timeout_ms, bool again)
{
    int rc = 0;

    if (!again && same_map(c) && (c->n_shards <= 1 || c->shard[1] != NULL)) {
        return 0;
    }
    pd_client_close_shards(c);
    if (c->job.n_shards <= 1) {
        return 0;
    }
    c->n_shards = (unsigned)c->job.n_shards;
    memcpy(c->shard_map, c->job.shards, sizeof(c->shard_map));
    for (unsigned i = 1; i < c->n_shards && rc == 0; i++) {
        rc = pd_client_open(&c->shard[i], c->shard_map[i].endpoint, opts);
        if (rc == 0) {
            rc = pd_client_hello(c->shard[i], hello, timeout_ms);
        }
        if (rc != 0) {
            snprintf(c->last_reason, sizeof(c->last_reason), "shard %u at %s: %s", i,
                     c->shard_map[i].endpoint, pd_client_strerror(rc));
        }
    }
    if (rc != 0) {
        pd_client_close_shards(c);
    }
    return rc;
}

void pd_client_close_shards(pd_client_t *c)
{
    for (unsigned i = 1; i < PD_WIRE_MAX_SHARDS; i++) {
        pd_client_free(c->shard[i]);
        c->shard[i] = NULL;
    }
    c->n_shards = 0;
}
