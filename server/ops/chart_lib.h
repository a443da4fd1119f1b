/* chart_lib.h - the charting library of the dashboard: dygraphs, from Debian's
 * libjs-dygraphs (configure --with-dygraphs-dir, or $PARAMD_DYGRAPHS_DIR at run time). Its
 * two files are read once when the status endpoints open and served from memory at
 * /dygraph.min.js and /dygraph.min.css, so a request never touches the disk and the page
 * needs nothing from another origin. Without them the page shows its history as a table. */
#ifndef PD_SERVER_OPS_CHART_LIB_H
#define PD_SERVER_OPS_CHART_LIB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *js, *css; /* NULL when not found */
    size_t js_len, css_len;
    char dir[512];  /* where they were looked for */
} pd_chart_lib_t;

/* Read the files (a missing library is logged at info level and is not an error). */
void pd_chart_lib_load(pd_chart_lib_t *lib);
bool pd_chart_lib_present(const pd_chart_lib_t *lib);
void pd_chart_lib_release(pd_chart_lib_t *lib);

#endif
