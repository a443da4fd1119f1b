/* shard_estimate.c - shard i > 0 of a freya-page or sync-page job whose results travel in
 * parts (Job.gradient_parts): the shard keeps, for its own keys, the gradient estimate g
 * those methods step with, and the sum of the round that moves it.
 *
 * Shard 0 names each result it takes as it takes it (COMMIT ESTIMATE_SLOT or
 * ESTIMATE_COMPENSATED: no step, no new version), so a part is added, or put in its slot,
 * as soon as shard 0 wants it and is not kept until the round ends (a full-gradient round
 * can outlast the time a shard keeps parts nobody named). The round's last COMMIT
 * (ESTIMATE_SET or ESTIMATE_INCREMENT) moves g and takes the step. The shard adds as shard 0
 * adds its own keys' values, so g and the step are a single server's bits:
 *   - an ordered sum adds the slots in slot order onto zeros (freya-page's canonical full
 *     gradient, block b in slot b; sync-page's parts, part i in slot i);
 *   - a compensated sum is freya_core's Neumaier sum, in the order shard 0 named the parts.
 * round_id ties the parts to their round: the first part of another round starts afresh. */
#include <config.h>
#include "shards.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "error.h"
#include "methods/freya_core.h"
#include "methods/method.h"

struct pd_shard_estimate {
    size_t dim;
    uint64_t round;      /* the round of the sums held; 0: none begun */
    double *slots;       /* slots_cap x dim */
    uint8_t *filled;     /* slots_cap */
    size_t slots_cap;
    uint64_t n_filled;
    pd_neumaier_t acc;   /* the compensated sum */
    bool acc_used;
    double *sum;         /* dim: the round's sum, at its end */
    double *g;           /* dim: the estimate */
    bool has_g;          /* set since the shard started or restored */
};

static pd_shard_estimate_t *estimate_of(pd_daemon_t *d)
{
    pd_shard_estimate_t *e = d->estimate;
    size_t dim = d->store.dim;

    if (e != NULL) {
        return e;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->dim = dim;
    e->sum = malloc(dim * sizeof(double));
    e->g = calloc(dim, sizeof(double));
    if (e->sum == NULL || e->g == NULL || pd_neumaier_init(&e->acc, dim) != 0) {
        d->estimate = e;
        pd_shard_estimate_free(d);
        return NULL;
    }
    d->estimate = e;
    return e;
}

/* The sums of a new round (or none): empty. */
static void start_round(pd_shard_estimate_t *e, uint64_t round)
{
    if (e->n_filled > 0) {
        memset(e->filled, 0, e->slots_cap);
    }
    e->n_filled = 0;
    if (e->acc_used) {
        pd_neumaier_reset(&e->acc);
    }
    e->acc_used = false;
    e->round = round;
}

/* Room for `need` slots (need <= max), by half again at least: a slot array is a multiple of
 * the shard's range, so it grows to what the rounds use, not to a power of two. */
static int grow_slots(pd_shard_estimate_t *e, size_t need, size_t max)
{
    size_t cap = e->slots_cap + e->slots_cap / 2;
    double *slots;
    uint8_t *filled;

    if (need <= e->slots_cap) {
        return 0;
    }
    cap = cap < need ? need : cap > max ? max : cap;
    slots = realloc(e->slots, cap * e->dim * sizeof(double));
    if (slots == NULL) {
        return -ENOMEM;
    }
    e->slots = slots;
    filled = realloc(e->filled, cap);
    if (filled == NULL) {
        return -ENOMEM; /* slots is larger than slots_cap says: harmless */
    }
    memset(filled + e->slots_cap, 0, cap - e->slots_cap);
    e->filled = filled;
    e->slots_cap = cap;
    return 0;
}

static int put_in_slot(pd_shard_estimate_t *e, uint64_t slot, const double *part, char *why,
                       size_t why_len)
{
    if (e->acc_used) {
        snprintf(why, why_len, "round %" PRIu64 " mixes an ordered and a compensated sum",
                 e->round);
        return PD_EWIRE;
    }
    /* Shard 0 sums as many slots of its own keys (a part or block count, 32 bits): no other
     * bound than the memory, which the shard's range times the count must fit. */
    size_t max = SIZE_MAX / sizeof(double) / e->dim;

    max = max < UINT32_MAX ? max : UINT32_MAX;
    if (slot >= max) {
        snprintf(why, why_len, "slot %" PRIu64 " of an ordered sum is beyond what a shard "
                 "keeps", slot);
        return PD_EWIRE;
    }
    if (grow_slots(e, (size_t)slot + 1, max) != 0) {
        snprintf(why, why_len, "out of memory for slot %" PRIu64, slot);
        return -ENOMEM;
    }
    if (e->filled[slot]) {
        snprintf(why, why_len, "slot %" PRIu64 " of round %" PRIu64 " filled twice", slot,
                 e->round);
        return PD_EWIRE;
    }
    memcpy(e->slots + (size_t)slot * e->dim, part, e->dim * sizeof(double));
    e->filled[slot] = 1;
    e->n_filled++;
    return 0;
}

int pd_shard_estimate_add(pd_daemon_t *d, const pd_msg_t *m, const double *part, char *why,
                          size_t why_len)
{
    pd_shard_estimate_t *e = estimate_of(d);

    if (e == NULL) {
        snprintf(why, why_len, "out of memory for the gradient estimate");
        return -ENOMEM;
    }
    if (m->round_id == 0) {
        snprintf(why, why_len, "a part of the estimate names no round");
        return PD_EWIRE;
    }
    if (m->round_id != e->round) {
        start_round(e, m->round_id);
    }
    if (m->estimate == PD_ESTIMATE_SLOT) {
        return put_in_slot(e, m->estimate_slot, part, why, why_len);
    }
    if (e->n_filled > 0) {
        snprintf(why, why_len, "round %" PRIu64 " mixes an ordered and a compensated sum",
                 e->round);
        return PD_EWIRE;
    }
    pd_neumaier_add(&e->acc, part);
    e->acc_used = true;
    return 0;
}

/* The round's sum into e->sum: its slots 0 .. n-1 added in order onto zeros, or (n = 0) the
 * compensated sum. */
static int round_sum(pd_shard_estimate_t *e, uint64_t n, char *why, size_t why_len)
{
    if (n == 0) {
        if (!e->acc_used) {
            snprintf(why, why_len, "round %" PRIu64 " has no compensated sum here", e->round);
            return PD_EWIRE;
        }
        pd_neumaier_result(&e->acc, e->sum);
        return 0;
    }
    if (n != e->n_filled || n > e->slots_cap) {
        snprintf(why, why_len, "round %" PRIu64 " sums %" PRIu64 " slots, %" PRIu64 " came",
                 e->round, n, e->n_filled);
        return PD_EWIRE;
    }
    memset(e->sum, 0, e->dim * sizeof(double));
    for (uint64_t s = 0; s < n; s++) {
        const double *v = e->slots + (size_t)s * e->dim;
        if (!e->filled[s]) {
            snprintf(why, why_len, "slot %" PRIu64 " of round %" PRIu64 " is empty", s,
                     e->round);
            return PD_EWIRE;
        }
        for (size_t i = 0; i < e->dim; i++) {
            e->sum[i] += v[i];
        }
    }
    return 0;
}

int pd_shard_estimate_step(pd_daemon_t *d, const pd_msg_t *m, const double **g, char *why,
                           size_t why_len)
{
    pd_shard_estimate_t *e = d->estimate;
    int rc;

    if (e == NULL || m->round_id == 0 || m->round_id != e->round) {
        snprintf(why, why_len, "the step of round %" PRIu64 " before any of its parts",
                 m->round_id);
        return PD_EWIRE;
    }
    if (m->n_samples == 0) {
        snprintf(why, why_len, "the step of round %" PRIu64 " divides by 0 samples",
                 m->round_id);
        return PD_EWIRE;
    }
    if (m->estimate == PD_ESTIMATE_INCREMENT && !e->has_g) {
        snprintf(why, why_len, "an increment of an estimate this shard has not set since it "
                 "started");
        return PD_EWIRE;
    }
    if ((rc = round_sum(e, m->estimate_slot, why, why_len)) != 0) {
        return rc;
    }
    pd_method_estimate_move(e->g, e->sum, e->dim, m->n_samples, m->estimate); /* as shard 0 */
    e->has_g = e->has_g || m->estimate == PD_ESTIMATE_SET;
    start_round(e, 0);
    *g = e->g;
    return 0;
}

void pd_shard_estimate_free(pd_daemon_t *d)
{
    pd_shard_estimate_t *e = d->estimate;

    if (e == NULL) {
        return;
    }
    free(e->slots);
    free(e->filled);
    pd_neumaier_release(&e->acc);
    free(e->sum);
    free(e->g);
    free(e);
    d->estimate = NULL;
}
