/* replay.c - `make check` driver for a fuzz target: runs the target once on every file of the
 * directories given on the command line and fails when it found no input at all, so a
 * missing corpus cannot pass as a test that tested nothing. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    int rc = -1;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        goto out;
    }
    data = malloc(size > 0 ? (size_t)size : 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        goto out;
    }
    LLVMFuzzerTestOneInput(data, (size_t)size);
    rc = 0;
out:
    if (rc != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    }
    free(data);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 0;
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        if (d == NULL) {
            continue; /* regress/ may not exist yet for a target */
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            struct stat st;
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
                continue;
            }
            failed |= run_file(path) != 0;
            n++;
        }
        closedir(d);
    }
    if (n == 0) {
        fprintf(stderr, "replay: no inputs found: the corpus is missing\n");
        return 1;
    }
    printf("replay: %zu inputs ran without a crash\n", n);
    return failed;
}
