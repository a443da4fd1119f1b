/* filesum.c - see filesum.h. */
#include <config.h>
#include "filesum.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

/* Big enough that the syscall count does not matter, small enough to stay in cache. */
#define BLOCK_BYTES (1u << 20)

int pd_filesum_crc32(int fd, uint64_t *size_bytes, uint32_t *crc)
{
    unsigned char *buf = malloc(BLOCK_BYTES);
    uLong sum = crc32(0L, Z_NULL, 0);
    uint64_t off = 0;
    int rc = 0;

    if (buf == NULL) {
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = pread(fd, buf, BLOCK_BYTES, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            goto out;
        }
        if (n == 0) {
            break;
        }
        sum = crc32(sum, buf, (uInt)n);
        off += (uint64_t)n;
    }
    *size_bytes = off;
    *crc = (uint32_t)sum;
out:
    free(buf);
    return rc;
}
