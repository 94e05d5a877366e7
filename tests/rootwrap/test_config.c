/* Tests for src/rootwrap/config.c: rootwrap.conf as RootwrapConfig reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/rootwrap.h"

static char dir[] = "/tmp/keel-rw-conf-XXXXXX";
static char path[256];
static keel_rootwrap_config_t cfg;
static keel_buf_t msg, detail;

static int setup(void **state)
{
    keel_buf_init(&msg);
    keel_buf_init(&detail);
    memset(&cfg, 0, sizeof(cfg));
    return 0;
}

static int teardown(void **state)
{
    keel_rootwrap_config_free(&cfg);
    keel_buf_free(&msg);
    keel_buf_free(&detail);
    unlink(path);
    return 0;
}

static int load_text(const char *text, size_t len)
{
    snprintf(path, sizeof(path), "%s/rootwrap.conf", dir);
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    char *envp[] = {"PATH=/sbin:/bin", NULL};
    return keel_rootwrap_config_load(&cfg, path, envp, &msg, &detail);
}

static int load(const char *text)
{
    return load_text(text, strlen(text));
}

static void test_config_defaults(void **state)
{
    assert_int_equal(load("[DEFAULT]\nfilters_path=/a, /b\n"), 0);
    assert_int_equal(cfg.n_filters_path, 2);
    assert_string_equal(cfg.filters_path[1], " /b"); /* oslo.rootwrap does not strip */
    assert_int_equal(cfg.n_exec_dirs, 2);            /* from PATH */
    assert_string_equal(cfg.exec_dirs[0], "/sbin");
    assert_false(cfg.use_syslog);
    assert_int_equal(cfg.syslog_facility, 5);
    assert_int_equal(cfg.syslog_level, KEEL_ROOTWRAP_LOG_ERROR);
    assert_int_equal(cfg.daemon_timeout, 600);
    assert_int_equal(cfg.rlimit_nofile, 1024);
}

static void test_config_reads_every_option(void **state)
{
    assert_int_equal(load("[DEFAULT]\nFILTERS_PATH=/f\nexec_dirs=/x,\nuse_syslog=ON\nsyslog_log_facility=local3\n"
                          "syslog_log_level=\xc4\xb1nfo\ndaemon_timeout= 1_0 \nrlimit_nofile=\xd9\xa4\n"),
                     0);
    assert_int_equal(cfg.n_exec_dirs, 2);
    assert_string_equal(cfg.exec_dirs[1], "");
    assert_true(cfg.use_syslog);
    assert_int_equal(cfg.syslog_facility, 19);
    assert_int_equal(cfg.syslog_level, KEEL_ROOTWRAP_LOG_INFO); /* "ınfo".upper() == "INFO" */
    assert_int_equal(cfg.daemon_timeout, 10);
    assert_int_equal(cfg.rlimit_nofile, 4);
}

static void test_config_accepts_handler_attributes_as_facility(void **state)
{
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nsyslog_log_facility=LOG_LOCAL7\n"), 0);
    assert_int_equal(cfg.syslog_facility, 23);
    keel_rootwrap_config_free(&cfg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nsyslog_log_facility=emit\n"), 0);
    assert_true(cfg.syslog_facility_unusable);
}

static void test_config_missing_file_or_option_is_incorrect_file(void **state)
{
    char *envp[] = {NULL};
    assert_int_equal(keel_rootwrap_config_load(&cfg, "/nonexistent/rootwrap.conf", envp, &msg, NULL), KEEL_EPARSE);
    assert_string_equal(msg.base, "Incorrect configuration file: /nonexistent/rootwrap.conf");
    keel_buf_reset(&msg);
    assert_int_equal(load("[other]\nfilters_path=/f\n"), KEEL_EPARSE);
    assert_non_null(strstr(detail.base, "no filters_path"));
}

static void test_config_bad_lines_and_duplicates_are_incorrect_file(void **state)
{
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nnonsense\n"), KEEL_EPARSE);
    assert_non_null(strstr(detail.base, "rootwrap.conf:3:"));
    keel_buf_reset(&msg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nFilters_Path=/g\n"), KEEL_EPARSE);
    assert_non_null(strstr(msg.base, "Incorrect configuration file: "));
}

static void test_config_bad_values_say_what_python_says(void **state)
{
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nsyslog_log_level=loud\n"), KEEL_EVALUE);
    assert_non_null(strstr(msg.base, ": Unexpected syslog_log_level: 'loud'"));
    keel_buf_reset(&msg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nsyslog_log_facility=ident\n"), 0);
    keel_rootwrap_config_free(&cfg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nsyslog_log_facility=__text_signature__\n"), KEEL_EVALUE);
    assert_non_null(strstr(msg.base, ": Unexpected syslog_log_facility: __text_signature__"));
    keel_buf_reset(&msg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\nuse_syslog=perhaps\n"), KEEL_EVALUE);
    assert_non_null(strstr(msg.base, ": Not a boolean: perhaps"));
    keel_buf_reset(&msg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\ndaemon_timeout=1.5\n"), KEEL_EVALUE);
    assert_non_null(strstr(msg.base, ": invalid literal for int() with base 10: '1.5'"));
    keel_buf_reset(&msg);
    assert_int_equal(load("[DEFAULT]\nfilters_path=/f\n\xff\n"), KEEL_EVALUE);
    assert_non_null(strstr(msg.base, ": utf-8")); /* UnicodeDecodeError.args[0] */
}

static void test_config_refuses_nul_bytes_in_paths(void **state)
{
    /* A deliberate difference: Python keeps the NUL and fails later, if ever. */
    static const char text[] = "[DEFAULT]\nfilters_path=/a\0b\n";
    assert_int_equal(load_text(text, sizeof(text) - 1), KEEL_EVALUE);
    assert_non_null(strstr(msg.base, "embedded null byte in filters_path"));
}

static int group_setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_reads_every_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_accepts_handler_attributes_as_facility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_file_or_option_is_incorrect_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_lines_and_duplicates_are_incorrect_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_values_say_what_python_says, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_refuses_nul_bytes_in_paths, setup, teardown),
    };
    return cmocka_run_group_tests_name("rootwrap/config.c", tests, group_setup, group_teardown);
}
