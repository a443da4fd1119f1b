/* bench_daemon.h - a paramd started by a benchmark program: a temporary directory with its
 * configuration, log and endpoint file, started with posix_spawn before any ZeroMQ context
 * exists (so no thread is ever forked), stopped with SIGTERM. Shared by bench/wire,
 * bench/load and bench/memory. */
#ifndef PD_BENCH_DAEMON_H
#define PD_BENCH_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct bench_daemon {
    pid_t pid;
    char dir[64];
    char conf[128];
    char log[128];
    char epfile[128];
    char endpoint[256];
} bench_daemon_t;

/* Monotonic seconds. */
double bench_now_s(void);

/* A size field of /proc/PID/status ("VmRSS:", "VmHWM:"), in MiB; NAN when unknown. */
double bench_proc_mib(pid_t pid, const char *field);

/* Write the configuration ("[server]" with an ephemeral loopback listen, the endpoint file,
 * log level warning and no progress line, then server_rest verbatim: more [server] keys
 * and the other sections), start paramd in dp->dir (its relative output paths land there),
 * and wait (15 s at most) until it listens; dp's endpoint is then set. prog names the caller
 * in messages. 0 or a negative errno. */
int bench_daemon_start(bench_daemon_t *dp, const char *paramd, const char *prog,
                       const char *server_rest);
/* SIGTERM, then wait (bounded) and require exit status 0. */
int bench_daemon_stop(bench_daemon_t *dp, const char *prog);
void bench_daemon_print_log(const bench_daemon_t *dp);
/* Remove the directory and its files (but the ones named in extra, NULL-terminated, too). */
void bench_daemon_cleanup(const bench_daemon_t *dp, bool keep, const char *const *extra);
/* The daemon to run: given (--paramd), else $PARAMD, else ../server/paramd next to the
 * program (the build tree). NULL, with a message naming prog, when it is not executable. */
const char *bench_find_paramd(const char *given, const char *argv0, char *buf, size_t len,
                              const char *prog);

#endif
