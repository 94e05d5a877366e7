/*
 * test_enforcer.c — tests of src/policy/enforcer.c: where rules come from
 * (policy file, policy.d, search directories, reloads), registered and
 * deprecated defaults, scope types, authorize(), check_rules(), and
 * behaviour when allocations fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "keel/policy.h"

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/keel-policy-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Moves a file's mtime forward so a reload sees a change within one second. */
static void bump_mtime(const char *rel, int secs)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ts[1].tv_sec += secs;
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int decide(keel_policy_enforcer_t *e, const char *rule, const char *creds)
{
    json_t *t = json_pack("{s:s}", "project_id", "p1"), *c = json_loads(creds, 0, NULL);
    assert_non_null(c);
    int rc = keel_policy_enforce(e, rule, t, c, NULL);
    json_decref(t);
    json_decref(c);
    return rc;
}

static keel_policy_enforcer_t *enforcer_in_tmp(const char *file, bool scope, bool new_defaults)
{
    static const char *search[2];
    search[0] = tmpdir;
    keel_policy_opts_t o;
    keel_policy_opts_init(&o);
    o.policy_file = file;
    o.search_dirs = search;
    o.enforce_scope = scope;
    o.enforce_new_defaults = new_defaults;
    keel_policy_enforcer_t *e;
    assert_int_equal(keel_policy_enforcer_new(&e, &o), 0);
    return e;
}

static void test_policy_file_and_policy_d_overrides_in_name_order(void **state)
{
    char d[300];
    snprintf(d, sizeof(d), "%s/policy.d", tmpdir);
    mkdir(d, 0755);
    write_file("policy.yaml", "a: role:a\nb: role:b\nc: role:c\n");
    write_file("policy.d/20-second.yaml", "b: role:b2\n");
    write_file("policy.d/10-first.json", "{\"a\": \"role:a1\", \"b\": \"role:b1\"}");
    write_file("policy.d/.hidden.yaml", "c: '!'\n");
    keel_policy_enforcer_t *e = enforcer_in_tmp("policy.yaml", false, false);
    assert_int_equal(keel_policy_load_rules(e, false), 0);
    assert_int_equal(decide(e, "a", "{\"roles\": [\"a1\"]}"), 0);
    assert_int_equal(decide(e, "b", "{\"roles\": [\"b2\"]}"), 0);
    assert_int_equal(decide(e, "b", "{\"roles\": [\"b1\"]}"), KEEL_EACCES);
    assert_int_equal(decide(e, "c", "{\"roles\": [\"c\"]}"), 0);
    assert_string_equal(keel_policy_rule_name(e, 0), "a"); /* file order, then policy.d updates */

    /* A changed policy.d file is picked up by the next load. */
    write_file("policy.d/20-second.yaml", "b: role:b3\n");
    bump_mtime("policy.d/20-second.yaml", 10);
    assert_int_equal(keel_policy_load_rules(e, false), 0);
    assert_int_equal(decide(e, "b", "{\"roles\": [\"b3\"]}"), 0);
    keel_policy_enforcer_free(e);

    /* Without a policy file the directories alone make the rules. */
    e = enforcer_in_tmp("missing.yaml", false, false);
    assert_int_equal(keel_policy_load_rules(e, false), 0);
    assert_int_equal(keel_policy_rule_count(e), 2);
    keel_policy_enforcer_free(e);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static void test_missing_file_is_not_an_error_but_bad_file_is(void **state)
{
    keel_policy_enforcer_t *e = enforcer_in_tmp("nope.yaml", false, false);
    assert_int_equal(keel_policy_load_rules(e, false), 0);
    assert_int_equal(keel_policy_rule_count(e), 0);
    assert_int_equal(decide(e, "x", "{}"), KEEL_EACCES);
    keel_policy_enforcer_free(e);

    write_file("bad.yaml", "a: [unclosed\n");
    e = enforcer_in_tmp("bad.yaml", false, false);
    assert_int_equal(keel_policy_load_rules(e, false), KEEL_EPARSE);
    assert_non_null(strstr(keel_policy_last_error(e), "bad.yaml"));
    keel_policy_result_t res = {0};
    json_t *t = json_object(), *c = json_object();
    assert_int_equal(keel_policy_enforce(e, "a", t, c, &res), KEEL_EPARSE); /* every enforce retries, as oslo does */
    json_decref(t);
    json_decref(c);
    keel_policy_enforcer_free(e);

    /* A reload that fails keeps the rules that were in force. */
    write_file("good.yaml", "a: '@'\n");
    e = enforcer_in_tmp("good.yaml", false, false);
    assert_int_equal(keel_policy_load_rules(e, false), 0);
    write_file("good.yaml", "a: 5\n");
    bump_mtime("good.yaml", 20);
    assert_int_equal(keel_policy_load_rules(e, false), KEEL_EINVAL);
    assert_int_equal(decide(e, "a", "{}"), 0);
    keel_policy_enforcer_free(e);
}

static const keel_policy_operation_t ops[] = {{"/v1/things", "GET"}};
static const char *const system_only[] = {"system", NULL};

static void test_registered_defaults_fill_what_files_do_not_define(void **state)
{
    write_file("p.yaml", "svc:get: role:member\n");
    keel_policy_enforcer_t *e = enforcer_in_tmp("p.yaml", false, false);
    keel_policy_default_t rows[] = {
        {.name = "svc:get", .check_str = "role:admin"},
        {.name = "svc:list",
         .check_str = "role:reader",
         .description = "List.",
         .documented = true,
         .operations = ops,
         .n_operations = 1},
    };
    assert_int_equal(keel_policy_register_defaults(e, rows, 2), 0);
    assert_int_equal(keel_policy_register_defaults(e, rows, 1), KEEL_EDUPLICATE);
    keel_policy_default_t bad = {.name = "x", .check_str = "@", .documented = true};
    assert_int_equal(keel_policy_register_defaults(e, &bad, 1), KEEL_EINVAL);
    assert_int_equal(decide(e, "svc:get", "{\"roles\": [\"member\"]}"), 0);
    assert_int_equal(decide(e, "svc:list", "{\"roles\": [\"reader\"]}"), 0);
    json_t *t = json_object(), *c = json_object();
    keel_policy_result_t res = {0};
    assert_int_equal(keel_policy_authorize(e, "svc:nope", t, c, &res), KEEL_ENOENT);
    assert_string_equal(res.message, "Policy svc:nope has not been registered");
    json_decref(t);
    json_decref(c);
    keel_policy_enforcer_free(e);
}

static void test_deprecated_rules_follow_enforce_new_defaults(void **state)
{
    keel_policy_deprecated_rule_t old = {"svc:old", "role:old", "renamed", "W"};
    keel_policy_default_t row = {.name = "svc:new", .check_str = "role:new", .deprecated_rule = &old};
    /* Old and new defaults are OR'd while operators upgrade. */
    keel_policy_enforcer_t *e = enforcer_in_tmp("none.yaml", false, false);
    assert_int_equal(keel_policy_register_defaults(e, &row, 1), 0);
    assert_int_equal(decide(e, "svc:new", "{\"roles\": [\"old\"]}"), 0);
    assert_int_equal(decide(e, "svc:new", "{\"roles\": [\"new\"]}"), 0);
    keel_buf_t s;
    keel_buf_init(&s);
    keel_policy_rule_str(keel_policy_get_rule(e, "svc:new"), &s);
    assert_string_equal(s.base, "(role:new or role:old)");
    keel_buf_free(&s);
    keel_policy_enforcer_free(e);
    /* enforce_new_defaults drops the old one. */
    e = enforcer_in_tmp("none.yaml", false, true);
    assert_int_equal(keel_policy_register_defaults(e, &row, 1), 0);
    assert_int_equal(decide(e, "svc:new", "{\"roles\": [\"old\"]}"), KEEL_EACCES);
    keel_policy_enforcer_free(e);
    /* An operator's override of the old name carries over to the new name. */
    write_file("dep.yaml", "svc:old: role:custom\n");
    e = enforcer_in_tmp("dep.yaml", false, true);
    assert_int_equal(keel_policy_register_defaults(e, &row, 1), 0);
    assert_int_equal(decide(e, "svc:new", "{\"roles\": [\"custom\"]}"), 0);
    keel_policy_enforcer_free(e);
    /* ... unless it only aliases the new rule. */
    write_file("alias.yaml", "svc:old: rule:svc:new\n");
    e = enforcer_in_tmp("alias.yaml", false, true);
    assert_int_equal(keel_policy_register_defaults(e, &row, 1), 0);
    assert_int_equal(decide(e, "svc:new", "{\"roles\": [\"new\"]}"), 0);
    keel_policy_enforcer_free(e);
}

static void test_scope_types_deny_only_with_enforce_scope(void **state)
{
    keel_policy_default_t row = {.name = "svc:sys", .check_str = "@", .scope_types = system_only};
    keel_policy_enforcer_t *e = enforcer_in_tmp("none.yaml", true, false);
    assert_int_equal(keel_policy_register_defaults(e, &row, 1), 0);
    json_t *t = json_object(), *c = json_pack("{s:s}", "project_id", "p1");
    keel_policy_result_t res = {0};
    assert_int_equal(keel_policy_enforce(e, "svc:sys", t, c, &res), KEEL_EACCES);
    assert_true(res.invalid_scope);
    assert_string_equal(res.message, "\"svc:sys\": \"@\" requires a scope of ['system'], request was made with project scope.");
    json_object_set_new(c, "system_scope", json_string("all"));
    assert_int_equal(keel_policy_enforce(e, "svc:sys", t, c, &res), 0);
    keel_policy_enforcer_free(e);
    e = enforcer_in_tmp("none.yaml", false, false);
    assert_int_equal(keel_policy_register_defaults(e, &row, 1), 0);
    json_object_del(c, "system_scope");
    assert_int_equal(keel_policy_enforce(e, "svc:sys", t, c, &res), 0);
    keel_policy_enforcer_free(e);
    json_decref(t);
    json_decref(c);
}

static int findings;

static void on_finding(void *data, const char *name, const char *kind, const char *detail)
{
    findings++;
    check_expected(name);
    check_expected(kind);
}

static void test_check_rules_finds_undefined_and_cycles_as_oslo_does(void **state)
{
    write_file("cyc.yaml", "a: rule:b\nb: rule:a\nc: rule:missing\nd: not rule:missing\ne: '@'\n");
    keel_policy_enforcer_t *e = enforcer_in_tmp("cyc.yaml", false, false);
    expect_string(on_finding, name, "a");
    expect_string(on_finding, kind, "cycle");
    expect_string(on_finding, name, "b");
    expect_string(on_finding, kind, "cycle");
    expect_string(on_finding, name, "c");
    expect_string(on_finding, kind, "undefined");
    /* d is not reported: oslo.policy does not look under "not". */
    findings = 0;
    assert_int_equal(keel_policy_check_rules(e, on_finding, NULL), KEEL_EVALUE);
    assert_int_equal(findings, 3);
    keel_policy_enforcer_free(e);
}

static void test_rules_str_is_oslo_rules_str(void **state)
{
    write_file("s.json", "{\"a\": \"\", \"b\": \"role:x or role:y\", \"c\": [[\"role:z\"]]}");
    keel_policy_enforcer_t *e = enforcer_in_tmp("s.json", false, false);
    keel_buf_t out;
    keel_buf_init(&out);
    assert_int_equal(keel_policy_rules_str(e, &out), 0);
    assert_string_equal(out.base, "{\n    \"a\": \"\",\n    \"b\": \"(role:x or role:y)\",\n    \"c\": \"role:z\"\n}");
    keel_buf_free(&out);
    keel_policy_enforcer_free(e);
}

/* Fails the n-th allocation after arming. */
static long fail_at = -1;

static void *fail_malloc(size_t n)
{
    return fail_at >= 0 && fail_at-- == 0 ? NULL : malloc(n);
}

static void *fail_realloc(void *p, size_t n)
{
    return fail_at >= 0 && fail_at-- == 0 ? NULL : realloc(p, n);
}

static void *fail_calloc(size_t a, size_t b)
{
    return fail_at >= 0 && fail_at-- == 0 ? NULL : calloc(a, b);
}

static void test_every_failed_allocation_is_reported(void **state)
{
    write_file("oom.yaml", "a: role:admin or (project_id:%(project_id)s and rule:b)\nb: \"'member':%(r)s\"\nc: [[x]]\n");
    keel_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free);
    json_t *t = json_pack("{s:s,s:s}", "project_id", "p1", "r", "member"), *c = json_pack("{s:[s]}", "roles", "x");
    bool done = false;
    for (long n = 0; n < 10000 && !done; n++) {
        keel_policy_enforcer_t *e = NULL;
        fail_at = n;
        int rc = keel_policy_enforcer_new(&e, NULL);
        if (rc == 0) {
            char path[512];
            snprintf(path, sizeof(path), "%s/oom.yaml", tmpdir);
            rc = keel_policy_set_policy_file(e, path);
        }
        if (rc == 0)
            rc = keel_policy_load_rules(e, false);
        if (rc == 0)
            rc = keel_policy_enforce(e, "a", t, c, NULL);
        if (rc == KEEL_EACCES)
            rc = 0;
        if (rc == 0 && fail_at < 0)
            done = true; /* nothing was left to fail */
        else
            assert_true(rc == KEEL_ENOMEM || rc == 0);
        fail_at = -1;
        keel_policy_enforcer_free(e);
    }
    assert_true(done);
    json_decref(t);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_file_and_policy_d_overrides_in_name_order),
        cmocka_unit_test(test_missing_file_is_not_an_error_but_bad_file_is),
        cmocka_unit_test(test_registered_defaults_fill_what_files_do_not_define),
        cmocka_unit_test(test_deprecated_rules_follow_enforce_new_defaults),
        cmocka_unit_test(test_scope_types_deny_only_with_enforce_scope),
        cmocka_unit_test(test_check_rules_finds_undefined_and_cycles_as_oslo_does),
        cmocka_unit_test(test_rules_str_is_oslo_rules_str),
        cmocka_unit_test(test_every_failed_allocation_is_reported),
    };
    return cmocka_run_group_tests_name("policy/enforcer.c", tests, setup, teardown);
}
