/* status_http.c - see status_http.h. Owns the listening fds (watched with uv_poll, so
 * accepting can be paused at the connection cap and on EMFILE), and one record per
 * connection (a stream handle and a timer, both embedded, freed by the last close callback).
 * Must not block: every socket is non-blocking and every connection has a deadline. */
#include <config.h>
#define _GNU_SOURCE 1 /* accept4, SO_PEERCRED / struct ucred; before any system header */
#include "status_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "chart_lib.h"
#include "checkpoint.h"
#include "../daemon.h"
#include "error.h"
#include "http.h"
#include "log.h"
#include "status_render.h"

#define ACCEPT_BUDGET 32       /* connections accepted per wake before yielding to the loop */
#define EMFILE_PAUSE_MS 1000   /* out of fds: stop accepting this long */
#define LINGER_MS 1000         /* after the response: drain the peer's input this long */

typedef struct conn conn_t;

typedef struct listener {
    pd_status_t *st;
    uv_poll_t poll;
    int fd;
    bool is_unix;
    bool open;      /* poll handle initialised (and not yet closed) */
    bool polling;
    size_t n_conns; /* each endpoint has its own budget of status_max_clients connections */
} listener_t;

struct pd_status {
    pd_daemon_t *d;
    listener_t lis[2]; /* [0] unix status socket, [1] read-only TCP */
    uv_timer_t resume_timer;
    bool timer_open;
    bool paused_emfile;
    conn_t *conns;  /* newest first */
    size_t n_conns; /* of both listeners */
    size_t max_conns; /* per listener */
    unsigned open_handles; /* initialised handles not yet through their close callback */
    bool closing;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    bool unlink_on_close;
    char metrics_ep[300];
    uid_t uid;
    pd_ratelimit_t rl_accept;
    pd_chart_lib_t chart; /* the dashboard's chart library, in memory */
};

typedef enum conn_phase { PH_READING, PH_WRITING, PH_LINGER } conn_phase_t;

struct conn {
    pd_status_t *st;
    listener_t *lis; /* the endpoint it came in on */
    conn_t *prev, *next;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    uv_timer_t timer;
    unsigned open_handles;
    bool closing;
    bool read_only;
    bool is_unix;
    bool peer_eof;
    uid_t peer_uid;
    conn_phase_t phase;
    pd_http_req_t req;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    char *resp;
    size_t resp_len;
    char rbuf[4096];
};

static void maybe_free_status(pd_status_t *st)
{
    if (st->closing && st->open_handles == 0 && st->n_conns == 0) {
        pd_chart_lib_release(&st->chart);
        free(st);
    }
}

/* ---- accepting ----------------------------------------------------------------------------- */

static void on_listen_readable(uv_poll_t *h, int status, int events);

static void set_accepting(pd_status_t *st, bool on)
{
    for (size_t i = 0; i < 2; i++) {
        listener_t *l = &st->lis[i];
        if (!l->open || l->polling == on) {
            continue;
        }
        int rc = on ? uv_poll_start(&l->poll, UV_READABLE, on_listen_readable)
                    : uv_poll_stop(&l->poll);
        if (rc == 0) {
            l->polling = on;
        } else {
            pd_log_warn("status socket: cannot %s accepting: %s", on ? "resume" : "pause",
                        pd_strerror(rc));
        }
    }
}

static void maybe_resume(pd_status_t *st)
{
    if (!st->closing && !st->paused_emfile) {
        set_accepting(st, true);
    }
}

static void on_resume_timer(uv_timer_t *t)
{
    pd_status_t *st = t->data;
    st->paused_emfile = false;
    maybe_resume(st);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    pd_status_t *st = c->st;

    if (--c->open_handles > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        st->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    st->n_conns--;
    c->lis->n_conns--;
    free(c->resp);
    free(c);
    maybe_resume(st);
    maybe_free_status(st);
}

static void conn_close(conn_t *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    uv_close(&c->h.handle, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_conn_timeout(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->phase == PH_READING) {
        pd_log_debug("status connection timed out before a whole request arrived");
    }
    conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0 || c->peer_eof || c->closing) {
        conn_close(c);
        return;
    }
    /* Read (and drop) what the peer still sends until it closes, so closing with unread
     * input does not reset the connection and destroy the response in flight. */
    c->phase = PH_LINGER;
    uv_timer_start(&c->timer, on_conn_timeout, LINGER_MS, 0);
}

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    if (c->closing) {
        return;
    }
    if (status < 0 || c->peer_eof) {
        conn_close(c);
        return;
    }
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, &c->h.stream, on_shutdown) != 0) {
        conn_close(c);
    }
}

/* Send a response and close afterwards. body is borrowed. */
static void respond(conn_t *c, int status, const char *ctype, const char *allow,
                    const char *body, size_t body_len)
{
    c->phase = PH_WRITING;
    int rc = pd_http_response(&c->resp, &c->resp_len, status, ctype, allow, body, body_len);
    if (rc != 0) {
        conn_close(c);
        return;
    }
    uv_buf_t buf = uv_buf_init(c->resp, (unsigned)c->resp_len);
    c->wreq.data = c;
    rc = uv_write(&c->wreq, &c->h.stream, &buf, 1, on_write);
    if (rc != 0) {
        conn_close(c);
    }
}

static void respond_json(conn_t *c, int status, char *json /* taken, may be NULL */)
{
    if (json == NULL) {
        respond(c, 500, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    size_t n = strlen(json);
    /* jansson leaves out the final newline; curl users like one. */
    char *withnl = realloc(json, n + 2);
    if (withnl != NULL) {
        json = withnl;
        json[n++] = '\n';
        json[n] = '\0';
    }
    respond(c, status, "application/json", NULL, json, n);
    free(json);
}

static void respond_error(conn_t *c, int status, const char *allow, const char *msg)
{
    char *json = NULL;
    if (pd_render_error_json(&json, msg != NULL ? msg : pd_http_reason(status)) != 0) {
        json = NULL;
    }
    if (json == NULL) {
        respond(c, status, "text/plain", allow, "", 0);
        return;
    }
    size_t n = strlen(json);
    respond(c, status, "application/json", allow, json, n);
    free(json);
}

static void do_evict(conn_t *c, uint32_t id)
{
    pd_daemon_t *d = c->st->d;
    pd_session_t *s = pd_sessions_find_id(&d->sessions, id);
    char msg[128];
    pd_msg_t bye;

    if (s == NULL) {
        snprintf(msg, sizeof(msg), "no worker with id %" PRIu32, id);
        respond_error(c, 404, NULL, msg);
        return;
    }
    /* Tell the worker to go, or it would only re-join: a BYE makes paramd-worker exit 0. */
    pd_msg_init(&bye, PD_MSG_BYE);
    bye.worker_id = s->id;
    snprintf(bye.reason, sizeof(bye.reason), "evicted by operator");
    pd_daemon_send(d, s->rid, s->rid_len, &bye, NULL, 0);
    d->metrics.workers_evicted_total++;
    snprintf(msg, sizeof(msg), "{\"evicted\": %" PRIu32 "}\n", id);
    pd_daemon_drop_session(d, s, "evicted by operator");
    respond(c, 200, "application/json", NULL, msg, strlen(msg));
}

static void do_checkpoint(conn_t *c)
{
    pd_daemon_t *d = c->st->d;
    char msg[128];

    int rc = pd_checkpoint_request(d);
    if (rc == -ENOTSUP) {
        respond_error(c, 503, NULL, "checkpoints are not configured");
        return;
    }
    if (rc == PD_ESTATE) {
        respond_error(c, 409, NULL, "the job is no longer running");
        return;
    }
    if (rc != 0) {
        respond_error(c, 500, NULL, pd_strerror(rc));
        return;
    }
    /* Accepted, not done: the write runs on the thread pool; its result shows in the
     * checkpoint metrics (checkpoint_last_version and friends). */
    snprintf(msg, sizeof(msg), "{\"requested\": true, \"version\": %.0f}\n", d->metrics.version);
    respond(c, 202, "application/json", NULL, msg, strlen(msg));
}

static void handle_request(conn_t *c)
{
    pd_status_t *st = c->st;
    pd_daemon_t *d = st->d;
    pd_http_route_t route = PD_ROUTE_STATUS;
    uint32_t id = 0;
    const char *allow = NULL;
    char *text = NULL;

    int status = pd_http_route(c->req.method, c->req.url, c->read_only, &route, &id, &allow);
    pd_log_debug("status request %s %s: %d", c->req.method == PD_HTTP_GET ? "GET"
                                             : c->req.method == PD_HTTP_POST ? "POST"
                                                                              : "other",
                 c->req.url, status);
    if (status == 403) {
        respond_error(c, 403, NULL, "this endpoint is read-only");
        return;
    }
    if (status != 200) {
        respond_error(c, status, allow, NULL);
        return;
    }
    if ((route == PD_ROUTE_CHECKPOINT || route == PD_ROUTE_EVICT) && c->peer_uid != 0 &&
        c->peer_uid != st->uid) {
        respond_error(c, 403, NULL, "only root or the daemon's user may do this");
        return;
    }
    switch (route) {
    case PD_ROUTE_DASHBOARD:
        respond(c, 200, "text/html; charset=utf-8", NULL, pd_render_dashboard_html,
                strlen(pd_render_dashboard_html));
        return;
    case PD_ROUTE_STATUS:
        if (pd_render_status_json(&text, d, pd_daemon_now_ms(d),
                                  pd_status_metrics_endpoint(st)) != 0) {
            text = NULL;
        }
        respond_json(c, 200, text);
        return;
    case PD_ROUTE_WORKERS:
        if (pd_render_workers_json(&text, &d->sessions, pd_daemon_now_ms(d)) != 0) {
            text = NULL;
        }
        respond_json(c, 200, text);
        return;
    case PD_ROUTE_HISTORY:
        if (pd_render_history_json(&text, &d->history) != 0) {
            text = NULL;
        }
        respond_json(c, 200, text);
        return;
    case PD_ROUTE_CHART_JS:
    case PD_ROUTE_CHART_CSS:
        if (!pd_chart_lib_present(&st->chart)) {
            respond_error(c, 404, NULL, "the chart library (Debian package libjs-dygraphs) is "
                                        "not installed on the server");
        } else if (route == PD_ROUTE_CHART_JS) {
            respond(c, 200, "text/javascript; charset=utf-8", NULL, st->chart.js,
                    st->chart.js_len);
        } else {
            respond(c, 200, "text/css; charset=utf-8", NULL, st->chart.css, st->chart.css_len);
        }
        return;
    case PD_ROUTE_METRICS: {
        pd_render_buf_t b;
        pd_render_buf_init(&b);
        if (pd_render_metrics(&b, &d->metrics, &d->sessions, PACKAGE_VERSION) != 0) {
            pd_render_buf_release(&b);
            respond(c, 500, "text/plain", NULL, "out of memory\n", 14);
            return;
        }
        respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p, b.len);
        pd_render_buf_release(&b);
        return;
    }
    case PD_ROUTE_CHECKPOINT:
        do_checkpoint(c);
        return;
    case PD_ROUTE_EVICT:
        do_evict(c, id);
        return;
    }
    respond_error(c, 500, NULL, NULL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    int r = 0;

    if (c->closing) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF || c->phase != PH_READING) {
            c->peer_eof = true;
            uv_read_stop(s);
            if (c->phase != PH_WRITING) {
                conn_close(c); /* a write in flight closes when it completes */
            }
            return;
        }
        c->peer_eof = true;
        uv_read_stop(s);
        r = pd_http_req_eof(&c->req);
        if (r == 0) {
            conn_close(c);
            return;
        }
    } else if (nread == 0 || c->phase != PH_READING) {
        return; /* EAGAIN, or input after the request: dropped */
    } else {
        r = pd_http_req_feed(&c->req, buf->base, (size_t)nread);
        if (r == 0) {
            return;
        }
    }
    if (r == 1) {
        handle_request(c);
    } else {
        respond_error(c, r, NULL, r == 413   ? "request too large"
                                  : r == 414 ? "URL too long"
                                             : "malformed HTTP request");
    }
}

static int conn_start(pd_status_t *st, listener_t *l, int fd)
{
    conn_t *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->st = st;
    c->lis = l;
    c->read_only = !l->is_unix;
    c->is_unix = l->is_unix;
    c->peer_uid = (uid_t)-1;
    pd_http_req_init(&c->req, PD_HTTP_MAX_REQUEST);
    if (l->is_unix) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred)) {
            c->peer_uid = cred.uid; /* unknown peers keep -1: they may read, never POST */
        }
    }
    rc = l->is_unix ? uv_pipe_init(&st->d->loop, &c->h.pipe, 0)
                    : uv_tcp_init(&st->d->loop, &c->h.tcp);
    if (rc != 0) {
        close(fd);
        free(c);
        return rc;
    }
    c->h.handle.data = c;
    c->open_handles = 1;
    rc = uv_timer_init(&st->d->loop, &c->timer);
    if (rc == 0) {
        c->timer.data = c;
        c->open_handles = 2;
    }
    /* From here the record is in the list and closes through conn_close(). */
    c->next = st->conns;
    if (st->conns != NULL) {
        st->conns->prev = c;
    }
    st->conns = c;
    st->n_conns++;
    l->n_conns++;
    if (rc != 0) {
        close(fd);
        c->closing = true;
        uv_close(&c->h.handle, on_conn_closed);
        return rc;
    }
    rc = l->is_unix ? uv_pipe_open(&c->h.pipe, fd) : uv_tcp_open(&c->h.tcp, fd);
    if (rc != 0) {
        close(fd);
        conn_close(c);
        return rc;
    }
    if ((rc = uv_timer_start(&c->timer, on_conn_timeout,
                             l->is_unix ? PD_STATUS_CONN_TIMEOUT_MS : PD_STATUS_TCP_CONN_TIMEOUT_MS,
                             0)) != 0 ||
        (rc = uv_read_start(&c->h.stream, on_alloc, on_read)) != 0) {
        conn_close(c);
        return rc;
    }
    return 0;
}

/* At an endpoint's cap a newcomer takes the place of the oldest connection there that has not
 * yet sent its whole request: idle or slow clients cannot lock out a scrape or an operator,
 * whose requests arrive at once. False when every slot is busy answering. */
static bool make_room(listener_t *l)
{
    conn_t *oldest = NULL;

    for (conn_t *c = l->st->conns; c != NULL; c = c->next) {
        if (c->lis == l && !c->closing && c->phase == PH_READING) {
            oldest = c; /* the list is newest first: the last match is the oldest */
        }
    }
    if (oldest == NULL) {
        return false;
    }
    if (pd_ratelimit_ok(&l->st->rl_accept, pd_daemon_now_ms(l->st->d))) {
        pd_log_info("status %s: %zu connections open, the most allowed: closing the oldest "
                    "idle one for a new one",
                    l->is_unix ? "socket" : "endpoint", l->n_conns);
    }
    conn_close(oldest);
    return true;
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
    listener_t *l = h->data;
    pd_status_t *st = l->st;
    (void)events;

    if (status < 0) {
        pd_log_warn("status socket: poll error: %s", pd_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BUDGET; i++) {
        /* Closing connections still count until their handles are closed, so the budget
         * may be passed by the few being evicted. */
        size_t closing = 0;
        for (conn_t *c = st->conns; c != NULL; c = c->next) {
            closing += c->lis == l && c->closing;
        }
        if (l->n_conns - closing >= st->max_conns && !make_room(l)) {
            /* Every slot is answering: leave the rest in the kernel backlog a moment. */
            set_accepting(st, false);
            return;
        }
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                return;
            }
            if (e == EINTR || e == ECONNABORTED || e == EPROTO) {
                continue;
            }
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* Spinning on a readable listener we cannot accept from would burn the
                 * loop: pause, and try again later. */
                if (pd_ratelimit_ok(&st->rl_accept, pd_daemon_now_ms(st->d))) {
                    pd_log_warn("status socket: cannot accept: %s; pausing for %d ms",
                                strerror(e), EMFILE_PAUSE_MS);
                }
                st->paused_emfile = true;
                set_accepting(st, false);
                uv_timer_start(&st->resume_timer, on_resume_timer, EMFILE_PAUSE_MS, 0);
                return;
            }
            pd_log_warn("status socket: accept failed: %s", strerror(e));
            return;
        }
        int rc = conn_start(st, l, fd);
        if (rc != 0) {
            pd_log_warn("status socket: cannot serve a connection: %s", pd_strerror(rc));
        }
    }
}

/* ---- binding ------------------------------------------------------------------------------- */

static int open_unix(const char *path, int *out_fd)
{
    struct sockaddr_un sa;
    struct stat sb;
    int fd = -1, probe = -1;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);

    /* A live instance answers a connect: never steal its socket. */
    probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) {
        rc = -errno;
        goto out;
    }
    if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN ||
        errno == EINPROGRESS) {
        rc = -EADDRINUSE;
        goto out;
    }
    if (errno == ECONNREFUSED) {
        /* Nobody listens: a stale socket from a crash. Remove it, but only a socket. */
        if (lstat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode)) {
            rc = -EEXIST;
            goto out;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            goto out;
        }
    } else if (lstat(path, &sb) == 0) {
        rc = S_ISSOCK(sb.st_mode) ? -EADDRINUSE : -EEXIST;
        goto out;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* Bind under a umask that already gives 0660, so the socket is never briefly open to
     * others; the chmod then only makes the mode independent of the umask's other bits. */
    mode_t old = umask(0117);
    int brc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int berr = errno;
    umask(old);
    if (brc < 0) {
        rc = -berr;
        goto out;
    }
    if (chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
        rc = -errno;
        unlink(path);
        goto out;
    }
    *out_fd = fd;
    fd = -1;
    rc = 0;
out:
    if (probe >= 0) {
        close(probe);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* "tcp://HOST:PORT" (HOST may be [v6]); the real endpoint (port 0 resolved) goes to ep. */
static int open_tcp(const char *spec, int *out_fd, char *ep, size_t eplen)
{
    char host[256];
    char port[16];
    struct addrinfo hints, *ai = NULL;
    int fd = -1;
    int rc;

    if (strncmp(spec, "tcp://", 6) != 0) {
        return -EINVAL;
    }
    const char *h = spec + 6;
    const char *colon = strrchr(h, ':');
    if (colon == NULL || colon == h || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= sizeof(port) || (size_t)(colon - h) >= sizeof(host)) {
        return -EINVAL;
    }
    size_t hl = (size_t)(colon - h);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%s", strcmp(colon + 1, "*") == 0 ? "0" : colon + 1);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    /* Runs once at start-up, before the loop: resolving here blocks nothing. */
    int grc = getaddrinfo(host, port, &hints, &ai);
    if (grc != 0) {
        return grc == EAI_SYSTEM ? -errno : -EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        rc = -errno;
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN];
    unsigned bound_port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        rc = -errno;
        goto out;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
        bound_port = ntohs(s6->sin6_port);
        snprintf(ep, eplen, "tcp://[%s]:%u", addr, bound_port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
        bound_port = ntohs(s4->sin_port);
        snprintf(ep, eplen, "tcp://%s:%u", addr, bound_port);
    }
    *out_fd = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
}

static void on_status_handle_closed(uv_handle_t *h)
{
    pd_status_t *st = h->data;
    st->open_handles--;
    maybe_free_status(st);
}

static void on_listener_closed(uv_handle_t *h)
{
    listener_t *l = h->data;
    pd_status_t *st = l->st;
    /* The poll handle is gone: only now may its fd be closed. */
    close(l->fd);
    l->fd = -1;
    st->open_handles--;
    maybe_free_status(st);
}

static int listener_start(pd_status_t *st, listener_t *l, int fd, bool is_unix)
{
    l->st = st;
    l->fd = fd;
    l->is_unix = is_unix;
    int rc = uv_poll_init(&st->d->loop, &l->poll, fd);
    if (rc != 0) {
        return rc; /* the caller still owns fd */
    }
    l->poll.data = l;
    l->open = true;
    st->open_handles++;
    rc = uv_poll_start(&l->poll, UV_READABLE, on_listen_readable);
    if (rc == 0) {
        l->polling = true;
    }
    return rc;
}

int pd_status_new(pd_status_t **out, pd_daemon_t *d)
{
    const pd_config_t *cfg = &d->cfg;
    pd_status_t *st = NULL;
    int fd = -1;
    int rc;

    *out = NULL;
    if (cfg->status[0] == '\0' && cfg->metrics_listen[0] == '\0') {
        return 0;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    st->d = d;
    st->uid = geteuid();
    st->max_conns = (size_t)cfg->status_max_clients;
    st->lis[0].fd = st->lis[1].fd = -1;
    pd_ratelimit_init(&st->rl_accept, 10000, 1);
    rc = uv_timer_init(&d->loop, &st->resume_timer);
    if (rc != 0) {
        free(st);
        return rc;
    }
    st->resume_timer.data = st;
    st->timer_open = true;
    st->open_handles = 1;
    pd_chart_lib_load(&st->chart);

    if (cfg->status[0] != '\0') {
        if (strncmp(cfg->status, "unix:", 5) != 0) {
            pd_log_err("[server] status: '%s' is not unix:PATH", cfg->status);
            rc = PD_ECONFIG;
            goto fail;
        }
        const char *path = cfg->status + 5;
        rc = open_unix(path, &fd);
        if (rc != 0) {
            pd_log_err("cannot open the status socket %s: %s%s", path,
                       rc == -EADDRINUSE ? "another paramd is serving it" : pd_strerror(rc),
                       rc == -ENAMETOOLONG ? " (path too long for a unix socket)" : "");
            goto fail;
        }
        snprintf(st->unix_path, sizeof(st->unix_path), "%s", path);
        st->unlink_on_close = true;
        rc = listener_start(st, &st->lis[0], fd, true);
        if (rc != 0) {
            if (!st->lis[0].open) {
                close(fd);
            }
            goto fail;
        }
        fd = -1;
        pd_log_info("status socket listening on unix:%s", path);
    }
    if (cfg->metrics_listen[0] != '\0') {
        /* its exposure was checked with the configuration (pd_endpoint_is_loopback) */
        rc = open_tcp(cfg->metrics_listen, &fd, st->metrics_ep, sizeof(st->metrics_ep));
        if (rc != 0) {
            pd_log_err("cannot listen on metrics_listen %s: %s", cfg->metrics_listen,
                       rc == -EINVAL ? "not tcp://HOST:PORT" : pd_strerror(rc));
            goto fail;
        }
        rc = listener_start(st, &st->lis[1], fd, false);
        if (rc != 0) {
            if (!st->lis[1].open) {
                close(fd);
            }
            goto fail;
        }
        fd = -1;
        pd_log_info("metrics listening on %s (read-only)", st->metrics_ep);
    }
    *out = st;
    return 0;
fail:
    /* Handles were initialised on d's loop: close them, and the loop run that follows frees
     * st (pd_daemon_free runs it). */
    pd_status_close(st);
    return rc;
}

void pd_status_close(pd_status_t *st)
{
    if (st == NULL || st->closing) {
        return;
    }
    st->closing = true;
    for (size_t i = 0; i < 2; i++) {
        listener_t *l = &st->lis[i];
        if (l->open) {
            l->open = false;
            uv_close((uv_handle_t *)&l->poll, on_listener_closed);
        }
    }
    if (st->timer_open) {
        st->timer_open = false;
        uv_close((uv_handle_t *)&st->resume_timer, on_status_handle_closed);
    }
    for (conn_t *c = st->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    if (st->unlink_on_close) {
        /* Ours: we bound it. A stale file would only make the next start probe it. */
        unlink(st->unix_path);
        st->unlink_on_close = false;
    }
    maybe_free_status(st);
}

const char *pd_status_metrics_endpoint(const pd_status_t *st)
{
    return st != NULL && st->metrics_ep[0] != '\0' ? st->metrics_ep : NULL;
}
