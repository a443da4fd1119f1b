/* check_sim.c - the simulated-clock mode (server/sim.c, ALGORITHMS.md §0.5) driving the real
 * daemon and methods in process: speed profiles, the timing oracles of §1.1 (a) and §3.11
 * (7, 8), Freya PAGE with p = 1 against gradient descent on the quadratic (§3.11 #1), and
 * bit-for-bit repeatability. All runs are small (d = 20, m <= 100). */
#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "server/daemon.h"
#include "error.h"
#include "log.h"
#include "model.h"
#include "quad.h"
#include "server/sim.h"

#define DIM 20

/* A simulation of the quadratic (d = 20, m = 100 unless overridden) with the given extra
 * overrides (NULL-terminated), run to its end. Returned: free with pd_sim_free(). */
static pd_sim_t *run(const char *const *extra)
{
    static const char *const base[] = {
        "server.log_level=err", "sim.log=/dev/null", "model.type=quadratic", "model.dim=20",
        "model.samples=100", "optimizer.learning_rate=0.5", "job.seed=3", NULL,
    };
    pd_config_t cfg;
    pd_sim_t *sim = NULL;
    char err[1024] = "";

    ck_assert_int_eq(pd_config_init(&cfg), 0);
    for (size_t i = 0; base[i] != NULL; i++) {
        ck_assert_int_eq(pd_config_set_override(&cfg, base[i], err, sizeof(err)), 0);
    }
    for (size_t i = 0; extra[i] != NULL; i++) {
        ck_assert_msg(pd_config_set_override(&cfg, extra[i], err, sizeof(err)) == 0, "%s", err);
    }
    ck_assert_msg(pd_config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
    pd_log_set_level(cfg.log_level + PD_LOG_ERR);
    ck_assert_int_eq(pd_sim_new(&sim, &cfg), 0);
    ck_assert_int_eq(pd_sim_run(sim), 0);
    pd_config_release(&cfg);
    return sim;
}

START_TEST(speeds_profiles)
{
    double tau[5];
    char err[256];

    ck_assert_int_eq(pd_sim_speeds("equal", 3, 1, tau, err, sizeof(err)), 0);
    ck_assert(tau[0] == 1.0 && tau[2] == 1.0);
    ck_assert_int_eq(pd_sim_speeds("sqrt", 4, 1, tau, err, sizeof(err)), 0);
    ck_assert(tau[0] == 1.0 && tau[3] == 2.0);
    ck_assert_int_eq(pd_sim_speeds("1,2.5,7", 3, 1, tau, err, sizeof(err)), 0);
    ck_assert(tau[0] == 1.0 && tau[1] == 2.5 && tau[2] == 7.0);
    ck_assert_int_eq(pd_sim_speeds("gamma", 5, 9, tau, err, sizeof(err)), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert(tau[i] >= 1.0 && (i == 0 || tau[i - 1] <= tau[i]));
    }
    ck_assert_int_eq(pd_sim_speeds("1,2", 3, 1, tau, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_sim_speeds("1,2,3,4", 3, 1, tau, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_sim_speeds("1,0,3", 3, 1, tau, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_sim_speeds("fast", 3, 1, tau, err, sizeof(err)), -EINVAL);
}
END_TEST

/* §1.1 oracle (a): one sample per worker, every step waits for the slowest: k steps take
 * exactly k max tau. */
START_TEST(sync_time_is_k_max_tau)
{
    static const char *const list[] = {"job.method=sync-sgd", "job.batch_size=1",
                                       "sim.workers=3", "sim.speeds=1,5,2",
                                       "stop.max_updates=7", NULL};
    static const char *const sq[] = {"job.method=sync-sgd", "job.batch_size=1",
                                     "sim.workers=5", "sim.speeds=sqrt",
                                     "stop.max_updates=9", NULL};
    pd_sim_t *sim = run(list);

    ck_assert_double_eq(pd_sim_now(sim), 35.0);
    ck_assert_double_eq(pd_sim_daemon(sim)->metrics.updates_total, 7);
    pd_sim_free(sim);
    sim = run(sq);
    ck_assert_double_eq_tol(pd_sim_now(sim), 9 * sqrt(5.0), 1e-12);
    pd_sim_free(sim);
}
END_TEST

/* §3.11 oracle 7: n = 1, tau = 1, B_full = 1, c = 1: ComputeGradient takes exactly m and
 * ComputeBatchDifference exactly 2S; the clock is the sum of the rounds. */
START_TEST(freya_one_worker_round_times)
{
    static const char *const ov[] = {"job.method=freya-page", "job.block_size=1",
                                     "job.diff_chunk=1", "job.freya_s=8", "model.samples=50",
                                     "sim.workers=1", "sim.speeds=equal",
                                     "stop.max_updates=30", NULL};
    pd_sim_t *sim = run(ov);
    const pd_metrics_t *m = &pd_sim_daemon(sim)->metrics;

    ck_assert_double_ge(m->rounds_cg_total, 1);
    ck_assert_double_ge(m->rounds_cbd_total, 1);
    ck_assert_double_eq(m->rounds_cg_total + m->rounds_cbd_total, 30);
    ck_assert_double_eq(m->round_cg_seconds_mean, 50.0);
    ck_assert_double_eq(m->round_cbd_seconds_mean, 16.0);
    ck_assert_double_eq(pd_sim_now(sim), 50.0 * m->rounds_cg_total + 16.0 * m->rounds_cbd_total);
    pd_sim_free(sim);
}
END_TEST

/* §3.11 oracle 8: dedupe_inflight, B_full = 1, equal speeds: ComputeGradient takes
 * ceil(m/n) tau (m = 100, n = 8, tau = 3: 13 x 3). */
START_TEST(freya_dedupe_round_time)
{
    static const char *const ov[] = {"job.method=freya-page", "job.block_size=1",
                                     "job.dedupe_inflight=yes", "sim.workers=8",
                                     "sim.speeds=3,3,3,3,3,3,3,3", "stop.max_updates=1", NULL};
    pd_sim_t *sim = run(ov);
    const pd_metrics_t *m = &pd_sim_daemon(sim)->metrics;

    ck_assert_double_eq(m->rounds_cg_total, 1);
    ck_assert_double_eq(m->round_cg_seconds_mean, 39.0);
    ck_assert_double_eq(pd_sim_now(sim), 39.0);
    ck_assert_double_eq(m->duplicate_blocks_total, 0);
    pd_sim_free(sim);
}
END_TEST

/* §3.11 oracle 1: with p = 1 every step is a full gradient: x_{k+1} = x_k - gamma grad f(x_k)
 * from x_0 = sqrt(d) e_1, whatever the speeds (to 1e-12). */
START_TEST(freya_p1_is_gradient_descent)
{
    static const char *const ov[] = {"job.method=freya-page", "job.freya_p=1", "job.block_size=7",
                                     "sim.workers=4", "sim.speeds=sqrt",
                                     "stop.max_updates=25", NULL};
    pd_sim_t *sim = run(ov);
    pd_daemon_t *d = pd_sim_daemon(sim);
    double x[DIM], g[DIM], scale = 0;
    uint32_t all[100];
    double loss;

    for (uint32_t j = 0; j < 100; j++) {
        all[j] = j;
    }
    pd_quad_start(DIM, x);
    for (int k = 0; k < 25; k++) {
        memset(g, 0, sizeof(g));
        ck_assert_int_eq(pd_model_grad_sum(&d->model, d->train, x, all, 100, g, &loss), 0);
        for (int i = 0; i < DIM; i++) {
            x[i] -= 0.5 * g[i] / 100.0;
        }
    }
    ck_assert_uint_eq(d->store.version, 25);
    for (int i = 0; i < DIM; i++) {
        scale = fmax(scale, fabs(x[i]));
    }
    for (int i = 0; i < DIM; i++) {
        ck_assert_msg(fabs(d->store.x[i] - x[i]) <= 1e-12 * scale, "x[%d] = %.17g, GD %.17g", i,
                      d->store.x[i], x[i]);
    }
    pd_sim_free(sim);
}
END_TEST

/* The same configuration gives the same iterates and the same clock, bit for bit. */
START_TEST(repeatable)
{
    static const char *const freya[] = {"job.method=freya-page", "job.block_size=3",
                                        "job.diff_chunk=2", "sim.workers=8", "sim.speeds=gamma",
                                        "stop.max_updates=40", NULL};
    static const char *const async[] = {"job.method=async-sgd", "job.batch_size=2",
                                        "job.max_staleness=4", "sim.workers=6",
                                        "sim.speeds=sqrt", "stop.max_updates=200",
                                        "optimizer.learning_rate=0.05", NULL};
    const char *const *cases[] = {freya, async};

    for (int c = 0; c < 2; c++) {
        pd_sim_t *a = run(cases[c]), *b = run(cases[c]);
        pd_daemon_t *da = pd_sim_daemon(a), *db = pd_sim_daemon(b);
        ck_assert_uint_eq(da->store.version, db->store.version);
        ck_assert(memcmp(da->store.x, db->store.x, DIM * sizeof(double)) == 0);
        ck_assert(pd_sim_now(a) == pd_sim_now(b));
        ck_assert_uint_eq(pd_sim_events(a), pd_sim_events(b));
        ck_assert(pd_sim_now(a) > 0);
        pd_sim_free(a);
        pd_sim_free(b);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("sim");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, speeds_profiles);
    tcase_add_test(tc, sync_time_is_k_max_tau);
    tcase_add_test(tc, freya_one_worker_round_times);
    tcase_add_test(tc, freya_dedupe_round_time);
    tcase_add_test(tc, freya_p1_is_gradient_descent);
    tcase_add_test(tc, repeatable);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
