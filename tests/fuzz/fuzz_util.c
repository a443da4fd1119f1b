/* fuzz_util.c - helpers shared by the fuzz targets (linked with libFuzzer or replay.c). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"

const char *pd_fuzz_tmpfile(const uint8_t *data, size_t size, char *buf, size_t len)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(buf, len, "%s/pd-fuzz.XXXXXX", dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    fd = mkstemp(buf);
    if (fd < 0) {
        return NULL;
    }
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(buf);
        return NULL;
    }
    close(fd);
    return buf;
}
