/* reload.c - SIGHUP reload (STYLE.md §2.6): the whole configuration is parsed again into a
 * fresh struct, with the same -o overrides, and validated; only then are the reloadable keys
 * copied into the running config. Owns nothing between reloads.
 *
 * Reloadable today: [server] log_level, the [stop] criteria, and [security]
 * authorized_workers, whose file is read again on every reload (its content changes, not its
 * path): pd_config_validate() has already checked it, so a broken file refuses the whole
 * reload, and the ZAP handler swaps in the new list after pd_config_apply_reloadable(). */
#include <config.h>
#include "reload.h"

#include <string.h>

#include "common/config.h"
#include "../daemon.h"
#include "error.h"
#include "log.h"
#include "notify.h"
#include "../scheduler.h"
#include "zap.h"

typedef struct diff_ctx {
    unsigned applied;
    unsigned need_restart;
} diff_ctx_t;

static const char *shown(const char *v)
{
    return v[0] != '\0' ? v : "(empty)";
}

static void on_diff(const char *section, const char *name, const char *old_value,
                    const char *new_value, int flags, void *arg)
{
    diff_ctx_t *c = arg;

    /* Logged before the new log level applies, so lowering it still shows what changed. */
    if (flags & PD_CF_RELOADABLE) {
        c->applied++;
        pd_log_notice("reload: [%s] %s %s -> %s", section, name, shown(old_value),
                      shown(new_value));
    } else {
        c->need_restart++;
        pd_log_warn("reload: [%s] %s changed; needs a restart, still %s", section, name,
                    shown(old_value));
    }
}

/* The errors come as "FILE:LINE: ..." lines; one log line each. */
static void log_errors(char *err)
{
    char *save = NULL;

    for (char *line = strtok_r(err, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        pd_log_err("reload: %s", line);
    }
}

int pd_reload(pd_daemon_t *d)
{
    pd_config_t next;
    bool have_next = false;
    diff_ctx_t dc = {0, 0};
    char err[8192] = "";
    int rc;

    pd_notify_reloading(d);
    if (d->opts.config_path == NULL) {
        pd_log_notice("reload: paramd was started without -c FILE; nothing to read");
        rc = 0;
        goto out;
    }
    pd_log_info("reload: reading %s", d->opts.config_path);
    rc = pd_config_build(&next, d->opts.config_path, d->opts.overrides, err, sizeof(err));
    have_next = rc == 0;
    if (rc != 0) {
        log_errors(err);
        pd_log_err("reload: the configuration has errors (%s); nothing changed",
                   pd_strerror(rc));
        goto out;
    }
    /* main.c derives this from --local-workers; without it, every reload would report
     * exit_when_done as a change that needs a restart. */
    if (d->opts.local_workers > 0) {
        next.exit_when_done = true;
    }
    pd_config_diff(&d->cfg, &next, on_diff, &dc);
    rc = pd_config_apply_reloadable(&d->cfg, &next);
    if (rc != 0) {
        pd_log_err("reload: cannot apply the new values: %s; nothing changed", pd_strerror(rc));
        goto out;
    }
    pd_log_set_level(d->cfg.log_level + PD_LOG_ERR);
    d->optim.lr = d->cfg.learning_rate; /* the schedule goes on from the new base */
    d->metrics.learning_rate = pd_optim_lr(&d->optim);
    /* Validated above; only a file changed in between can fail here (the old keys stay). */
    bool keys_changed = false;
    rc = pd_zap_reload(d, &keys_changed);
    if (rc != 0) {
        goto out;
    }
    dc.applied += keys_changed ? 1 : 0;
    if (dc.applied == 0 && dc.need_restart == 0) {
        pd_log_info("reload: nothing changed");
    } else {
        pd_log_info("reload: done, %u change%s applied, %u need%s a restart", dc.applied,
                    dc.applied == 1 ? "" : "s", dc.need_restart,
                    dc.need_restart == 1 ? "s" : "");
    }
out:
    if (have_next) {
        pd_config_release(&next);
    }
    pd_notify_reloaded(d);
    /* A max_updates that is already met stops the job now rather than at the next update
     * (max_seconds is checked every tick, the targets at every evaluation). After READY=1,
     * so that STOPPING=1 is the manager's last word. A lowered min_workers lets a waiting
     * job begin with the workers it has. */
    if (rc == 0 && d->state == PD_STATE_RUNNING) {
        pd_daemon_after_update(d);
    }
    if (rc == 0 && d->state == PD_STATE_RUNNING) {
        pd_sched_kick(d);
        rc = pd_daemon_arm_deadline(d);
    }
    return rc;
}
