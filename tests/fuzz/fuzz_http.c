/* fuzz_http.c - the status socket's request reader and router on any bytes. The input is fed
 * in pieces whose sizes come from the input itself (the first byte), as a slow or hostile
 * client would send them; every outcome must be a request or one of the statuses the server
 * answers with, and a complete request must route without crashing. */
#include <config.h>

#include <stdlib.h>

#include "fuzz.h"
#include "server/ops/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pd_http_req_t r;
    size_t piece, off = 1;
    int rc = 0;

    if (size == 0) {
        return 0;
    }
    piece = (size_t)data[0] % 64 + 1;
    pd_http_req_init(&r, 512 + (size_t)data[0] * 16);
    while (rc == 0 && off < size) {
        size_t n = size - off < piece ? size - off : piece;
        rc = pd_http_req_feed(&r, (const char *)data + off, n);
        off += n;
    }
    if (rc == 0) {
        rc = pd_http_req_eof(&r);
    }
    if (rc == 1) {
        pd_http_route_t route;
        uint32_t id;
        const char *allow = NULL;
        int st = pd_http_route(r.method, r.url, (data[0] & 1) != 0, &route, &id, &allow);
        if (st != 200 && st != 403 && st != 404 && st != 405) {
            abort();
        }
    } else if (rc != 0 && rc != 400 && rc != 413 && rc != 414) {
        abort();
    }
    return 0;
}
