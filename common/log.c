/* log.c - stderr logger and rate limiter (see log.h). */
#include <config.h>
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "paramd";
static int log_max_level = PD_LOG_INFO;
static int log_journal = -1; /* -1: not yet checked */

static const char *const level_names[] = {
    [PD_LOG_ERR] = "err", [PD_LOG_WARNING] = "warning", [PD_LOG_NOTICE] = "notice",
    [PD_LOG_INFO] = "info", [PD_LOG_DEBUG] = "debug",
};

/* journald sets JOURNAL_STREAM=dev:inode of the stream it reads; match it against stderr. */
static int stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;

    if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0) {
        return 0;
    }
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void pd_log_setup(const char *ident, int max_level)
{
    log_ident = ident;
    log_max_level = max_level;
    log_journal = stderr_is_journal();
}

void pd_log_set_level(int max_level)
{
    log_max_level = max_level;
}

int pd_log_level(void)
{
    return log_max_level;
}

bool pd_log_enabled(int level)
{
    return level <= log_max_level;
}

int pd_log_level_parse(const char *name)
{
    for (int l = PD_LOG_ERR; l <= PD_LOG_DEBUG; l++) {
        if (strcasecmp(name, level_names[l]) == 0) {
            return l;
        }
    }
    return -EINVAL;
}

const char *pd_log_level_name(int level)
{
    if (level < PD_LOG_ERR || level > PD_LOG_DEBUG) {
        return "?";
    }
    return level_names[level];
}

/* Format the message and append it to line[off..cap) with every control byte (a newline or
 * an escape sequence from a data file or a config value, say) written as \xHH, so one event
 * stays one line and cannot drive the terminal. Returns the new length (<= cap). */
static size_t escape_into(char *line, size_t off, size_t cap, const char *fmt, va_list ap)
{
    char msg[2048];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;

    for (size_t i = 0; i < len && off < cap; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch >= 0x20 && ch != 0x7f) {
            line[off++] = (char)ch;
        } else if (off + 4 <= cap) {
            off += (size_t)snprintf(line + off, cap - off + 1, "\\x%02x", ch);
        } else {
            break; /* no room for the escape: truncated, still one line */
        }
    }
    return off;
}

static char status_text[256];
static int status_len; /* 0: no status line shown */

void pd_log_status_line(const char *line)
{
    int saved_errno = errno;

    status_len = snprintf(status_text, sizeof(status_text), "%s", line != NULL ? line : "");
    if (status_len >= (int)sizeof(status_text)) {
        status_len = (int)sizeof(status_text) - 1;
    }
    fprintf(stderr, "\r%.*s\033[K", status_len, status_text);
    fflush(stderr);
    errno = saved_errno;
}

void pd_logv(int level, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char line[2048];
    size_t off = 0;

    if (!pd_log_enabled(level)) {
        return;
    }
    if (log_journal < 0) {
        log_journal = stderr_is_journal();
    }
    if (log_journal) {
        off = (size_t)snprintf(line, sizeof(line), "<%d>", level);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03ldZ %s %s: ",
                                ts.tv_nsec / 1000000, log_ident, level_names[level]);
    }
    if (off < sizeof(line)) {
        off = escape_into(line, off, sizeof(line) - 1, fmt, ap);
    }
    line[off++] = '\n';
    if (status_len > 0) {
        fputs("\r\033[K", stderr); /* the log line takes the status line's row */
    }
    fwrite(line, 1, off, stderr);
    if (status_len > 0) {
        fprintf(stderr, "%.*s\033[K", status_len, status_text);
        fflush(stderr);
    }
    errno = saved_errno;
}

void pd_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pd_logv(level, fmt, ap);
    va_end(ap);
}

void pd_ratelimit_init(pd_ratelimit_t *rl, uint64_t window_ms, uint32_t burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->window_ms = window_ms;
    rl->burst = burst;
}

bool pd_ratelimit_ok(pd_ratelimit_t *rl, uint64_t now_ms)
{
    if (now_ms - rl->window_start_ms >= rl->window_ms) {
        if (rl->suppressed > 0) {
            pd_log_warn("suppressed %llu similar messages", (unsigned long long)rl->suppressed);
        }
        rl->window_start_ms = now_ms;
        rl->emitted = 0;
        rl->suppressed = 0;
    }
    if (rl->emitted < rl->burst) {
        rl->emitted++;
        return true;
    }
    rl->suppressed++;
    return false;
}
