/* local_workers.c - see local_workers.h. */
#include <config.h>
#include "local_workers.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

/* Where is paramd-worker? $PARAMD_WORKER, the -W option, next to this binary (installed),
 * ../worker/ from it (the build tree), then the configured bindir. */
static int find_worker(const pd_daemon_t *d, char *out, size_t len)
{
    char exe[PATH_MAX];
    size_t exe_len = sizeof(exe);
    const char *env = getenv("PARAMD_WORKER");
    const char *const rel[] = {"paramd-worker", "../worker/paramd-worker"};

    if (d->opts.worker_program != NULL) {
        snprintf(out, len, "%s", d->opts.worker_program);
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    if (env != NULL && env[0] != '\0') {
        snprintf(out, len, "%s", env);
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    if (uv_exepath(exe, &exe_len) == 0) {
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                if (snprintf(out, len, "%s/%s", exe, rel[i]) >= (int)len) {
                    continue; /* too long to be a usable path */
                }
                if (access(out, X_OK) == 0) {
                    return 0;
                }
            }
        }
    }
    snprintf(out, len, "%s/paramd-worker", PD_BINDIR);
    return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static void on_exit(uv_process_t *p, int64_t status, int term_signal)
{
    pd_daemon_t *d = p->data;

    d->n_local_running--;
    if (term_signal != 0) {
        pd_log_warn("local worker pid=%d killed by signal %d", p->pid, term_signal);
    } else if (status != 0) {
        pd_log_warn("local worker pid=%d exited with status %lld", p->pid, (long long)status);
    } else {
        pd_log_debug("local worker pid=%d exited", p->pid);
    }
    uv_close((uv_handle_t *)p, NULL);
    if (d->state == PD_STATE_RUNNING && d->n_local_running == 0) {
        pd_daemon_stop(d, "every local worker exited", 1);
        return;
    }
    pd_daemon_maybe_finish(d);
}

int pd_local_workers_start(pd_daemon_t *d)
{
    char prog[PATH_MAX];
    char name[32];
    const char *args[64];
    size_t n_args = 0;
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    int rc;

    if (d->opts.local_workers == 0) {
        return 0;
    }
    if (d->opts.local_workers > PD_MAX_LOCAL_WORKERS) {
        pd_log_err("--local-workers %u is more than %d", d->opts.local_workers,
                   PD_MAX_LOCAL_WORKERS);
        return -EINVAL;
    }
    rc = find_worker(d, prog, sizeof(prog));
    if (rc != 0) {
        pd_log_err("cannot find paramd-worker (%s): set PARAMD_WORKER or install it", prog);
        return rc;
    }
    args[n_args++] = prog;
    args[n_args++] = "--server";
    args[n_args++] = d->endpoint;
    args[n_args++] = "--name";
    args[n_args++] = name;
    args[n_args++] = "--exit-with-server"; /* they live and die with this paramd */
    args[n_args++] = "--log-level";
    args[n_args++] = pd_log_level() >= PD_LOG_DEBUG ? "debug" : "notice";
    for (size_t i = 0; d->opts.worker_args != NULL && d->opts.worker_args[i] != NULL; i++) {
        if (n_args >= sizeof(args) / sizeof(args[0]) - 1) {
            return -E2BIG;
        }
        args[n_args++] = d->opts.worker_args[i];
    }
    args[n_args] = NULL;
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = STDOUT_FILENO;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = STDERR_FILENO;
    for (unsigned i = 0; i < d->opts.local_workers; i++) {
        uv_process_t *p = &d->local[i];
        memset(&o, 0, sizeof(o));
        snprintf(name, sizeof(name), "local-%u", i + 1);
        o.file = prog;
        o.args = (char **)args;
        o.exit_cb = on_exit;
        o.stdio = stdio;
        o.stdio_count = 3;
        p->data = d;
        rc = uv_spawn(&d->loop, p, &o);
        if (rc != 0) {
            pd_log_err("cannot start %s: %s", prog, pd_strerror(rc));
            return rc;
        }
        d->n_local++;
        d->n_local_running++;
    }
    pd_log_info("started %u local workers (%s)", d->n_local, prog);
    return 0;
}

void pd_local_workers_kill(pd_daemon_t *d, int signum)
{
    for (unsigned i = 0; i < d->n_local; i++) {
        if (!uv_is_closing((uv_handle_t *)&d->local[i])) {
            uv_process_kill(&d->local[i], signum);
        }
    }
}
