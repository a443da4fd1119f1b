/* fuzz_data.c - the data loaders on any file: the first byte picks LIBSVM, CSV or IDX (with
 * the rest split into images and labels at a point the second byte gives), so one corpus covers all three formats. A set that
 * loads must have consistent sizes and a fingerprint. */
#include <config.h>

#include <stdlib.h>
#include <unistd.h>

#include "data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], labels[256] = "", err[1024];
    pd_data_opts_t o = {0};
    pd_data_t *d = NULL;
    const uint8_t *body;
    size_t body_len, first;

    if (size < 2) {
        return 0;
    }
    /* data[0]: format and options; data[1]: for IDX, where the labels file starts. */
    body = data + 2;
    body_len = size - 2;
    first = body_len;
    switch (data[0] % 3) {
    case 0:
        o.format = PD_DATA_LIBSVM;
        break;
    case 1:
        o.format = PD_DATA_CSV;
        o.csv_header = (data[0] & 4) != 0;
        break;
    default:
        o.format = PD_DATA_IDX;
        first = (size_t)data[1] * body_len / 255;
        break;
    }
    o.max_samples = (data[0] & 8) ? 3 : 0;
    if (pd_fuzz_tmpfile(body, first, path, sizeof(path)) == NULL) {
        return 0;
    }
    if (o.format == PD_DATA_IDX) {
        if (pd_fuzz_tmpfile(body + first, body_len - first, labels, sizeof(labels)) == NULL) {
            return 0;
        }
        o.labels_path = labels;
    }
    if (pd_data_load(&d, path, &o, err, sizeof(err)) == 0) {
        if (d->m == 0 || (d->sparse && d->row_ptr[d->m] != d->nnz)) {
            abort();
        }
        (void)pd_data_fingerprint(d);
        pd_data_free(d);
    }
    return 0;
}
