/*
 * Tests for src/log/opts.c: oslo.log's options registered in keel_conf with
 * oslo's defaults, setup from the command line and config files, conf's
 * warnings logged to "keel.conf", a reload that flips debug, warnings for
 * the options keel does not implement, and log_opt_values().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/conf.h"
#include "keel/log.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/keel-log-opts-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    if (getenv("KEEL_LOG_KEEP"))
        return 0;
    char cmd[128];
    keel_log_shutdown();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd);
}

static const char *path_of(const char *name)
{
    static char paths[4][256];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
    return paths[slot];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *slurp(const char *path)
{
    static char text[1 << 16];
    keel_buf_t b;
    keel_buf_init(&b);
    if (keel_read_file(path, &b) != 0) {
        keel_buf_free(&b);
        return "";
    }
    snprintf(text, sizeof(text), "%s", b.base);
    keel_buf_free(&b);
    return text;
}

static const char *const none[] = {NULL};
static const keel_conf_setup_t conf_setup = {
    .prog = "svc", .default_config_files = none, .default_config_dirs = none, .no_env = true};

/* A conf with oslo.log's options, parsed from argv (NULL-terminated). */
static keel_conf_t *parsed_conf(char **argv)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_log_register_opts(c), 0);
    int argc = 0;
    while (argv[argc])
        argc++;
    int rc = keel_conf_parse(c, argc, argv, &conf_setup);
    if (rc != 0)
        fail_msg("parse: %s", keel_conf_error(c));
    return c;
}

static void test_register_opts_gives_oslo_defaults(void **state)
{
    char *argv[] = {"svc", NULL};
    keel_conf_t *c = parsed_conf(argv);
    assert_false(keel_conf_get_bool(c, NULL, "debug"));
    assert_false(keel_conf_get_bool(c, NULL, "use_stderr"));
    assert_null(keel_conf_get_str(c, NULL, "log_file"));
    assert_string_equal(keel_conf_get_str(c, NULL, "log_date_format"), "%Y-%m-%d %H:%M:%S");
    assert_string_equal(keel_conf_get_str(c, NULL, "syslog_log_facility"), "LOG_USER");
    assert_string_equal(keel_conf_get_str(c, NULL, "log_rotation_type"), "none");
    assert_string_equal(keel_conf_get_str(c, NULL, "instance_uuid_format"), "[instance: %(uuid)s] ");
    assert_int_equal(keel_conf_get_int(c, NULL, "max_logfile_count", -1), 30);
    const keel_conf_value_t *levels;
    assert_int_equal(keel_conf_get(c, NULL, "default_log_levels", &levels), 0);
    assert_int_equal(levels->kind, KEEL_CONF_VLIST);
    assert_int_equal(levels->len, 22);
    assert_string_equal(levels->u.items[0].u.s, "amqp=WARN");
    assert_string_equal(levels->u.items[21].u.s, "dogpile.core.dogpile=INFO");
    keel_conf_free(c);
    /* Before parsing, registering again is a no-op, as oslo.config's register of the same options. */
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_log_register_opts(c), 0);
    assert_int_equal(keel_log_register_opts(c), 0);
    keel_conf_free(c);
}

static void test_setup_from_command_line(void **state)
{
    char file[256];
    snprintf(file, sizeof(file), "%s", path_of("cli.log"));
    char *argv[] = {"svc", "-d", "--log-file", file, "--log-date-format", "%H:%M", NULL};
    keel_conf_t *c = parsed_conf(argv);
    assert_int_equal(keel_log_setup(c, "svc"), 0);
    keel_log_t *log = keel_log_get("keel.svc");
    assert_true(keel_log_enabled(log, KEEL_LOG_LEVEL_DEBUG));
    assert_false(keel_log_enabled(keel_log_get("amqp"), KEEL_LOG_LEVEL_INFO));
    KEEL_LOG_DEBUG(log, "from %s", "cli");
    const char *text = slurp(file);
    assert_non_null(strstr(text, " DEBUG keel.svc [-] from cli "));
    assert_non_null(strstr(text, "test_opts.c:"));
    assert_int_equal(text[2], ':'); /* "%H:%M" */
    keel_conf_free(c);
}

static void test_setup_from_config_file_with_json(void **state)
{
    char conf_text[512];
    snprintf(conf_text, sizeof(conf_text),
             "[DEFAULT]\nuse_json = true\nlog_dir = %s\nlog_file = j.log\ndefault_log_levels = app=ERROR, other=DEBUG\n", tmpdir);
    write_text(path_of("j.conf"), conf_text);
    char cf[256];
    snprintf(cf, sizeof(cf), "%s", path_of("j.conf"));
    char *argv[] = {"svc", "--config-file", cf, NULL};
    keel_conf_t *c = parsed_conf(argv);
    assert_int_equal(keel_log_setup(c, "svc"), 0);
    assert_int_equal(keel_log_effective_level(keel_log_get("app.x")), KEEL_LOG_LEVEL_ERROR);
    assert_int_equal(keel_log_effective_level(keel_log_get("other")), KEEL_LOG_LEVEL_DEBUG);
    KEEL_LOG_ERROR(keel_log_get("app.x"), "as json");
    const char *text = slurp(path_of("j.log"));
    assert_memory_equal(text, "{\"message\": \"as json\"", 21);
    keel_conf_free(c);
}

static void test_setup_refuses_malformed_default_log_levels(void **state)
{
    write_text(path_of("bad.conf"), "[DEFAULT]\ndefault_log_levels = amqp=WARN,sqlalchemy\n");
    char cf[256];
    snprintf(cf, sizeof(cf), "%s", path_of("bad.conf"));
    char *argv[] = {"svc", "--config-file", cf, NULL};
    keel_conf_t *c = parsed_conf(argv);
    assert_int_equal(keel_log_setup(c, "svc"), KEEL_EVALUE);
    assert_non_null(strstr(keel_log_error(), "sqlalchemy"));
    keel_conf_free(c);
}

static void test_setup_needs_registered_opts(void **state)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_log_setup(c, "svc"), KEEL_ENOOPT);
    assert_non_null(strstr(keel_log_error(), "keel_log_register_opts"));
    keel_conf_free(c);
}

static void test_setup_warns_about_unimplemented_options(void **state)
{
    char conf_text[512];
    snprintf(conf_text, sizeof(conf_text),
             "[DEFAULT]\nlog_file = %s\nuse_journal = true\nlog_rotation_type = Size\nwatch_log_file = true\n"
             "rate_limit_burst = 5\nrate_limit_interval = 1\nlog_config_append = /etc/x.ini\n",
             path_of("warn.log"));
    write_text(path_of("warn.conf"), conf_text);
    char cf[256];
    snprintf(cf, sizeof(cf), "%s", path_of("warn.conf"));
    char *argv[] = {"svc", "--config-file", cf, NULL};
    keel_conf_t *c = parsed_conf(argv);
    assert_int_equal(keel_log_setup(c, "svc"), 0);
    const char *text = slurp(path_of("warn.log"));
    assert_non_null(strstr(text, "WARNING keel.log [-] use_journal is not supported"));
    assert_non_null(strstr(text, "log_rotation_type=Size is not supported"));
    assert_non_null(strstr(text, "watch_log_file is not supported"));
    assert_non_null(strstr(text, "rate_limit_burst and rate_limit_interval"));
    assert_non_null(strstr(text, "log_config_append is not supported"));
    keel_conf_free(c);
}

static void test_reload_logs_conf_warnings_and_flips_debug(void **state)
{
    char conf_text[512];
    snprintf(conf_text, sizeof(conf_text), "[DEFAULT]\nlog_file = %s\ndebug = false\nuse_json = false\n", path_of("reload.log"));
    write_text(path_of("reload.conf"), conf_text);
    char cf[256];
    snprintf(cf, sizeof(cf), "%s", path_of("reload.conf"));
    char *argv[] = {"svc", "--config-file", cf, NULL};
    keel_conf_t *c = parsed_conf(argv);
    assert_int_equal(keel_log_setup(c, "svc"), 0);
    assert_int_equal(keel_log_effective_level(keel_log_get(NULL)), KEEL_LOG_LEVEL_INFO);
    snprintf(conf_text, sizeof(conf_text), "[DEFAULT]\nlog_file = %s\ndebug = true\nuse_json = true\n", path_of("reload.log"));
    write_text(cf, conf_text);
    assert_int_equal(keel_conf_reload(c), 0);
    /* debug is mutable: the root level follows. use_json is not: conf warns, through the log. */
    assert_int_equal(keel_log_effective_level(keel_log_get(NULL)), KEEL_LOG_LEVEL_DEBUG);
    assert_non_null(
        strstr(slurp(path_of("reload.log")), "WARNING keel.conf [-] Ignoring change to immutable option DEFAULT.use-json"));
    keel_conf_free(c);
}

static const keel_conf_opt_t db_opts[] = {
    {.name = "password", .type = KEEL_CONF_STRING, .default_value = "hunter2", .flags = KEEL_CONF_SECRET},
    {.name = "connection", .type = KEEL_CONF_STRING, .default_value = "sqlite://"},
    {.name = "pool", .type = KEEL_CONF_LIST, .default_value = "a,b"},
};

static void test_opt_values_logs_like_oslo_config(void **state)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_log_register_opts(c), 0);
    assert_int_equal(keel_conf_register_opts(c, "db", db_opts, 3), 0);
    char *argv[] = {"svc", NULL};
    assert_int_equal(keel_conf_parse(c, 1, argv, &conf_setup), 0);
    keel_log_config_t cfg = {.log_file = path_of("values.log"), .logging_default_format_string = "%(message)s"};
    assert_int_equal(keel_log_configure(&cfg), 0);
    keel_log_opt_values(c, keel_log_get("svc"), KEEL_LOG_LEVEL_INFO);
    const char *text = slurp(path_of("values.log"));
    const char *stars = "********************************************************************************\n";
    assert_memory_equal(text, stars, strlen(stars));
    assert_non_null(strstr(text, "\nConfiguration options gathered from:\ncommand line args: ["));
    assert_non_null(strstr(text, "\nconfig files: []\n===="));
    /* DEFAULT sorted by name, then the group, secrets masked, values as Python's str(). */
    const char *debug = strstr(text, "\ndebug                          = False\n");
    const char *levels = strstr(text, "\ndefault_log_levels             = ['amqp=WARN', 'amqplib=WARN',");
    const char *append = strstr(text, "\nlog_config_append              = None\n");
    const char *conn = strstr(text, "\ndb.connection                  = sqlite://\n");
    const char *pw = strstr(text, "\ndb.password                    = ****\n");
    const char *pool = strstr(text, "\ndb.pool                        = ['a', 'b']\n");
    assert_true(debug && levels && append && conn && pw && pool);
    assert_true(debug < levels && levels < append && append < conn && conn < pw && pw < pool);
    assert_null(strstr(text, "hunter2"));
    size_t n = strlen(text);
    assert_string_equal(text + n - strlen(stars), stars);
    keel_conf_free(c);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_opts_gives_oslo_defaults),
        cmocka_unit_test(test_setup_from_command_line),
        cmocka_unit_test(test_setup_from_config_file_with_json),
        cmocka_unit_test(test_setup_refuses_malformed_default_log_levels),
        cmocka_unit_test(test_setup_needs_registered_opts),
        cmocka_unit_test(test_setup_warns_about_unimplemented_options),
        cmocka_unit_test(test_reload_logs_conf_warnings_and_flips_debug),
        cmocka_unit_test(test_opt_values_logs_like_oslo_config),
    };
    return cmocka_run_group_tests_name("log/opts.c", tests, setup_dir, remove_dir);
}
