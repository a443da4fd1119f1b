/* check_config.c - unit tests of common/config.c: the table's defaults, the INI loader and
 * its FILE:LINE reports, -o overrides, cross-key validation, the job hash, deep copies and
 * the duration/size parsers. Each test works in its own mkdtemp directory. */
#include <config.h>
#include "common/config.h"

#include "common/config_keys.h"
#include "common/data.h"
#include "common/error.h"
#include "common/model.h"
#include "common/prox.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The test's own view of the table, so that it checks the rows without config.c's help. */
typedef struct test_row {
    const char *section;
    const char *name;
    const char *type;
    const char *def;
    double min;
    double max;
    const char *values;
    int flags;
    const char *doc;
} test_row_t;

#define TROW_(s_, n_, t_, f_, def_, lo_, hi_, ev_, fl_, doc_) \
    {#s_, #n_, #t_, def_, lo_, hi_, ev_, fl_, doc_},
static const test_row_t trows[] = {PD_CONFIG_KEYS(TROW_)};
#undef TROW_
#define N_TROWS (sizeof(trows) / sizeof(trows[0]))

static char tmpdir[256];
static char errbuf[8192];

static void setup_dir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/check_config.XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    errbuf[0] = '\0';
}

/* Without fork (CK_FORK=no) tests share the process, so each starts with an empty errbuf. */
static void clear_errbuf(void)
{
    errbuf[0] = '\0';
}

static void teardown_dir(void)
{
    char cmd[sizeof(tmpdir) + 16];
    /* The fixture creates files, and one empty directory, one level deep. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes text to tmpdir/name and returns the full path in path. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

/* errbuf has a line that starts with "<path>:<line>: <rest>". */
static void expect_error(const char *path, int line, const char *rest)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof(want), "%s:%d: %s", path, line, rest);
    const char *p = strstr(errbuf, want);
    while (p != NULL && p != errbuf && p[-1] != '\n') {
        p = strstr(p + 1, want);
    }
    ck_assert_msg(p != NULL, "missing error \"%s\" in:\n%s", want, errbuf);
}

/* -o override into the shared errbuf. */
static int set(pd_config_t *c, const char *assignment)
{
    return pd_config_set_override(c, assignment, errbuf, sizeof(errbuf));
}

/* ---- the table ---- */

START_TEST(test_defaults_parse_in_range_with_docs)
{
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    for (size_t i = 0; i < N_TROWS; i++) {
        const test_row_t *r = &trows[i];
        char assignment[512];
        ck_assert_msg(r->doc != NULL && strlen(r->doc) > 10, "%s.%s: no doc", r->section, r->name);
        ck_assert_msg(r->min <= r->max, "%s.%s: min > max", r->section, r->name);
        ck_assert_msg((strcmp(r->type, "ENUM") == 0) == (r->values != NULL),
                      "%s.%s: enum values only on ENUM rows", r->section, r->name);
        for (size_t j = 0; j < i; j++) {
            ck_assert_msg(strcmp(r->section, trows[j].section) != 0 ||
                              strcmp(r->name, trows[j].name) != 0,
                          "%s.%s: listed twice", r->section, r->name);
        }
        /* set_override runs the same parser and range check as the file loader. */
        snprintf(assignment, sizeof(assignment), "%s.%s=%s", r->section, r->name, r->def);
        errbuf[0] = '\0';
        ck_assert_msg(set(&c, assignment) == 0, "default of %s.%s: %s", r->section, r->name,
                      errbuf);
    }
    /* Strings are never NULL after init. */
    ck_assert_ptr_nonnull(c.listen);
    ck_assert_ptr_nonnull(c.endpoint_file);
    ck_assert_ptr_nonnull(c.metrics_log);
    ck_assert_ptr_nonnull(c.train_path);
    ck_assert_ptr_nonnull(c.test_labels_path);
    ck_assert_str_eq(c.listen, "tcp://127.0.0.1:5555");
    ck_assert_int_eq(c.worker_timeout_ms, 10000);
    ck_assert_int_eq(c.method, PD_METHOD_ASYNC_SGD);
    ck_assert_double_eq(c.epsilon, 1e-8);
    pd_config_release(&c);
    pd_config_release(&c); /* idempotent on a released struct */
}
END_TEST

static int walk_count;

static void on_walk(const char *section, const char *name, const char *value, int flags,
                    const char *doc, void *ctx)
{
    pd_config_t *other = ctx;
    char assignment[512];

    ck_assert_ptr_nonnull(value);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(section, trows[walk_count].section);
    ck_assert_str_eq(name, trows[walk_count].name);
    ck_assert_int_eq(flags, trows[walk_count].flags);
    walk_count++;
    /* Every value the walk prints reads back through the parser. */
    snprintf(assignment, sizeof(assignment), "%s.%s=%s", section, name, value);
    ck_assert_msg(set(other, assignment) == 0, "%s", errbuf);
}

START_TEST(test_walk_round_trips)
{
    pd_config_t c;
    pd_config_t d;
    ck_assert_int_eq(pd_config_init(&c), 0);
    ck_assert_int_eq(pd_config_init(&d), 0);
    ck_assert_int_eq(set(&c, "optimizer.learning_rate=0.1"), 0);
    ck_assert_int_eq(set(&c, "server.max_message_size=3M"), 0);
    ck_assert_int_eq(set(&c, "server.worker_timeout=1500ms"), 0);
    ck_assert_int_eq(set(&c, "data.train=/x/y"), 0);
    walk_count = 0;
    pd_config_walk(&c, on_walk, &d);
    ck_assert_int_eq(walk_count, (int)N_TROWS);
    ck_assert_uint_eq(pd_config_job_hash(&c), pd_config_job_hash(&d));
    ck_assert_double_eq(d.learning_rate, 0.1);
    ck_assert_uint_eq(d.max_message_size, 3u << 20);
    ck_assert_int_eq(d.worker_timeout_ms, 1500);
    ck_assert_str_eq(d.train_path, "/x/y");
    pd_config_release(&c);
    pd_config_release(&d);
}
END_TEST

/* The table stores enums as indexes; other modules compare them with their C enums. */
START_TEST(test_enum_order_matches_c_enums)
{
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
#define SET_(a) ck_assert_int_eq(set(&c, a), 0)
    SET_("job.method=sync-sgd");
    ck_assert_int_eq(c.method, PD_METHOD_SYNC_SGD);
    SET_("job.method=ssp");
    ck_assert_int_eq(c.method, PD_METHOD_SSP);
    SET_("model.type=least-squares");
    ck_assert_int_eq(c.model_type, PD_MODEL_LSQ);
    SET_("model.type=none");
    ck_assert_int_eq(c.model_type, PD_MODEL_NONE);
    SET_("data.format=csv");
    ck_assert_int_eq(c.data_format, PD_DATA_CSV);
    SET_("optimizer.type=adam");
    ck_assert_int_eq(c.optimizer, PD_OPT_ADAM);
    SET_("optimizer.schedule=inverse-sqrt");
    ck_assert_int_eq(c.schedule, PD_SCHED_INVSQRT);
    SET_("optimizer.regularizer=nonneg");
    ck_assert_int_eq(c.regularizer, PD_REG_NONNEG);
    SET_("optimizer.regularizer=elastic-net");
    ck_assert_int_eq(c.regularizer, PD_REG_ELASTIC_NET);
    SET_("job.stale_step=inverse");
    ck_assert_int_eq(c.stale_step, PD_STALE_INVERSE);
    SET_("server.progress=no");
    ck_assert_int_eq(c.progress, PD_PROGRESS_NO);
    SET_("server.log_level=debug");
    ck_assert_int_eq(c.log_level + 3, 7); /* syslog LOG_DEBUG */
#undef SET_
    pd_config_release(&c);
}
END_TEST

/* ---- files ---- */

START_TEST(test_load_good_file)
{
    char path[PATH_MAX];
    char want[PATH_MAX + 64];
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    write_file("job.conf",
               "; paramd test job\n"
               "# both comment styles\n"
               "[server]\n"
               "listen = tcp://127.0.0.1:*\n"
               "worker_timeout = 250ms\n"
               "heartbeat_interval = 100ms ; inline comment\n"
               "max_message_size = 64K\n"
               "exit_when_done = on\r\n"
               "log_level = debug\n"
               "metrics_log = out/metrics.jsonl\n"
               "\n"
               "[job]\n"
               "  method = ssp\n"
               "  batch_size = 64\n"
               "eval_interval = 2m\n"
               "[model]\n"
               "type = logistic\n"
               "bias = false\n"
               "[data]\n"
               "train = data/train.svm\n"
               "test = /abs/test.svm\n"
               "[optimizer]\n"
               "learning_rate = 0.05\n"
               "epsilon = 1e-6\n"
               "[stop]\n"
               "max_seconds = 1h\n"
               "max_updates = 2000\n",
               path, sizeof(path));
    int rc = pd_config_load_file(&c, path, errbuf, sizeof(errbuf));
    ck_assert_msg(rc == 0, "rc=%d: %s", rc, errbuf);
    ck_assert_str_eq(errbuf, "");
    ck_assert_str_eq(c.listen, "tcp://127.0.0.1:*");
    ck_assert_int_eq(c.worker_timeout_ms, 250);
    ck_assert_int_eq(c.heartbeat_interval_ms, 100);
    ck_assert_uint_eq(c.max_message_size, 65536);
    ck_assert(c.exit_when_done);
    ck_assert_int_eq(c.log_level, 4);
    ck_assert_int_eq(c.method, PD_METHOD_SSP);
    ck_assert_int_eq(c.batch_size, 64);
    ck_assert_int_eq(c.eval_interval_ms, 120000);
    ck_assert_int_eq(c.model_type, PD_MODEL_LOGISTIC);
    ck_assert(!c.bias);
    snprintf(want, sizeof(want), "%s/data/train.svm", tmpdir);
    ck_assert_str_eq(c.train_path, want);
    /* a file paramd writes stays relative to its working directory */
    ck_assert_str_eq(c.metrics_log, "out/metrics.jsonl");
    ck_assert_str_eq(c.test_path, "/abs/test.svm");
    ck_assert_str_eq(c.train_labels_path, ""); /* empty stays empty, not the directory */
    ck_assert_double_eq(c.learning_rate, 0.05);
    ck_assert_double_eq(c.epsilon, 1e-6);
    ck_assert_int_eq(c.max_seconds_ms, 3600000);
    ck_assert_int_eq(c.max_updates, 2000);
    /* Untouched keys keep their defaults. */
    ck_assert_int_eq(c.max_staleness, 16);
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), 0);
    pd_config_release(&c);
}
END_TEST

START_TEST(test_load_bad_file_reports_every_error)
{
    char path[PATH_MAX];
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    write_file("job.conf",
               "[job]\n"                        /* 1 */
               "batch_size = 64\n"              /* 2: valid, but the file fails as a whole */
               "[optimizer]\n"                  /* 3 */
               "learning_rate = abc\n"          /* 4 */
               "momentum = 2\n"                 /* 5 */
               "[job]\n"                        /* 6 */
               "methdo = ssp\n"                 /* 7 */
               "seed = 12x\n"                   /* 8 */
               "method = asgd\n"                /* 9 */
               "[sever]\n"                      /* 10 */
               "listen = tcp://127.0.0.1:1\n"   /* 11: ignored, the section was reported */
               "[server]\n"                     /* 12 */
               "worker_timeout = 5y\n"          /* 13 */
               "max_message_size = 12X\n"       /* 14 */
               "exit_when_done = maybe\n"       /* 15 */
               "listen = tcp://127.0.0.1\n"     /* 16 */
               "this line has no equals sign\n" /* 17 */
               "[data\n"                        /* 18 */
               "[optimizer]\n"                  /* 19 */
               "beta1 = inf\n",                 /* 20 */
               path, sizeof(path));
    int rc = pd_config_load_file(&c, path, errbuf, sizeof(errbuf));
    ck_assert_int_eq(rc, PD_ECONFIG);
    expect_error(path, 4, "[optimizer] learning_rate: 'abc' is not a number");
    expect_error(path, 5, "[optimizer] momentum: '2' is out of range (allowed: 0..0.999999)");
    expect_error(path, 7, "[job] methdo: unknown key (did you mean method?)");
    expect_error(path, 8, "[job] seed: '12x' is not an integer");
    expect_error(path, 9, "[job] method: 'asgd' is not one of sync-sgd|async-sgd|ssp");
    expect_error(path, 10, "[sever]: unknown section");
    expect_error(path, 13, "[server] worker_timeout: '5y' is not a duration");
    expect_error(path, 14, "[server] max_message_size: '12X' is not a size");
    expect_error(path, 15, "[server] exit_when_done: 'maybe' is not a boolean");
    expect_error(path, 16, "[server] listen: 'tcp://127.0.0.1' is not an endpoint");
    expect_error(path, 17, "expected 'key = value'");
    expect_error(path, 18, "'[data': section header without ']'");
    expect_error(path, 20, "[optimizer] beta1: 'inf' is not a finite number");
    ck_assert_msg(count_lines(errbuf) == 13, "exactly the expected errors:\n%s", errbuf);
    /* All or nothing: the valid line 2 did not land either. */
    ck_assert_int_eq(c.batch_size, 32);
    pd_config_release(&c);
}
END_TEST

START_TEST(test_load_long_line_is_reported)
{
    char path[PATH_MAX];
    char text[2048];
    char want[PATH_MAX + 64];
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    /* inih's buffer is 200 bytes; a cut value could otherwise be a valid, wrong path. */
    int n = snprintf(text, sizeof(text), "[data]\ntrain = /");
    for (int i = 0; i < 300; i++) {
        text[n++] = 'a';
    }
    snprintf(text + n, sizeof(text) - (size_t)n,
             "\n"
             "[job]\n"
             "batch_size = x\n");
    write_file("long.conf", text, path, sizeof(path));
    ck_assert_int_eq(pd_config_load_file(&c, path, errbuf, sizeof(errbuf)), PD_ECONFIG);
    snprintf(want, sizeof(want), "%s:2: [data] train: line is too long", path);
    ck_assert_msg(strstr(errbuf, want) != NULL, "%s", errbuf);
    /* The lines after it are still read and numbered right. */
    expect_error(path, 4, "[job] batch_size: 'x' is not an integer");
    ck_assert_int_eq(count_lines(errbuf), 2);
    ck_assert_str_eq(c.train_path, "");
    pd_config_release(&c);
}
END_TEST

/* Issue 9 item 6: a comment of any length is just a comment (one over 199 characters made
 * the whole file invalid, with a message about the previous section's key), and a key given
 * twice is an error naming both lines instead of the last silently winning. */
START_TEST(test_load_long_comment_and_duplicate_key)
{
    char path[PATH_MAX];
    char text[2048];
    pd_config_t c;
    int n = snprintf(text, sizeof(text), "[job]\nbatch_size = 8\n# ");

    for (int i = 0; i < 400; i++) {
        text[n++] = i % 50 == 0 ? '=' : 'c'; /* an '=' in a comment is still a comment */
    }
    snprintf(text + n, sizeof(text) - (size_t)n, "\n    ; indented, and also long %0300d\nseed = 4\n",
             0);
    ck_assert_int_eq(pd_config_init(&c), 0);
    write_file("comment.conf", text, path, sizeof(path));
    ck_assert_msg(pd_config_load_file(&c, path, errbuf, sizeof(errbuf)) == 0, "%s", errbuf);
    ck_assert_int_eq(c.batch_size, 8);
    ck_assert_int_eq(c.seed, 4);

    write_file("twice.conf", "[job]\nbatch_size = 8\nseed = 4\n[model]\ntype = logistic\n"
                             "[job]\nbatch_size = 16\n", path, sizeof(path));
    ck_assert_int_eq(pd_config_load_file(&c, path, errbuf, sizeof(errbuf)), PD_ECONFIG);
    expect_error(path, 7, "[job] batch_size: given twice (first at line 2); keep one");
    ck_assert_int_eq(count_lines(errbuf), 1);
    ck_assert_int_eq(c.batch_size, 8); /* a file with errors changes nothing */
    pd_config_release(&c);
}
END_TEST

START_TEST(test_load_errors_outside_sections_and_nul)
{
    char path[PATH_MAX];
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("seed = 3\n[job]\nseed = 4", f);
    fputc('\0', f);
    fputs("5\nbatch_size = 8\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(pd_config_load_file(&c, path, errbuf, sizeof(errbuf)), PD_ECONFIG);
    expect_error(path, 1, "seed: key before the first [section]");
    expect_error(path, 3, "line contains a NUL byte (10 characters; allowed: 199)");
    ck_assert_int_eq(count_lines(errbuf), 2);
    ck_assert_int_eq(c.seed, 1);
    pd_config_release(&c);
}
END_TEST

START_TEST(test_load_missing_file)
{
    char path[PATH_MAX];
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
    ck_assert_int_eq(pd_config_load_file(&c, path, errbuf, sizeof(errbuf)), -ENOENT);
    ck_assert_ptr_nonnull(strstr(errbuf, "absent.conf: cannot open: "));
    pd_config_release(&c);
}
END_TEST

START_TEST(test_small_errbuf_keeps_verdict)
{
    char path[PATH_MAX];
    char small[24];
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    write_file("bad.conf", "[job]\nseed = x\nbatch_size = y\nmethod = z\n", path, sizeof(path));
    small[0] = '\0';
    ck_assert_int_eq(pd_config_load_file(&c, path, small, sizeof(small)), PD_ECONFIG);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert_int_eq(pd_config_load_file(&c, path, NULL, 0), PD_ECONFIG);
    /* Errors are appended to what the buffer already holds. */
    strcpy(errbuf, "earlier\n");
    ck_assert_int_eq(pd_config_load_file(&c, path, errbuf, sizeof(errbuf)), PD_ECONFIG);
    ck_assert_int_eq(strncmp(errbuf, "earlier\n", 8), 0);
    ck_assert_int_eq(count_lines(errbuf), 4);
    pd_config_release(&c);
}
END_TEST

/* ---- overrides ---- */

START_TEST(test_overrides)
{
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
    ck_assert_int_eq(set(&c, "job.batch_size=128"), 0);
    ck_assert_int_eq(c.batch_size, 128);
    ck_assert_int_eq(set(&c, " server.worker_timeout = 3m "), 0);
    ck_assert_int_eq(c.worker_timeout_ms, 180000);
    /* An override's relative path stays relative to the working directory. */
    ck_assert_int_eq(set(&c, "data.train=rel/train.svm"), 0);
    ck_assert_str_eq(c.train_path, "rel/train.svm");
    ck_assert_str_eq(errbuf, "");

    ck_assert_int_eq(set(&c, "job.batchsize=4"), PD_ECONFIG);
    ck_assert_str_eq(errbuf,
                     "-o job.batchsize=4: [job] batchsize: unknown key (did you mean batch_size?)\n");
    errbuf[0] = '\0';
    /* a key of another section is named with its section; nothing close, no hint */
    ck_assert_int_eq(set(&c, "job.learning_rate=0.1"), PD_ECONFIG);
    ck_assert_str_eq(errbuf, "-o job.learning_rate=0.1: [job] learning_rate: unknown key "
                             "(did you mean [optimizer] learning_rate?)\n");
    errbuf[0] = '\0';
    ck_assert_int_eq(set(&c, "job.zzzzzz=1"), PD_ECONFIG);
    ck_assert_str_eq(errbuf, "-o job.zzzzzz=1: [job] zzzzzz: unknown key\n");
    errbuf[0] = '\0';
    ck_assert_int_eq(set(&c, "job.batch_size"), PD_ECONFIG);
    ck_assert_str_eq(errbuf, "-o job.batch_size: missing '=' (expected section.key=value)\n");
    errbuf[0] = '\0';
    ck_assert_int_eq(set(&c, "batch_size=4"), PD_ECONFIG);
    ck_assert_ptr_nonnull(strstr(errbuf, "expected section.key=value"));
    errbuf[0] = '\0';
    ck_assert_int_eq(set(&c, "jobs.batch_size=4"), PD_ECONFIG);
    ck_assert_str_eq(errbuf, "-o jobs.batch_size=4: [jobs]: unknown section\n");
    errbuf[0] = '\0';
    ck_assert_int_eq(set(&c, "job.batch_size=0"), PD_ECONFIG);
    ck_assert_str_eq(
        errbuf,
        "-o job.batch_size=0: [job] batch_size: '0' is out of range (allowed: 1..1048576)\n");
    ck_assert_int_eq(c.batch_size, 128); /* unchanged by the failures */
    errbuf[0] = '\0';
    ck_assert_int_eq(set(&c, "server.listen="), PD_ECONFIG);
    ck_assert_str_eq(c.listen, "tcp://127.0.0.1:5555");
    pd_config_release(&c);
}
END_TEST

START_TEST(test_endpoints)
{
    static const char *const good[] = {"tcp://127.0.0.1:5555",   "tcp://*:0",
                                       "tcp://host:*",           "tcp://[::1]:80",
                                       "ipc:///run/paramd.sock", "inproc://x"};
    static const char *const bad[] = {
        "tcp://127.0.0.1", "tcp://:80", "tcp://h:65536", "tcp://h:8x", "udp://h:1",
        "ipc://",          "inproc://", "tcp://h :1",    "",           "tcp://[::1:80"};
    pd_config_t c;
    char a[128];
    ck_assert_int_eq(pd_config_init(&c), 0);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(a, sizeof(a), "server.listen=%s", good[i]);
        ck_assert_msg(set(&c, a) == 0, "%s", a);
        ck_assert_str_eq(c.listen, good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(a, sizeof(a), "server.listen=%s", bad[i]);
        ck_assert_msg(set(&c, a) == PD_ECONFIG, "%s", a);
    }
    pd_config_release(&c);
}
END_TEST

START_TEST(test_numbers_and_bools)
{
    pd_config_t c;
    ck_assert_int_eq(pd_config_init(&c), 0);
#define OK_(a) ck_assert_msg(set(&c, a) == 0, "%s", a)
#define BAD_(a) ck_assert_msg(set(&c, a) == PD_ECONFIG, "%s", a)
    OK_("job.seed=9200000000000000000");
    ck_assert_int_eq(c.seed, 9200000000000000000LL);
    BAD_("job.seed=9300000000000000000");
    BAD_("job.seed=99999999999999999999");
    BAD_("job.seed=-1");
    BAD_("job.seed=0x10");
    BAD_("job.seed= ");
    BAD_("job.seed=+");
    OK_("job.seed=+7");
    ck_assert_int_eq(c.seed, 7);
    OK_("optimizer.lower=-2.5e3");
    ck_assert_double_eq(c.lower, -2500.0);
    BAD_("optimizer.lower=nan");
    BAD_("optimizer.lower=1e999");
    BAD_("optimizer.lower=1.5.2");
    BAD_("optimizer.decay_rate=1.0000001");
    OK_("optimizer.decay_rate=1");
    BAD_("optimizer.epsilon=0");
    OK_("model.bias=No");
    ck_assert(!c.bias);
    OK_("model.bias=TRUE");
    ck_assert(c.bias);
    OK_("model.bias=0");
    ck_assert(!c.bias);
    BAD_("model.bias=2");
    BAD_("server.max_message_size=5G");
    OK_("server.max_message_size=4194303K");
    BAD_("server.worker_timeout=50ms");
    BAD_("server.worker_timeout=2d");
    OK_("server.worker_timeout=1d");
    BAD_("job.method=SSP");
#undef OK_
#undef BAD_
    pd_config_release(&c);
}
END_TEST

/* ---- validate ---- */

static void valid_base(pd_config_t *c)
{
    ck_assert_int_eq(pd_config_init(c), 0);
    ck_assert_int_eq(set(c, "data.train=/d/train.svm"), 0);
    errbuf[0] = '\0';
    ck_assert_int_eq(pd_config_validate(c, errbuf, sizeof(errbuf)), 0);
    ck_assert_str_eq(errbuf, "");
}

static void expect_invalid(pd_config_t *c, const char *const *overrides, const char *want)
{
    for (; *overrides != NULL; overrides++) {
        ck_assert_msg(set(c, *overrides) == 0, "%s", errbuf);
    }
    errbuf[0] = '\0';
    ck_assert_int_eq(pd_config_validate(c, errbuf, sizeof(errbuf)), PD_ECONFIG);
    ck_assert_msg(strstr(errbuf, want) != NULL, "want \"%s\" in:\n%s", want, errbuf);
    ck_assert_int_eq(count_lines(errbuf), 1);
}

START_TEST(test_validate)
{
    pd_config_t c;

    valid_base(&c);
    expect_invalid(&c,
                   (const char *[]){"optimizer.regularizer=box", "optimizer.lower=2",
                                    "optimizer.upper=1", NULL},
                   "[optimizer] lower = 2 is above [optimizer] upper = 1");
    pd_config_release(&c);

    valid_base(&c);
    /* lower > upper does not matter without the box. */
    ck_assert_int_eq(set(&c, "optimizer.lower=2"), 0);
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), 0);
    expect_invalid(&c, (const char *[]){"data.train=", NULL},
                   "[data] train: required when [model] type = softmax");
    pd_config_release(&c);

    valid_base(&c);
    expect_invalid(&c, (const char *[]){"model.type=none", "data.train=", NULL},
                   "[model] dim: must be > 0 when [model] type = none");
    ck_assert_int_eq(set(&c, "model.dim=10"), 0);
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), 0);
    pd_config_release(&c);

    valid_base(&c);
    expect_invalid(&c, (const char *[]){"model.type=mlp", NULL},
                   "[model] layers: required when [model] type = mlp");
    pd_config_release(&c);
    valid_base(&c);
    expect_invalid(&c, (const char *[]){"model.type=mlp", "model.layers=784,,10", NULL},
                   "[model] layers = 784,,10: width 2 is not an integer in [1, 16777216]");
    ck_assert_int_eq(set(&c, "model.layers=784,128,10"), 0);
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), 0);
    pd_config_release(&c);

    valid_base(&c);
    expect_invalid(&c, (const char *[]){"data.train=/d/train-images-idx3-ubyte.gz", NULL},
                   "[data] train_labels: required for IDX training data");
    ck_assert_int_eq(set(&c, "data.train_labels=/d/l.gz"), 0);
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), 0);
    expect_invalid(&c, (const char *[]){"data.test=/d/t10k-images-idx3-ubyte", NULL},
                   "[data] test_labels: required for IDX test data");
    pd_config_release(&c);

    valid_base(&c);
    expect_invalid(&c, (const char *[]){"data.format=idx", NULL},
                   "[data] train_labels: required for IDX training data");
    pd_config_release(&c);

    valid_base(&c);
    expect_invalid(&c, (const char *[]){"server.heartbeat_interval=10s", NULL},
                   "[server] heartbeat_interval = 10s must be shorter than [server] "
                   "worker_timeout = 10s");
    pd_config_release(&c);

    valid_base(&c);
    expect_invalid(&c, (const char *[]){"model.classes=1", NULL},
                   "[model] classes: 1 is invalid for type = softmax");
    ck_assert_int_eq(set(&c, "model.classes=2"), 0);
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), 0);
    pd_config_release(&c);

    /* Several problems are all reported. */
    ck_assert_int_eq(pd_config_init(&c), 0);
    ck_assert_int_eq(set(&c, "model.classes=1"), 0);
    errbuf[0] = '\0';
    ck_assert_int_eq(pd_config_validate(&c, errbuf, sizeof(errbuf)), PD_ECONFIG);
    ck_assert_int_eq(count_lines(errbuf), 2);
    pd_config_release(&c);
}
END_TEST

/* ---- hash, copy ---- */

/* The same job whatever the spelling of its files' paths (issue 9 item 4): a configuration
 * loaded as tmpdir/job.conf and as tmpdir/sub/../job.conf names the same data file. A
 * different file is a different job. */
START_TEST(test_job_hash_path_spelling)
{
    char data[512], conf[512], other[512], assign[600];
    pd_config_t a, b;

    write_file("d.svm", "1 1:1\n", data, sizeof(data));
    write_file("e.svm", "1 1:1\n", other, sizeof(other));
    write_file("job.conf", "[data]\ntrain = d.svm\n", conf, sizeof(conf));
    snprintf(conf, sizeof(conf), "%s/sub", tmpdir);
    ck_assert_int_eq(mkdir(conf, 0700), 0);
    ck_assert_int_eq(pd_config_init(&a), 0);
    ck_assert_int_eq(pd_config_init(&b), 0);
    snprintf(conf, sizeof(conf), "%s/job.conf", tmpdir);
    ck_assert_int_eq(pd_config_load_file(&a, conf, errbuf, sizeof(errbuf)), 0);
    snprintf(conf, sizeof(conf), "%s/sub/../job.conf", tmpdir);
    ck_assert_int_eq(pd_config_load_file(&b, conf, errbuf, sizeof(errbuf)), 0);
    ck_assert_str_ne(a.train_path, b.train_path); /* spelled differently */
    ck_assert_uint_eq(pd_config_job_hash(&a), pd_config_job_hash(&b));
    snprintf(assign, sizeof(assign), "data.train=%s", other);
    ck_assert_int_eq(set(&b, assign), 0);
    ck_assert_uint_ne(pd_config_job_hash(&a), pd_config_job_hash(&b));
    pd_config_release(&a);
    pd_config_release(&b);
}
END_TEST

START_TEST(test_job_hash)
{
    pd_config_t a;
    pd_config_t b;
    ck_assert_int_eq(pd_config_init(&a), 0);
    ck_assert_int_eq(pd_config_init(&b), 0);
    uint64_t h = pd_config_job_hash(&a);
    ck_assert_uint_eq(h, pd_config_job_hash(&b));
    /* Not job keys: same job. */
    ck_assert_int_eq(set(&b, "server.log_level=debug"), 0);
    ck_assert_int_eq(set(&b, "stop.max_updates=5"), 0);
    ck_assert_int_eq(set(&b, "job.max_staleness=3"), 0);
    ck_assert_uint_eq(pd_config_job_hash(&b), h);
    /* The step size is reloadable: a job resumed with another one is the same job. */
    ck_assert_int_eq(set(&b, "optimizer.learning_rate=0.5"), 0);
    ck_assert_uint_eq(pd_config_job_hash(&b), h);
    /* The hash reads values, not their spelling. */
    ck_assert_int_eq(set(&b, "job.seed=0001"), 0);
    ck_assert_int_eq(set(&b, "optimizer.momentum=9e-1"), 0);
    ck_assert_uint_eq(pd_config_job_hash(&b), h);
    /* Job keys: another job. */
    ck_assert_int_eq(set(&b, "job.batch_size=33"), 0);
    ck_assert_uint_ne(pd_config_job_hash(&b), h);
    ck_assert_int_eq(set(&b, "job.batch_size=32"), 0);
    ck_assert_uint_eq(pd_config_job_hash(&b), h);
    ck_assert_int_eq(set(&b, "optimizer.momentum=0.9000001"), 0);
    ck_assert_uint_ne(pd_config_job_hash(&b), h);
    ck_assert_int_eq(set(&a, "data.train=/x"), 0);
    ck_assert_uint_ne(pd_config_job_hash(&a), h);
    pd_config_release(&a);
    pd_config_release(&b);
}
END_TEST

START_TEST(test_copy_is_deep)
{
    pd_config_t a;
    pd_config_t b;
    ck_assert_int_eq(pd_config_init(&a), 0);
    ck_assert_int_eq(set(&a, "data.train=/x/train"), 0);
    ck_assert_int_eq(set(&a, "job.batch_size=7"), 0);
    ck_assert_int_eq(pd_config_copy(&b, &a), 0);
    ck_assert_ptr_ne(a.train_path, b.train_path);
    ck_assert_ptr_ne(a.listen, b.listen);
    ck_assert_str_eq(b.train_path, "/x/train");
    ck_assert_int_eq(b.batch_size, 7);
    ck_assert_uint_eq(pd_config_job_hash(&a), pd_config_job_hash(&b));
    ck_assert_int_eq(set(&b, "data.train=/y"), 0);
    ck_assert_str_eq(a.train_path, "/x/train");
    pd_config_release(&a);
    ck_assert_str_eq(b.train_path, "/y");
    ck_assert_str_eq(b.listen, "tcp://127.0.0.1:5555");
    pd_config_release(&b);
}
END_TEST

/* ---- reference ---- */

START_TEST(test_reference_md)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(pd_config_write_reference_md(f), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_nonnull(strstr(text, "## [server]\n"));
    ck_assert_ptr_nonnull(strstr(text, "## [stop]\n"));
    ck_assert_ptr_nonnull(strstr(text, "| `worker_timeout` | duration | `10s` | 100ms..1d | no |"));
    ck_assert_ptr_nonnull(strstr(
        text,
        "| `log_level` | enum | `info` | `err`, `warning`, `notice`, `info`, `debug` | yes |"));
    ck_assert_ptr_nonnull(strstr(text, "| `batch_size` | int | `32` | 1..1048576 | no |"));
    /* A '|' inside a cell would split the table. */
    ck_assert_ptr_nonnull(strstr(text, "(l2/2)\\|\\|x\\|\\|^2"));
    for (size_t i = 0; i < N_TROWS; i++) {
        char cell[128];
        snprintf(cell, sizeof(cell), "| `%s` |", trows[i].name);
        ck_assert_msg(strstr(text, cell) != NULL, "%s missing", trows[i].name);
    }
    /* Every table row has the same number of cells as its header. */
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] != '|') {
            continue;
        }
        int bars = 0;
        for (char *p = line; *p != '\0'; p++) {
            bars += *p == '|' && (p == line || p[-1] != '\\');
        }
        ck_assert_msg(bars == 7, "bad row: %s", line);
    }
    free(text);
}
END_TEST

/* ---- parse helpers ---- */

START_TEST(test_parse_duration)
{
    static const struct {
        const char *text;
        int rc;
        int64_t ms;
    } cases[] = {
        {"250ms", 0, 250},
        {"10s", 0, 10000},
        {"5m", 0, 300000},
        {"2h", 0, 7200000},
        {"1d", 0, 86400000},
        {"7", 0, 7000},
        {"0", 0, 0},
        {"0ms", 0, 0},
        {"9223372036854775807ms", 0, INT64_MAX},
        {"", -EINVAL, 0},
        {"s", -EINVAL, 0},
        {"ms", -EINVAL, 0},
        {"5x", -EINVAL, 0},
        {"5 s", -EINVAL, 0},
        {" 5s", -EINVAL, 0},
        {"5s ", -EINVAL, 0},
        {"5S", -EINVAL, 0},
        {"1.5s", -EINVAL, 0},
        {"5msx", -EINVAL, 0},
        {"-5s", -ERANGE, 0},
        {"-", -EINVAL, 0},
        {"9223372036854775808ms", -ERANGE, 0},
        {"9223372036854775807s", -ERANGE, 0},
        {"99999999999999999999999", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -42;
        int rc = pd_config_parse_duration_ms(cases[i].text, &ms);
        ck_assert_msg(rc == cases[i].rc, "'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
        ck_assert_msg(ms == (rc == 0 ? cases[i].ms : -42), "'%s': %lld", cases[i].text,
                      (long long)ms);
    }
}
END_TEST

START_TEST(test_parse_size)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t bytes;
    } cases[] = {
        {"4096", 0, 4096},
        {"64K", 0, 65536},
        {"64k", 0, 65536},
        {"512M", 0, 512u << 20},
        {"2G", 0, UINT64_C(2) << 30},
        {"0", 0, 0},
        {"18446744073709551615", 0, UINT64_MAX},
        {"17179869183G", 0, UINT64_C(17179869183) << 30},
        {"18446744073709551616", -ERANGE, 0},
        {"17179869184G", -ERANGE, 0},
        {"-1", -ERANGE, 0},
        {"", -EINVAL, 0},
        {"K", -EINVAL, 0},
        {"1X", -EINVAL, 0},
        {"1KB", -EINVAL, 0},
        {"1 K", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
        {"1.5M", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t b = 42;
        int rc = pd_config_parse_size(cases[i].text, &b);
        ck_assert_msg(rc == cases[i].rc, "'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
        ck_assert_msg(b == (rc == 0 ? cases[i].bytes : 42), "'%s': %llu", cases[i].text,
                      (unsigned long long)b);
    }
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");

    TCase *table = tcase_create("table");
    tcase_set_timeout(table, 10);
    tcase_add_checked_fixture(table, clear_errbuf, NULL);
    tcase_add_test(table, test_defaults_parse_in_range_with_docs);
    tcase_add_test(table, test_walk_round_trips);
    tcase_add_test(table, test_enum_order_matches_c_enums);
    tcase_add_test(table, test_reference_md);
    suite_add_tcase(s, table);

    TCase *files = tcase_create("files");
    tcase_set_timeout(files, 10);
    tcase_add_checked_fixture(files, setup_dir, teardown_dir);
    tcase_add_test(files, test_load_good_file);
    tcase_add_test(files, test_load_bad_file_reports_every_error);
    tcase_add_test(files, test_load_long_line_is_reported);
    tcase_add_test(files, test_load_long_comment_and_duplicate_key);
    tcase_add_test(files, test_load_errors_outside_sections_and_nul);
    tcase_add_test(files, test_load_missing_file);
    tcase_add_test(files, test_small_errbuf_keeps_verdict);
    tcase_add_test(files, test_job_hash_path_spelling);
    suite_add_tcase(s, files);

    TCase *values = tcase_create("values");
    tcase_set_timeout(values, 10);
    tcase_add_checked_fixture(values, clear_errbuf, NULL);
    tcase_add_test(values, test_overrides);
    tcase_add_test(values, test_endpoints);
    tcase_add_test(values, test_numbers_and_bools);
    tcase_add_test(values, test_validate);
    tcase_add_test(values, test_job_hash);
    tcase_add_test(values, test_copy_is_deep);
    tcase_add_test(values, test_parse_duration);
    tcase_add_test(values, test_parse_size);
    suite_add_tcase(s, values);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
