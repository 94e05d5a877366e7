/*
 * test_opts.c — tests of src/policy/opts.c: the [oslo_policy] options read
 * from a config file through keel_conf into keel_policy_opts_t, and the
 * directories a relative policy_file is searched in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keel/conf.h"
#include "keel/policy.h"

static keel_conf_t *parse(const char *text, char *dir, size_t dircap)
{
    snprintf(dir, dircap, "/tmp/keel-policy-opts-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof(path), "%s/svc.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_policy_register_opts(c), 0);
    static const char *const none[] = {NULL};
    char *argv[] = {"svc", "--config-file", path, NULL};
    keel_conf_setup_t setup = {.prog = "svc", .default_config_files = none, .default_config_dirs = none};
    assert_int_equal(keel_conf_parse(c, 3, argv, &setup), 0);
    return c;
}

static void cleanup(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_defaults_are_oslo_policy_defaults(void **state)
{
    char dir[256];
    keel_conf_t *c = parse("[DEFAULT]\n", dir, sizeof(dir));
    keel_policy_opts_t o;
    keel_policy_opts_storage_t st;
    assert_int_equal(keel_policy_opts_from_conf(c, "svc", &o, &st), 0);
    assert_string_equal(o.policy_file, "policy.json");
    assert_string_equal(o.policy_default_rule, "default");
    assert_string_equal(o.policy_dirs[0], "policy.d");
    assert_null(o.policy_dirs[1]);
    assert_false(o.enforce_scope);
    assert_false(o.enforce_new_defaults);
    assert_string_equal(o.remote_content_type, "application/x-www-form-urlencoded");
    assert_false(o.remote_ssl_verify_server_crt);
    assert_null(o.remote_ssl_ca_crt_file);
    assert_true(o.remote_timeout == 60);
    /* find_file(): the config file's directory first, then ~/.svc, ~, /etc/svc, /etc. */
    char real[512];
    assert_non_null(realpath(dir, real));
    assert_string_equal(o.search_dirs[0], real);
    size_t n = 0;
    while (o.search_dirs[n])
        n++;
    assert_string_equal(o.search_dirs[n - 1], "/etc");
    assert_string_equal(o.search_dirs[n - 2], "/etc/svc");
    keel_policy_opts_storage_free(&st);
    keel_conf_free(c);
    cleanup(dir);
}

static void test_values_from_the_file_and_deprecated_group(void **state)
{
    char dir[256];
    keel_conf_t *c = parse("[DEFAULT]\npolicy_file = legacy.yaml\n"
                           "[oslo_policy]\nenforce_scope = true\npolicy_dirs = a.d\npolicy_dirs = /abs/b.d\n"
                           "remote_content_type = application/json\nremote_timeout = 2.5\n",
                           dir, sizeof(dir));
    keel_policy_opts_t o;
    keel_policy_opts_storage_t st;
    assert_int_equal(keel_policy_opts_from_conf(c, NULL, &o, &st), 0);
    assert_string_equal(o.policy_file, "legacy.yaml"); /* deprecated_group DEFAULT */
    assert_true(o.enforce_scope);
    assert_string_equal(o.policy_dirs[0], "a.d");
    assert_string_equal(o.policy_dirs[1], "/abs/b.d");
    assert_string_equal(o.remote_content_type, "application/json");
    assert_true(o.remote_timeout == 2.5);

    /* The enforcer finds a relative policy file beside the config file. */
    char path[512];
    snprintf(path, sizeof(path), "%s/legacy.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("x: role:y\n", f);
    fclose(f);
    keel_policy_enforcer_t *e;
    assert_int_equal(keel_policy_enforcer_new(&e, &o), 0);
    assert_int_equal(keel_policy_load_rules(e, false), 0);
    assert_non_null(keel_policy_get_rule(e, "x"));
    keel_policy_enforcer_free(e);
    keel_policy_opts_storage_free(&st);
    keel_conf_free(c);
    cleanup(dir);
}

static void test_unregistered_options_are_reported(void **state)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    keel_policy_opts_t o;
    keel_policy_opts_storage_t st;
    assert_int_equal(keel_policy_opts_from_conf(c, NULL, &o, &st), KEEL_ENOGROUP);
    keel_policy_opts_storage_free(&st);
    keel_conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_oslo_policy_defaults),
        cmocka_unit_test(test_values_from_the_file_and_deprecated_group),
        cmocka_unit_test(test_unregistered_options_are_reported),
    };
    return cmocka_run_group_tests_name("policy/opts.c", tests, NULL, NULL);
}
