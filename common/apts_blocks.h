/* apts_blocks.h - APTS subdomain assignment by parameter tensors (ALGORITHMS.md §4.2 [C]).
 * Pure: sizes in, (offset, length) pairs out. */
#ifndef PD_COMMON_APTS_BLOCKS_H
#define PD_COMMON_APTS_BLOCKS_H

#include <stddef.h>

/* Splits n_tensors contiguous tensors (tensor_len[i] doubles each, in layout order) into
 * n_blocks groups: group d (0-based) takes floor(remaining/(n_blocks − d)) tensors, the last
 * takes the rest. Writes block d's start and length (in doubles, in the flat vector) to
 * offset[d] and len[d] (caller arrays of n_blocks). Returns 0, or -EINVAL when n_blocks is 0 or
 * exceeds n_tensors (outputs untouched). */
int pd_apts_blocks(const size_t *tensor_len, size_t n_tensors, size_t n_blocks, size_t *offset,
                   size_t *len);

#endif
