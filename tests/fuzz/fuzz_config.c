/* fuzz_config.c - the INI configuration parser and the cross-key validation on any text. */
#include <config.h>

#include <unistd.h>

#include "common/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[4096];
    pd_config_t c;

    if (pd_fuzz_tmpfile(data, size, path, sizeof(path)) == NULL) {
        return 0;
    }
    if (pd_config_init(&c) == 0) {
        err[0] = '\0';
        if (pd_config_load_file(&c, path, err, sizeof(err)) == 0) {
            err[0] = '\0';
            pd_config_validate(&c, err, sizeof(err));
        }
        pd_config_release(&c);
    }
    unlink(path);
    return 0;
}
