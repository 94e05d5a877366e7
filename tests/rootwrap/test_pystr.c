/* Tests for src/rootwrap/pystr.c: Python str behaviour over bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/rootwrap/pystr.h"

static void check_lower(const char *in, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__rw_lower(&b, in, strlen(in)), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
}

static void test_lower_follows_python_full_mapping(void **state)
{
    check_lower("FILTERS_PATH", "filters_path");
    check_lower("\xc3\x84rger", "\xc3\xa4rger");                         /* Ärger */
    check_lower("\xc4\xb0", "i\xcc\x87");                                /* İ -> i + combining dot */
    check_lower("\xe2\x84\xaa", "k");                                    /* Kelvin sign */
    check_lower("\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x82"); /* ΣΑΣ -> σας: final sigma */
    check_lower("\xce\xa3", "\xcf\x83");                                 /* a lone sigma is not final */
    check_lower("a\xff", "a\xff");                                       /* bytes that are not UTF-8 stay */
}

static void test_strip_removes_unicode_whitespace_only(void **state)
{
    const char *s = "\xe3\x80\x80\x1c a b\xc2\xa0\t";
    size_t b = 0, e = strlen(s);
    keel__rw_strip(s, &b, &e);
    assert_int_equal(e - b, 3);
    assert_memory_equal(s + b, "a b", 3);
    const char *t = "\xe2\x80\x8bx"; /* ZERO WIDTH SPACE is not whitespace for Python */
    b = 0, e = strlen(t);
    keel__rw_strip(t, &b, &e);
    assert_int_equal(b, 0);
}

static void check_repr(const char *in, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__rw_repr(&b, in, strlen(in)), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
}

static void test_repr_picks_quotes_and_escapes_like_cpython(void **state)
{
    check_repr("abc", "'abc'");
    check_repr("it's", "\"it's\"");
    check_repr("'\"", "'\\'\"'");
    check_repr("a\tb\n\x7f\x1b", "'a\\tb\\n\\x7f\\x1b'");
    check_repr("\xc3\xa9", "'\xc3\xa9'");
    check_repr("\xc2\x85\xe2\x80\xa8", "'\\x85\\u2028'");
    check_repr("\xff", "'\\udcff'");
}

static void check_int(const char *in, int status, int64_t value)
{
    keel__rw_int_t r;
    keel__rw_parse_int(in, strlen(in), &r);
    assert_int_equal(r.status, status);
    if (status == KEEL__RW_INT_OK)
        assert_int_equal(r.value, value);
}

static void test_parse_int_accepts_what_python_int_accepts(void **state)
{
    check_int("42", 0, 42);
    check_int(" -7 ", 0, -7);
    check_int("+1_000", 0, 1000);
    check_int("007", 0, 7);
    check_int("\xd9\xa1\xd9\xa2", 0, 12); /* Arabic-Indic digits */
    check_int("\xe3\x80\x80"
              "5\xc2\xa0",
              0, 5);
    check_int("", KEEL__RW_INT_INVALID, 0);
    check_int("1__0", KEEL__RW_INT_INVALID, 0);
    check_int("_1", KEEL__RW_INT_INVALID, 0);
    check_int("1_", KEEL__RW_INT_INVALID, 0);
    check_int("1.5", KEEL__RW_INT_INVALID, 0);
    check_int("0x10", KEEL__RW_INT_INVALID, 0);
    check_int("\x1c"
              "5",
              KEEL__RW_INT_INVALID, 0); /* int() skips only ASCII whitespace after mapping */
    check_int("- 5", KEEL__RW_INT_INVALID, 0);
}

static void test_parse_int_saturates_and_limits_digits(void **state)
{
    keel__rw_int_t r;
    keel__rw_parse_int("99999999999999999999999", 23, &r);
    assert_int_equal(r.status, KEEL__RW_INT_OK);
    assert_true(r.saturated);
    assert_int_equal(r.value, INT64_MAX);
    char big[4400];
    memset(big, '1', 4301);
    big[4301] = 'x';
    keel__rw_parse_int(big, 4302, &r);
    assert_int_equal(r.status, KEEL__RW_INT_TOO_LONG); /* the digit limit wins over the trailing x */
    keel_buf_t b;
    keel_buf_init(&b);
    keel__rw_int_error(&b, big, 4302, &r);
    assert_non_null(strstr(b.base, "value has 4301 digits"));
    keel_buf_free(&b);
}

static void test_int_error_cuts_the_repr_at_200_characters(void **state)
{
    char s[300];
    memset(s, 'a', sizeof(s));
    keel__rw_int_t r;
    keel__rw_parse_int(s, sizeof(s), &r);
    keel_buf_t b;
    keel_buf_init(&b);
    keel__rw_int_error(&b, s, sizeof(s), &r);
    assert_int_equal(b.len, strlen("invalid literal for int() with base 10: ") + 200);
    keel_buf_free(&b);
}

static void test_put_escaped_shows_undecodable_bytes_as_surrogates(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel__rw_put_escaped(&b, "a\xff\xc3\xa9", 4);
    assert_string_equal(b.base, "a\\udcff\xc3\xa9");
    keel_buf_free(&b);
}

static void test_isidentifier_follows_python(void **state)
{
    assert_true(keel__rw_isidentifier("name_1", 6));
    assert_true(keel__rw_isidentifier("\xc3\xa9t\xc3\xa9", 5));
    assert_false(keel__rw_isidentifier("1name", 5));
    assert_false(keel__rw_isidentifier("a-b", 3));
    assert_false(keel__rw_isidentifier("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower_follows_python_full_mapping),
        cmocka_unit_test(test_strip_removes_unicode_whitespace_only),
        cmocka_unit_test(test_repr_picks_quotes_and_escapes_like_cpython),
        cmocka_unit_test(test_parse_int_accepts_what_python_int_accepts),
        cmocka_unit_test(test_parse_int_saturates_and_limits_digits),
        cmocka_unit_test(test_int_error_cuts_the_repr_at_200_characters),
        cmocka_unit_test(test_put_escaped_shows_undecodable_bytes_as_surrogates),
        cmocka_unit_test(test_isidentifier_follows_python),
    };
    return cmocka_run_group_tests_name("rootwrap/pystr.c", tests, NULL, NULL);
}
