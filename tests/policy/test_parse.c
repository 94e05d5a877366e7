/*
 * test_parse.c — tests of src/policy/parse.c: the rule language as
 * oslo.policy's _parser builds it, checked through str() of the tree,
 * which oslo.policy prints and compares (the expected strings are
 * str(_parser.parse_rule(text)) from oslo.policy 4.0.0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy_int.h"

static void parses_to(const char *text, const char *str)
{
    keel_policy_rule_t *r;
    assert_int_equal(keel_policy_rule_parse(text, strlen(text), &r), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_policy_rule_str(r, &b), 0);
    if (strcmp(b.base, str) != 0)
        fail_msg("parse(%s): expected %s, got %s", text, str, b.base);
    keel_buf_free(&b);
    keel_policy_rule_free(r);
}

static void test_parse_precedence_not_and_or(void **state)
{
    parses_to("role:admin or (project_id:%(project_id)s and role:projectadmin)",
              "(role:admin or (project_id:%(project_id)s and role:projectadmin))");
    parses_to("a:1 or b:2 and c:3", "(a:1 or (b:2 and c:3))");
    parses_to("a:1 or b:2 and c:3 and d:4", "(a:1 or (b:2 and c:3 and d:4))");
    parses_to("a:1 and b:2 or c:3", "((a:1 and b:2) or c:3)");
    parses_to("not a:1 and b:2", "(not a:1 and b:2)");
    parses_to("a:1 and not b:2", "(a:1 and not b:2)");
    parses_to("not not a:1", "not not a:1");
    parses_to("(a:1 and b:2) and c:3", "((a:1 and b:2) and c:3)");
    parses_to("a:1 or (b:2 and c:3) and d:4", "(a:1 or (b:2 and c:3 and d:4))");
    parses_to("((a:1))", "a:1");
}

static void test_parse_operators_are_case_insensitive(void **state)
{
    parses_to("a:1 AND b:2 Or NOT c:3", "((a:1 and b:2) or not c:3)");
}

static void test_parse_special_and_empty_rules(void **state)
{
    parses_to("", "@");
    parses_to("@", "@");
    parses_to("!", "!");
    parses_to("nocolon", "!");
    parses_to("@ and !", "(@ and !)");
}

static void test_parse_failures_fail_closed(void **state)
{
    const char *bad[] = {"   ", "a:1 and", "(a:1", "a:1)", "a:1 b:2", "and or", "'quoted' and a:1", "()"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        keel_policy_rule_t *r;
        assert_int_equal(keel_policy_rule_parse(bad[i], strlen(bad[i]), &r), 0);
        assert_true(keel_policy_rule_parse_failed(r));
        keel_policy_rule_free(r);
        parses_to(bad[i], "!");
    }
}

static void test_parse_leaves_a_bare_token_as_a_string(void **state)
{
    /* A single token that is not a check survives as a str, which raises
     * when enforced; str() is the token's value. */
    parses_to("and", "and");
    parses_to("AND", "AND");
    parses_to("(", "(");
    parses_to("'quoted'", "quoted");
    parses_to("\"x y\"", "!"); /* two tokens: \"x and y\" */
}

static void test_parse_parentheses_inside_checks(void **state)
{
    parses_to("(project_id:%(project_id)s)", "project_id:%(project_id)s");
    parses_to("a:%(b)", "!");   /* the trailing ')' is stripped: "a:%(b" then ')' */
    parses_to("(a:%(b))", "!"); /* both ')' are stripped: one too many */
    parses_to("a:%(b)s)", "!");
}

static void test_parse_splits_on_unicode_whitespace(void **state)
{
    parses_to("a:1\xc2\xa0"
              "and\xe3\x80\x80"
              "b:2",
              "(a:1 and b:2)");
    parses_to("a:1\tor\nb:2", "(a:1 or b:2)");
}

static void rule_from_json(const char *json, const char *str, int rc_expect)
{
    json_error_t err;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &err);
    assert_non_null(v);
    keel_policy_rule_t *r = NULL;
    int rc = keel_policy_rule_from_json(v, &r, NULL);
    assert_int_equal(rc, rc_expect);
    if (rc == 0) {
        keel_buf_t b;
        keel_buf_init(&b);
        keel_policy_rule_str(r, &b);
        if (strcmp(b.base, str) != 0)
            fail_msg("%s: expected %s, got %s", json, str, b.base);
        keel_buf_free(&b);
    }
    keel_policy_rule_free(r);
    json_decref(v);
}

static void test_list_of_lists_form(void **state)
{
    rule_from_json("[[\"role:admin\"], [\"project_id:%(project_id)s\", \"role:projectadmin\"]]",
                   "(role:admin or (project_id:%(project_id)s and role:projectadmin))", 0);
    rule_from_json("[]", "@", 0);
    rule_from_json("null", "@", 0);
    rule_from_json("0", "@", 0);
    rule_from_json("{}", "@", 0);
    rule_from_json("[[]]", "!", 0);
    rule_from_json("[\"role:a\"]", "role:a", 0);
    rule_from_json("[[\"role:a\", 1]]", "(role:a and !)", 0);
    rule_from_json("{\"role:a\": 1, \"role:b\": null}", "(role:a or role:b)", 0);
    rule_from_json("[{\"role:a\": 1}]", "role:a", 0);
    rule_from_json("5", NULL, KEEL_EINVAL);
    rule_from_json("true", NULL, KEEL_EINVAL);
    rule_from_json("[5]", NULL, KEEL_EINVAL);
}

static void test_parse_absurd_nesting_is_refused(void **state)
{
    static char text[8000];
    size_t o = 0;
    for (int i = 0; i < 1000; i++)
        o += (size_t)sprintf(text + o, "not ");
    strcpy(text + o, "a:1");
    keel_policy_rule_t *r = NULL;
    assert_int_equal(keel_policy_rule_parse(text, strlen(text), &r), KEEL_EINVAL);
    assert_null(r);
}

static void test_or2_combines_two_rules(void **state)
{
    keel_policy_rule_t *a, *b, *c;
    assert_int_equal(keel_policy_rule_parse("role:a and rule:x", 17, &a), 0);
    assert_int_equal(keel_policy_rule_parse("rule:y", 6, &b), 0);
    assert_int_equal(keel__pol_rule_or2(a, b, &c), 0);
    keel_buf_t s;
    keel_buf_init(&s);
    keel_policy_rule_str(c, &s);
    assert_string_equal(s.base, "((role:a and rule:x) or rule:y)");
    assert_int_equal(c->nrefs, 2);
    assert_string_equal(c->refs[0], "x");
    assert_string_equal(c->refs[1], "y");
    keel_buf_free(&s);
    keel_policy_rule_free(a);
    keel_policy_rule_free(b);
    keel_policy_rule_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_precedence_not_and_or),           cmocka_unit_test(test_parse_operators_are_case_insensitive),
        cmocka_unit_test(test_parse_special_and_empty_rules),         cmocka_unit_test(test_parse_failures_fail_closed),
        cmocka_unit_test(test_parse_leaves_a_bare_token_as_a_string), cmocka_unit_test(test_parse_parentheses_inside_checks),
        cmocka_unit_test(test_parse_splits_on_unicode_whitespace),    cmocka_unit_test(test_list_of_lists_form),
        cmocka_unit_test(test_parse_absurd_nesting_is_refused),       cmocka_unit_test(test_or2_combines_two_rules),
    };
    return cmocka_run_group_tests_name("policy/parse.c", tests, NULL, NULL);
}
