/* fuzz_config.c - the INI configuration parser and the cross-key validation on any text. The
 * input is read through a memory stream (the parser's stream entry point): no system call per
 * input, where a file cost an open, a truncate and a write (a quarter of the time). */
#include <config.h>

#include <stdio.h>

#include "common/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[4096];
    pd_config_t c;
    /* "r" never writes: the cast only meets fmemopen's prototype */
    FILE *fp = size > 0 ? fmemopen((void *)data, size, "r") : NULL;

    if (fp == NULL) {
        return 0;
    }
    if (pd_config_init(&c) == 0) {
        err[0] = '\0';
        if (pd_config_load_stream(&c, fp, "fuzz.conf", err, sizeof(err)) == 0) {
            err[0] = '\0';
            pd_config_validate(&c, err, sizeof(err));
        }
        pd_config_release(&c);
    }
    fclose(fp);
    return 0;
}
