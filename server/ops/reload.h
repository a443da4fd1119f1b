/* reload.h - SIGHUP: read the configuration again and apply what can change at run time
 * (STYLE.md §2.6). Loop thread only. */
#ifndef PD_SERVER_RELOAD_H
#define PD_SERVER_RELOAD_H

typedef struct pd_daemon pd_daemon_t;

/* All or nothing: parse d->opts.config_path and d->opts.overrides into a fresh config,
 * validate it, then copy its PD_CF_RELOADABLE keys into d->cfg, logging each change
 * ("reload: [stop] max_updates 100 -> 200") and once per changed key that needs a restart.
 * Sends RELOADING=1 before and READY=1 after. Returns 0, or PD_ECONFIG / -errno with d->cfg
 * unchanged and the FILE:LINE problems logged. A lower max_updates may stop the job at once. */
int pd_reload(pd_daemon_t *d);

#endif
