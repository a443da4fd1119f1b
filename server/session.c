/* session.c - see session.h. A linear table: a job has at most a few hundred workers, and
 * lookups by routing id happen once per message, far cheaper than the message itself. */
#include <config.h>
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

void pd_sessions_init(pd_sessions_t *t)
{
    memset(t, 0, sizeof(*t));
    t->next_id = 1;
}

static void session_free(pd_session_t *s)
{
    pd_buf_unref(s->task_keys);
    free(s);
}

void pd_sessions_release(pd_sessions_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        session_free(t->v[i]);
    }
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

pd_session_t *pd_sessions_find(const pd_sessions_t *t, const void *rid, size_t rid_len)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i]->rid_len == rid_len && memcmp(t->v[i]->rid, rid, rid_len) == 0) {
            return t->v[i];
        }
    }
    return NULL;
}

pd_session_t *pd_sessions_find_id(const pd_sessions_t *t, uint32_t id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i]->id == id) {
            return t->v[i];
        }
    }
    return NULL;
}

int pd_sessions_add(pd_sessions_t *t, const void *rid, size_t rid_len, uint64_t now_ms,
                    pd_session_t **out)
{
    pd_session_t *s;

    if (rid_len > PD_WIRE_MAX_ROUTING_ID) {
        return -EINVAL;
    }
    if (pd_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v)) != 0) {
        return -ENOMEM;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    s->id = t->next_id++;
    s->joined_ms = now_ms;
    s->last_seen_ms = now_ms;
    pd_ratelimit_init(&s->rl_bad, 10000, 5);
    t->v[t->n++] = s;
    *out = s;
    return 0;
}

void pd_sessions_remove(pd_sessions_t *t, pd_session_t *s)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i] == s) {
            t->v[i] = t->v[--t->n];
            session_free(s);
            return;
        }
    }
}

size_t pd_sessions_count_ready(const pd_sessions_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->v[i]->kv_only && t->v[i]->state != PD_SESSION_JOINED) {
            n++;
        }
    }
    return n;
}
