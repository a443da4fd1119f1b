/* http.c - see http.h. Pure: no I/O, no loop, no allocation except the response text. */
#include <config.h>
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_url(http_parser *p, const char *at, size_t len)
{
    pd_http_req_t *r = p->data;

    if (len > sizeof(r->url) - 1 - r->url_len) {
        r->error_status = 414;
        return -1;
    }
    memcpy(r->url + r->url_len, at, len);
    r->url_len += len;
    r->url[r->url_len] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    pd_http_req_t *r = p->data;

    /* Refuse a declared body that cannot fit before reading it (0 or 1 would mean "go on" and
     * "skip the body" to http-parser; anything else is an error). */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > (uint64_t)r->limit_bytes) {
        r->error_status = 413;
        return -1;
    }
    r->method = p->method == HTTP_GET ? PD_HTTP_GET
              : p->method == HTTP_POST ? PD_HTTP_POST
                                       : PD_HTTP_OTHER;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    pd_http_req_t *r = p->data;
    (void)at;
    r->body_bytes += len; /* no route reads a body; it only counts against the limit */
    return 0;
}

static int on_message_complete(http_parser *p)
{
    pd_http_req_t *r = p->data;
    r->complete = true;
    /* One request per connection: whatever follows (pipelining) is not parsed. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void pd_http_req_init(pd_http_req_t *r, size_t limit_bytes)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->limit_bytes = limit_bytes > 0 ? limit_bytes : PD_HTTP_MAX_REQUEST;
    r->method = PD_HTTP_OTHER;
}

int pd_http_req_feed(pd_http_req_t *r, const char *data, size_t len)
{
    if (r->complete) {
        return 1;
    }
    if (r->error_status != 0) {
        return r->error_status;
    }
    if (len == 0) {
        return 0;
    }
    size_t room = r->limit_bytes - r->total_bytes;
    if (len > 0 && room == 0) {
        /* Never call the parser with no bytes here: to http-parser that means EOF. */
        return r->error_status = 413;
    }
    size_t n = len < room ? len : room;
    size_t done = http_parser_execute(&r->parser, &settings, data, n);
    r->total_bytes += n;
    if (r->complete) {
        return 1;
    }
    if (r->error_status != 0) {
        return r->error_status;
    }
    if (done != n || HTTP_PARSER_ERRNO(&r->parser) != HPE_OK) {
        return r->error_status = 400;
    }
    if (len > n) {
        return r->error_status = 413; /* more bytes than the limit, and still not complete */
    }
    return 0;
}

int pd_http_req_eof(pd_http_req_t *r)
{
    if (r->complete) {
        return 1;
    }
    if (r->error_status != 0) {
        return r->error_status;
    }
    if (r->total_bytes == 0) {
        return 0;
    }
    /* http-parser completes a body delimited by EOF when told of it with a zero length. */
    http_parser_execute(&r->parser, &settings, NULL, 0);
    return r->complete ? 1 : (r->error_status = 400);
}

/* Parse "/workers/ID/evict" (ID a decimal uint32 without sign or leading junk). */
static bool parse_evict(const char *path, size_t len, uint32_t *id)
{
    static const char pre[] = "/workers/";
    static const char post[] = "/evict";
    size_t lp = sizeof(pre) - 1;
    size_t lq = sizeof(post) - 1;

    if (len <= lp + lq || memcmp(path, pre, lp) != 0 || memcmp(path + len - lq, post, lq) != 0) {
        return false;
    }
    uint64_t v = 0;
    size_t digits = len - lp - lq;
    if (digits > 10) {
        return false;
    }
    for (size_t i = lp; i < len - lq; i++) {
        if (path[i] < '0' || path[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(path[i] - '0');
    }
    if (v > UINT32_MAX) {
        return false;
    }
    *id = (uint32_t)v;
    return true;
}

int pd_http_route(pd_http_method_t method, const char *url, bool read_only,
                  pd_http_route_t *route, uint32_t *worker_id, const char **allow)
{
    static const struct {
        const char *path;
        pd_http_route_t route;
        pd_http_method_t method;
        bool read_only_ok;
    } table[] = {
        /* The TCP endpoint is what a browser can reach: it shows everything, changes nothing. */
        {"/", PD_ROUTE_DASHBOARD, PD_HTTP_GET, true},
        {"/status", PD_ROUTE_STATUS, PD_HTTP_GET, true},
        {"/workers", PD_ROUTE_WORKERS, PD_HTTP_GET, true},
        {"/metrics", PD_ROUTE_METRICS, PD_HTTP_GET, true},
        {"/history", PD_ROUTE_HISTORY, PD_HTTP_GET, true},
        {"/dygraph.min.js", PD_ROUTE_CHART_JS, PD_HTTP_GET, true},
        {"/dygraph.min.css", PD_ROUTE_CHART_CSS, PD_HTTP_GET, true},
        {"/checkpoint", PD_ROUTE_CHECKPOINT, PD_HTTP_POST, false},
    };
    size_t len = strcspn(url, "?#");
    uint32_t id = 0;

    *allow = NULL;
    if (read_only && method == PD_HTTP_POST) {
        return 403;
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strlen(table[i].path) != len || memcmp(table[i].path, url, len) != 0) {
            continue;
        }
        if (read_only && !table[i].read_only_ok) {
            return 404;
        }
        if (method != table[i].method) {
            *allow = table[i].method == PD_HTTP_GET ? "GET" : "POST";
            return 405;
        }
        *route = table[i].route;
        return 200;
    }
    if (!parse_evict(url, len, &id)) {
        return 404;
    }
    if (read_only) {
        return 404;
    }
    if (method != PD_HTTP_POST) {
        *allow = "POST";
        return 405;
    }
    *route = PD_ROUTE_EVICT;
    *worker_id = id;
    return 200;
}

const char *pd_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

int pd_http_response(char **out, size_t *out_len, int status, const char *content_type,
                     const char *allow, const char *body, size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "%s%s%s"
                     "Connection: close\r\n\r\n",
                     status, pd_http_reason(status), content_type, body_len,
                     allow != NULL ? "Allow: " : "", allow != NULL ? allow : "",
                     allow != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        return -ENOMEM;
    }
    char *p = malloc((size_t)n + body_len + 1);
    if (p == NULL) {
        return -ENOMEM;
    }
    memcpy(p, head, (size_t)n);
    if (body_len > 0) {
        memcpy(p + n, body, body_len);
    }
    p[(size_t)n + body_len] = '\0';
    *out = p;
    *out_len = (size_t)n + body_len;
    return 0;
}
