/* apts_blocks.c - APTS block assignment (ALGORITHMS.md §4.2 [C]); see apts_blocks.h. */
#include <config.h>
#include "apts_blocks.h"

#include <errno.h>

int pd_apts_blocks(const size_t *tensor_len, size_t n_tensors, size_t n_blocks, size_t *offset,
                   size_t *len)
{
    if (n_blocks == 0 || n_blocks > n_tensors) {
        return -EINVAL;
    }
    size_t t = 0, pos = 0;
    for (size_t d = 0; d < n_blocks; d++) {
        size_t remaining = n_tensors - t;
        size_t take = d + 1 == n_blocks ? remaining : remaining / (n_blocks - d);
        offset[d] = pos;
        len[d] = 0;
        for (size_t i = 0; i < take; i++) {
            len[d] += tensor_len[t + i];
        }
        pos += len[d];
        t += take;
    }
    return 0;
}
