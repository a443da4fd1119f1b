/* workloads.h - the workloads of bench/compare-pslite, shared by its two drivers (the C one
 * on paramd's public client, bench/pslite/paramd_driver.c, and the C++ one on ps-lite,
 * bench/pslite/driver.cc), so both run exactly the same cells: same value counts, depths,
 * keys, model size and step. Plain C, usable from C++; constants and tables only. */
#ifndef PD_BENCH_PSLITE_WORKLOADS_H
#define PD_BENCH_PSLITE_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

/* Model size: float64 values on both systems. 1 MiB of float64 is the whole vector. */
#define CMP_DIM 131072u
/* The 100 B cells move 13 float64 values (104 B of values per request on both systems). */
#define CMP_SMALL_N 13u
/* Workload (iv): this many values in one request. */
#define CMP_IV_N 100000u
#define CMP_MAX_DEPTH 16
/* The step of the servers, x[k] <- x[k] - CMP_LR * g[k]: tiny, so the values stay finite
 * however long a run lasts (paramd's job uses the same learning rate with sgd). */
#define CMP_LR 1e-12
/* Output: one line per cell, "result <cell> <completed requests> <seconds>", on stdout. */

typedef enum cmp_op {
    CMP_PUSH,  /* every request a push */
    CMP_PULL,  /* every request a pull */
    CMP_MIXED, /* push, pull, push, pull, ...: each request counts as one op */
} cmp_op_t;

typedef struct cmp_cell {
    const char *name;
    cmp_op_t op;
    uint32_t n;       /* values per request */
    int depth;        /* requests in flight */
    int sparse_keys;  /* 1: the keys of cmp_key() (workload iv); 0: keys 0..n-1 */
} cmp_cell_t;

/* In the order both drivers run them. The bench script knows the same names. */
static const cmp_cell_t cmp_cells[] = {
    {"i", CMP_MIXED, CMP_SMALL_N, 1, 0},
    {"ii", CMP_MIXED, CMP_SMALL_N, CMP_MAX_DEPTH, 0},
    {"iii-push", CMP_PUSH, CMP_DIM, 1, 0},
    {"iii-pull", CMP_PULL, CMP_DIM, 1, 0},
    {"iv-push", CMP_PUSH, CMP_IV_N, 1, 1},
    {"iv-pull", CMP_PULL, CMP_IV_N, 1, 1},
};
#define CMP_N_CELLS (sizeof(cmp_cells) / sizeof(cmp_cells[0]))

/* Key i of workload (iv): 100,000 strictly increasing keys spread over the whole model
 * (floor(i * 131072 / 100000): gaps of one key about every fourth), so a key list is a real
 * list, not a dense range in disguise. */
static inline uint64_t cmp_key(uint64_t i)
{
    return i * CMP_DIM / CMP_IV_N;
}

/* The gradient both drivers push: small and finite. */
static inline double cmp_grad(uint64_t i)
{
    return 1e-9 * (double)(i % 7);
}

/* Warm-up requests before each cell's clock starts (connections, caches, first snapshot). */
#define CMP_WARMUP_REQUESTS 20

#endif
