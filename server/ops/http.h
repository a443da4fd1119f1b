/* http.h - the status socket's HTTP/1.1 request reader and router, pure: bytes in, a
 * request or an error status out, no I/O and no loop, so Check tests it directly and a
 * fuzz target can feed it. Built on http-parser; every size is bounded before it is stored
 * (the whole request, headers and body, by `limit_bytes`; the URL by PD_HTTP_MAX_URL). */
#ifndef PD_SERVER_HTTP_H
#define PD_SERVER_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_HTTP_MAX_REQUEST 8192 /* default bound of a whole request (headers + body) */
#define PD_HTTP_MAX_URL 1024

typedef enum pd_http_method {
    PD_HTTP_GET = 0,
    PD_HTTP_POST,
    PD_HTTP_OTHER, /* parsed fine, but no route takes it (405 or 403) */
} pd_http_method_t;

typedef struct pd_http_req {
    http_parser parser;
    size_t limit_bytes;
    size_t total_bytes;      /* bytes fed so far (bounded by limit_bytes) */
    pd_http_method_t method;
    char url[PD_HTTP_MAX_URL];
    size_t url_len;
    size_t body_bytes;
    bool complete;
    int error_status;        /* set by a callback: 413, 414 */
} pd_http_req_t;

/* Prepare r for one request of at most limit_bytes (0: PD_HTTP_MAX_REQUEST). */
void pd_http_req_init(pd_http_req_t *r, size_t limit_bytes);
/* Feed received bytes (borrowed). Returns 0 (need more), 1 (request complete; bytes after it
 * are ignored, since every response closes the connection), or an error status to answer
 * with: 400 malformed, 413 too large, 414 URL too long. After a non-zero result, stop. */
int pd_http_req_feed(pd_http_req_t *r, const char *data, size_t len);
/* The peer closed its side: 1 if that completed the request, else 400 (or 0 if no byte at
 * all was received: nothing to answer). */
int pd_http_req_eof(pd_http_req_t *r);

typedef enum pd_http_route {
    PD_ROUTE_DASHBOARD = 0, /* GET / */
    PD_ROUTE_STATUS,        /* GET /status */
    PD_ROUTE_WORKERS,       /* GET /workers */
    PD_ROUTE_METRICS,       /* GET /metrics */
    PD_ROUTE_HISTORY,       /* GET /history */
    PD_ROUTE_CHART_JS,      /* GET /dygraph.min.js: the dashboard's chart library */
    PD_ROUTE_CHART_CSS,     /* GET /dygraph.min.css */
    PD_ROUTE_CHECKPOINT,    /* POST /checkpoint */
    PD_ROUTE_EVICT,         /* POST /workers/ID/evict */
} pd_http_route_t;

/* Map a request to a route. read_only (the TCP metrics endpoint): only GET /status and
 * GET /metrics exist, and any POST is 403. The query string is ignored. Returns 200 with
 * *route (and *worker_id for EVICT) set, or 403, 404, 405 (*allow names the methods). */
int pd_http_route(pd_http_method_t method, const char *url, bool read_only,
                  pd_http_route_t *route, uint32_t *worker_id, const char **allow);

/* "OK", "Not Found", ...; "Unknown" for a status this server never sends. */
const char *pd_http_reason(int status);
/* A whole response with Content-Length and Connection: close. allow: an Allow header value
 * or NULL. *out is returned: free() it. 0 or -ENOMEM. */
int pd_http_response(char **out, size_t *out_len, int status, const char *content_type,
                     const char *allow, const char *body, size_t body_len);

#endif
