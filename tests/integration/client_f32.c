/* client_f32.c - pd_client_pull_f32 and pd_client_push_f32 against a running paramd
 * (client_f32.test), through the public <paramd/client.h> only. The job: async-sgd, a plain
 * vector of DIM zeros, sgd with learning rate 1/4. Usage: client_f32 ENDPOINT.
 * Exit 0 passed, 1 failed, 99 hard error. */
#include <paramd/client.h>

#include "client_check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DIM 64u
#define LR 0.25

/* Against a job of BIG keys (client_f32 ENDPOINT --lend): the blocking pushes of 128 KiB and
 * more, which send the caller's arrays without copying them, step exactly by those arrays,
 * and the arrays are the caller's again when the call returns (changed at once after, they
 * change nothing on the server). */
#define BIG 40000u

static int lent_pushes(const char *endpoint)
{
    static double g[BIG], x[BIG], want[BIG];
    static float gf[BIG];
    static uint64_t keys[BIG / 2];
    pd_client_t *c = connect_or_die(endpoint, "lend", BIG);
    pd_client_ack_t ack;
    uint64_t v = PD_CLIENT_NO_VERSION;
    int rc;

    for (unsigned i = 0; i < BIG; i++) {
        g[i] = (double)(i % 61) * 0.5 - 15.0; /* LR * g exact: x moves by exact steps */
        gf[i] = (float)(i % 7) - 3.0f;
        want[i] = -LR * g[i];
    }
    rc = pd_client_push(c, 0, BIG, g, 0, &ack); /* 320 KB */
    CHECK(rc == 0 && ack.status == PD_CLIENT_APPLIED, "lent push: rc %d", rc);
    memset(g, 0xff, sizeof(g)); /* NaNs, had the server not had the values already */
    for (unsigned i = 0; i < BIG / 2; i++) {
        keys[i] = 2 * i + 1;
        g[i] = 2.0;
        want[2 * i + 1] -= LR * 2.0;
    }
    rc = pd_client_push_keys(c, keys, BIG / 2, g, ack.version, &ack); /* 2 x 160 KB */
    CHECK(rc == 0 && ack.status == PD_CLIENT_APPLIED, "lent key push: rc %d", rc);
    memset(keys, 0, sizeof(keys));
    rc = pd_client_push_f32(c, 0, BIG, gf, ack.version, &ack); /* 160 KB */
    CHECK(rc == 0 && ack.status == PD_CLIENT_APPLIED, "lent float32 push: rc %d", rc);
    for (unsigned i = 0; i < BIG; i++) {
        want[i] -= LR * (double)gf[i];
        gf[i] = -1.0f; /* would move x, had the server not had the values already */
    }
    rc = pd_client_pull(c, 0, BIG, x, &v, NULL);
    CHECK(rc == 0 && v == ack.version, "pull after the lent pushes: rc %d", rc);
    for (unsigned i = 0; rc == 0 && i < BIG; i++) {
        CHECK(x[i] == want[i], "x[%u] = %.17g, want %.17g", i, x[i], want[i]);
    }
    pd_client_free(c);
    if (failures == 0) {
        printf("blocking pushes of 160 to 320 KB, sent without a copy: exact steps\n");
    }
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    pd_client_t *c = NULL;
    pd_client_ack_t ack;
    float gf[DIM], xf[DIM], held[DIM];
    double gd[DIM], xd[DIM];
    uint64_t v = PD_CLIENT_NO_VERSION;
    bool nm = true;
    int rc;

    if (argc == 3 && strcmp(argv[2], "--lend") == 0) {
        return lent_pushes(argv[1]);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: client_f32 ENDPOINT [--lend]\n");
        return 99;
    }
    c = connect_or_die(argv[1], "f32", DIM);
    /* A float32 push of values whose steps are exact: x = -LR g, bit for bit. */
    for (unsigned i = 0; i < DIM; i++) {
        gf[i] = (float)i * 0.125f - 2.0f;
    }
    rc = pd_client_pull_f32(c, 0, DIM, xf, &v, &nm);
    CHECK(rc == 0 && !nm && xf[5] == 0.0f, "first float32 pull: rc %d", rc);
    rc = pd_client_push_f32(c, 0, DIM, gf, v, &ack);
    CHECK(rc == 0 && ack.status == PD_CLIENT_APPLIED, "float32 push: rc %d status %d (%s)", rc,
          (int)ack.status, ack.reason);
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull(c, 0, DIM, xd, &v, NULL);
    for (unsigned i = 0; rc == 0 && i < DIM; i++) {
        CHECK(xd[i] == -LR * (double)gf[i], "x[%u] = %.17g after the float32 push", i, xd[i]);
    }
    /* Values a float cannot hold: the float32 pull is the float64 one rounded to nearest. */
    for (unsigned i = 0; i < DIM; i++) {
        gd[i] = 1.0 / (3.0 + i);
    }
    rc = pd_client_push(c, 0, DIM, gd, v, &ack);
    CHECK(rc == 0 && ack.status == PD_CLIENT_APPLIED, "float64 push: rc %d", rc);
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull(c, 0, DIM, xd, &v, NULL);
    CHECK(rc == 0, "float64 pull: rc %d", rc);
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull_f32(c, 0, DIM, xf, &v, &nm);
    CHECK(rc == 0 && !nm, "float32 pull: rc %d", rc);
    for (unsigned i = 0; rc == 0 && i < DIM; i++) {
        CHECK(xf[i] == (float)xd[i], "x[%u]: %.9g as float32, %.17g as float64", i, xf[i],
              xd[i]);
    }
    /* A sub-range, then NOT_MODIFIED for a held version: out is left as it is. */
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull_f32(c, 10, 5, xf, &v, &nm);
    CHECK(rc == 0 && !nm && xf[0] == (float)xd[10] && xf[4] == (float)xd[14],
          "float32 pull of [10, 15): rc %d", rc);
    memcpy(held, xf, sizeof(held));
    rc = pd_client_pull_f32(c, 10, 5, xf, &v, &nm);
    CHECK(rc == 0 && nm && memcmp(held, xf, sizeof(held)) == 0,
          "float32 pull of a held version: rc %d, not_modified %d", rc, (int)nm);
    /* Out of range: refused like the float64 calls. */
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull_f32(c, DIM - 2, 5, xf, &v, NULL);
    CHECK(rc != 0, "a float32 pull past dim was answered");
    rc = pd_client_push_f32(c, DIM, 1, gf, 0, &ack);
    CHECK(rc == 0 && ack.status == PD_CLIENT_REJECTED, "a float32 push past dim: rc %d status %d",
          rc, (int)ack.status);
    pd_client_free(c);
    if (failures == 0) {
        printf("float32 pulls and pushes: exact steps, rounding to nearest, NOT_MODIFIED, "
               "ranges refused\n");
    }
    return failures == 0 ? 0 : 1;
}
