/* main.c - paramd: parse options, load and check the configuration, build the daemon, run
 * the loop, tear down. The only place that calls exit(); exit codes are the enum below
 * (documented in paramd(8)). */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_threads.h"
#include "common/config.h"
#include "daemon.h"
#include "error.h"
#include "log.h"

enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1, /* the job failed or could not start */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_CONFIG = 3,  /* the configuration is invalid */
};

#define MAX_OVERRIDES 256
#define MAX_WORKER_ARGS 32

static void usage(FILE *out)
{
    fprintf(out,
            "usage: paramd [-c FILE] [-o section.key=value]... [--local-workers N]\n"
            "              [--check-config] [--print-fingerprint]\n"
            "              [--config-reference[=md|man]]\n"
            "\n"
            "  -c, --config FILE       job and server configuration (INI)\n"
            "  -o, --set S.KEY=VALUE   override one configuration key (repeatable)\n"
            "  -n, --check-config      validate the configuration and exit (0 = valid)\n"
            "      --print-fingerprint load the [data] sets and print the fingerprint of the\n"
            "                          training set, then of the test set if there is one,\n"
            "                          one per line as 16 hex digits, and exit\n"
            "  -l, --local-workers N   start N paramd-worker processes on this host and exit\n"
            "                          when the job is done\n"
            "  -w, --worker-arg ARG    pass ARG to every local worker (repeatable)\n"
            "      --local-shards N    split the parameters over N servers, starting shards\n"
            "                          1 .. N-1 on this host (sets [server] shards = N)\n"
            "      --shard I           be shard I of the job the configuration describes:\n"
            "                          hold and serve its key range; shard 0 connects\n"
            "      --worker-program P  paramd-worker binary for local workers\n"
            "      --config-reference[=md|man]\n"
            "                          print the reference of every configuration key as\n"
            "                          Markdown (default) or as the paramd.conf(5) man page\n"
            "  -h, --help              this help\n"
            "  -V, --version           print the version\n");
}

/* The exit status of a job that could not be built: 3 for a configuration problem, else 1.
 * One rule for the start, --check-config and --print-fingerprint, so they agree. */
static int exit_status_of(int rc)
{
    return rc == PD_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
}

/* --print-fingerprint: the sets loaded exactly as a job start loads them (pd_job_load_data),
 * so the value is the one WELCOME sends; stdout gets the fingerprints and nothing else. */
static int print_fingerprints(const pd_config_t *cfg)
{
    pd_data_t *train = NULL, *test = NULL;
    int rc = pd_job_load_data(cfg, &train, &test);

    if (rc != 0) {
        return exit_status_of(rc);
    }
    rc = pd_data_print_fingerprints(stdout, train, test);
    pd_data_free(train);
    pd_data_free(test);
    return rc == 0 ? EXIT_OK : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 'o'},
        {"check-config", no_argument, NULL, 'n'},
        {"print-fingerprint", no_argument, NULL, 'F'},
        {"local-workers", required_argument, NULL, 'l'},
        {"local-shards", required_argument, NULL, 'S'},
        {"shard", required_argument, NULL, 'I'},
        {"worker-arg", required_argument, NULL, 'w'},
        {"worker-program", required_argument, NULL, 'P'},
        {"config-reference", optional_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *overrides[MAX_OVERRIDES + 1];
    const char *worker_args[MAX_WORKER_ARGS + 1];
    size_t n_overrides = 0, n_worker_args = 0;
    pd_daemon_opts_t opts = {0};
    char shards_override[32];
    bool check_only = false, print_fingerprint = false;
    pd_config_t cfg = {0};
    pd_daemon_t *d = NULL;
    char err[8192] = "";
    int code = EXIT_OK;
    int c, rc;

    pd_blas_threads_default();
    pd_log_setup("paramd", PD_LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:o:nl:w:hV", long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts.config_path = optarg;
            break;
        case 'o':
            if (n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "paramd: more than %d -o options\n", MAX_OVERRIDES);
                return EXIT_USAGE;
            }
            overrides[n_overrides++] = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        case 'F':
            print_fingerprint = true;
            break;
        case 'l': {
            char *end;
            long n;
            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n < 0 || n > PD_MAX_LOCAL_WORKERS) {
                fprintf(stderr, "paramd: --local-workers wants a number from 0 to %d, got '%s'\n",
                        PD_MAX_LOCAL_WORKERS, optarg);
                return EXIT_USAGE;
            }
            opts.local_workers = (unsigned)n;
            break;
        }
        case 'S':
        case 'I': {
            char *end;
            long n;
            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n < 1 || n > PD_WIRE_MAX_SHARDS ||
                (c == 'S' && n < 2) || (c == 'I' && n >= PD_WIRE_MAX_SHARDS)) {
                fprintf(stderr, "paramd: %s wants a number from %d to %d, got '%s'\n",
                        c == 'S' ? "--local-shards" : "--shard", c == 'S' ? 2 : 1,
                        c == 'S' ? PD_WIRE_MAX_SHARDS : PD_WIRE_MAX_SHARDS - 1, optarg);
                return EXIT_USAGE;
            }
            if (c == 'I') {
                opts.shard_index = (unsigned)n;
                break;
            }
            if (n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "paramd: more than %d -o options\n", MAX_OVERRIDES);
                return EXIT_USAGE;
            }
            opts.local_shards = (unsigned)n;
            snprintf(shards_override, sizeof(shards_override), "server.shards=%ld", n);
            overrides[n_overrides++] = shards_override;
            break;
        }
        case 'w':
            if (n_worker_args == MAX_WORKER_ARGS) {
                fprintf(stderr, "paramd: more than %d --worker-arg options\n", MAX_WORKER_ARGS);
                return EXIT_USAGE;
            }
            worker_args[n_worker_args++] = optarg;
            break;
        case 'P':
            opts.worker_program = optarg;
            break;
        case 'R':
            if (optarg == NULL || strcmp(optarg, "md") == 0) {
                return pd_config_write_reference_md(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
            }
            if (strcmp(optarg, "man") == 0) {
                return pd_config_write_reference_man(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
            }
            fprintf(stderr, "paramd: --config-reference wants md or man, got '%s'\n", optarg);
            return EXIT_USAGE;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("paramd %s\n", PACKAGE_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "paramd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    worker_args[n_worker_args] = NULL;
    opts.worker_args = worker_args;
    overrides[n_overrides] = NULL;
    opts.overrides = overrides; /* SIGHUP applies them again on top of the file */

    rc = pd_config_build(&cfg, opts.config_path, overrides, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s", err[0] != '\0' ? err : pd_strerror(rc));
        if (err[0] == '\0' || err[strlen(err) - 1] != '\n') {
            fputc('\n', stderr);
        }
        if (opts.config_path == NULL) {
            /* the defaults alone describe no job: say what is missing first */
            fprintf(stderr, "paramd: no configuration file: give one with -c FILE (see "
                            "paramd.conf(5) and the examples/ of the source)\n");
        }
        code = EXIT_CONFIG;
        goto out;
    }
    /* The same checks before --check-config's verdict and before a start, so that
     * ExecStartPre catches what the start would refuse, with the same exit status. */
    err[0] = '\0';
    if (pd_config_check_environment(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s", err);
        code = EXIT_CONFIG;
        goto out;
    }
    if (opts.shard_index > 0 && opts.shard_index >= (unsigned)cfg.shards) {
        fprintf(stderr, "paramd: --shard %u, but [server] shards = %" PRId64 "\n",
                opts.shard_index, cfg.shards);
        code = EXIT_CONFIG;
        goto out;
    }
    if (opts.shard_index > 0 && opts.local_shards > 0) {
        fprintf(stderr, "paramd: --shard and --local-shards exclude each other\n");
        code = EXIT_USAGE;
        goto out;
    }
    if (print_fingerprint) {
        code = print_fingerprints(&cfg);
        goto out;
    }
    if (check_only) {
        /* The data as well: loaded, checked against the model and the method, exactly as
         * the start does (a socketless daemon object), and the same exit status. */
        pd_config_t probe;
        pd_log_set_level(PD_LOG_WARNING); /* what is wrong, not what was loaded */
        if ((rc = pd_config_copy(&probe, &cfg)) == 0) {
            rc = pd_daemon_new_offline(&d, &probe);
            pd_config_release(&probe);
        }
        if (rc != 0) {
            fprintf(stderr, "paramd: the job cannot start: %s\n", pd_strerror(rc));
            code = exit_status_of(rc);
            goto out;
        }
        printf("%s: configuration OK\n", opts.config_path != NULL ? opts.config_path : "(defaults)");
        goto out;
    }
    pd_log_set_level(cfg.log_level + PD_LOG_ERR);
    if (opts.local_workers > 0) {
        cfg.exit_when_done = true;
    }
    /* A peer that disappears mid-send must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    rc = pd_daemon_new(&d, &cfg, &opts);
    if (rc != 0) {
        pd_log_err("cannot start: %s", pd_strerror(rc));
        code = exit_status_of(rc);
        goto out;
    }
    code = pd_daemon_run(d);
out:
    pd_daemon_free(d);
    pd_config_release(&cfg);
    return code;
}
