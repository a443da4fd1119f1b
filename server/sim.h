/* sim.h - the deterministic simulated-clock mode (ALGORITHMS.md §0.5), run by paramd-sim.
 * The real daemon object is built from the configuration, but its transport (daemon.h
 * pd_transport_t) is replaced: n simulated workers join through pd_dispatch() like real ones,
 * a TASK sent to worker i is computed at once in this process (common/compute.h, the code
 * paramd-worker runs) and its RESULT is delivered through pd_dispatch() at
 * t_assign + cost x tau_i, cost = |J| for GRAD, 2|J| for GRAD_DIFF, |J|/2 for EVAL.
 * Events are taken in order of finish time, ties to the lower worker id; server work takes
 * no simulated time. So the methods, the scheduler and the RESULT checks are the daemon's own,
 * and a run is a function of the configuration alone (bit for bit).
 * Every [sim] log_every updates, and at the start and the end, one JSON line is written with
 * the simulated time, the version, the full objective, ||grad f(x)||^2 (both computed in
 * process at no simulated time) and, for the quadratic, f(x) - f*. */
#ifndef PD_SERVER_SIM_H
#define PD_SERVER_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

typedef struct pd_sim pd_sim_t;

/* tau (n values) from a [sim] speeds profile: "equal" (1), "sqrt" (sqrt(i), i = 1..n),
 * "gamma" (Gamma(shape 2, scale 200)/400 drawn from seed, redrawn below 1, sorted ascending),
 * or a comma-separated list of exactly n positive numbers. 0, or -EINVAL with a reason. */
int pd_sim_speeds(const char *spec, size_t n, uint64_t seed, double *tau, char *err,
                  size_t errlen);

/* Build the daemon for cfg (validated) with n = [sim] workers simulated workers. Errors are
 * logged. PD_ECONFIG for a bad [sim] section. Returned: *out, free with pd_sim_free(). */
int pd_sim_new(pd_sim_t **out, const pd_config_t *cfg);
/* Run until a stop criterion ([stop] max_updates, [sim] max_time) or until no worker has work.
 * Returns the daemon's exit code (0, or 1 when the run failed). */
int pd_sim_run(pd_sim_t *sim);
void pd_sim_free(pd_sim_t *sim);

/* For tests and the summary. */
double pd_sim_now(const pd_sim_t *sim);
uint64_t pd_sim_events(const pd_sim_t *sim);
pd_daemon_t *pd_sim_daemon(pd_sim_t *sim);

#endif
