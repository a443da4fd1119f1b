/* error.h - the one error space of paramd.
 * Every function that can fail returns 0, -errno, or a PD_E* code below; the list
 * PD_ERRNO_MAP generates the enum, pd_strerror() and pd_err_name(). Codes start at
 * PD_E_FIRST = -1000 so they never collide with -errno. */
#ifndef PD_COMMON_ERROR_H
#define PD_COMMON_ERROR_H

#define PD_ERRNO_MAP(X)                                                   \
    X(EWIRE, "malformed message")                                         \
    X(EVERSION, "unsupported protocol or format version")                 \
    X(EDIM, "dimension or count does not match the job")                  \
    X(ENONFINITE, "value is NaN or infinite")                             \
    X(ETOOSTALE, "update is too stale")                                   \
    X(ECORRUPT, "corrupt or truncated file")                              \
    X(EJOB, "belongs to a different job")                                 \
    X(EUNAUTH, "not authorized")                                          \
    X(ECONFIG, "invalid configuration")                                   \
    X(EDATA, "malformed data file")                                       \
    X(ETOOBIG, "over the size limit")                                     \
    X(EUNKNOWN_WORKER, "unknown worker")                                  \
    X(EFUTURE, "version from the future")                                 \
    X(ESTATE, "not allowed in the current state")                         \
    X(EFINGERPRINT, "data fingerprint mismatch")                          \
    X(ETIMEOUT, "timed out")                                              \
    X(ECANCELED, "cancelled")

enum {
    PD_E_FIRST = -1000,
#define PD_ERR_ENUM_(name, msg) PD_##name,
    /* PD_EWIRE = -999, PD_EVERSION = -998, ... */
    PD_E_BASE_ = PD_E_FIRST,
    PD_ERRNO_MAP(PD_ERR_ENUM_)
#undef PD_ERR_ENUM_
    PD_E_LAST
};

/* Text for any code: PD_E*, -errno, or 0. Never NULL; thread-safe (constant strings, or a
 * per-thread buffer for unknown codes). */
const char *pd_strerror(int rc);
/* Symbolic name ("PD_EWIRE", "ENOMEM", ...). Never NULL; thread-safe. */
const char *pd_err_name(int rc);

#endif
