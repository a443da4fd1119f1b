/* main.c - paramd-worker: options, signals, run. The only place that calls exit(). */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_threads.h"
#include "curve.h"
#include "data.h"
#include "error.h"
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
            "                     [--data-dir DIR] [--cache-dir DIR] [--threads N]\n"
            "                     [--slowdown X]\n"
            "       paramd-worker --print-fingerprint --data PATH [--labels PATH]\n"
            "                     [--test PATH [--test-labels PATH]] [--format F]\n"
            "                     [--features N] [--max-samples N]\n"
            "\n"
            "  -s, --server EP        the paramd endpoint, e.g. tcp://server:5555\n"
            "  -n, --name NAME        name shown by the server (default: host name)\n"
            "  -d, --data PATH        the training set here, instead of the job's path\n"
            "  -D, --data-dir DIR     find the job's data files (by base name) in DIR\n"
            "  -C, --cache-dir DIR    keep copies of the data fetched from the server here\n"
            "                         (default: $CACHE_DIRECTORY, $XDG_CACHE_HOME/paramd or\n"
            "                         ~/.cache/paramd)\n"
            "  -t, --threads N        threads per gradient (default 1)\n"
            "  -x, --slowdown X       take X times as long per task (X >= 1), to emulate a\n"
            "                         slower machine\n"
            "      --join-timeout S   give up after S seconds without a server (default: never)\n"
            "      --exit-with-server exit when the server stops (SIGTERM) before the job is\n"
            "                         over; by default the worker keeps its data, waits for\n"
            "                         the server to come back (a restart) and rejoins\n"
            "      --ignore-cancel    finish every task and send its result even when the\n"
            "                         server cancels it, as workers from before CANCEL do (to\n"
            "                         test that the server still copes with them)\n"
            "      --server-key KEY   CURVE: the server's public key (Z85, or a file holding\n"
            "                         it, e.g. server.pub); default $PARAMD_SERVER_KEY\n"
            "      --key-file FILE    CURVE: this worker's key pair (the .key file of paramctl\n"
            "                         keygen); default $PARAMD_KEY_FILE\n"
            "      --print-fingerprint\n"
            "                         load --data (and --test, with the training set's\n"
            "                         features) as a job's [data] would be, print the\n"
            "                         fingerprint of each, one per line as 16 hex digits,\n"
            "                         and exit; no server is contacted. With it:\n"
            "      --labels PATH      the labels file of --data (IDX)\n"
            "      --test PATH        a test set; --test-labels PATH its labels file (IDX)\n"
            "      --format F         auto (default: from the file name), libsvm, idx, csv\n"
            "      --features N       the job's [data] features (default 0: from the file)\n"
            "      --max-samples N    the job's [data] max_samples (default 0: all)\n"
            "  -l, --log-level LEVEL  err, warning, notice, info (default), debug\n"
            "  -h, --help             this help\n"
            "  -V, --version          print the version\n");
}

/* An environment default: unset and empty both mean none. */
static const char *env_default(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Resolve --server-key and --key-file into o (keys in the static buffers below). A relative
 * key file is looked up in $CREDENTIALS_DIRECTORY when systemd set it (LoadCredential=), so
 * the unit can hand a root-only key to its dynamic user. Returns 0 or an exit code. */
static int load_security(pd_worker_opts_t *o, const char *server_key, const char *key_file)
{
    static char server_pub[PD_CURVE_KEY_LEN + 1];
    static pd_curve_keypair_t kp;
    static char cred_path[4096];
    char err[2048] = "";
    const char *creds = getenv("CREDENTIALS_DIRECTORY");

    if (server_key == NULL && key_file == NULL) {
        return 0;
    }
    if (server_key == NULL || key_file == NULL) {
        fprintf(stderr, "paramd-worker: CURVE needs both --server-key and --key-file (or "
                        "PARAMD_SERVER_KEY and PARAMD_KEY_FILE)\n");
        return PD_WORKER_EXIT_USAGE;
    }
    if (key_file[0] != '/' && creds != NULL && creds[0] != '\0') {
        snprintf(cred_path, sizeof(cred_path), "%s/%s", creds, key_file);
        key_file = cred_path;
    }
    if (pd_curve_load_public(server_key, server_pub, err, sizeof(err)) != 0 ||
        pd_curve_load_keypair(key_file, &kp, err, sizeof(err)) != 0) {
        fprintf(stderr, "paramd-worker: %s", err);
        return PD_WORKER_EXIT_USAGE;
    }
    o->server_key = server_pub;
    o->public_key = kp.pub;
    o->secret_key = kp.sec;
    o->key_file = key_file;
    return 0;
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

/* A whole number from 0 to 2^31 - 1, the range of the [data] keys it stands for. */
static int parse_count(const char *opt, const char *text, size_t *out)
{
    double v;
    if (parse_number(opt, text, 0, 2147483647.0, &v) != 0) {
        return -1;
    }
    if (v != floor(v)) {
        fprintf(stderr, "paramd-worker: %s wants a whole number, got '%s'\n", opt, text);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* What --print-fingerprint loads: the options of a job's [data] section, by hand. */
typedef struct fp_opts {
    bool print;                /* --print-fingerprint */
    bool any;                  /* an option that only --print-fingerprint takes */
    const char *labels, *test, *test_labels;
    pd_data_opts_t data;
} fp_opts_t;

/* --print-fingerprint: the sets loaded as the server loads a job's (pd_data_load_job), so the
 * values are the ones the server puts in WELCOME; stdout gets them and nothing else. */
static int print_fingerprints(const fp_opts_t *fp, const char *train_path, bool extra_args)
{
    pd_data_t *train = NULL, *test = NULL;
    char err[1024] = "";
    int rc;

    if (!fp->print || train_path == NULL || extra_args || (fp->test_labels && !fp->test)) {
        fprintf(stderr, "paramd-worker: %s\n",
                !fp->print    ? "--labels, --test, --test-labels, --format, --features and "
                                "--max-samples go with --print-fingerprint"
                : extra_args  ? "unexpected argument"
                : train_path == NULL ? "--print-fingerprint needs --data PATH"
                                     : "--test-labels needs --test");
        usage(stderr);
        return PD_WORKER_EXIT_USAGE;
    }
    rc = pd_data_load_job(&train, &test, train_path, fp->labels, fp->test, fp->test_labels,
                          &fp->data, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "paramd-worker: cannot load the data: %s\n",
                err[0] != '\0' ? err : pd_strerror(rc));
        return PD_WORKER_EXIT_DATA;
    }
    rc = pd_data_print_fingerprints(stdout, train, test);
    pd_data_free(train);
    pd_data_free(test);
    return rc == 0 ? PD_WORKER_EXIT_OK : PD_WORKER_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"server", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"data", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"cache-dir", required_argument, NULL, 'C'},
        {"threads", required_argument, NULL, 't'},
        {"slowdown", required_argument, NULL, 'x'},
        {"join-timeout", required_argument, NULL, 'J'},
        {"ignore-cancel", no_argument, NULL, 'I'},
        {"exit-with-server", no_argument, NULL, 'E'},
        {"log-level", required_argument, NULL, 'l'},
        {"server-key", required_argument, NULL, 'K'},
        {"key-file", required_argument, NULL, 'k'},
        {"print-fingerprint", no_argument, NULL, 'P'},
        {"labels", required_argument, NULL, 'L'},
        {"test", required_argument, NULL, 'T'},
        {"test-labels", required_argument, NULL, 'U'},
        {"format", required_argument, NULL, 'f'},
        {"features", required_argument, NULL, 'p'},
        {"max-samples", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    pd_worker_opts_t o = {0};
    fp_opts_t fp = {0};
    struct sigaction sa;
    double v;
    int c, level = PD_LOG_INFO;
    const char *server_key = env_default("PARAMD_SERVER_KEY");
    const char *key_file = env_default("PARAMD_KEY_FILE");

    pd_blas_threads_default();
    o.threads = 1;
    o.slowdown = 1.0;
    while ((c = getopt_long(argc, argv, "s:n:d:D:C:t:x:l:hV", long_opts, NULL)) != -1) {
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
        case 'C':
            o.cache_dir = optarg;
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
        case 'I':
            o.ignore_cancel = true;
            break;
        case 'E':
            o.exit_with_server = true;
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
        case 'K':
            server_key = optarg;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 'P':
            fp.print = true;
            break;
        case 'L':
            fp.labels = optarg;
            fp.any = true;
            break;
        case 'T':
            fp.test = optarg;
            fp.any = true;
            break;
        case 'U':
            fp.test_labels = optarg;
            fp.any = true;
            break;
        case 'f': {
            int format = pd_data_format_parse(optarg);
            if (format < 0) {
                fprintf(stderr, "paramd-worker: --format wants auto, libsvm, idx or csv, got "
                        "'%s'\n", optarg);
                return PD_WORKER_EXIT_USAGE;
            }
            fp.data.format = (pd_data_format_t)format;
            fp.any = true;
            break;
        }
        case 'p':
            if (parse_count("--features", optarg, &fp.data.n_features) != 0) {
                return PD_WORKER_EXIT_USAGE;
            }
            fp.any = true;
            break;
        case 'm':
            if (parse_count("--max-samples", optarg, &fp.data.max_samples) != 0) {
                return PD_WORKER_EXIT_USAGE;
            }
            fp.any = true;
            break;
        case 'h':
            usage(stdout);
            return PD_WORKER_EXIT_OK;
        case 'V':
            printf("paramd-worker %s\n", PACKAGE_VERSION);
            return PD_WORKER_EXIT_OK;
        default:
            usage(stderr);
            return PD_WORKER_EXIT_USAGE;
        }
    }
    if (fp.print || fp.any) {
        return print_fingerprints(&fp, o.data, optind < argc);
    }
    if (o.server == NULL || optind < argc) {
        fprintf(stderr, "paramd-worker: %s\n",
                o.server == NULL ? "--server ENDPOINT is required" : "unexpected argument");
        usage(stderr);
        return PD_WORKER_EXIT_USAGE;
    }
    if (strstr(o.server, "://") == NULL) {
        /* ZeroMQ would only say "Invalid argument" */
        fprintf(stderr, "paramd-worker: --server %s is not a ZeroMQ endpoint (did you mean "
                "tcp://%s?)\n", o.server, o.server);
        return PD_WORKER_EXIT_USAGE;
    }
    c = load_security(&o, server_key, key_file);
    if (c != 0) {
        return c;
    }
    pd_log_setup("paramd-worker", level);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: a blocking poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return pd_worker_run(&o, &stop_requested);
}
