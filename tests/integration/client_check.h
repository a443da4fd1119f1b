/* client_check.h - the failure counter of the stand-alone client test programs (nocopy.c,
 * client_f32.c, client_shards.c), which link the public library only: CHECK reports a failed
 * condition with its place and counts it, and the program goes on to the next check;
 * connect_or_die joins the server. */
#ifndef PD_TESTS_CLIENT_CHECK_H
#define PD_TESTS_CLIENT_CHECK_H

#include <paramd/client.h>

#include <stdio.h>
#include <stdlib.h>

static int failures;

/* Join the server at endpoint as a key-value client named name, or exit 99 (a hard error,
 * not a failed check) when it does not answer within 10 s or its job has not want_dim keys
 * (0: any). */
static inline pd_client_t *connect_or_die(const char *endpoint, const char *name,
                                          uint64_t want_dim)
{
    pd_client_t *c = NULL;
    int rc = pd_client_connect(&c, endpoint, name, 10000);

    if (rc != 0) {
        fprintf(stderr, "%s: connect: %s\n", name, pd_client_strerror(rc));
        exit(99);
    }
    if (want_dim != 0 && pd_client_dim(c) != want_dim) {
        fprintf(stderr, "%s: the job has %llu keys, want %llu\n", name,
                (unsigned long long)pd_client_dim(c), (unsigned long long)want_dim);
        exit(99);
    }
    return c;
}

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                          \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

#endif
