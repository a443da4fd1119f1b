/* nocopy.c - pd_client_push_send_nocopy against a running paramd (nocopy_push.test), through
 * the public <paramd/client.h> only. The job: async-sgd, plain vector of DIM zeros, sgd with a
 * constant rate. Usage: nocopy ENDPOINT PARAMD_PID. Exit 0 passed, 1 failed, 99 hard error.
 *
 * Every push gets its own slot, passed as the hint; the release callback checks the pointer
 * it gets and counts calls per slot, so "exactly once" and "never on failure" are checked
 * push by push, not as a total that two errors could balance. */
#include <paramd/client.h>

#include "client_check.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#define DIM 4096u
#define HALF 1024u     /* part 1: [0, HALF) copying, [HALF, 2 HALF) lent, same gradients */
#define STEPS 8u
#define DEPTH 16u      /* part 2: pipelined lent pushes on [2 HALF, DIM) */
#define MAX_SLOTS 20000u

typedef struct slot {
    const double *grad;
    atomic_uint calls;
    atomic_uint wrong_pointer;
} slot_t;

static slot_t slots[MAX_SLOTS];
static unsigned n_slots;
/* The callback under test: on a libzmq I/O thread, so atomics only. */
static void on_done(void *grad, void *hint)
{
    slot_t *s = hint;

    if (grad != s->grad) {
        atomic_fetch_add(&s->wrong_pointer, 1);
    }
    atomic_fetch_add(&s->calls, 1);
}

static slot_t *new_slot(const double *grad)
{
    if (n_slots == MAX_SLOTS) {
        fprintf(stderr, "nocopy: out of slots\n");
        exit(99);
    }
    slots[n_slots].grad = grad;
    return &slots[n_slots++];
}

/* Lend grad, or return the error; a slot either way. */
static int push_lent(pd_client_t *c, uint64_t offset, uint64_t length, const double *grad,
                     uint64_t version, slot_t **slot_out)
{
    slot_t *s = new_slot(grad);

    *slot_out = s;
    return pd_client_push_send_nocopy(c, offset, length, grad, version, on_done, s);
}

/* Gradients with all their mantissa bits busy, different per step and key. */
static void fill_gradient(double *g, size_t n, unsigned step)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(step + 1) * 0xBF58476D1CE4E5B9ull;
        g[i] = (double)(h >> 11) / 9007199254740992.0 - 0.5;
    }
}

/* The reply to one push, which must be APPLIED; returns the new version. */
static uint64_t expect_applied(pd_client_t *c, const char *what)
{
    pd_client_ack_t ack;
    int rc = pd_client_push_recv(c, &ack);

    CHECK(rc == 0, "%s: push_recv: %s", what, pd_client_strerror(rc));
    CHECK(rc != 0 || ack.status == PD_CLIENT_APPLIED, "%s: status %d (%s)", what,
          (int)ack.status, ack.reason);
    return rc == 0 ? ack.version : 0;
}

/* 1. The same gradients, copied into [0, HALF) and lent into [HALF, 2 HALF), one at a time
 * so both see staleness 0 and the same rate: both halves start at zero, so they must end
 * bitwise equal. 2. DEPTH lent pushes in flight at once. */
static void pushes_apply(pd_client_t *c)
{
    static double g[STEPS][HALF], x[DIM], x0[DIM], lent[DEPTH][DIM - 2 * HALF];
    uint64_t v = PD_CLIENT_NO_VERSION;
    slot_t *s;
    int rc;

    rc = pd_client_pull(c, 0, DIM, x0, &v, NULL);
    CHECK(rc == 0, "pull: %s", pd_client_strerror(rc));
    CHECK(memcmp(x0, x0 + HALF, sizeof(g[0])) == 0, "the two halves do not start equal");
    for (unsigned k = 0; k < STEPS; k++) {
        fill_gradient(g[k], HALF, k);
        rc = pd_client_push_send(c, 0, HALF, g[k], v);
        CHECK(rc == 0, "push_send: %s", pd_client_strerror(rc));
        v = expect_applied(c, "copying push");
        rc = push_lent(c, HALF, HALF, g[k], v, &s);
        CHECK(rc == 0, "push_send_nocopy: %s", pd_client_strerror(rc));
        v = expect_applied(c, "lent push");
    }
    for (unsigned d = 0; d < DEPTH; d++) {
        fill_gradient(lent[d], DIM - 2 * HALF, 100 + d);
        rc = push_lent(c, 2 * HALF, DIM - 2 * HALF, lent[d], v, &s);
        CHECK(rc == 0, "pipelined push_send_nocopy %u: %s", d, pd_client_strerror(rc));
    }
    for (unsigned d = 0; d < DEPTH; d++) {
        expect_applied(c, "pipelined lent push");
    }
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull(c, 0, DIM, x, &v, NULL);
    CHECK(rc == 0, "pull: %s", pd_client_strerror(rc));
    CHECK(memcmp(x, x + HALF, sizeof(g[0])) == 0,
          "lent pushes did not apply bitwise like copied ones");
    CHECK(memcmp(x, x0, sizeof(g[0])) != 0, "the pushes changed nothing");
    CHECK(memcmp(x + 2 * HALF, x0 + 2 * HALF, sizeof(lent[0])) != 0,
          "the pipelined lent pushes changed nothing");
}

/* 3. Refused arguments: an error, and done never called (checked after pd_client_free). A
 * range the server would refuse (as the copying push shows) is refused before the lend. */
static void bad_arguments(pd_client_t *c)
{
    static double g[4];
    const struct {
        uint64_t offset, length;
    } ranges[] = {{DIM - 1, 2}, {0, 0}, {DIM, 1}, {1, UINT64_MAX}, {UINT64_MAX, 2}};
    pd_client_ack_t ack;
    slot_t *s;
    int rc;

    rc = pd_client_push(c, DIM - 1, 2, g, 0, &ack);
    CHECK(rc == 0 && ack.status == PD_CLIENT_REJECTED, "copying push past the end: %d, %d", rc,
          (int)ack.status);
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        rc = push_lent(c, ranges[i].offset, ranges[i].length, g, 0, &s);
        CHECK(rc == PD_CLIENT_EDIM, "range %zu: %d, want PD_CLIENT_EDIM", i, rc);
    }
    rc = push_lent(c, 0, 1, NULL, 0, &s);
    CHECK(rc == -EINVAL, "NULL grad: %d", rc);
    rc = pd_client_push_send_nocopy(c, 0, 1, g, 0, NULL, new_slot(g));
    CHECK(rc == -EINVAL, "NULL done: %d", rc);
    rc = pd_client_push_send_nocopy(NULL, 0, 1, g, 0, on_done, new_slot(g));
    CHECK(rc == -EINVAL, "NULL client: %d", rc);
}

static void on_alarm(int sig)
{
    (void)sig; /* only there to interrupt a blocked send */
}

/* 4. With paramd stopped, lent pushes pile up in libzmq until its queue is full and a send
 * blocks; SIGALRM interrupts it: that call fails (-EINTR) after its message was built, and
 * its done must never run. pd_client_free() then drops the queued messages: every one that
 * was sent must be released exactly once by the time it returns. */
static void stopped_server(const char *endpoint, pid_t paramd)
{
    static double g[DIM];
    struct sigaction sa = {.sa_handler = on_alarm};
    pd_client_t *c = connect_or_die(endpoint, "nocopy-stopped", DIM);
    unsigned first = n_slots, sent = 0;
    slot_t *s = NULL;
    int rc = 0;

    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0 || kill(paramd, SIGSTOP) != 0) {
        perror("nocopy: stopping paramd");
        exit(99);
    }
    /* Every second, not once: a signal that comes before the queue is full (a slow run, under
     * valgrind) interrupts nothing, and the next one finds the send blocked. */
    struct itimerval every_s = {{1, 0}, {1, 0}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &every_s, NULL);
    while (n_slots < MAX_SLOTS && (rc = push_lent(c, 0, DIM, g, 0, &s)) == 0) {
        sent++;
    }
    setitimer(ITIMER_REAL, &off, NULL);
    CHECK(rc == -EINTR, "after %u lent pushes: %d (%s), want -EINTR", sent, rc,
          pd_client_strerror(rc));
    unsigned released = 0;
    for (unsigned i = first; i < first + sent; i++) {
        released += atomic_load(&slots[i].calls);
    }
    printf("stopped server: %u lent pushes queued, %u released before pd_client_free\n", sent,
           released);
    pd_client_free(c);
    CHECK(atomic_load(&s->calls) == 0, "done ran for the interrupted push");
    if (kill(paramd, SIGCONT) != 0) {
        perror("nocopy: continuing paramd");
        exit(99);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: nocopy ENDPOINT PARAMD_PID\n");
        return 99;
    }
    pd_client_t *c = connect_or_die(argv[1], "nocopy", DIM);
    pushes_apply(c);
    unsigned applied = n_slots;
    bad_arguments(c);
    pd_client_free(c);
    stopped_server(argv[1], (pid_t)atoi(argv[2]));
    /* Every slot of a successful push (the first `applied`, and all of the stopped server's
     * but its last) saw one call with its own pointer; the refused ones none. */
    unsigned bad_first = applied, bad_end = applied + 8;
    for (unsigned i = 0; i < n_slots; i++) {
        bool refused = (i >= bad_first && i < bad_end) || i == n_slots - 1;
        unsigned calls = atomic_load(&slots[i].calls);
        CHECK(calls == (refused ? 0u : 1u), "slot %u: done called %u times", i, calls);
        CHECK(atomic_load(&slots[i].wrong_pointer) == 0, "slot %u: done got another pointer",
              i);
    }
    printf("%u lent pushes, %u refused: %s\n", n_slots, bad_end - bad_first + 1,
           failures == 0 ? "passed" : "FAILED");
    return failures == 0 ? 0 : 1;
}
