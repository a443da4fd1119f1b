/* chart_lib.c - see chart_lib.h. */
#include <config.h>
#include "chart_lib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define MAX_FILE_BYTES (8u << 20) /* dygraph.min.js is 128 KiB; anything huge is not it */

/* The whole regular file dir/name in *out; 0 or a negative errno. */
static int read_file(const char *dir, const char *name, char **out, size_t *len)
{
    char path[600];
    struct stat st;
    char *buf = NULL;
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "re");
    if (f == NULL) {
        return -errno;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (size_t)st.st_size > MAX_FILE_BYTES) {
        rc = -EINVAL;
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        rc = -EIO;
        goto out;
    }
    *out = buf;
    *len = (size_t)st.st_size;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return rc;
}

void pd_chart_lib_load(pd_chart_lib_t *lib)
{
    const char *env = getenv("PARAMD_DYGRAPHS_DIR");
    int rc;

    memset(lib, 0, sizeof(*lib));
    snprintf(lib->dir, sizeof(lib->dir), "%s", env != NULL && env[0] != '\0' ? env
                                                                            : PD_DYGRAPHS_DIR);
    rc = read_file(lib->dir, "dygraph.min.js", &lib->js, &lib->js_len);
    if (rc == 0) {
        rc = read_file(lib->dir, "dygraph.min.css", &lib->css, &lib->css_len);
    }
    if (rc != 0) {
        pd_log_info("dashboard: no chart library in %s (%s); the page shows its history as a "
                    "table (apt-get install libjs-dygraphs for charts)",
                    lib->dir, rc == -EINVAL ? "not a readable file" : strerror(-rc));
        pd_chart_lib_release(lib);
    }
}

bool pd_chart_lib_present(const pd_chart_lib_t *lib)
{
    return lib->js != NULL && lib->css != NULL;
}

void pd_chart_lib_release(pd_chart_lib_t *lib)
{
    free(lib->js);
    free(lib->css);
    lib->js = lib->css = NULL;
    lib->js_len = lib->css_len = 0;
}
