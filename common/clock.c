/* clock.c - thin wrappers over clock_gettime. */
#include <config.h>
#include "clock.h"

#include <time.h>

static double ts_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t pd_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

double pd_clock_mono_s(void)
{
    return ts_seconds(CLOCK_MONOTONIC);
}

double pd_clock_wall_s(void)
{
    return ts_seconds(CLOCK_REALTIME);
}
