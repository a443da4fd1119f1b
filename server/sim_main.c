/* sim_main.c - paramd-sim: run a job on the simulated clock (sim.h). Same configuration and
 * exit codes as paramd; the [sim] section says how many workers and how fast they are. */
#include <config.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_threads.h"
#include "clock.h"
#include "common/config.h"
#include "error.h"
#include "log.h"
#include "sim.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

#define MAX_OVERRIDES 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: paramd-sim [-c FILE] [-o section.key=value]... [--check-config]\n"
            "\n"
            "Runs the job of FILE with [sim] workers simulated workers on a simulated clock:\n"
            "worker i takes tau_i time units per sample gradient ([sim] speeds). The method\n"
            "code is the daemon's. A JSON line per [sim] log_every updates goes to [sim] log\n"
            "(standard output when empty).\n"
            "\n"
            "  -c, --config FILE       job configuration (INI), as for paramd\n"
            "  -o, --set S.KEY=VALUE   override one configuration key (repeatable)\n"
            "  -n, --check-config      validate the configuration and exit (0 = valid)\n"
            "  -h, --help              this help\n"
            "  -V, --version           print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 'o'},
        {"check-config", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *overrides[MAX_OVERRIDES + 1];
    size_t n_overrides = 0;
    const char *config_path = NULL;
    bool check_only = false;
    pd_config_t cfg = {0};
    pd_sim_t *sim = NULL;
    char err[8192] = "";
    double t0;
    int code = EXIT_OK;
    int c, rc;

    pd_blas_threads_default();
    pd_log_setup("paramd-sim", PD_LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:o:nhV", long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'o':
            if (n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "paramd-sim: more than %d -o options\n", MAX_OVERRIDES);
                return EXIT_USAGE;
            }
            overrides[n_overrides++] = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("paramd-sim %s\n", PACKAGE_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "paramd-sim: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    overrides[n_overrides] = NULL;
    rc = pd_config_build(&cfg, config_path, overrides, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s", err[0] != '\0' ? err : pd_strerror(rc));
        if (err[0] == '\0' || err[strlen(err) - 1] != '\n') {
            fputc('\n', stderr);
        }
        code = EXIT_CONFIG;
        goto out;
    }
    if (cfg.shards > 1) {
        fprintf(stderr, "paramd-sim: [server] shards = %" PRId64 ": the simulator runs the job on "
                        "one server (its results are the same bit for bit)\n", cfg.shards);
        code = EXIT_CONFIG;
        goto out;
    }
    if (check_only) {
        printf("%s: configuration OK\n", config_path != NULL ? config_path : "(defaults)");
        goto out;
    }
    pd_log_set_level(cfg.log_level + PD_LOG_ERR);
    t0 = pd_clock_mono_s();
    rc = pd_sim_new(&sim, &cfg);
    if (rc != 0) {
        pd_log_err("cannot start: %s", pd_strerror(rc));
        code = rc == PD_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
        goto out;
    }
    code = pd_sim_run(sim);
    pd_log_info("simulated %" PRIu64 " results up to time %.6g in %.2f s", pd_sim_events(sim),
                pd_sim_now(sim), pd_clock_mono_s() - t0);
out:
    pd_sim_free(sim);
    pd_config_release(&cfg);
    return code;
}
