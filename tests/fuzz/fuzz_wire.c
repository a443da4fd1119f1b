/* fuzz_wire.c - the header decoder: any bytes decode or are refused, never crash. A header
 * that decodes must encode again and decode to the same message (round trip). */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pd_job_desc_t job, job2;
    pd_msg_t m, m2;
    void *buf = NULL;
    size_t len = 0;

    if (pd_wire_decode(data, size, &m, &job) != 0) {
        return 0;
    }
    if (pd_wire_encode(&m, &buf, &len) != 0) {
        abort(); /* what we accepted we must be able to send */
    }
    if (pd_wire_decode(buf, len, &m2, &job2) != 0 || m2.type != m.type ||
        m2.n_frames != m.n_frames || m2.version != m.version || m2.key_count != m.key_count) {
        abort();
    }
    free(buf);
    return 0;
}
