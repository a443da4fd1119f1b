/* clock.h - monotonic and wall clocks in the units the rest of paramd uses. */
#ifndef PD_COMMON_CLOCK_H
#define PD_COMMON_CLOCK_H

#include <stdint.h>

uint64_t pd_clock_mono_ms(void);
double pd_clock_mono_s(void);
/* Seconds since the Unix epoch, with sub-second precision (for logs and metrics). */
double pd_clock_wall_s(void);

#endif
