/* zap.c - see zap.h. Owns the ZAP REP socket, its two loop handles and the list of admitted
 * keys; the daemon owns the context and the ROUTER this configures. */
#include <config.h>
#include "zap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "common/curve.h"
#include "../daemon.h"
#include "error.h"
#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "paramd"
#define ZAP_MAX_FRAMES 8     /* version .. mechanism and one credential, with room to spare */
#define ZAP_DRAIN_BUDGET 64  /* requests per wake-up before timers get a turn */
#define NAMES_LOGGED 8       /* names listed per "added"/"removed" log line */

struct pd_zap {
    pd_daemon_t *d;
    void *rep;
    uv_poll_t poll;
    uv_idle_t idle;  /* resumes draining when a wake-up ran out of budget */
    pd_curve_list_t keys;
    pd_ratelimit_t rl; /* log lines about refused keys: peers trigger them */
    char own_pub[PD_CURVE_KEY_LEN + 1]; /* shard i > 0: shard 0 connects with the job's key */
};

/* The loader's "FILE:LINE: ..." lines, one log line each. */
static void log_lines(const char *prefix, char *err)
{
    char *save = NULL;
    for (char *l = strtok_r(err, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        pd_log_err("%s%s", prefix, l);
    }
}

static int send_frame(void *sock, const void *data, size_t len, bool more)
{
    return zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -zmq_errno() : 0;
}

static int reply(pd_zap_t *z, const zmq_msg_t *request_id, const char *status,
                 const char *text, const char *user_id)
{
    int rc;
    if ((rc = send_frame(z->rep, "1.0", 3, true)) != 0 ||
        (rc = send_frame(z->rep, zmq_msg_data((zmq_msg_t *)request_id),
                         zmq_msg_size((zmq_msg_t *)request_id), true)) != 0 ||
        (rc = send_frame(z->rep, status, strlen(status), true)) != 0 ||
        (rc = send_frame(z->rep, text, strlen(text), true)) != 0 ||
        (rc = send_frame(z->rep, user_id, strlen(user_id), true)) != 0 ||
        (rc = send_frame(z->rep, "", 0, false)) != 0) {
        pd_log_err("ZAP: cannot answer: %s", pd_strerror(rc));
    }
    return rc;
}

static bool frame_is(const zmq_msg_t *m, const char *text)
{
    size_t n = strlen(text);
    return zmq_msg_size((zmq_msg_t *)m) == n && memcmp(zmq_msg_data((zmq_msg_t *)m), text, n) == 0;
}

/* Answer one request (RFC 27): frames version, request id, domain, address, identity,
 * mechanism, credentials. */
static void answer(pd_zap_t *z, zmq_msg_t *f, size_t n)
{
    pd_daemon_t *d = z->d;
    char key[PD_CURVE_KEY_LEN + 1];
    char addr[64];

    if (n < 6 || !frame_is(&f[0], "1.0")) {
        /* Not from libzmq: nothing else binds this inproc endpoint in our context. */
        pd_log_err("ZAP: malformed request (%zu frames); refusing", n);
        /* A REP socket must answer before it can receive again: always reply. */
        zmq_msg_t empty;
        zmq_msg_init(&empty);
        reply(z, n >= 2 ? &f[1] : &empty, "500", "malformed ZAP request", "");
        zmq_msg_close(&empty);
        return;
    }
    snprintf(addr, sizeof(addr), "%.*s", (int)zmq_msg_size(&f[3]), (const char *)zmq_msg_data(&f[3]));
    if (!frame_is(&f[5], "CURVE") || n != 7 || zmq_msg_size(&f[6]) != 32) {
        d->metrics.auth_failures_total++;
        if (pd_ratelimit_ok(&z->rl, pd_daemon_now_ms(d))) {
            pd_log_warn("refused a connection from %s: mechanism %.*s, CURVE required", addr,
                        (int)zmq_msg_size(&f[5]), (const char *)zmq_msg_data(&f[5]));
        }
        reply(z, &f[1], "400", "CURVE required", "");
        return;
    }
    zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
    if (z->own_pub[0] != '\0' && strcmp(key, z->own_pub) == 0) {
        /* only a holder of the server's secret key completes a handshake with it */
        pd_log_info("admitted shard 0 (the job's own key) from %s", addr);
        reply(z, &f[1], "200", "OK", "shard 0");
        return;
    }
    const pd_curve_entry_t *e = pd_curve_list_find(&z->keys, key);
    if (e == NULL) {
        d->metrics.auth_failures_total++;
        if (pd_ratelimit_ok(&z->rl, pd_daemon_now_ms(d))) {
            pd_log_warn("refused worker key %s from %s: not in authorized_workers (%s); add it "
                        "there and reload (SIGHUP) to admit it",
                        key, addr, d->cfg.authorized_workers);
        }
        reply(z, &f[1], "400", "key not authorized", "");
        return;
    }
    /* Once per connection (handshake), so info level does not flood. */
    pd_log_info("admitted worker key %s (%s) from %s", e->name, key, addr);
    reply(z, &f[1], "200", "OK", e->name);
}

/* Receive and answer until no request waits or the budget is spent; returns the budget left. */
static unsigned drain(pd_zap_t *z, unsigned budget)
{
    for (; budget > 0; budget--) {
        zmq_msg_t f[ZAP_MAX_FRAMES];
        size_t n = 0;
        int more = 1;
        size_t more_len = sizeof(more);

        zmq_msg_init(&f[0]);
        if (zmq_msg_recv(&f[0], z->rep, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&f[0]);
            if (e != EAGAIN) {
                pd_log_err("ZAP: receive failed: %s", zmq_strerror(e));
            }
            break;
        }
        n = 1;
        /* The rest of a multipart message is already here. Frames past the limit are read
         * into the last slot and dropped, so the REP socket is ready to answer. */
        while (zmq_getsockopt(z->rep, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
            zmq_msg_t *slot = n < ZAP_MAX_FRAMES ? &f[n] : &f[ZAP_MAX_FRAMES - 1];
            if (n >= ZAP_MAX_FRAMES) {
                zmq_msg_close(slot);
            }
            zmq_msg_init(slot);
            if (zmq_msg_recv(slot, z->rep, 0) < 0) {
                break;
            }
            if (n < ZAP_MAX_FRAMES) {
                n++;
            }
        }
        answer(z, f, n);
        for (size_t i = 0; i < n; i++) {
            zmq_msg_close(&f[i]);
        }
    }
    return budget;
}

static void on_idle(uv_idle_t *h);

static void drain_and_rearm(pd_zap_t *z)
{
    int events = 0;
    size_t len = sizeof(events);

    if (drain(z, ZAP_DRAIN_BUDGET) == 0) {
        /* Out of budget: more may be queued, and the edge-triggered ZMQ_FD will not say so. */
        uv_idle_start(&z->idle, on_idle);
        return;
    }
    /* Our replies can consume the fd's edge: ask libzmq whether input is still pending. */
    if (zmq_getsockopt(z->rep, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN)) {
        uv_idle_start(&z->idle, on_idle);
    } else {
        uv_idle_stop(&z->idle);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    pd_zap_t *z = h->data;
    (void)events;
    if (status < 0) {
        pd_log_err("ZAP: poll failed: %s", pd_strerror(status));
        return;
    }
    drain_and_rearm(z);
}

static void on_idle(uv_idle_t *h)
{
    drain_and_rearm(h->data);
}

static int load_list(const char *path, pd_curve_list_t *out, const char *prefix)
{
    char err[4096] = "";
    int rc = pd_curve_load_list(path, out, err, sizeof(err));
    if (rc != 0) {
        log_lines(prefix, err);
    }
    return rc;
}

static void warn_if_readable(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
        pd_log_warn("%s holds the server's secret key but has mode %04o: anyone who can read "
                    "it can pose as this server; chmod 600 it",
                    path, (unsigned)(st.st_mode & 07777));
    }
}

int pd_zap_setup(pd_daemon_t *d)
{
    pd_curve_keypair_t kp;
    char err[4096] = "";
    int zero = 0, one = 1;
    int fd;
    size_t fd_len = sizeof(fd);
    pd_zap_t *z;
    int rc;

    if (d->cfg.server_key_file[0] == '\0') {
        return 0;
    }
    if (!zmq_has("curve")) {
        pd_log_err("[security] server_key_file is set, but this libzmq has no CURVE support");
        return PD_ECONFIG;
    }
    z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return -ENOMEM;
    }
    z->d = d;
    pd_ratelimit_init(&z->rl, 10000, 5);
    d->zap = z; /* from here on pd_zap_free() (through pd_daemon_free) cleans up */
    rc = pd_curve_load_keypair(d->cfg.server_key_file, &kp, err, sizeof(err));
    if (rc != 0) {
        log_lines("", err);
        return rc == -ENOMEM ? rc : PD_ECONFIG;
    }
    char cred[4096];
    const char *source = pd_curve_keypair_source(d->cfg.server_key_file, cred, sizeof(cred));
    if (source != d->cfg.server_key_file) {
        pd_log_info("CURVE key pair of %s read from the service credential %s",
                    d->cfg.server_key_file, source);
    } else {
        warn_if_readable(source); /* a credential's mode is systemd's business */
    }
    rc = load_list(d->cfg.authorized_workers, &z->keys, "");
    if (rc != 0) {
        goto out;
    }
    /* The handler must be bound before the ROUTER: a CURVE handshake that finds no handler
     * would be admitted without a check. */
    z->rep = zmq_socket(d->zctx, ZMQ_REP);
    if (z->rep == NULL || zmq_setsockopt(z->rep, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
        zmq_bind(z->rep, ZAP_ENDPOINT) != 0 ||
        zmq_getsockopt(z->rep, ZMQ_FD, &fd, &fd_len) != 0) {
        rc = -zmq_errno();
        pd_log_err("cannot start the ZAP handler: %s", zmq_strerror(-rc));
        goto out;
    }
    z->poll.data = z;
    z->idle.data = z;
    if ((rc = uv_idle_init(&d->loop, &z->idle)) != 0 ||
        (rc = uv_poll_init_socket(&d->loop, &z->poll, fd)) != 0 ||
        (rc = uv_poll_start(&z->poll, UV_READABLE, on_readable)) != 0) {
        pd_log_err("cannot watch the ZAP handler: %s", pd_strerror(rc));
        goto out;
    }
    /* A CURVE server asks the handler whenever one is bound in its context, which is now. */
    if (zmq_setsockopt(d->zsock, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_CURVE_SECRETKEY, kp.sec, PD_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) != 0) {
        rc = -zmq_errno();
        pd_log_err("cannot enable CURVE on the worker socket: %s", zmq_strerror(-rc));
        goto out;
    }
    if (d->opts.shard_index > 0) {
        memcpy(z->own_pub, kp.pub, sizeof(z->own_pub));
    }
    d->metrics.authorized_keys = (double)z->keys.n;
    pd_log_info("CURVE on: server public key %s, %zu authorized worker key%s (%s)", kp.pub,
                z->keys.n, z->keys.n == 1 ? "" : "s", d->cfg.authorized_workers);
out:
    memset(&kp, 0, sizeof(kp));
    return rc;
}

/* "name1, name2, ... (+N more)" of the entries of a not found in b. Returns the count. */
static size_t names_missing(const pd_curve_list_t *a, const pd_curve_list_t *b, char *out,
                            size_t len)
{
    size_t count = 0, used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < a->n; i++) {
        if (pd_curve_list_find(b, a->v[i].key) != NULL) {
            continue;
        }
        if (count < NAMES_LOGGED && used < len) {
            int w = snprintf(out + used, len - used, "%s%s", count > 0 ? ", " : "", a->v[i].name);
            used += w > 0 ? (size_t)w : 0;
        }
        count++;
    }
    if (count > NAMES_LOGGED && used < len) {
        snprintf(out + used, len - used, " (+%zu more)", count - NAMES_LOGGED);
    }
    return count;
}

int pd_zap_reload(pd_daemon_t *d, bool *changed)
{
    pd_zap_t *z = d->zap;
    pd_curve_list_t next;
    char added[640], removed[640];
    int rc;

    *changed = false;
    if (z == NULL) {
        if (d->cfg.authorized_workers[0] != '\0') {
            pd_log_notice("reload: CURVE is off (no server_key_file at start): "
                          "authorized_workers has no effect until a restart");
        }
        return 0;
    }
    rc = load_list(d->cfg.authorized_workers, &next, "reload: ");
    if (rc != 0) {
        pd_log_err("reload: authorized worker keys unchanged (%zu keys)", z->keys.n);
        return rc;
    }
    size_t n_added = names_missing(&next, &z->keys, added, sizeof(added));
    size_t n_removed = names_missing(&z->keys, &next, removed, sizeof(removed));
    if (n_added == 0 && n_removed == 0) {
        pd_log_info("reload: authorized worker keys unchanged (%zu keys)", next.n);
    } else {
        *changed = true;
        pd_log_notice("reload: authorized worker keys: %zu added%s%s%s, %zu removed%s%s%s; %zu "
                      "keys now",
                      n_added, n_added > 0 ? " (" : "", added, n_added > 0 ? ")" : "", n_removed,
                      n_removed > 0 ? " (" : "", removed, n_removed > 0 ? ")" : "", next.n);
        if (n_removed > 0) {
            pd_log_notice("reload: workers connected with a removed key stay until they "
                          "reconnect; restart paramd to cut them off now");
        }
    }
    pd_curve_list_release(&z->keys);
    z->keys = next;
    d->metrics.authorized_keys = (double)z->keys.n;
    return 0;
}

void pd_zap_free(pd_zap_t *z)
{
    if (z == NULL) {
        return;
    }
    if (z->rep != NULL) {
        zmq_close(z->rep);
    }
    pd_curve_list_release(&z->keys);
    free(z);
}
