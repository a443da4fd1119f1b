/* check_freya.c - the pure parts of Freya PAGE (server/methods/freya_core.c): the block pool of a
 * ComputeGradient round (ALGORITHMS.md §3.4), the canonical block-ordered reduction (§0.4,
 * bitwise independent of arrival order), the Neumaier fallback, and the defaults of §3.3. */
#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "freya_core.h"
#include "rng.h"

START_TEST(pool_draws_only_unreceived)
{
    pd_freya_pool_t p;
    pd_rng_t r;
    unsigned seen[10] = {0};

    ck_assert_int_eq(pd_freya_pool_init(&p, 10), 0);
    pd_rng_seed(&r, 5);
    for (uint32_t b = 0; b < 10; b += 2) {
        ck_assert(pd_freya_pool_receive(&p, b));
    }
    ck_assert_uint_eq(p.n_received, 5);
    for (int i = 0; i < 5000; i++) {
        int64_t b = pd_freya_pool_draw(&p, &r, false);
        ck_assert(b >= 0 && b < 10);
        ck_assert_msg(b % 2 == 1, "drew received block %lld", (long long)b);
        seen[b]++;
    }
    /* Uniform over the 5 left: each about 1000 times (binomial sd ~28). */
    for (int b = 1; b < 10; b += 2) {
        ck_assert_msg(seen[b] > 850 && seen[b] < 1150, "block %d drawn %u times", b, seen[b]);
    }
    pd_freya_pool_release(&p);
}
END_TEST

START_TEST(pool_duplicates_and_completion)
{
    pd_freya_pool_t p;
    pd_rng_t r;

    ck_assert_int_eq(pd_freya_pool_init(&p, 3), 0);
    pd_rng_seed(&r, 1);
    pd_freya_pool_assign(&p, 1);
    pd_freya_pool_assign(&p, 1); /* two workers on the same block */
    ck_assert_uint_eq(p.n_busy, 1);
    ck_assert_uint_eq(p.n_free, 2);
    pd_freya_pool_unassign(&p, 1);
    ck_assert(pd_freya_pool_receive(&p, 1));
    pd_freya_pool_unassign(&p, 1);
    ck_assert(!pd_freya_pool_receive(&p, 1)); /* the second copy is a duplicate */
    ck_assert_uint_eq(p.n_busy + p.n_free, 2);
    ck_assert(!pd_freya_pool_complete(&p));
    ck_assert(pd_freya_pool_receive(&p, 0));
    ck_assert(pd_freya_pool_receive(&p, 2));
    ck_assert(pd_freya_pool_complete(&p));
    ck_assert_int_eq(pd_freya_pool_draw(&p, &r, false), -1);
    ck_assert_int_eq(pd_freya_pool_draw(&p, &r, true), -1);
    pd_freya_pool_reset(&p);
    ck_assert_uint_eq(p.n_free, 3);
    ck_assert_uint_eq(p.n_received, 0);
    pd_freya_pool_release(&p);
}
END_TEST

START_TEST(pool_dedupe_prefers_free_blocks)
{
    pd_freya_pool_t p;
    pd_rng_t r;

    ck_assert_int_eq(pd_freya_pool_init(&p, 4), 0);
    pd_rng_seed(&r, 9);
    pd_freya_pool_assign(&p, 0);
    pd_freya_pool_assign(&p, 1);
    pd_freya_pool_assign(&p, 2);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(pd_freya_pool_draw(&p, &r, true), 3);
    }
    pd_freya_pool_assign(&p, 3);
    /* None free: fall back to the blocks in flight (a stopped worker's block is redone). */
    for (int i = 0; i < 200; i++) {
        int64_t b = pd_freya_pool_draw(&p, &r, true);
        ck_assert(b >= 0 && b < 4);
    }
    /* A departed worker's block becomes free again. */
    pd_freya_pool_unassign(&p, 2);
    ck_assert_int_eq(pd_freya_pool_draw(&p, &r, true), 2);
    pd_freya_pool_release(&p);
}
END_TEST

/* Whatever order the blocks arrive in, the canonical sum is the same bits, and equals the
 * block-ordered sum. */
START_TEST(canonical_sum_is_order_independent)
{
    enum { NB = 37, DIM = 7 };
    pd_freya_sum_t a, b;
    double v[NB][DIM], ra[DIM], rb[DIM], want[DIM] = {0};
    uint32_t order[NB];
    pd_rng_t r;

    pd_rng_seed(&r, 3);
    for (int i = 0; i < NB; i++) {
        for (int j = 0; j < DIM; j++) {
            v[i][j] = pd_rng_normal(&r) * pow(10.0, (double)(i % 9) - 4.0);
        }
        order[i] = (uint32_t)i;
    }
    for (int i = NB - 1; i > 0; i--) {
        uint32_t k = (uint32_t)pd_rng_below(&r, (uint64_t)i + 1), t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    ck_assert(pd_freya_sum_canonical(DIM, NB, PD_FREYA_CANONICAL_MAX_BYTES));
    ck_assert_int_eq(pd_freya_sum_init(&a, DIM, NB, true), 0);
    ck_assert_int_eq(pd_freya_sum_init(&b, DIM, NB, true), 0);
    ck_assert(a.canonical && b.canonical);
    for (int i = 0; i < NB; i++) {
        pd_freya_sum_add(&a, (uint32_t)i, v[i]);
        pd_freya_sum_add(&b, order[i], v[order[i]]);
        for (int j = 0; j < DIM; j++) {
            want[j] += v[i][j];
        }
    }
    pd_freya_sum_result(&a, ra);
    pd_freya_sum_result(&b, rb);
    ck_assert_mem_eq(ra, rb, sizeof(ra));
    ck_assert_mem_eq(ra, want, sizeof(ra));
    /* Reset and reuse: a new round gives the same again. */
    pd_freya_sum_reset(&b);
    for (int i = NB - 1; i >= 0; i--) {
        pd_freya_sum_add(&b, (uint32_t)i, v[i]);
    }
    pd_freya_sum_result(&b, rb);
    ck_assert_mem_eq(ra, rb, sizeof(ra));
    pd_freya_sum_release(&a);
    pd_freya_sum_release(&b);
}
END_TEST

/* Above the memory cap the sum is compensated: exact on a sum plain addition gets wrong. */
START_TEST(fallback_is_compensated)
{
    pd_freya_sum_t a;
    double v1[2] = {1.0, 1e16}, v2[2] = {1e100, 1.0}, v3[2] = {1.0, -1e16}, v4[2] = {-1e100, 1.0};
    double out[2];

    ck_assert(!pd_freya_sum_canonical(2, 4, 16)); /* 64 bytes needed, 16 allowed */
    ck_assert_int_eq(pd_freya_sum_init(&a, 2, 4, false), 0);
    ck_assert(!a.canonical);
    pd_freya_sum_add(&a, 2, v1);
    pd_freya_sum_add(&a, 0, v2);
    pd_freya_sum_add(&a, 3, v3);
    pd_freya_sum_add(&a, 1, v4);
    pd_freya_sum_result(&a, out);
    ck_assert_double_eq(out[0], 2.0);
    ck_assert_double_eq(out[1], 2.0);
    pd_freya_sum_reset(&a);
    pd_freya_sum_add(&a, 0, v1);
    pd_freya_sum_result(&a, out);
    ck_assert_double_eq(out[1], 1e16);
    pd_freya_sum_release(&a);
}
END_TEST

START_TEST(blocks_partition_the_samples)
{
    uint64_t m = 1000, block = 64, total = 0, n = (m + block - 1) / block;

    for (uint64_t b = 0; b < n; b++) {
        uint64_t lo = pd_freya_block_begin(b, block), hi = pd_freya_block_end(b, block, m);
        ck_assert_uint_eq(lo, total);
        ck_assert(hi > lo);
        total = hi;
    }
    ck_assert_uint_eq(total, m);
    ck_assert_uint_eq(pd_freya_block_end(n - 1, block, m) - pd_freya_block_begin(n - 1, block), 40);
}
END_TEST

START_TEST(defaults)
{
    ck_assert_uint_eq(pd_freya_default_s(1), 1);
    ck_assert_uint_eq(pd_freya_default_s(100), 10);
    ck_assert_uint_eq(pd_freya_default_s(101), 11);
    ck_assert_uint_eq(pd_freya_default_s(60000), 245);
    ck_assert_uint_eq(pd_freya_default_s(4294967296ull), 65536);
    ck_assert_uint_eq(pd_freya_default_s(4294967297ull), 65537);
    ck_assert_double_eq(pd_freya_default_p(10, 100), 10.0 / 110.0);
    /* block_size = 0, diff_chunk = 0: about 4 blocks and 2 chunks per worker and round */
    ck_assert_uint_eq(pd_freya_auto_block(60000, 2), 7500);
    ck_assert_uint_eq(pd_freya_auto_block(60000, 1), 8192);  /* at most 8192 */
    ck_assert_uint_eq(pd_freya_auto_block(10000, 64), 64);   /* at least 64 */
    ck_assert_uint_eq(pd_freya_auto_block(50, 2), 50);       /* at most m */
    ck_assert_uint_eq(pd_freya_auto_block(5000, 0), 1250);   /* no worker counts as one */
    ck_assert_uint_eq(pd_freya_auto_chunk(245, 2), 62);
    ck_assert_uint_eq(pd_freya_auto_chunk(100, 16), 4);
    ck_assert_uint_eq(pd_freya_auto_chunk(1, 8), 1);
}
END_TEST

static Suite *freya_suite(void)
{
    Suite *s = suite_create("freya");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, pool_draws_only_unreceived);
    tcase_add_test(tc, pool_duplicates_and_completion);
    tcase_add_test(tc, pool_dedupe_prefers_free_blocks);
    tcase_add_test(tc, canonical_sum_is_order_independent);
    tcase_add_test(tc, fallback_is_compensated);
    tcase_add_test(tc, blocks_partition_the_samples);
    tcase_add_test(tc, defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(freya_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
