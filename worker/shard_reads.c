/* shard_reads.c - see shard_reads.h. */
#include <config.h>
#include "shard_reads.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "log.h"

static bool same_map(const pd_shard_reads_t *r, const pd_job_desc_t *j)
{
    if (r->n != j->n_shards) {
        return false;
    }
    for (unsigned i = 0; i < r->n; i++) {
        if (strcmp(r->shard[i].endpoint, j->shards[i].endpoint) != 0 ||
            r->shard[i].key_begin != j->shards[i].key_begin ||
            r->shard[i].key_end != j->shards[i].key_end) {
            return false;
        }
    }
    return true;
}

int pd_shard_reads_open(pd_shard_reads_t *r, const pd_job_desc_t *j, const pd_client_opts_t *opts,
                        int timeout_ms)
{
    pd_hello_t hello;
    int rc = 0;

    if (same_map(r, j) && (r->n <= 1 || r->c[1] != NULL)) {
        return 0;
    }
    pd_shard_reads_close(r);
    r->n = (unsigned)j->n_shards;
    memcpy(r->shard, j->shards, sizeof(r->shard));
    memset(&hello, 0, sizeof(hello));
    hello.kv_only = true;
    snprintf(hello.name, sizeof(hello.name), "worker reads");
    snprintf(hello.software, sizeof(hello.software), "paramd-worker %s", PACKAGE_VERSION);
    for (unsigned i = 1; i < r->n && rc == 0; i++) {
        rc = pd_client_open(&r->c[i], r->shard[i].endpoint, opts);
        if (rc == 0) {
            rc = pd_client_hello(r->c[i], &hello, timeout_ms);
        }
        if (rc != 0) {
            pd_log_err("shard %u at %s: %s", i, r->shard[i].endpoint, pd_strerror(rc));
        }
    }
    if (rc != 0) {
        pd_shard_reads_close(r);
    }
    return rc;
}

void pd_shard_reads_close(pd_shard_reads_t *r)
{
    for (unsigned i = 1; i < PD_WIRE_MAX_SHARDS; i++) {
        if (r->c[i] != NULL) {
            pd_client_free(r->c[i]);
            r->c[i] = NULL;
        }
    }
    r->n = 0;
}

int pd_shard_reads_pull(pd_shard_reads_t *r, double *x, uint64_t version, pd_elem_type_t elem,
                        int timeout_ms)
{
    uint64_t first = r->next_request + 1;
    int rc = 0;

    for (unsigned i = 1; i < r->n && rc == 0; i++) {
        pd_msg_t m;
        pd_wire_range_pull(&m, ++r->next_request, r->shard[i].key_begin, r->shard[i].key_end,
                           version, elem);
        rc = pd_client_send_msg(r->c[i], &m, NULL, 0);
    }
    for (unsigned i = 1; i < r->n && rc == 0; i++) {
        uint64_t len = r->shard[i].key_end - r->shard[i].key_begin;
        bool got = false;
        while (!got && rc == 0) {
            pd_wire_in_t in;
            const double *v;
            rc = pd_client_recv_msg(r->c[i], &in, timeout_ms);
            if (rc != 0) {
                break;
            }
            if (in.msg.type == PD_MSG_ERROR || in.msg.type == PD_MSG_BYE) {
                pd_log_warn("shard %u: %s", i, in.msg.reason);
                rc = PD_ESTATE;
            } else if (in.msg.type == PD_MSG_PARAMS && in.msg.request_id == first + i - 1) {
                rc = in.msg.version >= version && pd_wire_in_doubles(&in, 0, len, &v) == 0
                         ? 0 : PD_EWIRE;
                if (rc == 0) {
                    memcpy(x + r->shard[i].key_begin, v, len * sizeof(double));
                }
                got = true;
            }
            pd_wire_in_release(&in);
        }
        if (rc != 0) {
            pd_log_warn("cannot read the keys of shard %u at %s: %s", i, r->shard[i].endpoint,
                        pd_strerror(rc));
        }
    }
    return rc;
}
