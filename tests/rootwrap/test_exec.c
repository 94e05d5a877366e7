/* Tests for src/rootwrap/exec.c: running allowed commands as Popen does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/rootwrap.h"

/* A hand-made ALLOWED match: what keel_rootwrap_match() would return. */
static keel_rootwrap_match_t allowed(char **argv, char **envp, const char *run_as)
{
    keel_rootwrap_match_t m;
    memset(&m, 0, sizeof(m));
    m.decision = KEEL_ROOTWRAP_ALLOWED;
    m.filter_name = "t";
    m.run_as = run_as;
    m.argv = argv;
    while (argv[m.argc])
        m.argc++;
    m.envp = envp;
    return m;
}

static void test_capture_feeds_stdin_and_collects_both_streams(void **state)
{
    keel_rootwrap_match_t m = allowed((char *[]){"/bin/sh", "-c", "cat; echo err >&2; exit 3", NULL}, NULL, "root");
    keel_buf_t out, err;
    keel_buf_init(&out);
    keel_buf_init(&err);
    int rc = -1;
    assert_int_equal(keel_rootwrap_capture(&m, "hello", 5, &rc, &out, &err, NULL), 0);
    assert_int_equal(rc, 3);
    assert_string_equal(out.base, "hello");
    assert_string_equal(err.base, "err\n");
    keel_buf_free(&out);
    keel_buf_free(&err);
}

static void test_capture_reports_signals_as_negative_returncodes(void **state)
{
    keel_rootwrap_match_t m = allowed((char *[]){"/bin/sh", "-c", "kill -9 $$", NULL}, NULL, "root");
    keel_buf_t out, err;
    keel_buf_init(&out);
    keel_buf_init(&err);
    int rc = 0;
    assert_int_equal(keel_rootwrap_capture(&m, NULL, 0, &rc, &out, &err, NULL), 0);
    assert_int_equal(rc, -9);
    keel_buf_free(&out);
    keel_buf_free(&err);
}

static void test_capture_survives_a_command_that_ignores_its_input(void **state)
{
    static char big[1 << 20];
    memset(big, 'x', sizeof(big));
    keel_rootwrap_match_t m = allowed((char *[]){"/bin/true", NULL}, NULL, "root");
    keel_buf_t out, err;
    keel_buf_init(&out);
    keel_buf_init(&err);
    int rc = -1;
    assert_int_equal(keel_rootwrap_capture(&m, big, sizeof(big), &rc, &out, &err, NULL), 0); /* no SIGPIPE death */
    assert_int_equal(rc, 0);
    keel_buf_free(&out);
    keel_buf_free(&err);
}

static void test_spawn_searches_the_child_path_only_without_a_slash(void **state)
{
    keel_rootwrap_match_t m = allowed((char *[]){"true", NULL}, (char *[]){"PATH=/nonexistent:/usr/bin", NULL}, "root");
    pid_t pid;
    assert_int_equal(keel_rootwrap_spawn(&m, NULL, &pid, NULL), 0);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    keel_buf_t why;
    keel_buf_init(&why);
    m = allowed((char *[]){"true", NULL}, (char *[]){"PATH=/nonexistent", NULL}, "root");
    assert_int_equal(keel_rootwrap_spawn(&m, NULL, &pid, &why), KEEL_ENOENT);
    assert_string_equal(why.base, "true: No such file or directory");
    keel_buf_reset(&why);
    m = allowed((char *[]){"/tmp", NULL}, NULL, "root");
    assert_int_equal(keel_rootwrap_spawn(&m, NULL, &pid, &why), KEEL_EACCES);
    keel_buf_free(&why);
}

static void test_spawn_refuses_an_unknown_user(void **state)
{
    keel_rootwrap_match_t m = allowed((char *[]){"/bin/true", NULL}, NULL, "no-such-user-here");
    pid_t pid;
    keel_buf_t why;
    keel_buf_init(&why);
    assert_int_equal(keel_rootwrap_spawn(&m, NULL, &pid, &why), KEEL_EINVAL);
    assert_non_null(strstr(why.base, "does not exist"));
    keel_buf_free(&why);
}

static void test_run_maps_signals_to_128_plus(void **state)
{
    keel_rootwrap_match_t m = allowed((char *[]){"/bin/sh", "-c", "kill -15 $$", NULL}, NULL, "root");
    int status = 0;
    assert_int_equal(keel_rootwrap_run(&m, &status, NULL), 0);
    assert_int_equal(status, 143);
    m = allowed((char *[]){"/bin/sh", "-c", "exit 42", NULL}, NULL, "root");
    assert_int_equal(keel_rootwrap_run(&m, &status, NULL), 0);
    assert_int_equal(status, 42);
}

static void test_limit_files_lowers_only_a_higher_soft_limit(void **state)
{
    struct rlimit before, after;
    getrlimit(RLIMIT_NOFILE, &before);
    keel_rootwrap_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.rlimit_nofile = (int64_t)before.rlim_cur + 100;
    assert_int_equal(keel_rootwrap_limit_files(&cfg, NULL), 0);
    getrlimit(RLIMIT_NOFILE, &after);
    assert_int_equal(after.rlim_cur, before.rlim_cur);
    cfg.rlimit_nofile = 512;
    int fd = dup2(1, 600); /* above the new limit: closed first */
    assert_int_equal(fd, 600);
    assert_int_equal(keel_rootwrap_limit_files(&cfg, NULL), 0);
    getrlimit(RLIMIT_NOFILE, &after);
    assert_int_equal(after.rlim_cur, 512);
    assert_int_equal(after.rlim_max, before.rlim_max);
    assert_int_equal(close(600), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_feeds_stdin_and_collects_both_streams),
        cmocka_unit_test(test_capture_reports_signals_as_negative_returncodes),
        cmocka_unit_test(test_capture_survives_a_command_that_ignores_its_input),
        cmocka_unit_test(test_spawn_searches_the_child_path_only_without_a_slash),
        cmocka_unit_test(test_spawn_refuses_an_unknown_user),
        cmocka_unit_test(test_run_maps_signals_to_128_plus),
        cmocka_unit_test(test_limit_files_lowers_only_a_higher_soft_limit),
    };
    return cmocka_run_group_tests_name("rootwrap/exec.c", tests, NULL, NULL);
}
