/*
 * test_eval.c — tests of src/policy/eval.c: decisions of role, rule and
 * generic checks, the default-rule fallback, what raises in oslo.policy,
 * the trace, and the rule set's dict behaviour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy_int.h"

static keel_policy_enforcer_t *with_rules(const char *json)
{
    keel_policy_enforcer_t *e;
    assert_int_equal(keel_policy_enforcer_new(&e, NULL), 0);
    assert_int_equal(keel_policy_set_rules_text(e, json, strlen(json), true), 0);
    return e;
}

static int decide(keel_policy_enforcer_t *e, const char *rule, const char *target, const char *creds)
{
    json_t *t = json_loads(target, 0, NULL), *c = json_loads(creds, 0, NULL);
    assert_non_null(t);
    assert_non_null(c);
    int rc = keel_policy_enforce(e, rule, t, c, NULL);
    json_decref(t);
    json_decref(c);
    return rc;
}

#define ALLOW(e, r, t, c) assert_int_equal(decide((e), (r), (t), (c)), 0)
#define DENY(e, r, t, c) assert_int_equal(decide((e), (r), (t), (c)), KEEL_EACCES)
#define RAISES(e, r, t, c) assert_int_equal(decide((e), (r), (t), (c)), KEEL_EVALUE)

static void test_role_check_lowers_both_sides(void **state)
{
    keel_policy_enforcer_t *e = with_rules("{\"a\": \"role:Admin\", \"u\": \"role:\\u0130nsan\", \"t\": \"role:%(r)s\"}");
    ALLOW(e, "a", "{}", "{\"roles\": [\"ADMIN\"]}");
    DENY(e, "a", "{}", "{\"roles\": [\"member\"]}");
    DENY(e, "a", "{}", "{}");
    ALLOW(e, "u", "{}", "{\"roles\": [\"i\\u0307nsan\"]}");
    ALLOW(e, "t", "{\"r\": \"MEMBER\"}", "{\"roles\": [\"member\"]}");
    DENY(e, "t", "{}", "{\"roles\": [\"member\"]}");     /* KeyError: False */
    ALLOW(e, "a", "{}", "{\"roles\": {\"admin\": 1}}");  /* a dict iterates over its keys */
    RAISES(e, "a", "{}", "{\"roles\": [\"admin\", 1]}"); /* 1 has no lower() */
    RAISES(e, "a", "{}", "{\"roles\": 5}");
    keel_policy_enforcer_free(e);
}

static void test_generic_check_paths_lists_and_literals(void **state)
{
    keel_policy_enforcer_t *e = with_rules("{\"p\": \"project_id:%(project_id)s\", \"d\": \"user.id:%(uid)s\", "
                                           "\"t\": \"True:%(enabled)s\", \"q\": \"'member':%(role)s\", "
                                           "\"n\": \"a.b:1\", \"bad\": \"1a:x\", \"fmt\": \"x:%(s)d\"}");
    ALLOW(e, "p", "{\"project_id\": \"p1\"}", "{\"project_id\": \"p1\"}");
    DENY(e, "p", "{\"project_id\": \"p1\"}", "{\"project_id\": \"p2\"}");
    DENY(e, "p", "{}", "{\"project_id\": \"p1\"}");
    ALLOW(e, "p", "{\"project_id\": 1}", "{\"project_id\": \"1\"}");
    ALLOW(e, "d", "{\"uid\": \"u1\"}", "{\"user\": {\"id\": \"u1\"}}");
    ALLOW(e, "d", "{\"uid\": \"u1\"}", "{\"user\": [{\"id\": \"u2\"}, {\"id\": \"u1\"}]}");
    RAISES(e, "d", "{\"uid\": \"u1\"}", "{\"user\": \"u1\"}"); /* str indices must be integers */
    ALLOW(e, "t", "{\"enabled\": true}", "{}");
    DENY(e, "t", "{\"enabled\": false}", "{}");
    ALLOW(e, "q", "{\"role\": \"member\"}", "{}");
    ALLOW(e, "n", "{}", "{\"a\": {\"b\": [2, 1]}}");
    RAISES(e, "bad", "{}", "{}");
    RAISES(e, "fmt", "{\"s\": \"x\"}", "{}");
    keel_policy_enforcer_free(e);
}

static void test_rule_references_default_rule_and_cycles(void **state)
{
    keel_policy_enforcer_t *e =
        with_rules("{\"default\": \"role:admin\", \"r\": \"rule:missing\", \"c1\": \"rule:c2\", \"c2\": \"rule:c1\", "
                   "\"ok\": \"rule:r or role:member\", \"bogus\": \"or\"}");
    ALLOW(e, "r", "{}", "{\"roles\": [\"admin\"]}"); /* missing -> default */
    DENY(e, "r", "{}", "{\"roles\": [\"member\"]}");
    ALLOW(e, "undefined", "{}", "{\"roles\": [\"admin\"]}");
    RAISES(e, "c1", "{}", "{}");
    ALLOW(e, "ok", "{}", "{\"roles\": [\"member\"]}");
    RAISES(e, "bogus", "{}", "{}");
    keel_policy_enforcer_free(e);
    e = with_rules("{\"r\": \"rule:missing\"}");
    DENY(e, "r", "{}", "{\"roles\": [\"admin\"]}");
    DENY(e, "nope", "{}", "{}");
    keel_policy_enforcer_free(e);
}

static void test_system_scope_is_copied_to_system(void **state)
{
    keel_policy_enforcer_t *e = with_rules("{\"s\": \"system:all\"}");
    ALLOW(e, "s", "{}", "{\"system_scope\": \"all\"}");
    ALLOW(e, "s", "{}", "{\"system\": \"all\"}");
    DENY(e, "s", "{}", "{\"system_scope\": \"\", \"system\": \"x\"}");
    /* keel_policy_check() calls the rule as oslopolicy-checker does: no copy. */
    json_t *t = json_object(), *c = json_pack("{s:s}", "system_scope", "all");
    assert_int_equal(keel_policy_check(e, "s", t, c, NULL), KEEL_EACCES);
    json_decref(t);
    json_decref(c);
    keel_policy_enforcer_free(e);
}

static void test_trace_says_which_checks_matched(void **state)
{
    keel_policy_enforcer_t *e = with_rules("{\"a\": \"role:admin or project_id:%(project_id)s\"}");
    keel_buf_t tr;
    keel_buf_init(&tr);
    keel_policy_result_t res = {.trace = &tr};
    json_t *t = json_pack("{s:s}", "project_id", "p1"), *c = json_pack("{s:[s],s:s}", "roles", "member", "project_id", "p1");
    assert_int_equal(keel_policy_enforce(e, "a", t, c, &res), 0);
    assert_non_null(strstr(tr.base, "role:admin -> false"));
    assert_non_null(strstr(tr.base, "project_id:%(project_id)s -> true"));
    assert_non_null(strstr(tr.base, "a -> allowed"));
    keel_buf_reset(&tr);
    json_object_set_new(c, "project_id", json_string("p2"));
    assert_int_equal(keel_policy_enforce(e, "a", t, c, &res), KEEL_EACCES);
    assert_string_equal(res.message, "a is disallowed by policy");
    assert_non_null(strstr(tr.base, "a -> denied"));
    keel_buf_free(&tr);
    json_decref(t);
    json_decref(c);
    keel_policy_enforcer_free(e);
}

static void test_ruleset_keeps_dict_order_and_replaces_in_place(void **state)
{
    keel__pol_ruleset_t rs;
    keel__pol_ruleset_init(&rs);
    keel_policy_rule_t *a, *b;
    assert_int_equal(keel_policy_rule_parse("@", 1, &a), 0);
    assert_int_equal(keel_policy_rule_parse("!", 1, &b), 0);
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        assert_int_equal(keel__pol_ruleset_set(&rs, name, strlen(name), a), 0);
    }
    assert_int_equal(keel__pol_ruleset_set(&rs, "r5", 2, b), 0);
    assert_int_equal(rs.n, 100);
    assert_string_equal(rs.entries[5].name, "r5");
    assert_ptr_equal(rs.entries[5].rule, b);
    assert_int_equal(keel__pol_ruleset_find(&rs, "r99", 3), 99);
    assert_int_equal(keel__pol_ruleset_lookup(&rs, "zz", 2), -1);
    assert_int_equal(keel__pol_ruleset_set_default(&rs, "r7"), 0);
    assert_int_equal(keel__pol_ruleset_lookup(&rs, "zz", 2), 7);
    keel__pol_ruleset_free(&rs);
    keel_policy_rule_free(a);
    keel_policy_rule_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_check_lowers_both_sides),
        cmocka_unit_test(test_generic_check_paths_lists_and_literals),
        cmocka_unit_test(test_rule_references_default_rule_and_cycles),
        cmocka_unit_test(test_system_scope_is_copied_to_system),
        cmocka_unit_test(test_trace_says_which_checks_matched),
        cmocka_unit_test(test_ruleset_keeps_dict_order_and_replaces_in_place),
    };
    return cmocka_run_group_tests_name("policy/eval.c", tests, NULL, NULL);
}
