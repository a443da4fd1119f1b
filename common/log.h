/* log.h - one-line-per-event logging to stderr with syslog levels 3-7.
 * The level and format are the only process-wide state, set from main() before the loop
 * starts. Under journald (JOURNAL_STREAM matches stderr) lines get a <N> prefix and no time. */
#ifndef PD_COMMON_LOG_H
#define PD_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    PD_LOG_ERR = 3,
    PD_LOG_WARNING = 4,
    PD_LOG_NOTICE = 5,
    PD_LOG_INFO = 6,
    PD_LOG_DEBUG = 7,
};

/* Set the maximum level printed (default PD_LOG_INFO) and the program name in each line. */
void pd_log_setup(const char *ident, int max_level);
void pd_log_set_level(int max_level);
int pd_log_level(void);
bool pd_log_enabled(int level);
/* Parse "err", "warning", "notice", "info", "debug"; returns the level or -EINVAL. */
int pd_log_level_parse(const char *name);
const char *pd_log_level_name(int level);

/* Never changes errno. Lines start in lowercase and carry key=value context. */
void pd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pd_logv(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* A status line kept below the log on a terminal (paramd's progress line): each log line is
 * written over it, on a row of its own, and the status line redrawn under it, so the two
 * never share a row. "" or NULL removes it. Only for a terminal on stderr: the caller
 * decides that (and keeps the line narrower than the terminal, or it wraps). */
void pd_log_status_line(const char *line);

#define pd_log_err(...) pd_log(PD_LOG_ERR, __VA_ARGS__)
#define pd_log_warn(...) pd_log(PD_LOG_WARNING, __VA_ARGS__)
#define pd_log_notice(...) pd_log(PD_LOG_NOTICE, __VA_ARGS__)
#define pd_log_info(...) pd_log(PD_LOG_INFO, __VA_ARGS__)
#define pd_log_debug(...)                                                  \
    do {                                                                   \
        if (pd_log_enabled(PD_LOG_DEBUG)) {                                \
            pd_log(PD_LOG_DEBUG, __VA_ARGS__);                             \
        }                                                                  \
    } while (0)

/* Rate limiter for log lines a peer can trigger: at most `burst` lines per `window_ms`;
 * the first line after a suppressed stretch says how many were dropped. The metric
 * counter is the truth, the log a sample. Pure: the caller passes now_ms. */
typedef struct pd_ratelimit {
    uint64_t window_start_ms;
    uint64_t window_ms;
    uint32_t burst;
    uint32_t emitted;
    uint64_t suppressed;
} pd_ratelimit_t;

void pd_ratelimit_init(pd_ratelimit_t *rl, uint64_t window_ms, uint32_t burst);
/* True when a line may be logged now; logs "suppressed N similar messages" first if needed. */
bool pd_ratelimit_ok(pd_ratelimit_t *rl, uint64_t now_ms);

#endif
