/* grow.c - geometric growth of a heap array (grow.h). */
#include <config.h>
#include "grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int pd_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t new_cap, bytes;
    void *p;

    if (need <= *cap) {
        return 0;
    }
    new_cap = *cap < 16 ? 16 : *cap;
    while (new_cap < need) {
        /* Doubling keeps appends amortised O(1); past SIZE_MAX / 2 just take what is asked. */
        new_cap = new_cap > SIZE_MAX / 2 ? need : new_cap * 2;
    }
    if (__builtin_mul_overflow(new_cap, elem, &bytes)) {
        return -ENOMEM;
    }
    p = realloc(*arr, bytes);
    if (p == NULL) {
        return -ENOMEM;
    }
    *arr = p;
    *cap = new_cap;
    return 0;
}
