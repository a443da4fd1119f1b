/* bench_daemon.c - see bench_daemon.h. */
#include <config.h>
#define _GNU_SOURCE 1 /* posix_spawn_file_actions_addchdir_np; before any system header */
#include "bench_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_proc_mib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    double kib = NAN;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return NAN;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, flen) == 0) {
            kib = strtod(line + flen, NULL);
        }
    }
    fclose(f);
    return kib / 1024.0;
}

void bench_daemon_print_log(const bench_daemon_t *dp)
{
    char line[512];
    FILE *f = fopen(dp->log, "r");
    if (f == NULL) {
        return;
    }
    fprintf(stderr, "--- paramd log (%s) ---\n", dp->log);
    while (fgets(line, sizeof(line), f) != NULL) {
        fputs(line, stderr);
    }
    fclose(f);
}

int bench_daemon_start(bench_daemon_t *dp, const char *paramd, const char *prog,
                       const char *server_rest)
{
    posix_spawn_file_actions_t fa;
    char exe[4096];
    char *argv[] = {exe, "-c", dp->conf, NULL};
    FILE *f;
    int rc;

    /* absolute: the daemon starts in its own directory */
    if (realpath(paramd, exe) == NULL) {
        rc = -errno;
        fprintf(stderr, "%s: %s: %s\n", prog, paramd, strerror(errno));
        return rc;
    }
    snprintf(dp->dir, sizeof(dp->dir), "/tmp/paramd-bench-XXXXXX");
    if (mkdtemp(dp->dir) == NULL) {
        return -errno;
    }
    snprintf(dp->conf, sizeof(dp->conf), "%s/bench.conf", dp->dir);
    snprintf(dp->log, sizeof(dp->log), "%s/paramd.log", dp->dir);
    snprintf(dp->epfile, sizeof(dp->epfile), "%s/endpoint", dp->dir);
    f = fopen(dp->conf, "w");
    if (f == NULL) {
        return -errno;
    }
    fprintf(f,
            "[server]\nlisten = tcp://127.0.0.1:0\nendpoint_file = %s\nlog_level = warning\n"
            "progress = no\n%s",
            dp->epfile, server_rest);
    if (fclose(f) != 0) {
        return -errno;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, dp->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* in its directory: the files paramd writes (metrics_log, ...) are relative to it */
    posix_spawn_file_actions_addchdir_np(&fa, dp->dir);
    rc = posix_spawn(&dp->pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot start %s: %s\n", prog, paramd, strerror(rc));
        return -rc;
    }
    /* Poll for the endpoint file (written atomically once the daemon listens). */
    double deadline = bench_now_s() + 15.0;
    while (bench_now_s() < deadline) {
        int status;
        f = fopen(dp->epfile, "r");
        if (f != NULL) {
            int ok = fgets(dp->endpoint, sizeof(dp->endpoint), f) != NULL;
            fclose(f);
            dp->endpoint[strcspn(dp->endpoint, "\n")] = '\0';
            if (ok && dp->endpoint[0] != '\0') {
                return 0;
            }
        }
        if (waitpid(dp->pid, &status, WNOHANG) == dp->pid) {
            fprintf(stderr, "%s: paramd exited before listening (status 0x%x)\n", prog, status);
            dp->pid = 0;
            bench_daemon_print_log(dp);
            return -ECHILD;
        }
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    fprintf(stderr, "%s: paramd did not write %s in time\n", prog, dp->epfile);
    return -ETIMEDOUT;
}

int bench_daemon_stop(bench_daemon_t *dp, const char *prog)
{
    double deadline = bench_now_s() + 15.0;
    int status = 0;

    if (dp->pid <= 0) {
        return -ECHILD;
    }
    kill(dp->pid, SIGTERM);
    while (waitpid(dp->pid, &status, WNOHANG) == 0) {
        if (bench_now_s() > deadline) {
            fprintf(stderr, "%s: paramd ignored SIGTERM; killing it\n", prog);
            kill(dp->pid, SIGKILL);
            waitpid(dp->pid, &status, 0);
            dp->pid = 0;
            return -ETIMEDOUT;
        }
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    dp->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: paramd did not exit cleanly after SIGTERM (status 0x%x)\n", prog,
                status);
        return -EPROTO;
    }
    return 0;
}

void bench_daemon_cleanup(const bench_daemon_t *dp, bool keep, const char *const *extra)
{
    char path[256];

    if (dp->dir[0] == '\0' || keep) {
        return;
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/%s", dp->dir, extra[i]);
        unlink(path);
    }
    unlink(dp->conf);
    unlink(dp->log);
    unlink(dp->epfile);
    rmdir(dp->dir);
}

const char *bench_find_paramd(const char *given, const char *argv0, char *buf, size_t len,
                              const char *prog)
{
    const char *env = getenv("PARAMD");
    const char *slash = strrchr(argv0, '/');
    const char *paramd = given;

    if (paramd == NULL && env != NULL && env[0] != '\0') {
        paramd = env;
    } else if (paramd == NULL) {
        /* the benchmarks sit next to server/ in the build tree */
        if (slash == NULL) {
            snprintf(buf, len, "../server/paramd");
        } else {
            snprintf(buf, len, "%.*s/../server/paramd", (int)(slash - argv0), argv0);
        }
        paramd = buf;
    }
    if (access(paramd, X_OK) != 0) {
        fprintf(stderr, "%s: %s is not an executable paramd (build it, or use --paramd)\n",
                prog, paramd);
        return NULL;
    }
    return paramd;
}
