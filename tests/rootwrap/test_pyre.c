/* Tests for src/rootwrap/pyre.c: Python's re.match on PCRE2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../../src/rootwrap/pyre.h"
#include "../../src/rootwrap/pystr.h"

/* 1 match, 0 no match, or the compile error (negative). */
static int m(const char *pattern, const char *subject)
{
    keel__rw_re_t *re = NULL;
    int rc = keel__rw_re_compile(pattern, strlen(pattern), &re, NULL);
    if (rc != 0)
        return rc;
    rc = keel__rw_re_match(re, subject, strlen(subject));
    keel__rw_re_free(re);
    return rc;
}

static void test_re_dollar_allows_one_trailing_newline(void **state)
{
    assert_int_equal(m("abc$", "abc\n"), 1);
    assert_int_equal(m("abc$", "abc\n\n"), 0);
    assert_int_equal(m("abc\\Z", "abc\n"), 0); /* Python's \Z is PCRE2's \z */
    assert_int_equal(m("(?m)a$\\nb", "a\nb"), 1);
}

static void test_re_match_is_anchored_at_start_only(void **state)
{
    assert_int_equal(m("foo|bar$", "foo-anything"), 1);
    assert_int_equal(m("foo|bar$", "barx"), 0);
    assert_int_equal(m("b", "ab"), 0);
}

static void test_re_space_is_str_isspace(void **state)
{
    assert_int_equal(m("\\s$", "\x1c"), 1); /* PCRE2 alone says no */
    assert_int_equal(m("[\\s]$", "\xe3\x80\x80"), 1);
    assert_int_equal(m("\\S$", "\xe1\xa0\x8e"), 1); /* U+180E is not space for Python */
    assert_int_equal(m("(?a)\\s$", "\xc2\xa0"), 0);
}

static void test_re_ascii_flag_narrows_classes_and_case(void **state)
{
    assert_int_equal(m("\\w$", "\xc3\xa9"), 1);
    assert_int_equal(m("(?a)\\w$", "\xc3\xa9"), 0);
    assert_int_equal(m("(?i)k$", "\xe2\x84\xaa"), 1); /* Kelvin sign folds to k */
    assert_int_equal(m("(?ia)k$", "\xe2\x84\xaa"), 0);
    assert_int_equal(m("(?ia)[a-c]$", "B"), 1);
    assert_int_equal(m("(?a)\\B\xc3\xa9", "\xc3\xa9"), 1); /* no ASCII word character on either side */
    assert_int_equal(m("\\B\xc3\xa9", "\xc3\xa9"), 0);
}

static void test_re_non_boundary_fails_on_empty_string(void **state)
{
    assert_int_equal(m("\\B", ""), 0);
    assert_int_equal(m("\\B", "a"), 0);
    assert_int_equal(m("a\\B", "ab"), 1);
}

static void test_re_braces_follow_python(void **state)
{
    assert_int_equal(m("a{,2}$", "aa"), 1); /* PCRE2 10.42 would take "{,2}" literally */
    assert_int_equal(m("a{}$", "a{}"), 1);
    assert_int_equal(m("a{x}$", "a{x}"), 1);
    assert_int_equal(m("a{1,2$", "a{1,2"), 1);
}

static void test_re_undecodable_bytes_behave_as_surrogates(void **state)
{
    assert_int_equal(m(".$", "\xff"), 1);
    assert_int_equal(m("[^a]$", "\xff"), 1);
    assert_int_equal(m("\\udcff$", "\xff"), 1);
    assert_int_equal(m("[\\udc80-\\udcff]+$", "\xc3\xff"), 1);
    assert_int_equal(m("\\w$", "\xff"), 0);
}

static void test_re_errors_are_python_errors(void **state)
{
    assert_int_equal(m("[unclosed", ""), KEEL_EINVAL);
    assert_int_equal(m("a**", ""), KEEL_EINVAL);
    assert_int_equal(m("a{1}{2}", ""), KEEL_EINVAL);    /* PCRE2 accepts it */
    assert_int_equal(m("(?<=a|bc)x", ""), KEEL_EINVAL); /* PCRE2 accepts it */
    assert_int_equal(m("(a)(?(2)b)", ""), KEEL_EINVAL);
    assert_int_equal(m("(a\\1)", ""), KEEL_EINVAL);
    assert_int_equal(m("a(?i)b", ""), KEEL_EINVAL);
    assert_int_equal(m("\\q", ""), KEEL_EINVAL);
    assert_int_equal(m("(?t)a*", ""), KEEL_EINVAL);
    assert_int_equal(m("(?P<\xc3\xa9>x)(?P=\xc3\xa9)$", "xx"), 1); /* Unicode group names are identifiers */
}

static void test_re_other_exceptions_are_reported_apart(void **state)
{
    assert_int_equal(m("a{4294967295}", ""), KEEL_ERANGE); /* OverflowError */
    assert_int_equal(m("(?a)(?u)x", ""), KEEL_ERANGE);     /* ValueError */
}

static void test_re_what_keel_cannot_express_is_refused(void **state)
{
    assert_int_equal(m("\\N{EM DASH}", ""), KEEL_ENOTSUP);
    assert_int_equal(m("a{70000}", ""), KEEL_ENOTSUP);
}

static void test_re_backreferences_and_conditionals(void **state)
{
    assert_int_equal(m("(?P<n>ab)(?P=n)$", "abab"), 1);
    assert_int_equal(m("(?i)(a)\\1$", "aA"), 1);
    assert_int_equal(m("(a)?(?(1)b|c)$", "c"), 1);
    assert_int_equal(m("(a)?(?(1)b|c)$", "ab"), 1);
    assert_int_equal(m("(?x) a b # comment", "ab"), 1);
    assert_int_equal(m("a(?#c)*$", "aaa"), 1); /* the comment leaves "a" as the repeated item */
}

/* keel leans on PCRE2's \w and \d being exactly Python's: check every code point. */
static void test_re_pcre2_word_and_digit_classes_equal_python(void **state)
{
    size_t n;
    const uint32_t(*word)[2] = keel__rw_table(KEEL__RW_TABLE_WORD, &n);
    keel__rw_re_t *w = NULL, *d = NULL;
    assert_int_equal(keel__rw_re_compile("\\w", 2, &w, NULL), 0);
    assert_int_equal(keel__rw_re_compile("\\d", 2, &d, NULL), 0);
    size_t k = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp += (cp < 0x30000 ? 1 : 97)) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        keel_buf_t b;
        keel_buf_init(&b);
        keel__rw_utf8_put(&b, cp);
        while (k < n && word[k][1] < cp)
            k++;
        bool py_word = k < n && word[k][0] <= cp;
        assert_int_equal(keel__rw_re_match(w, b.base, b.len), py_word);
        assert_int_equal(keel__rw_re_match(d, b.base, b.len), keel__rw_decimal(cp) >= 0);
        keel_buf_free(&b);
    }
    keel__rw_re_free(w);
    keel__rw_re_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_re_dollar_allows_one_trailing_newline),
        cmocka_unit_test(test_re_match_is_anchored_at_start_only),
        cmocka_unit_test(test_re_space_is_str_isspace),
        cmocka_unit_test(test_re_ascii_flag_narrows_classes_and_case),
        cmocka_unit_test(test_re_non_boundary_fails_on_empty_string),
        cmocka_unit_test(test_re_braces_follow_python),
        cmocka_unit_test(test_re_undecodable_bytes_behave_as_surrogates),
        cmocka_unit_test(test_re_errors_are_python_errors),
        cmocka_unit_test(test_re_other_exceptions_are_reported_apart),
        cmocka_unit_test(test_re_what_keel_cannot_express_is_refused),
        cmocka_unit_test(test_re_backreferences_and_conditionals),
        cmocka_unit_test(test_re_pcre2_word_and_digit_classes_equal_python),
    };
    return cmocka_run_group_tests_name("rootwrap/pyre.c", tests, NULL, NULL);
}
