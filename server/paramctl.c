/* paramctl.c - the operator's client of the status socket: one HTTP/1.1 request per call over
 * the unix socket (blocking, with a deadline; this is a command-line tool, not the loop),
 * human tables by default, the server's JSON with --json. Every subcommand is one row of
 * `commands`, which also prints the help, so the two cannot drift apart.
 * Exit codes: 0 ok, 1 the server answered with an error, 2 usage, 3 cannot connect. */
#include <config.h>
#define _GNU_SOURCE 1 /* getopt_long; before any system header */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

enum { EXIT_OK = 0, EXIT_SERVER = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

#define DEFAULT_SOCKET "/run/paramd/status.sock"
#define MAX_REPLY (64u << 20)
#define IO_TIMEOUT_S 10

typedef struct ctl {
    const char *socket_path;
    bool json;
} ctl_t;

typedef struct reply {
    int status;
    char *raw;   /* the whole response */
    char *body;  /* points into raw */
    size_t body_len;
} reply_t;

static void reply_free(reply_t *r)
{
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

/* One request; returns EXIT_OK with *r filled (any HTTP status), EXIT_CONNECT when the socket
 * cannot be reached, or EXIT_SERVER when the reply is not HTTP. Messages go to stderr unless
 * quiet. */
static int request(const ctl_t *c, const char *method, const char *path, reply_t *r, bool quiet)
{
    struct sockaddr_un sa;
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    char req[512];
    int fd = -1;
    int rc = EXIT_CONNECT;
    size_t len = 0, cap = 0;
    char *buf = NULL;

    memset(r, 0, sizeof(*r));
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
        if (!quiet) {
            fprintf(stderr, "paramctl: socket path too long: %s\n", c->socket_path);
        }
        return EXIT_CONNECT;
    }
    memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (!quiet) {
            fprintf(stderr, "paramctl: cannot connect to %s: %s\n", c->socket_path,
                    strerror(errno));
        }
        goto out;
    }
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: paramd\r\nUser-Agent: paramctl/%s\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     method, path, PACKAGE_VERSION);
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (!quiet) {
                fprintf(stderr, "paramctl: cannot send to %s: %s\n", c->socket_path,
                        strerror(errno));
            }
            goto out;
        }
        off += (size_t)w;
    }
    rc = EXIT_SERVER;
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap > 0 ? cap * 2 : 16384;
            char *nb = ncap <= MAX_REPLY + 4096 ? realloc(buf, ncap + 1) : NULL;
            if (nb == NULL) {
                if (!quiet) {
                    fprintf(stderr, "paramctl: reply too large or out of memory\n");
                }
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = recv(fd, buf + len, cap - len, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            if (!quiet) {
                fprintf(stderr, "paramctl: reading the reply: %s\n", strerror(errno));
            }
            goto out;
        }
        if (got == 0) {
            break;
        }
        len += (size_t)got;
    }
    buf[len] = '\0';
    int status = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*1[01] %3d", &status) != 1 || end == NULL || status < 100) {
        if (!quiet) {
            fprintf(stderr, "paramctl: the reply is not HTTP\n");
        }
        goto out;
    }
    r->status = status;
    r->raw = buf;
    r->body = end + 4;
    r->body_len = len - (size_t)(r->body - buf);
    buf = NULL;
    rc = EXIT_OK;
out:
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* A reply with status >= 300: print the server's {"error": ...} and return EXIT_SERVER. */
static int server_error(const reply_t *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *msg = j != NULL ? json_string_value(json_object_get(j, "error")) : NULL;
    fprintf(stderr, "paramctl: server answered %d: %s\n", r->status,
            msg != NULL ? msg : "(no message)");
    json_decref(j);
    return EXIT_SERVER;
}

/* GET path and parse its JSON body. Returns an exit code; *out set on EXIT_OK. */
static int get_json(const ctl_t *c, const char *path, json_t **out, bool quiet)
{
    reply_t r;
    int rc = request(c, "GET", path, &r, quiet);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (r.status != 200) {
        rc = quiet ? EXIT_SERVER : server_error(&r);
        reply_free(&r);
        return rc;
    }
    json_error_t err;
    *out = json_loadb(r.body, r.body_len, 0, &err);
    reply_free(&r);
    if (*out == NULL) {
        if (!quiet) {
            fprintf(stderr, "paramctl: %s: bad JSON: %s\n", path, err.text);
        }
        return EXIT_SERVER;
    }
    return EXIT_OK;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    if (s != NULL) {
        printf("%s\n", s);
        free(s);
    }
}

/* A JSON number or null as text with %g-like precision; "-" for null or absent. */
static const char *num(json_t *v, int prec, char *buf, size_t len)
{
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, len, "%.*g", prec, json_real_value(v));
    } else if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
    } else {
        snprintf(buf, len, "-");
    }
    return buf;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "-";
}

static void print_status(json_t *st)
{
    char a[64], b[64], e[64], f[64], g[64];
    json_t *job = json_object_get(st, "job");
    json_t *m = json_object_get(st, "metrics");

    printf("state              %s\n", str(st, "state"));
    printf("paramd             %s, up %s s, training %s s\n", str(st, "paramd_version"),
           num(json_object_get(st, "uptime_s"), 4, a, sizeof(a)),
           num(json_object_get(st, "training_s"), 4, b, sizeof(b)));
    if (json_integer_value(json_object_get(st, "waiting_for_workers")) > 0) {
        printf("waiting for        %s more worker(s) before training begins (min_workers)\n",
               num(json_object_get(st, "waiting_for_workers"), 10, a, sizeof(a)));
    }
    printf("job                %s  %s  model %s  dim %s  samples %s\n", str(job, "id"),
           str(job, "method"), str(job, "model"),
           num(json_object_get(job, "dim"), 10, b, sizeof(b)),
           num(json_object_get(job, "samples"), 10, e, sizeof(e)));
    printf("parameter version  %s  (%s updates/s)\n",
           num(json_object_get(st, "parameter_version"), 15, a, sizeof(a)),
           num(json_object_get(m, "updates_per_second"), 4, b, sizeof(b)));
    printf("objective          %s  (at version %s)\n",
           num(json_object_get(st, "objective"), 6, a, sizeof(a)),
           num(json_object_get(m, "evaluated_version"), 15, b, sizeof(b)));
    printf("test accuracy      %s\n", num(json_object_get(st, "test_accuracy"), 4, a, sizeof(a)));
    printf("workers            %s ready, %s sessions\n",
           num(json_object_get(st, "workers"), 10, a, sizeof(a)),
           num(json_object_get(st, "sessions"), 10, b, sizeof(b)));
    printf("gradients          %s applied, %s dropped stale, staleness mean %s\n",
           num(json_object_get(m, "gradients_applied_total"), 15, a, sizeof(a)),
           num(json_object_get(m, "gradients_dropped_stale_total"), 15, e, sizeof(e)),
           num(json_object_get(m, "staleness_mean"), 3, f, sizeof(f)));
    printf("bad messages       %s\n",
           num(json_object_get(m, "bad_messages_total"), 15, g, sizeof(g)));
    json_t *shards = json_object_get(st, "shards");
    for (size_t i = 0; i < json_array_size(shards); i++) {
        json_t *s = json_array_get(shards, i);
        printf("%-18s %s  keys [%s, %s)", i == 0 ? "shards" : "", str(s, "endpoint"),
               num(json_object_get(s, "key_begin"), 15, a, sizeof(a)),
               num(json_object_get(s, "key_end"), 15, b, sizeof(b)));
        if (i == 0) {
            printf("  (this paramd)\n");
        } else {
            printf("  heard %s s ago%s\n", num(json_object_get(s, "silent_s"), 2, e, sizeof(e)),
                   json_is_false(json_object_get(s, "running")) ? ", exited" : "");
        }
    }
    if (json_object_get(st, "stop_reason") != NULL) {
        printf("stop reason        %s\n", str(st, "stop_reason"));
    }
}

static void print_workers(json_t *ws)
{
    size_t i;
    json_t *w;
    char a[64], b[64], c[64], d[64], e[64], f[64], g[64];

    printf("%4s  %-16s %-16s %5s %-9s %7s %8s %9s %8s %10s %9s\n", "ID", "NAME", "HOST", "CORES",
           "STATE", "SEEN_S", "TASKS", "APPLIED", "DROPPED", "COMPUTE_S", "STALENESS");
    json_array_foreach(ws, i, w) {
        printf("%4s  %-16.16s %-16.16s %5s %-9s %7s %8s %9s %8s %10s %9s\n",
               num(json_object_get(w, "id"), 10, a, sizeof(a)), str(w, "name"), str(w, "host"),
               num(json_object_get(w, "cores"), 10, b, sizeof(b)), str(w, "state"),
               num(json_object_get(w, "last_seen_s"), 2, c, sizeof(c)),
               num(json_object_get(w, "tasks_done"), 15, d, sizeof(d)),
               num(json_object_get(w, "gradients_applied"), 15, e, sizeof(e)),
               num(json_object_get(w, "gradients_dropped"), 15, f, sizeof(f)),
               num(json_object_get(w, "compute_seconds"), 4, g, sizeof(g)),
               num(json_object_get(w, "staleness_mean"), 3, a, sizeof(a)));
    }
    if (json_array_size(ws) == 0) {
        printf("(no workers)\n");
    }
}

/* ---- commands ------------------------------------------------------------------------------ */

static int cmd_get_print(const ctl_t *c, const char *path, void (*human)(json_t *))
{
    json_t *j = NULL;
    int rc = get_json(c, path, &j, false);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (c->json) {
        print_json(j);
    } else {
        human(j);
    }
    json_decref(j);
    return EXIT_OK;
}

static int cmd_status(const ctl_t *c, char **args)
{
    (void)args;
    return cmd_get_print(c, "/status", print_status);
}

static int cmd_workers(const ctl_t *c, char **args)
{
    (void)args;
    return cmd_get_print(c, "/workers", print_workers);
}

static int cmd_metrics(const ctl_t *c, char **args)
{
    reply_t r;
    (void)args;

    if (c->json) {
        /* The same names as the Prometheus text, from the one walk, as a JSON object. */
        json_t *j = NULL;
        int rc = get_json(c, "/status", &j, false);
        if (rc == EXIT_OK) {
            print_json(json_object_get(j, "metrics"));
            json_decref(j);
        }
        return rc;
    }
    int rc = request(c, "GET", "/metrics", &r, false);
    if (rc != EXIT_OK) {
        return rc;
    }
    rc = r.status == 200 ? EXIT_OK : server_error(&r);
    if (rc == EXIT_OK) {
        fwrite(r.body, 1, r.body_len, stdout);
    }
    reply_free(&r);
    return rc;
}

/* evict_id: the worker id of an eviction, NULL for a checkpoint request. */
static int cmd_post(const ctl_t *c, const char *path, const char *evict_id)
{
    reply_t r;
    int rc = request(c, "POST", path, &r, false);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (r.status >= 300) {
        rc = server_error(&r);
    } else if (c->json) {
        fwrite(r.body, 1, r.body_len, stdout);
    } else {
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        char v[64];
        if (evict_id != NULL) {
            printf("worker %s evicted\n", evict_id);
        } else {
            printf("checkpoint requested at version %s\n",
                   num(json_object_get(j, "version"), 15, v, sizeof(v)));
        }
        json_decref(j);
    }
    reply_free(&r);
    return rc;
}

static int cmd_checkpoint(const ctl_t *c, char **args)
{
    (void)args;
    return cmd_post(c, "/checkpoint", NULL);
}

static int cmd_evict(const ctl_t *c, char **args)
{
    char path[64];
    char *end = NULL;
    errno = 0;
    unsigned long id = strtoul(args[0], &end, 10);
    if (args[0][0] < '0' || args[0][0] > '9' || *end != '\0' || errno != 0 || id > 4294967295UL) {
        fprintf(stderr, "paramctl: evict: '%s' is not a worker id (see paramctl workers)\n",
                args[0]);
        return EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/workers/%lu/evict", id);
    return cmd_post(c, path, args[0]);
}

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
    (void)sig;
    stop_watch = 1;
}

static int cmd_watch(const ctl_t *c, char **args)
{
    struct sigaction sa;
    bool tty = isatty(STDOUT_FILENO);
    bool ever_ok = false;
    (void)args;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint; /* no SA_RESTART: a sleep or read ends at Ctrl-C */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_watch) {
        json_t *st = NULL, *ws = NULL;
        int rc = get_json(c, "/status", &st, ever_ok);
        if (rc == EXIT_OK) {
            rc = get_json(c, "/workers", &ws, ever_ok);
        }
        if (rc != EXIT_OK && !ever_ok) {
            json_decref(st);
            return rc;
        }
        if (c->json) {
            /* One compact line per second: easy to follow with jq or a plot script. */
            if (st != NULL && ws != NULL) {
                json_object_set(st, "worker_list", ws);
                char *s = json_dumps(st, JSON_COMPACT | JSON_REAL_PRECISION(12));
                if (s != NULL) {
                    printf("%s\n", s);
                    free(s);
                }
            }
        } else {
            time_t now = time(NULL);
            char when[64];
            strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
            if (tty) {
                fputs("\033[H\033[2J", stdout);
            }
            printf("paramctl watch  %s  %s  (Ctrl-C to quit)\n\n", c->socket_path, when);
            if (rc == EXIT_OK) {
                print_status(st);
                printf("\n");
                print_workers(ws);
            } else {
                printf("cannot reach the daemon; retrying\n");
            }
        }
        fflush(stdout);
        ever_ok = ever_ok || rc == EXIT_OK;
        json_decref(st);
        json_decref(ws);
        struct timespec ts = {.tv_sec = 1};
        while (!stop_watch && nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
    return EXIT_OK;
}

/* ---- keygen: local, no daemon needed ------------------------------------------------------ */

/* Create path exclusively with mode and write text; 0 or an errno (message printed). */
static int write_new_file(const char *path, mode_t mode, const char *text)
{
    size_t len = strlen(text), off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    int err = 0;

    if (fd < 0) {
        err = errno;
        fprintf(stderr, "paramctl: keygen: cannot create %s: %s%s\n", path, strerror(err),
                err == EEXIST ? " (not overwriting a key; remove it first or pick another PREFIX)"
                              : "");
        return err;
    }
    /* The umask can only remove bits; make the mode exact (0600 for the secret key). */
    if (fchmod(fd, mode) != 0) {
        err = errno;
    }
    while (err == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            err = errno;
            break;
        }
        off += (size_t)w;
    }
    if (err == 0 && fsync(fd) != 0) {
        err = errno;
    }
    if (close(fd) != 0 && err == 0) {
        err = errno;
    }
    if (err != 0) {
        fprintf(stderr, "paramctl: keygen: cannot write %s: %s\n", path, strerror(err));
        unlink(path);
    }
    return err;
}

static int cmd_keygen(const ctl_t *c, char **args)
{
    char host[256] = "paramd";
    char key_path[4096], pub_path[4096], name[64];
    char pub[41], sec[41], when[64];
    char text[2048];
    struct stat st;
    time_t now = time(NULL);
    const char *prefix = args[0];
    int rc = EXIT_SERVER;

    if (prefix == NULL) {
        if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
            snprintf(host, sizeof(host), "paramd");
        }
        prefix = host; /* a worker's default name is its host name too */
    }
    if (!zmq_has("curve")) {
        fprintf(stderr, "paramctl: keygen: this libzmq has no CURVE support\n");
        return EXIT_SERVER;
    }
    if (snprintf(key_path, sizeof(key_path), "%s.key", prefix) >= (int)sizeof(key_path) ||
        snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix) >= (int)sizeof(pub_path)) {
        fprintf(stderr, "paramctl: keygen: PREFIX too long\n");
        return EXIT_USAGE;
    }
    /* Check both before writing either, so a refusal leaves nothing half done. */
    for (const char *p = key_path; p != NULL; p = p == key_path ? pub_path : NULL) {
        if (lstat(p, &st) == 0) {
            fprintf(stderr, "paramctl: keygen: %s exists; not overwriting a key (remove it "
                            "first or pick another PREFIX)\n", p);
            return EXIT_SERVER;
        }
    }
    /* The name in the .pub line: the PREFIX's base name, printable and without blanks, so
     * that the line can be appended to authorized_workers as it is. */
    const char *base = strrchr(prefix, '/');
    base = base != NULL ? base + 1 : prefix;
    size_t n = 0;
    for (; base[n] != '\0' && n < sizeof(name) - 1; n++) {
        unsigned char ch = (unsigned char)base[n];
        name[n] = ch > 0x20 && ch < 0x7f ? (char)ch : '_';
    }
    name[n] = '\0';
    if (n == 0) {
        snprintf(name, sizeof(name), "paramd");
    }
    /* Z85 has '#': a public key starting with it would read as a comment line to a human. */
    do {
        if (zmq_curve_keypair(pub, sec) != 0) {
            fprintf(stderr, "paramctl: keygen: %s\n", zmq_strerror(zmq_errno()));
            return EXIT_SERVER;
        }
    } while (pub[0] == '#');
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    snprintf(text, sizeof(text),
             "#   ****  Generated on %s by paramctl keygen  ****\n"
             "#   paramd CURVE **secret** key pair of \"%s\".\n"
             "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions (0600):\n"
             "#   whoever can read it can pose as %s. Hand out %s.pub instead.\n"
             "#   Server: [security] server_key_file = this file.\n"
             "#   Worker: paramd-worker --key-file this file.\n"
             "\n"
             "public-key = \"%s\"\n"
             "secret-key = \"%s\"\n",
             when, name, name, name, pub, sec);
    if (write_new_file(key_path, 0600, text) != 0) {
        goto out;
    }
    snprintf(text, sizeof(text),
             "#   ****  Generated on %s by paramctl keygen  ****\n"
             "#   paramd CURVE public key of \"%s\"; the secret half is in %s.key.\n"
             "#   A worker's key: append this file to the server's authorized_workers.\n"
             "#   The server's key: give it to workers (paramd-worker --server-key).\n"
             "%s %s\n",
             when, name, name, pub, name);
    if (write_new_file(pub_path, 0644, text) != 0) {
        unlink(key_path);
        goto out;
    }
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "secret_file", key_path, "public_file",
                              pub_path, "public_key", pub, "name", name);
        print_json(j);
        json_decref(j);
    } else {
        printf("wrote %s (secret key pair, mode 0600) and %s\npublic key: %s %s\n", key_path,
               pub_path, pub, name);
    }
    rc = EXIT_OK;
out:
    memset(sec, 0, sizeof(sec));
    memset(text, 0, sizeof(text));
    return rc;
}

typedef struct command {
    const char *name;
    const char *args; /* for the help line */
    int n_args;       /* arguments required; -1: one optional argument */
    int (*run)(const ctl_t *c, char **args);
    const char *help;
} command_t;

static const command_t commands[] = {
    {"status", "", 0, cmd_status, "state, job, version, objective, test accuracy, workers"},
    {"workers", "", 0, cmd_workers, "the connected workers with their counters"},
    {"metrics", "", 0, cmd_metrics,
     "the Prometheus metrics text (--json: the same metrics as a JSON object)"},
    {"checkpoint", "", 0, cmd_checkpoint, "write a checkpoint now (needs [server] state_dir)"},
    {"evict", "ID", 1, cmd_evict, "tell worker ID to leave and give its task to others"},
    {"watch", "", 0, cmd_watch, "live view of status and workers, redrawn every second"},
    {"keygen", "[PREFIX]", -1, cmd_keygen,
     "write a CURVE key pair: PREFIX.key (secret, 0600) and PREFIX.pub (default PREFIX: host "
     "name); no daemon needed"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out,
            "usage: paramctl [-s SOCKET] [--json] COMMAND [ARG]\n"
            "Talk to a running paramd through its status socket.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char head[32];
        snprintf(head, sizeof(head), "%s %s", commands[i].name, commands[i].args);
        fprintf(out, "  %-14s %s\n", head, commands[i].help);
    }
    fprintf(out,
            "\nOptions:\n"
            "  -s, --socket PATH  status socket (default $PARAMD_STATUS, else %s)\n"
            "  -j, --json         print the server's JSON instead of tables\n"
            "  -h, --help         this help\n"
            "  -V, --version      print the version\n"
            "\nExit status: 0 ok, 1 the server answered with an error (keygen: the files\n"
            "could not be written, or exist), 2 usage error, 3 cannot connect to the socket.\n",
            DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    ctl_t c = {.socket_path = getenv("PARAMD_STATUS"), .json = false};
    int opt;

    while ((opt = getopt_long(argc, argv, "s:jhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': c.socket_path = optarg; break;
        case 'j': c.json = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("paramctl %s\n", PACKAGE_VERSION); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (c.socket_path == NULL || c.socket_path[0] == '\0') {
        c.socket_path = DEFAULT_SOCKET;
    }
    if (strncmp(c.socket_path, "unix:", 5) == 0) {
        c.socket_path += 5; /* the form [server] status uses */
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[optind], commands[i].name) != 0) {
            continue;
        }
        int given = argc - optind - 1;
        if (given != commands[i].n_args && !(commands[i].n_args < 0 && given <= 1)) {
            fprintf(stderr, "paramctl: %s takes %s\n", commands[i].name,
                    commands[i].n_args == 0 ? "no argument" : commands[i].args);
            return EXIT_USAGE;
        }
        return commands[i].run(&c, argv + optind + 1);
    }
    fprintf(stderr, "paramctl: unknown command '%s' (paramctl --help lists them)\n",
            argv[optind]);
    return EXIT_USAGE;
}
