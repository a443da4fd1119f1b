/* fuzz_util.c - helpers shared by the fuzz targets (linked with libFuzzer or replay.c). */
#include <config.h>
#define _GNU_SOURCE 1 /* memfd_create; before any system header */

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

/* The parsers under test open files by path; a file system round trip per input (mkstemp,
 * write, unlink) made the config and data targets crawl. So an input is written into one of
 * two memory files (memfd, kept for the process) and named by /proc/self/fd/N: two slots, as
 * a target may need two files at once (IDX images and labels). Nothing is left to unlink. */
const char *pd_fuzz_tmpfile(const uint8_t *data, size_t size, char *buf, size_t len)
{
    static int fds[2] = {-1, -1};
    static unsigned next;
    int *fd = &fds[next++ % 2];

    if (*fd < 0) {
        *fd = memfd_create("pd-fuzz", MFD_CLOEXEC);
        if (*fd < 0) {
            return NULL;
        }
    }
    if (ftruncate(*fd, 0) != 0 ||
        (size > 0 && pwrite(*fd, data, size, 0) != (ssize_t)size)) {
        return NULL;
    }
    snprintf(buf, len, "/proc/self/fd/%d", *fd);
    return buf;
}
