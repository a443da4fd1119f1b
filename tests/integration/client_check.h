/* client_check.h - the failure counter of the stand-alone client test programs (nocopy.c,
 * client_f32.c), which link the public library only: CHECK reports a failed condition with
 * its place and counts it, and the program goes on to the next check. */
#ifndef PD_TESTS_CLIENT_CHECK_H
#define PD_TESTS_CLIENT_CHECK_H

#include <stdio.h>

static int failures;

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
