/*
 * test_lint.c — tests of src/policy/lint.c: each kind of finding on a small
 * policy, and silence on a clean one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keel/policy.h"

static char found[4096];

static void collect(void *data, const char *name, const char *kind, const char *detail)
{
    size_t n = strlen(found);
    snprintf(found + n, sizeof(found) - n, "%s:%s;", name, kind);
}

static int lint(const char *rules)
{
    keel_policy_enforcer_t *e;
    assert_int_equal(keel_policy_enforcer_new(&e, NULL), 0);
    assert_int_equal(keel_policy_set_rules_text(e, rules, strlen(rules), true), 0);
    found[0] = '\0';
    int rc = keel_policy_lint(e, collect, NULL);
    keel_policy_enforcer_free(e);
    return rc;
}

static void test_lint_is_quiet_on_a_clean_policy(void **state)
{
    assert_int_equal(lint("{\"admin\": \"role:admin\", \"owner\": \"user_id:%(user_id)s\", "
                          "\"get\": \"rule:admin or rule:owner\", \"off\": \"!\"}"),
                     0);
    assert_string_equal(found, "");
}

static void test_lint_reports_every_kind(void **state)
{
    assert_int_equal(lint("{\"a\": \"rule:b\", \"b\": \"not rule:a\", \"c\": \"rule:missing\", \"d\": \"True:False\", "
                          "\"e\": \"(role:x\", \"f\": \"nocolon\", \"g\": \"or\", \"h\": \"1a:x\", \"i\": \"x:%(y)Q\"}"),
                     KEEL_EVALUE);
    /* the cycle goes through "not", which oslo.policy's check_rules misses */
    assert_non_null(strstr(found, "a:cycle;"));
    assert_non_null(strstr(found, "b:cycle;"));
    assert_non_null(strstr(found, "a:raises;"));
    assert_non_null(strstr(found, "c:undefined;"));
    assert_non_null(strstr(found, "c:never;")); /* no default rule: always false */
    assert_non_null(strstr(found, "d:never;"));
    assert_non_null(strstr(found, "e:parse;"));
    assert_non_null(strstr(found, "f:parse;"));
    assert_non_null(strstr(found, "g:raises;"));
    assert_non_null(strstr(found, "h:raises;"));
    assert_non_null(strstr(found, "i:never;")); /* KeyError (False) or raises */
}

static void test_lint_knows_the_default_rule(void **state)
{
    assert_int_equal(lint("{\"default\": \"role:admin\", \"c\": \"rule:missing\"}"), KEEL_EVALUE);
    assert_string_equal(found, "c:undefined;"); /* falls back to default: can pass */
    assert_int_equal(lint("{\"default\": \"rule:x\", \"x\": \"rule:nope\"}"), KEEL_EVALUE);
    assert_non_null(strstr(found, "x:cycle;")); /* nope -> default -> x -> nope ... */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lint_is_quiet_on_a_clean_policy),
        cmocka_unit_test(test_lint_reports_every_kind),
        cmocka_unit_test(test_lint_knows_the_default_rule),
    };
    return cmocka_run_group_tests_name("policy/lint.c", tests, NULL, NULL);
}
