/* client_shards.c - a fixed script of pulls and pushes through the public <paramd/client.h>,
 * against a job on one server or split over several (client_shards.test runs it against
 * both and compares what it prints). The job: async-sgd on a plain vector of DIM keys.
 * It prints one line per step: the ACKs' status, version and staleness, each pull's version,
 * NOT_MODIFIED and a digest of the values read; at the end every value in hex. It checks by
 * itself what holds on any number of servers: a pull after a push sees it, a key list reads
 * the same values as a range, pipelined pulls the same as blocking ones, bad requests are
 * refused with the documented codes. Usage: client_shards ENDPOINT.
 * Exit 0 passed, 1 failed, 99 hard error. */
#include <paramd/client.h>

#include "client_check.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DIM 1500u /* 2 servers: [0, 1024) [1024, 1500); 3: [0, 512) [512, 1024) [1024, 1500) */

static pd_client_t *c;
static double x[DIM];
static uint64_t version = PD_CLIENT_NO_VERSION;

/* FNV-1a over the bytes of the values: equal lines, equal bits. */
static uint64_t digest(const double *v, size_t n)
{
    uint64_t h = 14695981039346656037u;
    const unsigned char *b = (const unsigned char *)v;

    for (size_t i = 0; i < n * sizeof(double); i++) {
        h = (h ^ b[i]) * 1099511628211u;
    }
    return h;
}

/* Pull everything, print it, and return the version read. */
static uint64_t pull_all(const char *what)
{
    uint64_t v = PD_CLIENT_NO_VERSION;
    int rc = pd_client_pull(c, 0, DIM, x, &v, NULL);

    CHECK(rc == 0, "%s: pull of every key: %s", what, pd_client_strerror(rc));
    printf("%s: version %llu digest %016llx\n", what, (unsigned long long)v,
           (unsigned long long)digest(x, DIM));
    return v;
}

static void print_ack(const char *what, int rc, const pd_client_ack_t *a)
{
    CHECK(rc == 0, "%s: %s", what, pd_client_strerror(rc));
    printf("%s: status %d version %llu staleness %llu\n", what, (int)a->status,
           (unsigned long long)a->version, (unsigned long long)a->staleness);
}

/* A push of g on [offset, offset + n) at the version last read, then a pull that must see it:
 * the values it changed are the ones now read (the ACK's version or later). */
static void push_range(const char *what, uint64_t offset, uint64_t n, const double *g)
{
    pd_client_ack_t a;
    int rc = pd_client_push(c, offset, n, g, version, &a);

    print_ack(what, rc, &a);
    CHECK(a.status == PD_CLIENT_APPLIED, "%s: not applied: %s", what, a.reason);
    version = pull_all(what);
    CHECK(version >= a.version, "%s: a pull after the push read version %llu < %llu", what,
          (unsigned long long)version, (unsigned long long)a.version);
}

int main(int argc, char **argv)
{
    static double g[DIM], y[DIM], part[DIM];
    /* none in [512, 1024): on 3 servers shard 1 counts the version alone */
    static const uint64_t keys[] = {1, 511, 1024, 1200, 1499};
    enum { NK = sizeof(keys) / sizeof(keys[0]) };
    double kv[NK], gk[NK];
    float xf[DIM], gf[DIM];
    pd_client_ack_t a;
    uint64_t v, held;
    bool nm;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: client_shards ENDPOINT\n");
        return 99;
    }
    c = connect_or_die(argv[1], "shards", 0);
    CHECK(pd_client_dim(c) == DIM, "dim %llu", (unsigned long long)pd_client_dim(c));
    version = pull_all("start");

    /* 1. ranges across every shard boundary, and one inside the last shard alone */
    for (unsigned i = 0; i < DIM; i++) {
        g[i] = sin(0.37 * i) + 0.01 * i;
    }
    push_range("push [300, 1300)", 300, 1000, g + 300);
    push_range("push [1100, 1200)", 1100, 100, g);
    push_range("push [0, 1500)", 0, DIM, g);
    push_range("push [0, 10)", 0, 10, g + 7);
    held = version;

    /* 2. a key list across the shards: pushed, then read back as a range reads it */
    for (unsigned i = 0; i < NK; i++) {
        gk[i] = 0.5 - 0.125 * i;
    }
    rc = pd_client_push_keys(c, keys, NK, gk, version, &a);
    print_ack("push keys", rc, &a);
    version = pull_all("after push keys");
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull_keys(c, keys, NK, kv, &v, &nm);
    CHECK(rc == 0 && !nm, "pull keys: %s", pd_client_strerror(rc));
    for (unsigned i = 0; rc == 0 && i < NK; i++) {
        CHECK(memcmp(&kv[i], &x[keys[i]], sizeof(double)) == 0,
              "key %llu reads %.17g by list, %.17g by range", (unsigned long long)keys[i],
              kv[i], x[keys[i]]);
    }
    printf("pull keys: version %llu\n", (unsigned long long)v);
    rc = pd_client_pull_keys(c, keys, NK, kv, &v, &nm);
    CHECK(rc == 0 && nm, "pull keys again: rc %d not_modified %d", rc, (int)nm);

    /* 3. NOT_MODIFIED per block of 512 keys since `held`: the key list changed block [1024,
     * 1536), so [1100, 1200) comes again; it missed [512, 1024), so [600, 700) does not */
    v = held;
    rc = pd_client_pull(c, 1100, 100, part, &v, &nm);
    CHECK(rc == 0 && !nm, "pull [1100, 1200) held %llu: rc %d nm %d",
          (unsigned long long)held, rc, (int)nm);
    v = held;
    rc = pd_client_pull(c, 600, 100, part, &v, &nm);
    CHECK(rc == 0 && nm && v == held, "pull [600, 700) held %llu: rc %d nm %d version %llu",
          (unsigned long long)held, rc, (int)nm, (unsigned long long)v);
    printf("not modified: %d\n", (int)nm);

    /* 4. float32 both ways */
    for (unsigned i = 0; i < DIM; i++) {
        gf[i] = (float)(0.25 * cos(0.11 * i));
    }
    rc = pd_client_push_f32(c, 0, DIM, gf, version, &a);
    print_ack("push f32", rc, &a);
    version = pull_all("after push f32");
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull_f32(c, 0, DIM, xf, &v, NULL);
    CHECK(rc == 0, "pull f32: %s", pd_client_strerror(rc));
    for (unsigned i = 0; rc == 0 && i < DIM; i++) {
        CHECK(xf[i] == (float)x[i], "x[%u]: float32 pull %.9g, float64 %.17g", i, xf[i], x[i]);
    }

    /* 5. pipelined pulls: the same values as the blocking pull */
    rc = pd_client_pull_send(c, 500, 600, PD_CLIENT_NO_VERSION);
    CHECK(rc == 0, "pull_send 1: %s", pd_client_strerror(rc));
    rc = pd_client_pull_send(c, 1024, 476, PD_CLIENT_NO_VERSION);
    CHECK(rc == 0, "pull_send 2: %s", pd_client_strerror(rc));
    rc = pd_client_pull_recv(c, y, 600, &v, NULL);
    CHECK(rc == 0 && memcmp(y, x + 500, 600 * sizeof(double)) == 0, "pull_recv 1: rc %d", rc);
    rc = pd_client_pull_recv(c, y, 476, &v, NULL);
    CHECK(rc == 0 && memcmp(y, x + 1024, 476 * sizeof(double)) == 0, "pull_recv 2: rc %d", rc);

    /* 6. refused: a NaN in the last shard's keys (nothing changes), keys outside the job */
    uint64_t before = digest(x, DIM);
    memcpy(y, g, sizeof(y));
    y[1400] = NAN;
    rc = pd_client_push(c, 0, DIM, y, version, &a);
    print_ack("push NaN", rc, &a);
    CHECK(a.status == PD_CLIENT_REJECTED, "a NaN push: status %d", (int)a.status);
    v = pull_all("after push NaN");
    CHECK(v == version && digest(x, DIM) == before, "a refused push changed the parameters");
    rc = pd_client_push(c, 1400, 101, g, version, &a);
    CHECK(rc == 0 && a.status == PD_CLIENT_REJECTED, "push past the end: rc %d status %d", rc,
          (int)a.status);
    rc = pd_client_pull(c, 1400, 101, y, NULL, NULL);
    CHECK(rc == PD_CLIENT_EDIM, "pull past the end: rc %d (%s)", rc, pd_client_strerror(rc));
    static const uint64_t bad_keys[] = {3, 2};
    rc = pd_client_pull_keys(c, bad_keys, 2, kv, NULL, NULL);
    CHECK(rc < 0, "pull of decreasing keys: rc %d", rc);

    /* 7. a push from an old version: staleness counted across the shards */
    rc = pd_client_push(c, 0, DIM, g, held, &a);
    print_ack("push stale", rc, &a);
    version = pull_all("end");

    for (unsigned i = 0; i < DIM; i++) {
        printf("%a\n", x[i]);
    }
    pd_client_free(c);
    return failures > 0 ? 1 : 0;
}
