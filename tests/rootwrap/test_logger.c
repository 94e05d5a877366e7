/* Tests for src/rootwrap/logger.c: SysLogHandler's bytes and the INFO line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/rootwrap.h"

static void test_syslog_writes_python_sysloghandler_datagrams(void **state)
{
    char dir[] = "/tmp/keel-rw-log-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/log", dir);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    keel_rootwrap_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.syslog_facility = 16; /* local0 */
    cfg.syslog_level = KEEL_ROOTWRAP_LOG_INFO;
    keel_rootwrap_syslog_t *log;
    assert_int_equal(keel_rootwrap_syslog_open(&log, sa.sun_path, "/usr/bin/keel-rootwrap", &cfg), 0);
    keel_rootwrap_syslog_log(log, KEEL_ROOTWRAP_LOG_DEBUG, "dropped: below the level");
    keel_rootwrap_syslog_log(log, KEEL_ROOTWRAP_LOG_INFO, "hello");
    keel_rootwrap_syslog_log(log, KEEL_ROOTWRAP_LOG_ERROR, "bad");
    char buf[256];
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    assert_int_equal(n, 26);
    assert_memory_equal(buf, "<134>keel-rootwrap: hello\0", 26);
    n = recv(s, buf, sizeof(buf), 0);
    assert_memory_equal(buf, "<131>keel-rootwrap: bad\0", (size_t)n);
    keel_rootwrap_syslog_close(log);
    close(s);
    unlink(sa.sun_path);
    rmdir(dir);
}

static void test_syslog_without_a_listener_drops_lines(void **state)
{
    keel_rootwrap_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    keel_rootwrap_syslog_t *log;
    assert_int_equal(keel_rootwrap_syslog_open(&log, "/nonexistent/log", "x", &cfg), 0);
    keel_rootwrap_syslog_log(log, KEEL_ROOTWRAP_LOG_CRITICAL, "nobody hears this");
    keel_rootwrap_syslog_close(log);
}

static void test_executing_message_reprs_the_command(void **state)
{
    keel_rootwrap_match_t m;
    memset(&m, 0, sizeof(m));
    m.filter_name = "cat";
    m.argv = (char *[]){"/bin/cat", "it's", "\xff", NULL};
    m.argc = 3;
    keel_buf_t b;
    keel_buf_init(&b);
    /* Without a login name (no terminal in tests), USER from the environment. */
    assert_int_equal(keel_rootwrap_executing_message(&m, (char *[]){"USER=", "LOGNAME=nova", NULL}, &b), 0);
    const char *tail = strstr(b.base, " > root) Executing ['/bin/cat', \"it's\", '\\udcff'] (filter match = cat)");
    assert_non_null(tail);
    keel_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syslog_writes_python_sysloghandler_datagrams),
        cmocka_unit_test(test_syslog_without_a_listener_drops_lines),
        cmocka_unit_test(test_executing_message_reprs_the_command),
    };
    return cmocka_run_group_tests_name("rootwrap/logger.c", tests, NULL, NULL);
}
