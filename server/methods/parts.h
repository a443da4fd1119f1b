/* parts.h - one round of a product split into fixed parts over sample positions: which part
 * is pending, with a worker or done, and the ordered sum of the part results. The split does
 * not depend on how many workers there are, and the sum is formed in part order, so the
 * result of a round is the same bits whichever workers answered (fosi's Hessian-vector
 * products, ALGORITHMS.md §5.5; the passes of newton-cg and lbfgs). Each part also keeps the
 * loss sum its task reported. Pure bookkeeping: no sockets. */
#ifndef PD_SERVER_PARTS_H
#define PD_SERVER_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../session.h"

typedef struct pd_parts {
    uint64_t round;      /* id of the current round, carried in pd_task_t.round */
    uint32_t n, done;    /* parts of the round, parts done */
    uint32_t cap;
    size_t dim;          /* values of one part's result (0: losses only) */
    size_t sums_cap;     /* values sums can hold */
    uint64_t total;      /* positions split: [0, total) */
    uint8_t *state;
    uint64_t *samples;   /* samples each done part summed */
    double *loss;        /* the loss sum each done part reported */
    double *sums;        /* n × dim */
} pd_parts_t;

/* Begins the next round: n parts of [0, total) (part i = [i·total/n, (i+1)·total/n)), each
 * result dim values (0: a loss only). 0, -EINVAL (n = 0 or n > total) or -ENOMEM (the
 * previous round is then gone too). */
int pd_parts_start(pd_parts_t *p, uint32_t n, uint64_t total, size_t dim);

/* Positions of part i. */
void pd_parts_range(const pd_parts_t *p, uint32_t i, uint64_t *begin, uint64_t *end);

/* A pending part (marked with a worker now), or -1 when none is pending. */
int64_t pd_parts_take(pd_parts_t *p);

/* Part i's send failed: pending again. */
void pd_parts_untake(pd_parts_t *p, uint32_t i);

/* The result of task t (its round and part) with values v (dim of them; NULL when dim is 0)
 * and loss sum `loss` over `samples` samples: true when it was this round's part in flight
 * (kept), false for a late or unknown one (ignored). */
bool pd_parts_accept(pd_parts_t *p, const pd_task_t *t, const double *v, uint64_t samples,
                     double loss);

/* Task t's worker left: its part is pending again. true when it was in flight. */
bool pd_parts_give_back(pd_parts_t *p, const pd_task_t *t);

bool pd_parts_complete(const pd_parts_t *p);

/* out (dim; NULL when dim is 0) = the sum of the parts in part order; *samples their sample
 * count, *loss (NULL: not wanted) their loss sums added in the same order. */
void pd_parts_sum(const pd_parts_t *p, double *out, uint64_t *samples, double *loss);

void pd_parts_free(pd_parts_t *p);

#endif
