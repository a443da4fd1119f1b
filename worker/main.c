/* main.c - paramd-worker: options, signals, run. The only place that calls exit(). */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signum)
{
    (void)signum;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: paramd-worker --server ENDPOINT [--name NAME] [--data PATH]\n"
            "                     [--data-dir DIR] [--threads N] [--slowdown X]\n"
            "\n"
            "  -s, --server EP        the paramd endpoint, e.g. tcp://server:5555\n"
            "  -n, --name NAME        name shown by the server (default: host name)\n"
            "  -d, --data PATH        the training set here, instead of the job's path\n"
            "  -D, --data-dir DIR     find the job's data files (by base name) in DIR\n"
            "  -t, --threads N        threads per gradient (default 1)\n"
            "  -x, --slowdown X       take X times as long per task (X >= 1), to emulate a\n"
            "                         slower machine\n"
            "      --join-timeout S   give up after S seconds without a server (default: never)\n"
            "  -l, --log-level LEVEL  err, warning, notice, info (default), debug\n"
            "  -h, --help             this help\n");
}

static int parse_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "paramd-worker: %s wants a number from %g to %g, got '%s'\n", opt, lo,
                hi, text);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"server", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"data", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"threads", required_argument, NULL, 't'},
        {"slowdown", required_argument, NULL, 'x'},
        {"join-timeout", required_argument, NULL, 'J'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pd_worker_opts_t o = {0};
    struct sigaction sa;
    double v;
    int c, level = PD_LOG_INFO;

    o.threads = 1;
    o.slowdown = 1.0;
    while ((c = getopt_long(argc, argv, "s:n:d:D:t:x:l:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.server = optarg;
            break;
        case 'n':
            o.name = optarg;
            break;
        case 'd':
            o.data = optarg;
            break;
        case 'D':
            o.data_dir = optarg;
            break;
        case 't':
            if (parse_number("--threads", optarg, 1, 64, &v) != 0) {
                return PD_WORKER_EXIT_USAGE;
            }
            o.threads = (unsigned)v;
            break;
        case 'x':
            if (parse_number("--slowdown", optarg, 1, 1e6, &v) != 0) {
                return PD_WORKER_EXIT_USAGE;
            }
            o.slowdown = v;
            break;
        case 'J':
            if (parse_number("--join-timeout", optarg, 0, 1e6, &v) != 0) {
                return PD_WORKER_EXIT_USAGE;
            }
            o.join_timeout_ms = (int)(v * 1000);
            break;
        case 'l':
            level = pd_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "paramd-worker: unknown log level '%s'\n", optarg);
                return PD_WORKER_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return PD_WORKER_EXIT_OK;
        default:
            usage(stderr);
            return PD_WORKER_EXIT_USAGE;
        }
    }
    if (o.server == NULL || optind < argc) {
        fprintf(stderr, "paramd-worker: %s\n",
                o.server == NULL ? "--server ENDPOINT is required" : "unexpected argument");
        usage(stderr);
        return PD_WORKER_EXIT_USAGE;
    }
    pd_log_setup("paramd-worker", level);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: a blocking poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return pd_worker_run(&o, &stop_requested);
}
