/* grow.h - the one growable-array helper: the daemon's lists (sessions, waiting pulls, gradient
 * parts, task lists), the data loaders' arrays and the byte buffers grow through it. */
#ifndef PD_COMMON_GROW_H
#define PD_COMMON_GROW_H

#include <stddef.h>

/* Make room for `need` elements of `elem` bytes in *arr (capacity *cap, in elements), growing
 * geometrically from 16. Returns 0 or -ENOMEM (also on size overflow); *arr and *cap are
 * unchanged on failure. */
int pd_grow(void **arr, size_t *cap, size_t need, size_t elem);

#endif
