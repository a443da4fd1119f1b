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

int main(int argc, char **argv)
{
    pd_client_t *c = NULL;
    pd_client_ack_t ack;
    float gf[DIM], xf[DIM], held[DIM];
    double gd[DIM], xd[DIM];
    uint64_t v = PD_CLIENT_NO_VERSION;
    bool nm = true;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: client_f32 ENDPOINT\n");
        return 99;
    }
    rc = pd_client_connect(&c, argv[1], "f32", 10000);
    if (rc != 0) {
        fprintf(stderr, "connect: %s\n", pd_client_strerror(rc));
        return 99;
    }
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
