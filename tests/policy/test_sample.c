/*
 * test_sample.c — tests of src/policy/sample.c: sample files and JSON to
 * YAML conversion, compared with what oslo.policy 4.0.0's generator writes
 * for the same rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keel/policy.h"

static char *capture_sample(const keel_policy_default_t *rows, size_t n, bool exclude)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *ns[] = {"svc"};
    const keel_policy_default_t *r[] = {rows};
    assert_int_equal(keel_policy_write_sample(f, ns, r, &n, 1, exclude), 0);
    fclose(f);
    return buf;
}

static const keel_policy_operation_t ops[] = {{"/v1/things", "GET"}, {"/v1/things/{id}", ""}};
static const char *const scopes[] = {"project", "system", NULL};

static void test_sample_of_a_documented_rule(void **state)
{
    keel_policy_default_t row = {.name = "svc:list",
                                 .check_str = "role:reader",
                                 .description = "List things. A rather long sentence that goes beyond the seventy "
                                                "columns textwrap allows per line.",
                                 .documented = true,
                                 .operations = ops,
                                 .n_operations = 2,
                                 .scope_types = scopes};
    char *s = capture_sample(&row, 1, false);
    assert_string_equal(s, "# List things. A rather long sentence that goes beyond the seventy\n"
                           "# columns textwrap allows per line.\n"
                           "# GET  /v1/things\n"
                           "# Intended scope(s): project, system\n"
                           "#\"svc:list\": \"role:reader\"\n\n");
    free(s);
}

static void test_sample_of_deprecated_rules(void **state)
{
    keel_policy_deprecated_rule_t old = {"svc:old", "role:admin", "Use svc:new.", "W"};
    keel_policy_default_t rows[] = {
        {.name = "svc:new", .check_str = "role:member", .deprecated_rule = &old},
        {.name = "svc:gone",
         .check_str = "@",
         .deprecated_for_removal = true,
         .deprecated_reason = "Unused.",
         .deprecated_since = "X"},
    };
    char *s = capture_sample(rows, 2, false);
    assert_non_null(strstr(s, "#\"svc:new\": \"role:member\"\n\n# DEPRECATED\n"
                              "# \"svc:old\":\"role:admin\" has been deprecated since W in favor of\n"
                              "# \"svc:new\":\"role:member\".\n# Use svc:new.\n# WARNING: A rule name change"));
    assert_non_null(strstr(s, "# \"svc:old\": \"rule:svc:new\"\n\n"));
    assert_non_null(strstr(s, "# DEPRECATED\n# \"svc:gone\" has been deprecated since X.\n# Unused.\n#\"svc:gone\": \"@\"\n\n"));
    free(s);
    s = capture_sample(rows, 2, true);
    assert_null(strstr(s, "DEPRECATED"));
    assert_string_equal(s, "#\"svc:new\": \"role:member\"\n\n#\"svc:gone\": \"@\"\n\n");
    free(s);
}

static void test_convert_comments_defaults_and_keeps_overrides(void **state)
{
    keel_policy_default_t rows[] = {
        {.name = "svc:a", .check_str = "role:admin", .description = "A."},
        {.name = "svc:b", .check_str = "role:member"},
    };
    const char *json = "{\"svc:a\": \"role:admin\", \"svc:b\": \"role:other\", \"legacy\": [[\"role:x\"]]}";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *ns[] = {"svc"};
    const keel_policy_default_t *r[] = {rows};
    size_t n = 2;
    assert_int_equal(keel_policy_convert_json_to_yaml(f, json, strlen(json), ns, r, &n, 1, NULL), 0);
    fclose(f);
    assert_string_equal(buf, "# A.\n#\"svc:a\": \"role:admin\"\n\n"
                             "# svc:b\n\"svc:b\": \"role:other\"\n\n"
                             "# WARNING: Below rules are either deprecated rules\n"
                             "# or extra rules in policy file, it is strongly\n"
                             "# recommended to switch to new rules.\n"
                             "\"legacy\": \"[['role:x']]\"\n");
    free(buf);
    f = open_memstream(&buf, &len);
    assert_int_equal(keel_policy_convert_json_to_yaml(f, "[1]", 3, ns, r, &n, 1, NULL), KEEL_EPARSE);
    fclose(f);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_of_a_documented_rule),
        cmocka_unit_test(test_sample_of_deprecated_rules),
        cmocka_unit_test(test_convert_comments_defaults_and_keeps_overrides),
    };
    return cmocka_run_group_tests_name("policy/sample.c", tests, NULL, NULL);
}
