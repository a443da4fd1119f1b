/* fuzz_ckpt.c - the checkpoint loader on any bytes. Each input is tried as it is, and again
 * with its trailer checksum recomputed: otherwise nearly every mutation would stop at the
 * checksum and the metadata parser behind it would never be reached. A checkpoint that loads
 * must have the arrays its metadata promises. */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ckpt.h"
#include "fuzz.h"

static void try_load(const uint8_t *data, size_t size)
{
    pd_ckpt_t c;
    char err[512];

    memset(&c, 0, sizeof(c));
    if (pd_ckpt_load_mem(data, size, &c, err, sizeof(err)) != 0) {
        return;
    }
    for (size_t i = 0; i < c.n_arrays; i++) {
        if (c.arrays[i].count > 0 && c.arrays[i].data == NULL) {
            abort();
        }
    }
    pd_ckpt_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;
    uLong crc;

    try_load(data, size);
    if (size < 16) {
        return 0;
    }
    copy = malloc(size);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    /* trailer: crc32 (little-endian) of every byte before it, 4 zero bytes, end magic */
    crc = crc32(0L, copy, (uInt)(size - 16));
    for (int b = 0; b < 4; b++) {
        copy[size - 16 + b] = (uint8_t)(crc >> (8 * b));
    }
    try_load(copy, size);
    free(copy);
    return 0;
}
