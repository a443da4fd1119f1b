/* data_job.c - the training and test set of a job loaded together, so that the test set
 * always gets the training set's feature count (a test file whose last features are absent
 * is padded, not a set of another shape), and their fingerprints printed. One definition for
 * the daemon and for the --print-fingerprint of paramd and paramd-worker. No state, no
 * logging. */
#include <config.h>
#include "data.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>

static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int pd_data_load_job(pd_data_t **train, pd_data_t **test, const char *train_path,
                     const char *train_labels, const char *test_path, const char *test_labels,
                     const pd_data_opts_t *opts, char *errbuf, size_t errlen)
{
    pd_data_opts_t o = *opts;
    pd_data_t *tr = NULL, *te = NULL;
    int rc;

    o.labels_path = or_null(train_labels);
    rc = pd_data_load(&tr, train_path, &o, errbuf, errlen);
    if (rc != 0) {
        goto out;
    }
    if (or_null(test_path) != NULL) {
        o.labels_path = or_null(test_labels);
        o.n_features = tr->p;
        rc = pd_data_load(&te, test_path, &o, errbuf, errlen);
        if (rc != 0) {
            goto out;
        }
    }
    *train = tr;
    *test = te;
    tr = NULL;
    te = NULL;
out:
    pd_data_free(tr);
    pd_data_free(te);
    return rc;
}

int pd_data_print_fingerprints(FILE *out, const pd_data_t *train, const pd_data_t *test)
{
    const pd_data_t *sets[2] = {train, test};

    for (size_t i = 0; i < 2 && sets[i] != NULL; i++) {
        if (fprintf(out, "%016" PRIx64 "\n", pd_data_fingerprint(sets[i])) < 0) {
            return -EIO;
        }
    }
    return fflush(out) == 0 ? 0 : -EIO;
}
