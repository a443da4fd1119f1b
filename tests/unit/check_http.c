/* check_http.c - the status socket's pure parts: the HTTP request reader (server/ops/http.c:
 * complete, split, malformed, oversized and truncated requests), the router (every route,
 * 404/405/403, the read-only endpoint, worker ids), the response text, and the renderers
 * (server/ops/status_render.c: Prometheus text with HELP/TYPE for every metric of the walk, the
 * staleness histogram, label escaping, per-worker series; /workers JSON), and the dashboard's
 * history (server/history.c, /history JSON, read back from a metrics log). No loop, no
 * sockets. */
#include <config.h>
#include "http.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "session.h"
#include "status_render.h"

static int feed_all(pd_http_req_t *r, const char *text, size_t chunk)
{
    size_t len = strlen(text);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = pd_http_req_feed(r, text + off, n);
    }
    return rc;
}

/* ------------------------------------------------------------------ request reader */

START_TEST(test_get_complete)
{
    pd_http_req_t r;
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, "GET /status?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 4096), 1);
    ck_assert_int_eq(r.method, PD_HTTP_GET);
    ck_assert_str_eq(r.url, "/status?x=1");
}
END_TEST

START_TEST(test_split_bytewise)
{
    pd_http_req_t r;
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, "POST /checkpoint HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 1),
                     1);
    ck_assert_int_eq(r.method, PD_HTTP_POST);
    ck_assert_str_eq(r.url, "/checkpoint");
    ck_assert_uint_eq(r.body_bytes, 3);
}
END_TEST

START_TEST(test_incomplete_then_eof)
{
    pd_http_req_t r;
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, "GET /status HTTP/1.1\r\nHost: a\r\n", 4096), 0);
    ck_assert_int_eq(pd_http_req_eof(&r), 400);

    pd_http_req_init(&r, 0);
    ck_assert_int_eq(pd_http_req_eof(&r), 0); /* nothing sent: nothing to answer */
    ck_assert_int_eq(pd_http_req_feed(&r, "", 0), 0);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "POST /checkpoint HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /status HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET /status HTTP/1.1\r\nBad Header\r\n\r\n",
        "\x01\x02\x03\x04",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pd_http_req_t r;
        pd_http_req_init(&r, 0);
        ck_assert_msg(feed_all(&r, bad[i], 4096) == 400, "case %zu", i);
        /* Sticky: feeding more does not revive it. */
        ck_assert_int_eq(pd_http_req_feed(&r, "\r\n", 2), 400);
    }
}
END_TEST

START_TEST(test_oversized)
{
    pd_http_req_t r;
    size_t n = 3 * PD_HTTP_MAX_REQUEST;
    char *big = malloc(n + 64);
    ck_assert_ptr_nonnull(big);
    strcpy(big, "GET /status HTTP/1.1\r\nX-Big: ");
    size_t l = strlen(big);
    memset(big + l, 'a', n - l);
    big[n] = '\0';

    /* In 4 KiB reads (as the server reads), and in one piece. */
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, big, 4096), 413);
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, big, n), 413);
    ck_assert_uint_le(r.total_bytes, PD_HTTP_MAX_REQUEST);
    free(big);

    /* A declared body over the limit is refused before it is read. */
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, "POST /checkpoint HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
                              4096),
                     413);
    /* A small custom limit counts headers and body together. */
    pd_http_req_init(&r, 64);
    ck_assert_int_eq(feed_all(&r, "POST /checkpoint HTTP/1.1\r\nContent-Length: 40\r\n\r\n"
                                  "0123456789012345678901234567890123456789",
                              7),
                     413);
}
END_TEST

START_TEST(test_url_too_long)
{
    pd_http_req_t r;
    char req[PD_HTTP_MAX_URL + 64];
    memcpy(req, "GET /", 5);
    memset(req + 5, 'u', PD_HTTP_MAX_URL);
    strcpy(req + 5 + PD_HTTP_MAX_URL, " HTTP/1.1\r\n\r\n");
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, req, 100), 414);
}
END_TEST

START_TEST(test_pipelined_ignored)
{
    pd_http_req_t r;
    pd_http_req_init(&r, 0);
    ck_assert_int_eq(feed_all(&r, "GET /metrics HTTP/1.1\r\n\r\nGARBAGE GARBAGE\r\n\r\n", 4096),
                     1);
    ck_assert_str_eq(r.url, "/metrics");
    ck_assert_int_eq(pd_http_req_feed(&r, "more", 4), 1);
}
END_TEST

/* ------------------------------------------------------------------ router */

static int route(pd_http_method_t m, const char *url, bool ro, pd_http_route_t *rt, uint32_t *id,
                 const char **allow)
{
    *rt = (pd_http_route_t)-1;
    *id = 0;
    return pd_http_route(m, url, ro, rt, id, allow);
}

START_TEST(test_routes)
{
    pd_http_route_t rt;
    uint32_t id;
    const char *allow;

    ck_assert_int_eq(route(PD_HTTP_GET, "/", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_DASHBOARD);
    ck_assert_int_eq(route(PD_HTTP_GET, "/status?pretty", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_STATUS);
    ck_assert_int_eq(route(PD_HTTP_GET, "/workers", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_WORKERS);
    ck_assert_int_eq(route(PD_HTTP_GET, "/metrics", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_METRICS);
    ck_assert_int_eq(route(PD_HTTP_GET, "/history", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_HISTORY);
    ck_assert_int_eq(route(PD_HTTP_POST, "/checkpoint", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_CHECKPOINT);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/12/evict", false, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_EVICT);
    ck_assert_uint_eq(id, 12);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/4294967295/evict", false, &rt, &id, &allow),
                     200);
    ck_assert_uint_eq(id, 4294967295u);
}
END_TEST

START_TEST(test_route_errors)
{
    pd_http_route_t rt;
    uint32_t id;
    const char *allow;

    ck_assert_int_eq(route(PD_HTTP_GET, "/nope", false, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_GET, "/statusx", false, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_GET, "/status/", false, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_POST, "/status", false, &rt, &id, &allow), 405);
    ck_assert_str_eq(allow, "GET");
    ck_assert_int_eq(route(PD_HTTP_OTHER, "/metrics", false, &rt, &id, &allow), 405);
    ck_assert_int_eq(route(PD_HTTP_GET, "/checkpoint", false, &rt, &id, &allow), 405);
    ck_assert_str_eq(allow, "POST");
    ck_assert_int_eq(route(PD_HTTP_GET, "/workers/3/evict", false, &rt, &id, &allow), 405);
    ck_assert_str_eq(allow, "POST");
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers//evict", false, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/-1/evict", false, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/1x/evict", false, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/4294967296/evict", false, &rt, &id, &allow),
                     404);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/99999999999999999999/evict", false, &rt, &id,
                           &allow),
                     404);
}
END_TEST

START_TEST(test_route_read_only)
{
    pd_http_route_t rt;
    uint32_t id;
    const char *allow;

    ck_assert_int_eq(route(PD_HTTP_GET, "/metrics", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_METRICS);
    ck_assert_int_eq(route(PD_HTTP_GET, "/status", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(route(PD_HTTP_POST, "/checkpoint", true, &rt, &id, &allow), 403);
    ck_assert_int_eq(route(PD_HTTP_POST, "/workers/1/evict", true, &rt, &id, &allow), 403);
    ck_assert_int_eq(route(PD_HTTP_POST, "/status", true, &rt, &id, &allow), 403);
    /* the read-only endpoint serves the dashboard and what it polls, to browsers */
    ck_assert_int_eq(route(PD_HTTP_GET, "/workers", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(route(PD_HTTP_GET, "/", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(route(PD_HTTP_GET, "/history", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(route(PD_HTTP_GET, "/dygraph.min.js", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_CHART_JS);
    ck_assert_int_eq(route(PD_HTTP_GET, "/dygraph.min.css", true, &rt, &id, &allow), 200);
    ck_assert_int_eq(rt, PD_ROUTE_CHART_CSS);
    ck_assert_int_eq(route(PD_HTTP_GET, "/nothing", true, &rt, &id, &allow), 404);
    ck_assert_int_eq(route(PD_HTTP_GET, "/workers/1/evict", true, &rt, &id, &allow), 404);
}
END_TEST

START_TEST(test_response_text)
{
    char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(pd_http_response(&out, &len, 405, "application/json", "GET", "{}", 2), 0);
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Content-Length: 2\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Allow: GET\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Connection: close\r\n\r\n{}"));
    free(out);
    ck_assert_int_eq(pd_http_response(&out, &len, 413, "text/plain", NULL, NULL, 0), 0);
    ck_assert_ptr_null(strstr(out, "Allow:"));
    ck_assert_str_eq(out + len - 4, "\r\n\r\n");
    free(out);
    ck_assert_str_eq(pd_http_reason(413), "Payload Too Large");
}
END_TEST

/* ------------------------------------------------------------------ renderers */

typedef struct fixture {
    pd_metrics_t m;
    pd_sessions_t t;
} fixture_t;

static void fixture_init(fixture_t *f)
{
    pd_session_t *s = NULL;
    pd_metrics_init(&f->m);
    pd_sessions_init(&f->t);
    f->m.updates_total = 42;
    f->m.objective = 0.25;
    pd_metrics_observe_staleness(&f->m, 0);
    pd_metrics_observe_staleness(&f->m, 3);
    pd_metrics_observe_staleness(&f->m, 1000);
    f->m.errors_by_code[PD_WERR_MALFORMED] = 7;
    ck_assert_int_eq(pd_sessions_add(&f->t, "rid-1", 5, 1000, &s), 0);
    snprintf(s->hello.name, sizeof(s->hello.name), "pc \"3\"\\x");
    snprintf(s->hello.host, sizeof(s->hello.host), "office");
    s->state = PD_SESSION_BUSY;
    s->grads_applied = 5;
    s->staleness_sum = 10;
    s->compute_seconds = 1.5;
    s->last_seen_ms = 1500;
}

typedef struct walk_check {
    const char *text;
    int n;
} walk_check_t;

static void check_family(const char *name, pd_metric_type_t type, const char *help, double v,
                         void *ctx)
{
    walk_check_t *w = ctx;
    char line[256];
    (void)help;
    (void)v;
    snprintf(line, sizeof(line), "# TYPE paramd_%s %s\n", name,
             type == PD_METRIC_COUNTER ? "counter" : "gauge");
    ck_assert_msg(strstr(w->text, line) != NULL, "missing %s", line);
    snprintf(line, sizeof(line), "# HELP paramd_%s ", name);
    ck_assert_msg(strstr(w->text, line) != NULL, "missing %s", line);
    if (type == PD_METRIC_COUNTER) {
        size_t l = strlen(name);
        ck_assert_msg(l > 6 && strcmp(name + l - 6, "_total") == 0, "counter %s", name);
    }
    w->n++;
}

START_TEST(test_prometheus)
{
    fixture_t f;
    pd_render_buf_t b;
    fixture_init(&f);
    pd_render_buf_init(&b);
    ck_assert_int_eq(pd_render_metrics(&b, &f.m, &f.t, "1.2.3"), 0);
    ck_assert_uint_eq(strlen(b.p), b.len);

    walk_check_t w = {b.p, 0};
    pd_metrics_walk(&f.m, check_family, &w);
    ck_assert_int_gt(w.n, 10);

    ck_assert_ptr_nonnull(strstr(b.p, "\nparamd_updates_total 42\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "\nparamd_objective 0.25\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "\nparamd_test_accuracy NaN\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "# TYPE paramd_staleness_versions histogram\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_bucket{le=\"0\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_bucket{le=\"2\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_bucket{le=\"4\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_bucket{le=\"64\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_bucket{le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_sum 1003\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "paramd_staleness_versions_count 3\n"));
    ck_assert_ptr_nonnull(
        strstr(b.p, "paramd_bad_messages_by_reason_total{reason=\"malformed\"} 7\n"));
    /* The worker's name is escaped inside the label value. */
    ck_assert_ptr_nonnull(strstr(
        b.p, "paramd_worker_gradients_applied_total{worker=\"pc \\\"3\\\"\\\\x\",id=\"1\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(
        b.p, "paramd_worker_compute_seconds_total{worker=\"pc \\\"3\\\"\\\\x\",id=\"1\"} 1.5\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "# TYPE paramd_build_info gauge\n"
                                      "paramd_build_info{version=\"1.2.3\"} 1\n"));
    /* Every sample line belongs to a family announced before it. */
    for (char *line = b.p; *line != '\0';) {
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        if (line[0] != '#') {
            char fam[128];
            size_t n = strcspn(line, "{ ");
            ck_assert_uint_lt(n, sizeof(fam));
            memcpy(fam, line, n);
            fam[n] = '\0';
            /* Histogram samples (_bucket, _sum, _count) belong to the family's base name. */
            if (strncmp(fam, "paramd_staleness_versions_", 26) == 0) {
                fam[25] = '\0';
            }
            char type_line[200];
            snprintf(type_line, sizeof(type_line), "# TYPE %s ", fam);
            char *at = strstr(b.p, type_line);
            ck_assert_msg(at != NULL && at < line, "no TYPE before %s", fam);
        }
        line = nl + 1;
    }
    pd_render_buf_release(&b);
    pd_sessions_release(&f.t);
}
END_TEST

START_TEST(test_render_buf_grows)
{
    pd_render_buf_t b;
    pd_render_buf_init(&b);
    for (int i = 0; i < 10000; i++) {
        pd_render_printf(&b, "%05d,", i);
    }
    char big[600];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pd_render_printf(&b, "%s", big); /* longer than the formatting scratch buffer */
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.len, 60000 + 599);
    ck_assert_int_eq(strncmp(b.p + 6 * 9999, "09999,zz", 8), 0);
    pd_render_buf_release(&b);
}
END_TEST

START_TEST(test_workers_json)
{
    fixture_t f;
    char *text = NULL;
    fixture_init(&f);
    ck_assert_int_eq(pd_render_workers_json(&text, &f.t, 3000), 0);
    json_t *a = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(json_array_size(a), 1);
    json_t *w = json_array_get(a, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(w, "id")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(w, "name")), "pc \"3\"\\x");
    ck_assert_str_eq(json_string_value(json_object_get(w, "host")), "office");
    ck_assert_str_eq(json_string_value(json_object_get(w, "state")), "busy");
    ck_assert_double_eq_tol(json_real_value(json_object_get(w, "last_seen_s")), 1.5, 1e-12);
    ck_assert_double_eq_tol(json_real_value(json_object_get(w, "staleness_mean")), 2.0, 1e-12);
    ck_assert_int_eq(json_integer_value(json_object_get(w, "gradients_applied")), 5);
    ck_assert_ptr_nonnull(json_object_get(w, "tasks_done"));
    ck_assert_ptr_nonnull(json_object_get(w, "compute_seconds"));
    json_decref(a);
    free(text);
    pd_sessions_release(&f.t);
}
END_TEST

START_TEST(test_dashboard_page)
{
    const char *h = pd_render_dashboard_html;
    ck_assert_ptr_nonnull(strstr(h, "<div id=\"chart\""));
    ck_assert_ptr_nonnull(strstr(h, "<script>"));
    ck_assert_ptr_nonnull(strstr(h, "'/status'"));
    ck_assert_ptr_nonnull(strstr(h, "'/workers'"));
    ck_assert_ptr_nonnull(strstr(h, "'/history'"));
    ck_assert_ptr_nonnull(strstr(h, "<script src=\"/dygraph.min.js\">"));
    ck_assert_ptr_nonnull(strstr(h, "computer\\'s clock")); /* a backslash survived the build */
    ck_assert_ptr_null(strstr(h, "src=\"http")); /* self-contained */
    char *err = NULL;
    ck_assert_int_eq(pd_render_error_json(&err, "a \"b\""), 0);
    ck_assert_str_eq(err, "{\n  \"error\": \"a \\\"b\\\"\"\n}");
    free(err);
}
END_TEST

/* ------------------------------------------------------------------ history */

static pd_history_point_t point(double i)
{
    pd_history_point_t p = {1.8e9 + i, i, 1.0 / (1.0 + i), NAN, 100.0};
    return p;
}

/* 10,000 evaluations into 1,024 places: the first is kept, the newest is last, the kept ones
 * are evenly spaced (every stride-th), in order, and at least half the places are used. */
START_TEST(test_history_bounded_even)
{
    static pd_history_t h;
    pd_history_init(&h);
    for (int i = 0; i < 10000; i++) {
        pd_history_point_t p = point(i);
        pd_history_add(&h, &p);
        ck_assert_uint_le(h.n, PD_HISTORY_CAP);
        ck_assert_double_eq(h.v[h.n - 1].version, i);
    }
    ck_assert_uint_ge(h.n, PD_HISTORY_CAP / 2);
    ck_assert_double_eq(h.v[0].version, 0);
    ck_assert_uint_eq(h.stride, 16); /* 10000 / 16 = 625 kept, 10000 / 8 would not fit */
    for (size_t i = 0; i + 1 < h.n; i++) {
        ck_assert_double_eq(h.v[i].version, (double)(i * h.stride));
    }
    ck_assert_double_eq(h.v[h.n - 1].version, 9999);
}
END_TEST

/* A few evaluations are all kept, exactly as given. */
START_TEST(test_history_short)
{
    static pd_history_t h;
    pd_history_init(&h);
    for (int i = 0; i < 5; i++) {
        pd_history_point_t p = point(i);
        pd_history_add(&h, &p);
    }
    ck_assert_uint_eq(h.n, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_double_eq(h.v[i].objective, 1.0 / (1.0 + (double)i));
    }
}
END_TEST

/* GET /history's JSON, and a metrics log read back into a history (a resumed job): the
 * evaluations and the done line count, the restart seam and a line cut short do not. */
START_TEST(test_history_json_and_log)
{
    static pd_history_t h, back;
    pd_metrics_t m;
    char *text = NULL;
    FILE *f = tmpfile();

    ck_assert_ptr_nonnull(f);
    pd_history_init(&h);
    pd_metrics_init(&m);
    for (int i = 0; i < 3; i++) {
        pd_history_point_t p = point(i);
        pd_history_add(&h, &p);
        m.evaluated_version = i;
        m.objective = p.objective;
        m.updates_per_second = p.updates_per_second;
        ck_assert_int_eq(pd_metrics_write_jsonl(&m, f, p.wall_time, i, i == 2 ? "done" : NULL), 0);
    }
    ck_assert_int_eq(pd_metrics_write_jsonl(&m, f, 1.8e9 + 3, 0, "resumed"), 0);
    fputs("{\"time\": 1800000004, \"evaluated_ver", f); /* a crash mid-line */
    rewind(f);
    pd_history_init(&back);
    ck_assert_uint_eq(pd_metrics_read_history(f, &back), 3);
    fclose(f);
    ck_assert_uint_eq(back.n, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_double_eq(back.v[i].wall_time, h.v[i].wall_time);
        ck_assert_double_eq(back.v[i].version, h.v[i].version);
        ck_assert_double_eq(back.v[i].objective, h.v[i].objective); /* 17 digits: exact */
        ck_assert(isnan(back.v[i].test_accuracy));
    }

    ck_assert_int_eq(pd_render_history_json(&text, &h), 0);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(j);
    json_t *pts = json_object_get(j, "points");
    ck_assert_uint_eq(json_array_size(pts), 3);
    json_t *last = json_array_get(pts, 2);
    ck_assert_double_eq_tol(json_number_value(json_array_get(last, 2)), 1.0 / 3.0, 1e-11);
    ck_assert(json_is_null(json_array_get(last, 3))); /* no accuracy: null, not NaN */
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "fields"), 1)),
                     "version");
    json_decref(j);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("request");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_get_complete);
    tcase_add_test(tc, test_split_bytewise);
    tcase_add_test(tc, test_incomplete_then_eof);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_url_too_long);
    tcase_add_test(tc, test_pipelined_ignored);
    suite_add_tcase(s, tc);
    tc = tcase_create("route");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_routes);
    tcase_add_test(tc, test_route_errors);
    tcase_add_test(tc, test_route_read_only);
    tcase_add_test(tc, test_response_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("render");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_prometheus);
    tcase_add_test(tc, test_render_buf_grows);
    tcase_add_test(tc, test_workers_json);
    tcase_add_test(tc, test_dashboard_page);
    suite_add_tcase(s, tc);
    tc = tcase_create("history");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_history_bounded_even);
    tcase_add_test(tc, test_history_short);
    tcase_add_test(tc, test_history_json_and_log);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
