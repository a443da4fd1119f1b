/* optim.c - see optim.h. */
#include <config.h>
#include "optim.h"

#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "error.h"
#include "wire.h"

int pd_optim_init(pd_optim_t *o, size_t dim)
{
    o->dim = dim;
    o->t = 0;
    o->u = calloc(dim > 0 ? dim : 1, sizeof(double));
    o->v = calloc(dim > 0 ? dim : 1, sizeof(double));
    o->undo = calloc(dim > 0 ? 3 * dim : 1, sizeof(double));
    if (o->u == NULL || o->v == NULL || o->undo == NULL) {
        pd_optim_release(o);
        return -ENOMEM;
    }
    return 0;
}

void pd_optim_release(pd_optim_t *o)
{
    free(o->u);
    free(o->v);
    free(o->undo);
    o->u = NULL;
    o->v = NULL;
    o->undo = NULL;
}

double pd_optim_lr(const pd_optim_t *o)
{
    double k = (double)o->t;

    switch (o->schedule) {
    case PD_SCHED_INVSQRT:
        return o->lr / sqrt(1.0 + k / (double)o->decay_steps);
    case PD_SCHED_STEP:
        return o->lr * pow(o->decay_rate, floor(k / (double)o->decay_steps));
    default:
        return o->lr;
    }
}

/* One step of the optimiser on n coordinates (x, u, v, g and mask aligned; mask may be NULL),
 * t already counted, then the prox. */
static void step(const pd_optim_t *o, double *xs, double *u, double *v, const double *g,
                 const double *mask, size_t n, double lr, bool elementwise)
{
    switch (o->kind) {
    case PD_OPT_MOMENTUM:
        /* heavy ball: u <- beta u + g; x <- x - lr u */
        for (size_t i = 0; i < n; i++) {
            u[i] = o->momentum * u[i] + g[i];
            xs[i] -= lr * u[i];
        }
        break;
    case PD_OPT_ADAM: {
        double c1 = 1.0 - pow(o->beta1, (double)o->t);
        double c2 = 1.0 - pow(o->beta2, (double)o->t);
        for (size_t i = 0; i < n; i++) {
            u[i] = o->beta1 * u[i] + (1.0 - o->beta1) * g[i];
            v[i] = o->beta2 * v[i] + (1.0 - o->beta2) * g[i] * g[i];
            xs[i] -= lr * (u[i] / c1) / (sqrt(v[i] / c2) + o->epsilon);
        }
        break;
    }
    default:
        if (elementwise) {
            /* A key list is cut at arbitrary places (chunks, shards), and a BLAS kernel may
             * round a value by where it falls in the call (its vector body or its tail):
             * here each value's step must not depend on where the cut fell. */
            for (size_t i = 0; i < n; i++) {
                xs[i] -= lr * g[i];
            }
            break;
        }
        /* The hot path of every push: BLAS vectorises it, a plain loop over possibly
         * aliased pointers does not. */
        cblas_daxpy((blasint)n, -lr, g, 1, xs, 1);
        break;
    }
    if (o->reg.kind != PD_REG_NONE) {
        pd_prox_apply(&o->reg, xs, xs, lr, mask, n);
    }
}

void pd_optim_apply(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                    double lr)
{
    o->t++;
    step(o, x + offset, o->u + offset, o->v + offset, g, o->mask != NULL ? o->mask + offset : NULL,
         len, lr, false);
}

/* The arrays a step changes: x always, u with momentum and Adam, v with Adam. */
static size_t state_arrays(const pd_optim_t *o)
{
    return o->kind == PD_OPT_ADAM ? 3 : o->kind == PD_OPT_MOMENTUM ? 2 : 1;
}

/* The state a step changes in a range. save = true copies x[at .. at+n) (and u, v) into
 * o->undo from position at - from, false copies undo[0 .. n) back to [at, at+n). */
static void undo_copy(pd_optim_t *o, double *x, size_t from, size_t at, size_t n, bool save)
{
    double *live[3] = {x + at, o->u + at, o->v + at};
    size_t arrays = state_arrays(o);

    for (size_t k = 0; k < arrays; k++) {
        double *kept = o->undo + k * o->dim + (at - from);
        if (save) {
            memcpy(kept, live[k], n * sizeof(double));
        } else {
            memcpy(live[k], kept, n * sizeof(double));
        }
    }
}

/* Coordinates per pass of the guarded step: the range is saved, stepped and checked a chunk
 * at a time, so the step and the check read what the save just brought into the cache (one
 * trip through memory instead of three). 32 KiB of x: within L1 or L2 everywhere. */
#define GUARD_CHUNK 4096

/* A predicted value is "surely finite" below 2^1023 in magnitude: the prediction and the step
 * may round differently (cblas_daxpy fuses the multiply-add, the prediction does not), but by
 * far less than the headroom up to DBL_MAX. The test is on the exponent field: (bits & EXP) +
 * 2^53 carries into bit 63 exactly when the exponent is 0x7fe (2^1023 .. DBL_MAX) or 0x7ff (Inf,
 * NaN), so OR-ing it over many values and testing bit 63 once needs no branch. */
#define EXP_BITS UINT64_C(0x7ff0000000000000)
#define BIG_CARRY (UINT64_C(1) << 53)

#if defined(__GNUC__)
/* Perf: two lanes at a time the prediction streams its arrays at close to memory speed; the
 * scalar loop does not vectorise at -O2 (same idea as pd_wire_all_finite). */
typedef double f64x2_t __attribute__((vector_size(16)));
typedef uint64_t u64x2_t __attribute__((vector_size(16)));

static u64x2_t big_carry(f64x2_t y)
{
    u64x2_t b;
    memcpy(&b, &y, sizeof(b));
    return (b & EXP_BITS) + BIG_CARRY;
}

static f64x2_t load2(const double *p)
{
    f64x2_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static f64x2_t abs2(f64x2_t y)
{
    u64x2_t b;
    memcpy(&b, &y, sizeof(b));
    b &= ~(UINT64_C(1) << 63);
    memcpy(&y, &b, sizeof(y));
    return y;
}

/* The constants of one prediction, as lanes. */
typedef struct predict_consts {
    f64x2_t lr, beta, b1, one_b1, b2, one_b2;
    f64x2_t adam_k; /* lr / (c1 eps): Adam moves a parameter by at most adam_k |u_new| */
} predict_consts_t;

/* Bit 63 is set in each lane whose step result (parameter, or optimiser state) is not surely
 * finite. The expressions are step()'s. Adam's step is bounded instead of computed:
 * |(u/c1) / (sqrt(v/c2) + eps)| <= |u| / (c1 eps), which needs no division or square root
 * (and an epsilon of 0 gives no bound: such steps always take the saved path). */
static u64x2_t predict2(const pd_optim_t *o, const predict_consts_t *k, const double *x,
                        const double *g, const double *u, const double *v)
{
    f64x2_t xs = load2(x), gs = load2(g), un, vn;

    switch (o->kind) {
    case PD_OPT_MOMENTUM:
        un = k->beta * load2(u) + gs;
        return big_carry(un) | big_carry(xs - k->lr * un);
    case PD_OPT_ADAM:
        un = k->b1 * load2(u) + k->one_b1 * gs;
        vn = k->b2 * load2(v) + k->one_b2 * gs * gs;
        return big_carry(un) | big_carry(vn) | big_carry(abs2(xs) + k->adam_k * abs2(un));
    default:
        return big_carry(xs - k->lr * gs);
    }
}

/* Predict the step on [0, n) without writing anything: true when every parameter and every
 * optimiser value it would produce is surely finite. One read-only pass over the arrays the
 * step reads. The prox cannot turn a finite value into NaN or Inf, so it is not predicted. */
static bool step_surely_finite(const pd_optim_t *o, const double *x, const double *u,
                               const double *v, const double *g, size_t n, double lr)
{
    double c1 = 1.0 - pow(o->beta1, (double)o->t), ak = lr / (c1 * o->epsilon);
    predict_consts_t k = {
        .lr = {lr, lr},
        .beta = {o->momentum, o->momentum},
        .b1 = {o->beta1, o->beta1},
        .one_b1 = {1.0 - o->beta1, 1.0 - o->beta1},
        .b2 = {o->beta2, o->beta2},
        .one_b2 = {1.0 - o->beta2, 1.0 - o->beta2},
        .adam_k = {ak, ak},
    };
    u64x2_t acc = {0, 0};
    size_t i = 0;

    for (; i + 2 <= n; i += 2) {
        acc |= predict2(o, &k, x + i, g + i, u + i, v + i);
    }
    if (i < n) { /* the odd last coordinate, beside a zero one (a zero step is finite) */
        double xt[2] = {x[i], 0}, gt[2] = {g[i], 0}, ut[2] = {u[i], 0}, vt[2] = {v[i], 0};
        acc |= predict2(o, &k, xt, gt, ut, vt);
    }
    return ((acc[0] | acc[1]) >> 63) == 0;
}
#else
/* Without vector extensions every guarded step takes the saved path: exact, only slower. */
static bool step_surely_finite(const pd_optim_t *o, const double *x, const double *u,
                               const double *v, const double *g, size_t n, double lr)
{
    (void)o, (void)x, (void)u, (void)v, (void)g, (void)n, (void)lr;
    return false;
}
#endif

/* The step with a copy instead of a prediction: each chunk is saved, stepped and checked, and
 * the first non-finite value puts every chunk back. Exact for every optimiser, including the
 * rare steps the prediction cannot vouch for. */
static int apply_saved(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                       double lr)
{
    for (size_t done = 0; done < len;) {
        size_t n = len - done < GUARD_CHUNK ? len - done : GUARD_CHUNK, at = offset + done;
        undo_copy(o, x, offset, at, n, true);
        step(o, x + at, o->u + at, o->v + at, g + done, o->mask != NULL ? o->mask + at : NULL,
             n, lr, false);
        done += n;
        if (!pd_wire_all_finite(x + at, n)) {
            undo_copy(o, x, offset, offset, done, false);
            return PD_ENONFINITE;
        }
    }
    return 0;
}

int pd_optim_apply_finite(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                          double lr)
{
    int rc;

    o->t++;
    /* One read-only pass predicts the step, and a surely finite one is taken in place, with
     * no copy (the copy was an extra trip through memory for x, u and v, and kept as much
     * again resident). */
    if (step_surely_finite(o, x + offset, o->u + offset, o->v + offset, g, len, lr)) {
        step(o, x + offset, o->u + offset, o->v + offset, g,
             o->mask != NULL ? o->mask + offset : NULL, len, lr, false);
        return 0;
    }
    rc = apply_saved(o, x, offset, len, g, lr);
    if (rc != 0) {
        o->t--;
    }
    return rc;
}

/* The state a step changes at keys[0 .. n): gather = true copies x, u, v there into o->undo
 * from position at (array k at undo + k * dim + at), false scatters undo back to the keys. */
static void keys_copy(pd_optim_t *o, double *x, const uint64_t *keys, size_t at, size_t n,
                      bool gather)
{
    double *live[3] = {x, o->u, o->v};
    size_t arrays = state_arrays(o);

    for (size_t k = 0; k < arrays; k++) {
        double *kept = o->undo + k * o->dim + at;
        if (gather) {
            for (size_t i = 0; i < n; i++) {
                kept[i] = live[k][keys[i]];
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                live[k][keys[i]] = kept[i];
            }
        }
    }
}

/* step() on chunk [done, done + cnt) of a key list, its coordinates gathered at xs (and the
 * state's at us and vs): the range code itself, so momentum, Adam and the prox stay written
 * once; plain sgd elementwise. */
static void step_keys_chunk(const pd_optim_t *o, double *xs, double *us, double *vs,
                            const uint64_t *keys, size_t done, size_t cnt, const double *g,
                            double lr)
{
    double mask[GUARD_CHUNK];
    bool masked = o->mask != NULL && o->reg.kind != PD_REG_NONE;

    for (size_t i = 0; masked && i < cnt; i++) {
        mask[i] = o->mask[keys[done + i]];
    }
    step(o, xs, us, vs, g + done, masked ? mask : NULL, cnt, lr, true);
}

int pd_optim_apply_keys_finite(pd_optim_t *o, double *x, const uint64_t *keys, size_t n,
                               const double *g, double lr)
{
    /* The coordinates are gathered into o->undo (n <= dim, so they fit) and stepped there;
     * the guard is free, since x and the state are only written back once every stepped
     * value is finite. */
    uint64_t t = o->t;

    o->t++;
    for (size_t done = 0; done < n;) {
        size_t cnt = n - done < GUARD_CHUNK ? n - done : GUARD_CHUNK;
        double *xs = o->undo + done;
        keys_copy(o, x, keys + done, done, cnt, true);
        step_keys_chunk(o, xs, xs + o->dim, xs + 2 * o->dim, keys, done, cnt, g, lr);
        done += cnt;
        if (!pd_wire_all_finite(xs, cnt)) {
            o->t = t;
            return PD_ENONFINITE;
        }
    }
    keys_copy(o, x, keys, 0, n, false);
    return 0;
}

/* max |g| over [0, n), or NaN when some |g_i| is not surely finite (NaN, Inf, or at least
 * 2^1023, which sends the push to the guarded path: exact, only slower). One read-only pass
 * that must keep up with memory: the scalar compare-and-select loop did not vectorise at -O2
 * and cost twice the daxpy of a 1 MiB push. It reads the four quarters of g side by side:
 * four streams keep more reads in flight than one and came out of memory a quarter faster
 * (bench/apply). */
#if defined(__SSE2__)
typedef struct abs_chain {
    __m128d max; /* the largest |g_i| seen */
    __m128d nan; /* turns NaN at the first NaN or Inf (|g_i| * 0), whatever maxpd does */
} abs_chain_t;

static inline void abs_chain_step(abs_chain_t *c, const double *p)
{
    const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd();
    __m128d a0 = _mm_andnot_pd(sign, _mm_loadu_pd(p));
    __m128d a1 = _mm_andnot_pd(sign, _mm_loadu_pd(p + 2));

    c->max = _mm_max_pd(c->max, _mm_max_pd(a0, a1));
    c->nan = _mm_add_pd(c->nan, _mm_add_pd(_mm_mul_pd(a0, zero), _mm_mul_pd(a1, zero)));
}

static double max_abs(const double *g, size_t n)
{
    const __m128d zero = _mm_setzero_pd();
    abs_chain_t c0 = {zero, zero}, c1 = c0, c2 = c0, c3 = c0;
    size_t q = n / 16 * 4; /* each quarter: a multiple of 4 values; the rest goes below */
    double m, z, a;
    __m128d mm, zz;

    for (size_t i = 0; i < q; i += 4) {
        abs_chain_step(&c0, g + i);
        abs_chain_step(&c1, g + q + i);
        abs_chain_step(&c2, g + 2 * q + i);
        abs_chain_step(&c3, g + 3 * q + i);
    }
    mm = _mm_max_pd(_mm_max_pd(c0.max, c1.max), _mm_max_pd(c2.max, c3.max));
    zz = _mm_add_pd(_mm_add_pd(c0.nan, c1.nan), _mm_add_pd(c2.nan, c3.nan));
    m = fmax(_mm_cvtsd_f64(mm), _mm_cvtsd_f64(_mm_unpackhi_pd(mm, mm)));
    z = _mm_cvtsd_f64(zz) + _mm_cvtsd_f64(_mm_unpackhi_pd(zz, zz));
    for (size_t i = 4 * q; i < n; i++) {
        a = fabs(g[i]);
        m = a > m ? a : m;
        z += a * 0.0;
    }
    return z == 0.0 && m < 0x1p1023 ? m : NAN;
}
#else
static double max_abs(const double *g, size_t n)
{
    double m = 0.0;

    for (size_t i = 0; i < n; i++) {
        double a = fabs(g[i]);
        if (!(a < 0x1p1023)) {
            return NAN;
        }
        m = a > m ? a : m;
    }
    return m;
}
#endif

/* Far enough from DBL_MAX that a bound plus a step below it cannot overflow, however the
 * step rounds. */
#define BOUNDED_LIMIT 0x1p1020

int pd_optim_apply_bounded(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                           double lr, double x_bound, double *moved)
{
    *moved = -1.0;
    if (o->kind == PD_OPT_SGD && len > 0) {
        double step = fabs(lr) * max_abs(g, len); /* NaN for a NaN gradient: fails below */
        if (step < BOUNDED_LIMIT && x_bound < BOUNDED_LIMIT) {
            pd_optim_apply(o, x, offset, len, g, lr);
            *moved = step;
            return 0;
        }
    }
    return pd_optim_apply_finite(o, x, offset, len, g, lr);
}

int pd_optim_apply_keys_bounded(pd_optim_t *o, double *x, const uint64_t *keys, size_t n,
                                const double *g, double lr, double x_bound, double *moved)
{
    *moved = -1.0;
    if (o->kind == PD_OPT_SGD && n > 0) {
        double step_max = fabs(lr) * max_abs(g, n);
        if (step_max < BOUNDED_LIMIT && x_bound < BOUNDED_LIMIT && o->reg.kind == PD_REG_NONE) {
            /* surely finite, and nothing but the step: in place, one pass over the keys (the
             * elementwise arithmetic of step(), so the same bits as the chunks below) */
            o->t++;
            for (size_t i = 0; i < n; i++) {
                x[keys[i]] -= lr * g[i];
            }
            *moved = step_max;
            return 0;
        }
        if (step_max < BOUNDED_LIMIT && x_bound < BOUNDED_LIMIT) {
            /* surely finite: each chunk goes back as soon as it is stepped, from a buffer that
             * stays in the cache, instead of through o->undo (the copy was a fifth of a
             * 100,000-key push); the chunks are pd_optim_apply_keys_finite's, so the bits are */
            double xs[GUARD_CHUNK];
            o->t++;
            for (size_t done = 0; done < n;) {
                size_t cnt = n - done < GUARD_CHUNK ? n - done : GUARD_CHUNK;
                for (size_t i = 0; i < cnt; i++) {
                    xs[i] = x[keys[done + i]];
                }
                step_keys_chunk(o, xs, NULL, NULL, keys, done, cnt, g, lr);
                for (size_t i = 0; i < cnt; i++) {
                    x[keys[done + i]] = xs[i];
                }
                done += cnt;
            }
            *moved = step_max;
            return 0;
        }
    }
    return pd_optim_apply_keys_finite(o, x, keys, n, g, lr);
}
