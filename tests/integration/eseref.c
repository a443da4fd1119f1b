/* eseref.c - single-process reference of fosi's first eigensystem refresh for fosi.test and
 * dho2.test.
 *
 * It reads a fosi or dho2 job, builds the daemon object without a socket
 * (pd_daemon_new_offline) and
 * runs the Lanczos ESE that a job with fosi_warmup = 1 runs before its first step: at the
 * seeded initial parameters, on the job's ESE batch, each product H q the mean Hessian over
 * the whole batch computed here in one call (no parts, no workers, no wire) plus the l2
 * term, in one slice (so a dho2 job's sliced run is compared with plain Lanczos). It prints
 * the eigenvalues, bottom-l then top-k ascending, %.17g, one line.
 * Exit 0 ok, 1 runtime error, 2 usage, 3 configuration. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "compute.h"
#include "error.h"
#include "lanczos.h"
#include "log.h"
#include "server/daemon.h"
#include "server/methods/method.h"

/* The eigenvalues of the daemon's first refresh, into lambda (*count of them). */
static int ese(pd_daemon_t *d, double *lambda, size_t *count)
{
    const pd_config_t *c = &d->cfg;
    size_t n = d->store.dim, samples = 0;
    pd_lanczos_opts_t o = {.k = (size_t)c->fosi_k, .l = (size_t)c->fosi_l,
                           .order = (size_t)c->fosi_lanczos_order, .slices = 1, .seed = 0};
    pd_sample_set_t set = pd_method_fosi_ese_batch(d);
    double l2 = d->optim.reg.kind == PD_REG_L2 ? d->optim.reg.l2 : 0.0;
    double *w = malloc(n * sizeof(double)), *v = malloc((size_t)(c->fosi_k + c->fosi_l) * n * sizeof(double));
    pd_task_ctx_t ctx = {0};
    pd_lanczos_t lz = {0};
    const double *q;
    int rc;

    if (w == NULL || v == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = pd_task_ctx_init(&ctx, &d->model, d->train, NULL, 1)) != 0 ||
        (rc = pd_lanczos_init(&lz, n, &o)) != 0) {
        goto out;
    }
    set.begin = 0;
    set.end = set.batch; /* all positions of the drawn batch */
    while ((q = pd_lanczos_vector(&lz)) != NULL) {
        memset(w, 0, n * sizeof(double));
        if ((rc = pd_task_hvp(&ctx, d->store.x, q, &set, w, &samples)) != 0) {
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            w[i] = w[i] / (double)samples + l2 * d->mask[i] * q[i];
        }
        if ((rc = pd_lanczos_feed(&lz, w)) != 0) {
            goto out;
        }
    }
    rc = pd_lanczos_ritz(&lz, lambda, v, NULL, count);
out:
    pd_lanczos_free(&lz);
    pd_task_ctx_release(&ctx);
    free(w);
    free(v);
    return rc;
}

int main(int argc, char **argv)
{
    pd_config_t cfg = {0};
    pd_daemon_t *d = NULL;
    double lambda[PD_LANCZOS_MAX_PAIRS];
    size_t count = 0;
    char err[8192] = "";
    int code = 0, rc;

    pd_log_setup("eseref", PD_LOG_WARNING);
    if (argc != 3 || strcmp(argv[1], "-c") != 0) {
        fputs("usage: eseref -c FOSI_JOB.conf\n", stderr);
        return 2;
    }
    if ((rc = pd_config_build(&cfg, argv[2], NULL, err, sizeof(err))) != 0) {
        fprintf(stderr, "%s\n", err[0] != '\0' ? err : pd_strerror(rc));
        code = 3;
        goto out;
    }
    if (cfg.method != PD_METHOD_FOSI && cfg.method != PD_METHOD_DHO2) {
        fputs("eseref: the job is not method = fosi or dho2\n", stderr);
        code = 3;
        goto out;
    }
    if ((rc = pd_daemon_new_offline(&d, &cfg)) != 0 || (rc = ese(d, lambda, &count)) != 0) {
        fprintf(stderr, "eseref: %s\n", pd_strerror(rc));
        code = 1;
        goto out;
    }
    for (size_t j = 0; j < count; j++) {
        printf("%s%.17g", j ? " " : "", lambda[j]);
    }
    putchar('\n');
out:
    pd_daemon_free(d);
    pd_config_release(&cfg);
    return code;
}
