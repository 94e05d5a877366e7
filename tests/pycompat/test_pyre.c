/* Tests for src/pycompat/pyre.c: Python's re.match on PCRE2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "pycompat/pyre.h"
#include "pycompat/pystr.h"

/* 1 match, 0 no match, or the compile error (negative). */
static int m(const char *pattern, const char *subject)
{
    keel__pyre_t *re = NULL;
    int rc = keel__pyre_compile(pattern, strlen(pattern), &re, NULL);
    if (rc != 0)
        return rc;
    rc = keel__pyre_match(re, subject, strlen(subject));
    keel__pyre_free(re);
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
    const uint32_t(*alnum)[2] = keel__py_table(KEEL__PY_TABLE_ALNUM, &n);
    keel__pyre_t *w = NULL, *d = NULL;
    assert_int_equal(keel__pyre_compile("\\w", 2, &w, NULL), 0);
    assert_int_equal(keel__pyre_compile("\\d", 2, &d, NULL), 0);
    size_t k = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp += (cp < 0x30000 ? 1 : 97)) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        keel_buf_t b;
        keel_buf_init(&b);
        keel__utf8_put(&b, cp);
        while (k < n && alnum[k][1] < cp)
            k++;
        bool py_word = cp == '_' || (k < n && alnum[k][0] <= cp);
        assert_int_equal(keel__pyre_match(w, b.base, b.len), py_word);
        assert_int_equal(keel__pyre_match(d, b.base, b.len), keel__py_decimal(cp) >= 0);
        keel_buf_free(&b);
    }
    keel__pyre_free(w);
    keel__pyre_free(d);
}

/* keel__pcre2_compile/match: PCRE2 syntax as given, Python's line ends. */
static void test_pcre2_match_reports_groups_and_searches(void **state)
{
    const char *pat = "(?P<k>[a-z]+)=(\\d+)?$";
    pcre2_code *re = NULL;
    assert_int_equal(keel__pcre2_compile(pat, strlen(pat), PCRE2_UTF, &re, NULL), 0);
    size_t ov[6];
    assert_int_equal(keel__pcre2_match(re, "x key= ", 7, 0, ov, 3), 0);
    assert_int_equal(keel__pcre2_match(re, "x key=\n", 7, 0, ov, 3), 1); /* search; '$' before a final "\n" */
    assert_int_equal(ov[2], 2);
    assert_int_equal(ov[3], 5);
    assert_true(ov[4] == PCRE2_UNSET);
    assert_int_equal(keel__pcre2_match(re, "x key=\n", 7, PCRE2_ANCHORED, NULL, 0), 0);
    assert_int_equal(keel__pcre2_match(re, "a=1\r", 4, 0, NULL, 0), 0); /* "\r" is not a line end */
    pcre2_code_free(re);
}

static void test_pcre2_compile_reports_pcre2_errors(void **state)
{
    pcre2_code *re = NULL;
    keel_buf_t why;
    keel_buf_init(&why);
    assert_int_equal(keel__pcre2_compile("a(", 2, PCRE2_UTF, &re, &why), KEEL_EINVAL);
    assert_null(re);
    assert_non_null(strstr(why.base, "missing closing parenthesis"));
    keel_buf_free(&why);
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
        cmocka_unit_test(test_pcre2_match_reports_groups_and_searches),
        cmocka_unit_test(test_pcre2_compile_reports_pcre2_errors),
    };
    return cmocka_run_group_tests_name("pycompat/pyre.c", tests, NULL, NULL);
}
