/*
 * Tests for src/rootwrap/daemon.c and src/rootwrap/client.c: a daemon
 * served from a thread of this process, and clients talking to it (or
 * starting the real keel-rootwrap-daemon, whose path meson passes in).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/rootwrap.h"

static char root[] = "/tmp/keel-rw-daemon-XXXXXX";
static char conf[300];
static const char *daemon_exe;
static keel_rootwrap_config_t cfg;
static keel_rootwrap_filters_t *filters;
static keel_rootwrap_daemon_t *d;
static pthread_t server;

static void *serve(void *arg)
{
    keel_rootwrap_daemon_serve(d);
    return NULL;
}

static int start(void **state)
{
    keel_buf_t why;
    keel_buf_init(&why);
    assert_int_equal(keel_rootwrap_config_load(&cfg, conf, NULL, NULL, NULL), 0);
    assert_int_equal(keel_rootwrap_filters_load(&filters, cfg.filters_path, cfg.n_filters_path, NULL, NULL, &why), 0);
    assert_int_equal(keel_rootwrap_daemon_new(&d, &cfg, filters, NULL, &why), 0);
    pthread_create(&server, NULL, serve, NULL);
    keel_buf_free(&why);
    return 0;
}

static int stop(void **state)
{
    keel_rootwrap_daemon_stop(d);
    pthread_join(server, NULL);
    keel_rootwrap_daemon_free(d);
    keel_rootwrap_filters_free(filters);
    keel_rootwrap_config_free(&cfg);
    return 0;
}

static keel_rootwrap_client_t *connect_client(void)
{
    keel_rootwrap_client_t *c = NULL;
    assert_int_equal(keel_rootwrap_client_connect(&c, keel_rootwrap_daemon_socket(d), keel_rootwrap_daemon_token(d)), 0);
    return c;
}

static void test_daemon_socket_is_private(void **state)
{
    struct stat st;
    char dir[200];
    snprintf(dir, sizeof(dir), "%s", keel_rootwrap_daemon_socket(d));
    *strrchr(dir, '/') = '\0';
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(strlen(keel_rootwrap_daemon_token(d)), 64);
}

static void test_daemon_runs_allowed_commands_with_stdin(void **state)
{
    keel_rootwrap_client_t *c = connect_client();
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"cat"}, 1, "piped\n", 6, &r), 0);
    assert_int_equal(r.returncode, 0);
    assert_string_equal(r.out.base, "piped\n");
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"sh", "-c", "echo out; echo err >&2; exit 7"}, 3, NULL, 0, &r), 0);
    assert_int_equal(r.returncode, 7);
    assert_string_equal(r.out.base, "out\n");
    assert_string_equal(r.err.base, "err\n");
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"sh", "-c", "kill -9 $$"}, 3, NULL, 0, &r), 0);
    assert_int_equal(r.returncode, -9); /* subprocess's returncode, as the Python daemon returns it */
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
}

static void test_daemon_refusals_are_return_codes(void **state)
{
    keel_rootwrap_client_t *c = connect_client();
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"rm", "-rf", "/"}, 3, NULL, 0, &r), 0);
    assert_int_equal(r.returncode, KEEL_ROOTWRAP_RC_UNAUTHORIZED);
    assert_int_equal(r.out.len + r.err.len, 0);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"ghost"}, 1, NULL, 0, &r), 0);
    assert_int_equal(r.returncode, KEEL_ROOTWRAP_RC_NOEXECFOUND);
    /* An allowed command the daemon cannot run is an error with a reason. */
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"true", "x"}, 2, NULL, 0, &r), KEEL_EINVAL);
    assert_non_null(strstr(r.err.base, "does not exist"));
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
}

static void test_daemon_rejects_a_wrong_token(void **state)
{
    keel_rootwrap_client_t *c = NULL;
    char bad[65];
    memset(bad, '0', 64);
    bad[64] = '\0';
    assert_int_equal(keel_rootwrap_client_connect(&c, keel_rootwrap_daemon_socket(d), bad), 0);
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"cat"}, 1, NULL, 0, &r), KEEL_EACCES);
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
    assert_int_equal(keel_rootwrap_client_connect(&c, keel_rootwrap_daemon_socket(d), "nothex"), KEEL_EINVAL);
}

static void test_daemon_survives_garbage_requests(void **state)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, keel_rootwrap_daemon_socket(d));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, "KRW1 not a token, and then some noise....", 41), 41);
    char b[4];
    assert_true(read(fd, b, 4) <= 0); /* hung up (EOF, or a reset as our bytes were unread) */
    close(fd);
    /* Still serving. */
    keel_rootwrap_client_t *c = connect_client();
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"cat"}, 1, "x", 1, &r), 0);
    assert_string_equal(r.out.base, "x");
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
}

static void test_client_starts_and_restarts_the_daemon(void **state)
{
    keel_rootwrap_client_t *c = NULL;
    assert_int_equal(keel_rootwrap_client_new(&c, (char *[]){(char *)daemon_exe, conf, NULL}), 0);
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"cat"}, 1, "one", 3, &r), 0);
    assert_string_equal(r.out.base, "one");
    /* The short daemon_timeout (2 s) ends the daemon; the client starts another. */
    sleep(3);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"cat"}, 1, "two", 3, &r), 0);
    assert_string_equal(r.out.base, "two");
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
}

static void test_client_reports_a_daemon_that_cannot_start(void **state)
{
    keel_rootwrap_client_t *c = NULL;
    assert_int_equal(keel_rootwrap_client_new(&c, (char *[]){(char *)daemon_exe, "/nonexistent.conf", NULL}), 0);
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    assert_int_equal(keel_rootwrap_execute(c, (char *[]){"cat"}, 1, NULL, 0, &r), KEEL_ECONNREFUSED);
    assert_non_null(strstr(r.err.base, "Incorrect configuration file"));
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int group_setup(void **state)
{
    if (!mkdtemp(root))
        return -1;
    char p[400];
    snprintf(p, sizeof(p), "%s/filters", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/filters/d.filters", root);
    write_file(p, "[Filters]\ncat: CommandFilter, cat, root\nsh: CommandFilter, sh, root\n"
                  "ghost: CommandFilter, ghost, root\ntrue: RegExpFilter, true, no-such-user, true, x\n");
    snprintf(conf, sizeof(conf), "%s/rootwrap.conf", root);
    char text[600];
    snprintf(text, sizeof(text), "[DEFAULT]\nfilters_path=%s/filters\nexec_dirs=/usr/bin,/bin\ndaemon_timeout=2\n", root);
    write_file(conf, text);
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

int main(int argc, char **argv)
{
    daemon_exe = argc > 1 ? argv[1] : "keel-rootwrap-daemon";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_daemon_socket_is_private, start, stop),
        cmocka_unit_test_setup_teardown(test_daemon_runs_allowed_commands_with_stdin, start, stop),
        cmocka_unit_test_setup_teardown(test_daemon_refusals_are_return_codes, start, stop),
        cmocka_unit_test_setup_teardown(test_daemon_rejects_a_wrong_token, start, stop),
        cmocka_unit_test_setup_teardown(test_daemon_survives_garbage_requests, start, stop),
        cmocka_unit_test(test_client_starts_and_restarts_the_daemon),
        cmocka_unit_test(test_client_reports_a_daemon_that_cannot_start),
    };
    return cmocka_run_group_tests_name("rootwrap/daemon.c", tests, group_setup, group_teardown);
}
