/* Tests for src/pycompat/pynum.c: Python's int() and float() of a str. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "pycompat/pynum.h"

static void check_int(const char *in, int status, int64_t value)
{
    keel__py_int_t r;
    keel__py_parse_int(in, strlen(in), &r);
    assert_int_equal(r.status, status);
    if (status == KEEL__PY_INT_OK)
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
    check_int("", KEEL__PY_INT_INVALID, 0);
    check_int("1__0", KEEL__PY_INT_INVALID, 0);
    check_int("_1", KEEL__PY_INT_INVALID, 0);
    check_int("1_", KEEL__PY_INT_INVALID, 0);
    check_int("1.5", KEEL__PY_INT_INVALID, 0);
    check_int("0x10", KEEL__PY_INT_INVALID, 0);
    check_int("\x1c"
              "5",
              KEEL__PY_INT_INVALID, 0); /* int() skips only ASCII whitespace after mapping */
    check_int("- 5", KEEL__PY_INT_INVALID, 0);
    check_int("5\xff", KEEL__PY_INT_INVALID, 0);
}

static void test_parse_int_saturates_and_limits_digits(void **state)
{
    keel__py_int_t r;
    keel__py_parse_int("99999999999999999999999", 23, &r);
    assert_int_equal(r.status, KEEL__PY_INT_OK);
    assert_true(r.saturated);
    assert_int_equal(r.value, INT64_MAX);
    keel__py_parse_int("-9223372036854775808", 20, &r);
    assert_int_equal(r.status, KEEL__PY_INT_OK);
    assert_false(r.saturated); /* INT64_MIN fits */
    assert_true(r.value == INT64_MIN);
    keel__py_parse_int("-9223372036854775809", 20, &r);
    assert_true(r.saturated);
    char big[4400];
    memset(big, '1', 4301);
    big[4301] = 'x';
    keel__py_parse_int(big, 4302, &r);
    assert_int_equal(r.status, KEEL__PY_INT_TOO_LONG); /* the digit limit wins over the trailing x */
    assert_true(r.trailing_junk);
    keel_buf_t b;
    keel_buf_init(&b);
    keel__py_int_error(&b, big, 4302, &r);
    assert_non_null(strstr(b.base, "value has 4301 digits"));
    keel_buf_free(&b);
}

static void test_int_error_cuts_the_repr_at_200_characters(void **state)
{
    char s[300];
    memset(s, 'a', sizeof(s));
    keel__py_int_t r;
    keel__py_parse_int(s, sizeof(s), &r);
    keel_buf_t b;
    keel_buf_init(&b);
    keel__py_int_error(&b, s, sizeof(s), &r);
    assert_int_equal(b.len, strlen("invalid literal for int() with base 10: ") + 200);
    keel_buf_free(&b);
}

static void test_py_int_tells_ill_formed_from_too_big(void **state)
{
    int64_t v = 0;
    assert_int_equal(keel__py_int(" \xef\xbc\x91_2 ", 7, &v), 0); /* FULLWIDTH DIGIT ONE */
    assert_int_equal(v, 12);
    assert_int_equal(keel__py_int("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(keel__py_int("9223372036854775808", 19, &v), KEEL_ERANGE);
    assert_int_equal(keel__py_int("12a", 3, &v), KEEL_EVALUE);
    char big[4400];
    memset(big, '1', 4301);
    assert_int_equal(keel__py_int(big, 4301, &v), KEEL_ERANGE);
    big[4301] = 'x';
    assert_int_equal(keel__py_int(big, 4302, &v), KEEL_EVALUE);
}

static void check_float(const char *in, int rc, double want)
{
    double v = 0;
    assert_int_equal(keel__py_float(in, strlen(in), &v), rc);
    if (rc == 0 && isnan(want))
        assert_true(isnan(v));
    else if (rc == 0)
        assert_true(v == want);
}

static void test_py_float_accepts_what_python_float_accepts(void **state)
{
    check_float("1.5", 0, 1.5);
    check_float(" -1_0.2_5e1_0 ", 0, -10.25e10);
    check_float(".5", 0, 0.5);
    check_float("5.", 0, 5.0);
    check_float("\xd9\xa1.\xd9\xa2", 0, 1.2); /* Arabic-Indic digits */
    check_float("-InFiNiTy", 0, -INFINITY);
    check_float("nan", 0, NAN);
    check_float("1e999", 0, INFINITY);
    check_float("1e", KEEL_EVALUE, 0);
    check_float("1__0", KEEL_EVALUE, 0);
    check_float("_1", KEEL_EVALUE, 0);
    check_float("1_.5", KEEL_EVALUE, 0);
    check_float("infinit", KEEL_EVALUE, 0);
    check_float("", KEEL_EVALUE, 0);
    check_float("0x1p3", KEEL_EVALUE, 0);
    char long_text[200];
    memset(long_text, '1', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    check_float(long_text, 0, 1.1111111111111111e198);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int_accepts_what_python_int_accepts),
        cmocka_unit_test(test_parse_int_saturates_and_limits_digits),
        cmocka_unit_test(test_int_error_cuts_the_repr_at_200_characters),
        cmocka_unit_test(test_py_int_tells_ill_formed_from_too_big),
        cmocka_unit_test(test_py_float_accepts_what_python_float_accepts),
    };
    return cmocka_run_group_tests_name("pycompat/pynum.c", tests, NULL, NULL);
}
