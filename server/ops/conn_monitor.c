/* conn_monitor.c - see conn_monitor.h. */
#include <config.h>
#include "conn_monitor.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zmq.h>

#include "../daemon.h"
#include "error.h"
#include "log.h"

#define MONITOR_ENDPOINT "inproc://paramd-conn-monitor"
#define DRAIN_BUDGET 64 /* events per wake-up before timers get a turn */

struct pd_conn_monitor {
    pd_daemon_t *d;
    void *pair;
    uv_poll_t poll;
    uv_idle_t idle;    /* resumes draining when a wake-up ran out of budget */
    pd_ratelimit_t rl[4]; /* per reason (mechanism, crypto, other; over budget) */
    size_t budget;        /* max_connections */
    size_t n_open;
    uint8_t *open;        /* one flag per fd below n_fds: accepted and not yet disconnected */
    char **peer;          /* per fd: "ADDR:PORT" read when ACCEPTED was, or NULL */
    size_t n_fds;
    /* A failed handshake to log: libzmq names only the listening endpoint in it, but it
     * reports the failing connection's DISCONNECTED (with its fd) right after, from the same
     * call in its I/O thread, and the fd's peer was looked up at ACCEPTED. */
    bool failure_pending;
    uint16_t failure_event;
    uint32_t failure_value;
    char failure_ep[256];
};

/* "ADDR:PORT" of the peer of fd, or NULL when it is gone (a handshake can fail and libzmq
 * close the descriptor before this thread reads the ACCEPTED event). */
static char *peer_of(uint32_t fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    char host[INET6_ADDRSTRLEN] = "", *out;
    unsigned port;

    if (getpeername((int)fd, (struct sockaddr *)&sa, &len) != 0) {
        return NULL;
    }
    if (sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    } else {
        return NULL;
    }
    out = malloc(sizeof(host) + 16);
    if (out != NULL) {
        snprintf(out, sizeof(host) + 16, sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
                 port);
    }
    return out;
}

static void log_failure(pd_conn_monitor_t *m, const char *peer);

/* A connection came in (ACCEPTED, value = its fd) or went (DISCONNECTED). Past the budget the
 * newcomer is shut down: libzmq then sees it end and closes it as usual (never close() a
 * descriptor libzmq owns: the number could be reused under it). */
static void track(pd_conn_monitor_t *m, uint16_t event, uint32_t fd)
{
    if (fd >= m->n_fds) {
        return;
    }
    if (event == ZMQ_EVENT_DISCONNECTED) {
        if (m->failure_pending) {
            log_failure(m, m->peer[fd]);
        }
        free(m->peer[fd]);
        m->peer[fd] = NULL;
        if (m->open[fd]) {
            m->open[fd] = 0;
            m->n_open--;
        }
    } else if (!m->open[fd]) {
        m->open[fd] = 1;
        m->n_open++;
        free(m->peer[fd]);
        m->peer[fd] = peer_of(fd);
        if (m->n_open > m->budget) {
            shutdown((int)fd, SHUT_RDWR);
            m->d->metrics.connections_dropped_total++;
            if (pd_ratelimit_ok(&m->rl[3], pd_daemon_now_ms(m->d))) {
                pd_log_warn("worker port: max_connections (%zu) are open: dropping new ones "
                            "(connections_dropped_total)",
                            m->budget);
            }
        }
    }
    m->d->metrics.connections = (double)m->n_open;
}

/* What a failed handshake most likely means, for the operator reading the log. */
static const char *reason_text(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return "security mechanism mismatch: a peer without CURVE at a CURVE server, or with "
               "CURVE at a plain one";
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        return "cryptographic error: the peer has a wrong server public key (--server-key)";
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        return "protocol error in the handshake";
    }
    return "connection lost during the handshake";
}

static void record(pd_conn_monitor_t *m, uint16_t event, uint32_t value, const char *ep)
{
    pd_metrics_t *mt = &m->d->metrics;
    int reason;

    if (event == ZMQ_EVENT_ACCEPTED || event == ZMQ_EVENT_DISCONNECTED) {
        track(m, event, value);
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return; /* ZAP said no: counted and logged with the key by zap.c */
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        mt->handshake_failures_mechanism_total++;
        reason = 0;
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
               value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        mt->handshake_failures_crypto_total++;
        reason = 1;
    } else {
        mt->handshake_failures_other_total++;
        reason = 2;
    }
    if (m->failure_pending) {
        log_failure(m, NULL); /* its DISCONNECTED never came */
    }
    if (pd_ratelimit_ok(&m->rl[reason], pd_daemon_now_ms(m->d))) {
        m->failure_pending = true; /* logged at its DISCONNECTED, with the peer */
        m->failure_event = event;
        m->failure_value = value;
        snprintf(m->failure_ep, sizeof(m->failure_ep), "%s", ep);
    }
}

static void log_failure(pd_conn_monitor_t *m, const char *peer)
{
    pd_log_warn("a security handshake on %s from %s failed: %s (0x%" PRIx32 ")", m->failure_ep,
                peer != NULL ? peer : "an unknown peer (already gone)",
                reason_text(m->failure_event, m->failure_value), m->failure_value);
    m->failure_pending = false;
}

/* Read up to budget events; returns the budget left (0: more may be queued). */
static unsigned drain(pd_conn_monitor_t *m, unsigned budget)
{
    for (; budget > 0; budget--) {
        zmq_msg_t head, addr;
        uint16_t event = 0;
        uint32_t value = 0;
        char ep[256] = "";

        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, m->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            break;
        }
        if (zmq_msg_size(&head) >= 6) {
            memcpy(&event, zmq_msg_data(&head), 2);
            memcpy(&value, (char *)zmq_msg_data(&head) + 2, 4);
        }
        zmq_msg_close(&head);
        zmq_msg_init(&addr); /* the second frame: the endpoint */
        if (zmq_msg_recv(&addr, m->pair, 0) >= 0) {
            size_t n = zmq_msg_size(&addr) < sizeof(ep) - 1 ? zmq_msg_size(&addr) : sizeof(ep) - 1;
            memcpy(ep, zmq_msg_data(&addr), n);
            ep[n] = '\0';
        }
        zmq_msg_close(&addr);
        record(m, event, value, ep);
    }
    return budget;
}

static void on_idle(uv_idle_t *h);

/* ZMQ_FD is edge-triggered: drain, then ask libzmq whether input is still pending. */
static void drain_and_rearm(pd_conn_monitor_t *m)
{
    int events = 0;
    size_t len = sizeof(events);

    if (drain(m, DRAIN_BUDGET) == 0 ||
        (zmq_getsockopt(m->pair, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))) {
        uv_idle_start(&m->idle, on_idle);
    } else {
        uv_idle_stop(&m->idle);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    if (status < 0) {
        pd_log_err("handshake monitor: poll failed: %s", pd_strerror(status));
        return;
    }
    drain_and_rearm(h->data);
}

static void on_idle(uv_idle_t *h)
{
    drain_and_rearm(h->data);
}

int pd_conn_monitor_start(pd_daemon_t *d, size_t max_connections, pd_conn_monitor_t **out)
{
    pd_conn_monitor_t *m = calloc(1, sizeof(*m));
    int zero = 0, fd;
    size_t fd_len = sizeof(fd);
    struct rlimit rl;
    int rc;

    if (m == NULL) {
        return -ENOMEM;
    }
    *out = m; /* from here on pd_conn_monitor_free (through pd_daemon_free) cleans up */
    m->d = d;
    m->budget = max_connections;
    m->n_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                       rl.rlim_cur < (1u << 22)
                   ? (size_t)rl.rlim_cur
                   : (size_t)1 << 22;
    m->open = calloc(m->n_fds, 1);
    m->peer = calloc(m->n_fds, sizeof(*m->peer));
    if (m->open == NULL || m->peer == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < sizeof(m->rl) / sizeof(m->rl[0]); i++) {
        pd_ratelimit_init(&m->rl[i], 10000, 5);
    }
    if (zmq_socket_monitor(d->zsock, MONITOR_ENDPOINT,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        (m->pair = zmq_socket(d->zctx, ZMQ_PAIR)) == NULL ||
        zmq_setsockopt(m->pair, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
        zmq_connect(m->pair, MONITOR_ENDPOINT) != 0 ||
        zmq_getsockopt(m->pair, ZMQ_FD, &fd, &fd_len) != 0) {
        rc = -zmq_errno();
        goto fail;
    }
    m->poll.data = m;
    m->idle.data = m;
    if ((rc = uv_idle_init(&d->loop, &m->idle)) != 0 ||
        (rc = uv_poll_init_socket(&d->loop, &m->poll, fd)) != 0 ||
        (rc = uv_poll_start(&m->poll, UV_READABLE, on_readable)) != 0 ||
        /* an edge may already have passed: look once when the loop starts */
        (rc = uv_idle_start(&m->idle, on_idle)) != 0) {
        goto fail; /* initialised handles are closed by the daemon's walk of the loop */
    }
    return 0;
fail:
    pd_log_err("cannot watch the worker socket's handshakes: %s", pd_strerror(rc));
    return rc;
}

void pd_conn_monitor_free(pd_conn_monitor_t *m)
{
    if (m == NULL) {
        return;
    }
    if (m->pair != NULL) {
        zmq_close(m->pair);
    }
    if (m->peer != NULL) {
        for (size_t fd = 0; fd < m->n_fds; fd++) {
            free(m->peer[fd]);
        }
    }
    free(m->peer);
    free(m->open);
    free(m);
}
