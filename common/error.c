/* error.c - text and names for the error space defined in error.h. */
#include <config.h>
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const own_messages[] = {
#define X(name, msg) msg,
    PD_ERRNO_MAP(X)
#undef X
};

static const char *const own_names[] = {
#define X(name, msg) "PD_" #name,
    PD_ERRNO_MAP(X)
#undef X
};

static int own_index(int rc)
{
    if (rc > PD_E_BASE_ && rc < PD_E_LAST) {
        return rc - PD_E_BASE_ - 1;
    }
    return -1;
}

const char *pd_strerror(int rc)
{
    static _Thread_local char buf[64];
    int i = own_index(rc);

    if (rc == 0) {
        return "success";
    }
    if (i >= 0) {
        return own_messages[i];
    }
    if (rc < 0 && rc > -4096) {
        /* strerror_r (XSI) fills our buffer, so the result is per thread. */
        if (strerror_r(-rc, buf, sizeof(buf)) == 0) {
            return buf;
        }
    }
    snprintf(buf, sizeof(buf), "unknown error %d", rc);
    return buf;
}

const char *pd_err_name(int rc)
{
    static _Thread_local char buf[32];
    int i = own_index(rc);

    if (rc == 0) {
        return "OK";
    }
    if (i >= 0) {
        return own_names[i];
    }
    switch (-rc) {
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EIO: return "EIO";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case ERANGE: return "ERANGE";
    case EEXIST: return "EEXIST";
    case EADDRINUSE: return "EADDRINUSE";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    default: break;
    }
    snprintf(buf, sizeof(buf), "E%d", -rc);
    return buf;
}
