/*
 * test_yaml.c — tests of src/policy/yaml.c: policy documents read as
 * oslo.policy reads them (JSON first, then PyYAML safe_load types), shown
 * through the JSON keel builds from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy_int.h"

/* Loads text and returns json_dumps of the result, or "ERR". */
static char *load(const char *text)
{
    json_t *doc = NULL;
    keel_buf_t err;
    keel_buf_init(&err);
    int rc = keel__pol_parse_document(text, strlen(text), &doc, &err);
    keel_buf_free(&err);
    if (rc != 0)
        return strdup("ERR");
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, NULL, 0);
    assert_int_equal(keel__pol_json_dumps(&b, doc, 0), 0);
    char *s = strdup(keel__pol_sbuf_cstr(&b));
    keel__pol_sbuf_free(&b);
    json_decref(doc);
    /* Keys that were not str in Python carry a marker byte, which the JSON
     * text shows as \udcff: show it as '#'. */
    for (char *p; (p = strstr(s, "\\udcff")) != NULL;)
        memmove(p + 1, p + 6, strlen(p + 6) + 1), *p = '#';
    return s;
}

#define LOADS(text, expect)                                                                                                        \
    do {                                                                                                                           \
        char *got_ = load(text);                                                                                                   \
        assert_string_equal(got_, (expect));                                                                                       \
        free(got_);                                                                                                                \
    } while (0)

static void test_plain_scalars_resolve_as_yaml_1_1(void **state)
{
    LOADS("a: yes\nb: Off\nc: TRUE\nd: y", "{\"a\": true, \"b\": false, \"c\": true, \"d\": \"y\"}");
    LOADS("a: 017\nb: 0o17\nc: 0x1f\nd: 0b101\ne: 1_000\nf: 1:30\ng: -0",
          "{\"a\": 15, \"b\": \"0o17\", \"c\": 31, \"d\": 5, \"e\": 1000, \"f\": 90, \"g\": 0}");
    LOADS("a: 1.5\nb: .5\nc: 1e3\nd: 1.0e+3\ne: 1:30.5", "{\"a\": 1.5, \"b\": 0.5, \"c\": \"1e3\", \"d\": 1000.0, \"e\": 90.5}");
    LOADS("a: ~\nb: null\nc:\nd: NULL\ne: nul", "{\"a\": null, \"b\": null, \"c\": null, \"d\": null, \"e\": \"nul\"}");
    LOADS("a: 'yes'\nb: \"0\"\nc: !!str 12\nd: !!int \"7\"", "{\"a\": \"yes\", \"b\": \"0\", \"c\": \"12\", \"d\": 7}");
    /* A datetime and an infinity are true values that are neither str nor iterable. */
    LOADS("a: 2001-12-14\nb: .inf", "{\"a\": true, \"b\": true}");
}

static void test_anchors_aliases_and_merge_keys(void **state)
{
    LOADS("base: &b role:x\nother: *b", "{\"base\": \"role:x\", \"other\": \"role:x\"}");
    LOADS("m: &m {a: 1, b: 2}\n<<: *m\nb: 3", "{\"a\": 1, \"b\": 3, \"m\": {\"a\": 1, \"b\": 2}}");
}

static void test_non_str_keys_keep_their_python_identity(void **state)
{
    /* 1 and True are one key in a Python dict: the first spelling stays. */
    LOADS("1: a\nyes: b\n~: c", "{\"#1\": \"b\", \"#null\": \"c\"}");
}

static void test_json_first_with_python_numbers(void **state)
{
    LOADS("{\"a\": \"role:x\", \"a\": \"role:y\"}", "{\"a\": \"role:y\"}");
    LOADS("{\"a\": NaN, \"b\": 1e999, \"c\": 123456789012345678901234567890}", "{\"a\": true, \"b\": true, \"c\": true}");
    LOADS("[]", "{}");
    LOADS("", "{}");
    LOADS("0", "{}");
}

static void test_documents_oslo_policy_refuses(void **state)
{
    LOADS("- a\n- b", "ERR");        /* not a mapping */
    LOADS("just text", "ERR");       /* a str is not a mapping */
    LOADS("a: b\n---\nc: d", "ERR"); /* two documents */
    LOADS("a: !foo x", "ERR");       /* unknown tag */
    LOADS("? [a]\n: b", "ERR");      /* unhashable key */
    LOADS("a: =", "ERR");            /* the value tag has no constructor */
    LOADS("a: [unclosed", "ERR");
    LOADS("a: 2001-02-30", "ERR"); /* datetime() would raise */
    LOADS("a: *nowhere", "ERR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_scalars_resolve_as_yaml_1_1),       cmocka_unit_test(test_anchors_aliases_and_merge_keys),
        cmocka_unit_test(test_non_str_keys_keep_their_python_identity), cmocka_unit_test(test_json_first_with_python_numbers),
        cmocka_unit_test(test_documents_oslo_policy_refuses),
    };
    return cmocka_run_group_tests_name("policy/yaml.c", tests, NULL, NULL);
}
