/* check_log.c - common/log.c: one event is one line whatever its arguments hold (control
 * bytes from a data file, a config value or a peer's name are escaped as \xHH), and with a
 * status line shown every log line is written over it and the status line redrawn below. */
#include <config.h>
#include "common/log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out[8192];

/* Run fn with stderr going to a temporary file; its bytes end up in out. */
static void capture(void (*fn)(void))
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;

    ck_assert_ptr_nonnull(f);
    fflush(stderr);
    ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void log_hostile(void)
{
    pd_log_info("worker joined name=%s", "a\x1b[31mb\nc\rd\x7f" "e");
}

START_TEST(test_control_bytes_escaped)
{
    capture(log_hostile);
    /* after the time stamp and level: the name with every control byte escaped */
    const char *msg = strstr(out, "info: ");
    ck_assert_ptr_nonnull(msg);
    ck_assert_str_eq(msg, "info: worker joined name=a\\x1b[31mb\\x0ac\\x0dd\\x7fe\n");
}
END_TEST

static void log_long(void)
{
    char big[4000];
    memset(big, '\n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pd_log_warn("%s", big);
}

/* A message far longer than a line, all escapes: cut, still exactly one line. */
START_TEST(test_long_message_one_line)
{
    capture(log_long);
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
    ck_assert_uint_le(strlen(out), 2048);
}
END_TEST

static void log_under_status(void)
{
    pd_log_status_line("  1.0s  v10");
    pd_log_info("an event");
    pd_log_status_line(NULL);
}

START_TEST(test_status_line_kept_below)
{
    capture(log_under_status);
    /* drawn, erased for the event (which ends its row), drawn again below, erased at the end */
    const char *ev = strstr(out, "\r\033[K");
    ck_assert_ptr_nonnull(ev);
    ck_assert(strncmp(out, "\r  1.0s  v10\033[K", 15) == 0);
    const char *line = strstr(out, "info: an event\n  1.0s  v10\033[K");
    ck_assert_ptr_nonnull(line);
    ck_assert(strcmp(out + strlen(out) - 4, "\r\033[K") == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("lines");
    tcase_add_test(tc, test_control_bytes_escaped);
    tcase_add_test(tc, test_long_message_one_line);
    tcase_add_test(tc, test_status_line_kept_below);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
