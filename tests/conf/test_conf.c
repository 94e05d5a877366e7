/*
 * Tests for src/conf/conf.c with namespace.c, argparse.c and resolve.c:
 * registration, precedence, interpolation, deprecated names, the command
 * line, required options, overrides and reload, through the public API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/conf.h"

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/keel-conf-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd);
}

/* Writes text to tmpdir/name and returns the path (static storage per slot). */
static const char *write_file(int slot, const char *name, const char *text)
{
    static char paths[8][256];
    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
    FILE *f = fopen(paths[slot], "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

static const char *const none[] = {NULL};
static const keel_conf_setup_t setup = {.prog = "test", .default_config_files = none, .default_config_dirs = none, .no_env = true};

static int parse(keel_conf_t *c, int argc, char **argv)
{
    return keel_conf_parse(c, argc, argv, &setup);
}

static const keel_conf_opt_t basic_opts[] = {
    {.name = "host", .type = KEEL_CONF_STRING, .default_value = "localhost", .help = "Host."},
    {.name = "port", .type = KEEL_CONF_PORT, .default_value = "5672"},
    {.name = "workers", .type = KEEL_CONF_INT, .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX, .min = 1, .max = 8},
    {.name = "debug", .type = KEEL_CONF_BOOL, .default_value = "false"},
    {.name = "url", .type = KEEL_CONF_STRING, .default_value = "amqp://$host:$port/"},
    {.name = "names", .type = KEEL_CONF_MULTI},
    {.name = "tags", .type = KEEL_CONF_LIST},
};
#define N_BASIC (sizeof(basic_opts) / sizeof(basic_opts[0]))

static keel_conf_t *new_conf(bool cli)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    keel_conf_set_warning_handler(c, NULL, NULL);
    if (cli)
        assert_int_equal(keel_conf_register_cli_opts(c, NULL, basic_opts, N_BASIC), 0);
    else
        assert_int_equal(keel_conf_register_opts(c, NULL, basic_opts, N_BASIC), 0);
    return c;
}

static void test_conf_defaults_apply_and_interpolate(void **state)
{
    keel_conf_t *c = new_conf(false);
    char *argv[] = {"test"};
    assert_int_equal(parse(c, 1, argv), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "localhost");
    assert_int_equal(keel_conf_get_int(c, NULL, "port", -1), 5672);
    assert_int_equal(keel_conf_get_int(c, NULL, "workers", -1), -1); /* None */
    assert_false(keel_conf_get_bool(c, NULL, "debug"));
    assert_string_equal(keel_conf_get_str(c, "DEFAULT", "url"), "amqp://localhost:5672/");
    const keel_conf_value_t *v;
    assert_int_equal(keel_conf_get(c, NULL, "names", &v), 0);
    assert_int_equal(v->kind, KEEL_CONF_VNONE);
    keel_conf_free(c);
}

static void test_conf_later_files_and_later_lines_win(void **state)
{
    keel_conf_t *c = new_conf(false);
    const char *a = write_file(0, "a.conf", "[DEFAULT]\nhost = a\nport = 1\nport = 2\nnames = x\n");
    const char *b = write_file(1, "b.conf", "[DEFAULT]\nhost = b\nnames = y\nnames = z\n");
    char *argv[] = {"test", "--config-file", (char *)a, "--config-file", (char *)b};
    assert_int_equal(parse(c, 5, argv), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "b");
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 2);
    const keel_conf_value_t *v;
    assert_int_equal(keel_conf_get(c, NULL, "names", &v), 0);
    assert_int_equal(v->kind, KEEL_CONF_VLIST);
    assert_int_equal(v->len, 3);
    assert_string_equal(v->u.items[0].u.s, "x");
    assert_string_equal(v->u.items[2].u.s, "z");
    /* the interpolated default follows the values it refers to */
    assert_string_equal(keel_conf_get_str(c, NULL, "url"), "amqp://b:2/");
    keel_conf_free(c);
}

static void test_conf_command_line_beats_files_in_argv_order(void **state)
{
    keel_conf_t *c = new_conf(true);
    const char *a = write_file(0, "a.conf", "[DEFAULT]\nhost = fromfile\ndebug = true\n");
    /* --host before --config-file: the file wins; after: the command line wins */
    char *argv1[] = {"test", "--host", "cli", "--config-file", (char *)a};
    assert_int_equal(parse(c, 5, argv1), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "fromfile");
    assert_true(keel_conf_get_bool(c, NULL, "debug"));
    char *argv2[] = {"test", "--config-file", (char *)a, "--host=cli", "--nodebug"};
    assert_int_equal(parse(c, 5, argv2), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "cli");
    assert_false(keel_conf_get_bool(c, NULL, "debug"));
    keel_conf_free(c);
}

static void test_conf_environment_sits_between_command_line_and_files(void **state)
{
    keel_conf_t *c = new_conf(true);
    const char *a = write_file(0, "a.conf", "[DEFAULT]\nhost = fromfile\n");
    keel_conf_setup_t s = setup;
    s.no_env = false;
    setenv("OS_DEFAULT__HOST", "fromenv", 1);
    char *argv[] = {"test", "--config-file", (char *)a};
    assert_int_equal(keel_conf_parse(c, 3, argv, &s), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "fromenv");
    char *argv2[] = {"test", "--host", "cli"};
    assert_int_equal(keel_conf_parse(c, 3, argv2, &s), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "cli");
    unsetenv("OS_DEFAULT__HOST");
    keel_conf_free(c);
}

static void test_conf_abbreviated_long_options_are_accepted_unless_ambiguous(void **state)
{
    keel_conf_t *c = new_conf(true);
    char *argv[] = {"test", "--ho", "h", "--deb"};
    assert_int_equal(parse(c, 4, argv), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "h");
    assert_true(keel_conf_get_bool(c, NULL, "debug"));
    char *argv2[] = {"test", "--conf", "x"};
    assert_int_equal(parse(c, 3, argv2), KEEL_EUSAGE);
    assert_non_null(strstr(keel_conf_error(c), "ambiguous option: --conf could match"));
    keel_conf_free(c);
}

static void test_conf_bad_command_lines_are_usage_errors(void **state)
{
    keel_conf_t *c = new_conf(true);
    char *unknown[] = {"test", "--nope"};
    assert_int_equal(parse(c, 2, unknown), KEEL_EUSAGE);
    assert_string_equal(keel_conf_error(c), "unrecognized arguments: --nope");
    char *missing[] = {"test", "--host"};
    assert_int_equal(parse(c, 2, missing), KEEL_EUSAGE);
    assert_string_equal(keel_conf_error(c), "argument --host: expected one argument");
    char *flagarg[] = {"test", "--debug=yes"};
    assert_int_equal(parse(c, 2, flagarg), KEEL_EUSAGE);
    char *badint[] = {"test", "--workers", "nine"};
    assert_int_equal(parse(c, 3, badint), KEEL_EUSAGE);
    assert_non_null(strstr(keel_conf_error(c), "workers"));
    /* "-5" is a value, not an option */
    char *neg[] = {"test", "--host", "-5"};
    assert_int_equal(parse(c, 3, neg), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "-5");
    keel_conf_free(c);
}

static void test_conf_bad_file_value_names_file_line_group_and_option(void **state)
{
    keel_conf_t *c = new_conf(false);
    const char *a = write_file(0, "bad.conf", "[DEFAULT]\n\nworkers = 99\n");
    char *argv[] = {"test", "--config-file", (char *)a};
    assert_int_equal(parse(c, 3, argv), KEEL_EVALUE);
    const char *e = keel_conf_error(c);
    assert_non_null(strstr(e, "bad.conf:3:"));
    assert_non_null(strstr(e, "[DEFAULT] workers"));
    assert_non_null(strstr(e, "'99'"));
    assert_non_null(strstr(e, "less than or equal to 8"));
    keel_conf_free(c);
}

static void test_conf_failed_parse_keeps_previous_values(void **state)
{
    keel_conf_t *c = new_conf(false);
    const char *good = write_file(0, "good.conf", "[DEFAULT]\nport = 1234\n");
    const char *bad = write_file(1, "bad.conf", "[DEFAULT]\nport = x\n");
    char *argv[] = {"test", "--config-file", (char *)good};
    assert_int_equal(parse(c, 3, argv), 0);
    char *argv2[] = {"test", "--config-file", (char *)bad};
    assert_int_equal(parse(c, 3, argv2), KEEL_EVALUE);
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 1234);
    keel_conf_free(c);
}

static void test_conf_syntax_errors_and_missing_files(void **state)
{
    keel_conf_t *c = new_conf(false);
    const char *a = write_file(0, "syntax.conf", "[DEFAULT]\nno equals here\n");
    char *argv[] = {"test", "--config-file", (char *)a};
    assert_int_equal(parse(c, 3, argv), KEEL_EPARSE);
    assert_non_null(strstr(keel_conf_error(c), "syntax.conf:2: No ':' or '=' found in assignment"));
    const char *b = write_file(1, "nosection.conf", "x = 1\n");
    char *argv2[] = {"test", "--config-file", (char *)b};
    assert_int_equal(parse(c, 3, argv2), KEEL_EPARSE);
    assert_non_null(strstr(keel_conf_error(c), "Section must be started before assignment"));
    char *argv3[] = {"test", "--config-file", "/nonexistent/x.conf"};
    assert_int_equal(parse(c, 3, argv3), KEEL_ENOENT);
    assert_non_null(strstr(keel_conf_error(c), "/nonexistent/x.conf"));
    keel_conf_free(c);
}

static const keel_conf_opt_t group_opts[] = {
    {.name = "connection", .type = KEEL_CONF_STRING, .deprecated_name = "sql_connection", .deprecated_group = "DEFAULT"},
    {.name = "retries", .type = KEEL_CONF_INT, .default_value = "3"},
    {.name = "summary", .type = KEEL_CONF_STRING, .default_value = "${database.retries} tries at $connection"},
};

static int warnings;
static void count_warning(void *data, const char *message)
{
    warnings++;
    assert_non_null(strstr(message, "sql_connection"));
}

static void test_conf_groups_deprecated_names_and_group_interpolation(void **state)
{
    keel_conf_t *c = new_conf(false);
    assert_int_equal(keel_conf_register_opts(c, "database", group_opts, 3), 0);
    warnings = 0;
    keel_conf_set_warning_handler(c, count_warning, NULL);
    /* section names are matched case-insensitively, as oslo lower-cases them */
    const char *a = write_file(0, "a.conf", "[DEFAULT]\nsql_connection = sqlite://\n[DATABASE]\nretries = 5\n");
    char *argv[] = {"test", "--config-file", (char *)a};
    assert_int_equal(parse(c, 3, argv), 0);
    assert_string_equal(keel_conf_get_str(c, "database", "connection"), "sqlite://");
    assert_int_equal(keel_conf_get_int(c, "database", "retries", 0), 5);
    assert_string_equal(keel_conf_get_str(c, "database", "summary"), "5 tries at sqlite://");
    assert_int_equal(warnings, 1);
    keel_conf_free(c);
}

static void test_conf_interpolation_errors(void **state)
{
    keel_conf_t *c = new_conf(false);
    const char *a = write_file(0, "a.conf", "[DEFAULT]\nhost = $nosuch\n");
    char *argv[] = {"test", "--config-file", (char *)a};
    assert_int_equal(parse(c, 3, argv), KEEL_EVALUE);
    assert_non_null(strstr(keel_conf_error(c), "no such option: nosuch"));
    const char *b = write_file(1, "b.conf", "[DEFAULT]\nhost = $url\n");
    char *argv2[] = {"test", "--config-file", (char *)b};
    assert_int_equal(parse(c, 3, argv2), KEEL_EVALUE);
    assert_non_null(strstr(keel_conf_error(c), "refers to itself"));
    const char *d = write_file(2, "d.conf", "[DEFAULT]\nhost = a$$b\\$c $1\n");
    char *argv3[] = {"test", "--config-file", (char *)d};
    assert_int_equal(parse(c, 3, argv3), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "a$b$c $1");
    keel_conf_free(c);
}

static const keel_conf_opt_t required_opts[] = {
    {.name = "secret_key", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_REQUIRED | KEEL_CONF_SECRET},
};

static void test_conf_missing_required_option_says_where_to_set_it(void **state)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_conf_register_opts(c, "auth", required_opts, 1), 0);
    char *argv[] = {"test"};
    assert_int_equal(parse(c, 1, argv), KEEL_EREQUIRED);
    const char *e = keel_conf_error(c);
    assert_non_null(strstr(e, "secret_key"));
    assert_non_null(strstr(e, "section [auth]"));
    assert_non_null(strstr(e, "OS_AUTH__SECRET_KEY"));
    keel_conf_free(c);
}

static const keel_conf_opt_t positional_opts[] = {
    {.name = "action", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_POSITIONAL | KEEL_CONF_REQUIRED},
    {.name = "extra", .type = KEEL_CONF_MULTI, .flags = KEEL_CONF_POSITIONAL},
    {.name = "verbose", .type = KEEL_CONF_BOOL, .short_name = 'v'},
};

static void test_conf_positionals_and_short_flags(void **state)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_conf_register_cli_opts(c, NULL, positional_opts, 3), 0);
    char *argv[] = {"test", "-v", "run", "a", "-b=x"};
    assert_int_equal(parse(c, 5, argv), KEEL_EUSAGE); /* "-b=x" looks like an option */
    char *argv1[] = {"test", "-v", "run", "a", "--", "-b"};
    assert_int_equal(parse(c, 6, argv1), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "action"), "run");
    assert_true(keel_conf_get_bool(c, NULL, "verbose"));
    const keel_conf_value_t *v;
    assert_int_equal(keel_conf_get(c, NULL, "extra", &v), 0);
    assert_int_equal(v->len, 2);
    assert_string_equal(v->u.items[1].u.s, "-b");
    /* argparse consumes positionals greedily: after "run -v" nothing is left for "a" */
    char *argv3[] = {"test", "run", "-v", "a"};
    assert_int_equal(parse(c, 4, argv3), KEEL_EUSAGE);
    assert_string_equal(keel_conf_error(c), "unrecognized arguments: a");
    char *argv2[] = {"test"};
    assert_int_equal(parse(c, 1, argv2), KEEL_EUSAGE);
    assert_non_null(strstr(keel_conf_error(c), "the following arguments are required: action"));
    keel_conf_free(c);
}

static void test_conf_duplicate_and_bad_registrations(void **state)
{
    keel_conf_t *c = new_conf(false);
    /* the same rows again: no-op */
    assert_int_equal(keel_conf_register_opts(c, NULL, basic_opts, N_BASIC), 0);
    static const keel_conf_opt_t other = {.name = "host", .type = KEEL_CONF_INT};
    assert_int_equal(keel_conf_register_opts(c, NULL, &other, 1), KEEL_EDUPLICATE);
    static const keel_conf_opt_t bad_default = {.name = "n", .type = KEEL_CONF_INT, .default_value = "ten"};
    assert_int_equal(keel_conf_register_opts(c, NULL, &bad_default, 1), KEEL_EVALUE);
    static const keel_conf_opt_t reserved = {.name = "project", .type = KEEL_CONF_STRING};
    assert_int_equal(keel_conf_register_opts(c, NULL, &reserved, 1), KEEL_EINVAL);
    keel_conf_free(c);
}

static void test_conf_overrides_and_defaults(void **state)
{
    keel_conf_t *c = new_conf(false);
    char *argv[] = {"test"};
    assert_int_equal(parse(c, 1, argv), 0);
    assert_int_equal(keel_conf_set_default(c, NULL, "port", "7000"), 0);
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 7000);
    assert_int_equal(keel_conf_set_override(c, NULL, "port", "8000"), 0);
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 8000);
    assert_int_equal(keel_conf_set_override(c, NULL, "port", "70000"), KEEL_EVALUE);
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 8000);
    assert_int_equal(keel_conf_set_override(c, NULL, "port", NULL), 0);
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 7000);
    assert_int_equal(keel_conf_set_override(c, NULL, "nosuch", "1"), KEEL_ENOOPT);
    keel_conf_free(c);
}

static const keel_conf_opt_t mutable_opts[] = {
    {.name = "level", .type = KEEL_CONF_STRING, .default_value = "INFO", .flags = KEEL_CONF_MUTABLE},
    {.name = "bind", .type = KEEL_CONF_STRING, .default_value = "0.0.0.0"},
};

static int changes;
static void on_change(keel_conf_t *c, const char *group, const char *name, const keel_conf_value_t *old_value,
                      const keel_conf_value_t *new_value, void *data)
{
    changes++;
    assert_string_equal(name, "level");
    assert_string_equal(old_value->u.s, "INFO");
    assert_string_equal(new_value->u.s, "DEBUG");
}

static void test_conf_reload_changes_mutable_options_only(void **state)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    keel_conf_set_warning_handler(c, NULL, NULL);
    assert_int_equal(keel_conf_register_opts(c, NULL, mutable_opts, 2), 0);
    assert_int_equal(keel_conf_on_mutate(c, on_change, NULL), 0);
    const char *a = write_file(0, "r.conf", "[DEFAULT]\nlevel = INFO\nbind = 1.1.1.1\n");
    char *argv[] = {"test", "--config-file", (char *)a};
    assert_int_equal(parse(c, 3, argv), 0);
    write_file(0, "r.conf", "[DEFAULT]\nlevel = DEBUG\nbind = 2.2.2.2\n");
    changes = 0;
    assert_int_equal(keel_conf_reload(c), 0);
    assert_int_equal(changes, 1);
    assert_string_equal(keel_conf_get_str(c, NULL, "level"), "DEBUG");
    assert_string_equal(keel_conf_get_str(c, NULL, "bind"), "1.1.1.1");
    /* a broken file on reload changes nothing */
    write_file(0, "r.conf", "[DEFAULT\n");
    assert_int_equal(keel_conf_reload(c), KEEL_EPARSE);
    assert_string_equal(keel_conf_get_str(c, NULL, "level"), "DEBUG");
    keel_conf_free(c);
}

static void test_conf_config_dir_reads_sorted_conf_files(void **state)
{
    keel_conf_t *c = new_conf(false);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/d", tmpdir);
    mkdir(dir, 0700);
    write_file(0, "d/20.conf", "[DEFAULT]\nhost = twenty\n");
    write_file(1, "d/10.conf", "[DEFAULT]\nhost = ten\nport = 10\n");
    write_file(2, "d/99.txt", "[DEFAULT]\nport = 99\n");
    char *argv[] = {"test", "--config-dir", dir};
    assert_int_equal(parse(c, 3, argv), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "host"), "twenty");
    assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 10);
    char *argv2[] = {"test", "--config-dir", "/nonexistent/dir"};
    assert_int_equal(parse(c, 3, argv2), KEEL_ENOENT);
    keel_conf_free(c);
}

/* Fails the Nth allocation; counts down from a budget. */
static long budget;
static void *fail_malloc(size_t n)
{
    return budget-- > 0 ? malloc(n) : NULL;
}
static void *fail_realloc(void *p, size_t n)
{
    return budget-- > 0 ? realloc(p, n) : NULL;
}
static void *fail_calloc(size_t a, size_t b)
{
    return budget-- > 0 ? calloc(a, b) : NULL;
}

static void test_conf_parse_survives_every_allocation_failure(void **state)
{
    const char *a = write_file(0, "oom.conf", "[DEFAULT]\nhost = h\nnames = a\nnames = b\ntags = x,y\n[database]\nretries = 7\n");
    char *argv[] = {"test", "--config-file", (char *)a, "--port", "99"};
    bool succeeded = false;
    for (long n = 0; n < 100000 && !succeeded; n++) {
        budget = n;
        keel_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free);
        keel_conf_t *c = NULL;
        int rc = keel_conf_new(&c);
        if (rc == 0) {
            keel_conf_set_warning_handler(c, NULL, NULL);
            rc = keel_conf_register_cli_opts(c, NULL, basic_opts, N_BASIC);
            if (rc == 0)
                rc = keel_conf_register_opts(c, "database", group_opts, 3);
            if (rc == 0)
                rc = parse(c, 5, argv);
            if (rc == 0) {
                succeeded = true;
                assert_int_equal(keel_conf_get_int(c, "database", "retries", 0), 7);
                assert_int_equal(keel_conf_get_int(c, NULL, "port", 0), 99);
            } else {
                assert_true(rc == KEEL_ENOMEM || rc == KEEL_EIO || rc == KEEL_EVALUE || rc == KEEL_EPARSE);
            }
        }
        keel_replace_allocator(malloc, realloc, calloc, free);
        keel_conf_free(c);
    }
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_defaults_apply_and_interpolate),
        cmocka_unit_test(test_conf_later_files_and_later_lines_win),
        cmocka_unit_test(test_conf_command_line_beats_files_in_argv_order),
        cmocka_unit_test(test_conf_environment_sits_between_command_line_and_files),
        cmocka_unit_test(test_conf_abbreviated_long_options_are_accepted_unless_ambiguous),
        cmocka_unit_test(test_conf_bad_command_lines_are_usage_errors),
        cmocka_unit_test(test_conf_bad_file_value_names_file_line_group_and_option),
        cmocka_unit_test(test_conf_failed_parse_keeps_previous_values),
        cmocka_unit_test(test_conf_syntax_errors_and_missing_files),
        cmocka_unit_test(test_conf_groups_deprecated_names_and_group_interpolation),
        cmocka_unit_test(test_conf_interpolation_errors),
        cmocka_unit_test(test_conf_missing_required_option_says_where_to_set_it),
        cmocka_unit_test(test_conf_positionals_and_short_flags),
        cmocka_unit_test(test_conf_duplicate_and_bad_registrations),
        cmocka_unit_test(test_conf_overrides_and_defaults),
        cmocka_unit_test(test_conf_reload_changes_mutable_options_only),
        cmocka_unit_test(test_conf_config_dir_reads_sorted_conf_files),
        cmocka_unit_test(test_conf_parse_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests_name("conf/conf.c", tests, make_tmpdir, remove_tmpdir);
}
