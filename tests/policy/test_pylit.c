/*
 * test_pylit.c — tests of src/policy/pylit.c: ast.literal_eval() of a
 * generic check's kind. Each case is what CPython 3.11 does with the text:
 * a value (compared through str()), ValueError (a dotted credential path)
 * or another exception (the check raises).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pylit.h"

static void value_is(const char *kind, const char *str)
{
    keel__lit_kind_t k;
    char *text;
    size_t n;
    assert_int_equal(keel__pol_literal_eval(kind, strlen(kind), &k, &text, &n, NULL), 0);
    if (k != KEEL__LIT_VALUE)
        fail_msg("%s: expected the value %s, got kind %d", kind, str, (int)k);
    assert_string_equal(text, str);
    assert_int_equal(n, strlen(str));
    keel__free(text);
}

static void kind_is(const char *kind, keel__lit_kind_t expect)
{
    keel__lit_kind_t k;
    char *text;
    size_t n;
    assert_int_equal(keel__pol_literal_eval(kind, strlen(kind), &k, &text, &n, NULL), 0);
    if (k != expect)
        fail_msg("%s: expected kind %d, got %d", kind, (int)expect, (int)k);
    keel__free(text);
}

static void test_literal_numbers_render_as_str_does(void **state)
{
    value_is("1", "1");
    value_is("00", "0");
    value_is("0_0", "0");
    value_is("1_000", "1000");
    value_is("1e5", "100000.0");
    value_is("1.e5", "100000.0");
    value_is(".5", "0.5");
    value_is("5.", "5.0");
    value_is("1E-7", "1e-07");
    value_is("0x1F", "31");
    value_is("0X_1f", "31");
    value_is("0o17", "15");
    value_is("0b101", "5");
    value_is("-1", "-1");
    value_is("-(1)", "-1");
    value_is("-0.0", "-0.0");
    value_is("1e999", "inf");
    value_is("0xffffffffffffffffffffffff", "79228162514264337593543950335");
}

static void test_literal_complex_numbers(void **state)
{
    value_is("1j", "1j");
    value_is("1+2j", "(1+2j)");
    value_is("-1j", "(-0-1j)");
    value_is("-0j", "(-0-0j)");
    value_is("1-0j", "(1+0j)");
    value_is("-0.0-0j", "(-0+0j)");
    value_is("(1)+(2j)", "(1+2j)");
    value_is("1.5-2.5j", "(1.5-2.5j)");
    value_is("1e999j", "infj");
    value_is("-1e999j", "(-0-infj)");
}

static void test_literal_strings_and_containers(void **state)
{
    value_is("'member'", "member");
    value_is("\"member\"", "member");
    value_is("'a' 'b'", "ab");
    value_is("'''a'''", "a");
    value_is("u'x'", "x");
    value_is("r'\\d'", "\\d");
    value_is("'\\d'", "\\d");
    value_is("'\\x41\\u00e9'", "A\xc3\xa9");
    value_is("'\\777'", "\xc7\xbf");
    value_is("b'x'", "b'x'");
    value_is("b'\\777'", "b'\\xff'");
    value_is("rb'\\x'", "b'\\\\x'");
    value_is("True", "True");
    value_is("None", "None");
    value_is("...", "Ellipsis");
    value_is("(1,2)", "(1, 2)");
    value_is("(1,)", "(1,)");
    value_is("()", "()");
    value_is("1,2", "(1, 2)");
    value_is("[1,[2,(3,)]]", "[1, [2, (3,)]]");
    value_is("['a',None,True]", "['a', None, True]");
    value_is("set()", "set()");
    value_is("{}", "{}");
    value_is("{1}", "{1}");
    value_is("{1,1}", "{1}");
    value_is("{(1,2)}", "{(1, 2)}");
    value_is("('a','b')", "('a', 'b')");
}

static void test_names_and_expressions_are_credential_paths(void **state)
{
    const char *paths[] = {"project_id",
                           "user.id",
                           "a.b.c",
                           "\xc3\xa9",
                           "match",
                           "_",
                           "print",
                           "set",
                           "not(1)",
                           "a[1]",
                           "a(1)",
                           "1.0.real",
                           "--1",
                           "+True",
                           "1j+1",
                           "1+2",
                           "[*a]",
                           "{**a}",
                           "f'x'",
                           "f'{a}'",
                           "(yield)",
                           "await x",
                           "True.x",
                           "set(())",
                           "a if b else c",
                           "a<b",
                           "not 1",
                           "a,",
                           "[(x)for(x)in(y)]",
                           "~1",
                           "a\x00"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        kind_is(paths[i], KEEL__LIT_PATH);
    /* str() of an int of more than 4300 digits raises ValueError too. */
    static char big[4000] = "0x";
    memset(big + 2, 'f', 3600); /* 4334 decimal digits */
    big[3602] = '\0';
    kind_is(big, KEEL__LIT_PATH);
}

static void test_syntax_errors_and_type_errors_raise(void **state)
{
    const char *raises[] = {
        "",       "1a",   "$x",   "a$",       "1_",        "0b2",          "09",  "x.1",    "1.a",  "'unterminated",
        "\"",     "(",    ")",    "{[]}",     "{[],1}",    "\xe2\x82\xac", "not", "if",     "a..b", "b'\xc3\xa9'",
        "'\\x4'", "f'{'", "`x`",  "1 2",      "@x",        "!x",           "and", "a.True", "01",   "1if",
        "0o19",   "*a,",  "a<>b", "f(a=1,b)", "f(**a,*b)", "'\\U00110000'"};
    for (size_t i = 0; i < sizeof(raises) / sizeof(raises[0]); i++)
        kind_is(raises[i], KEEL__LIT_RAISES);
    char deep[512];
    memset(deep, '(', 201);
    strcpy(deep + 201, "1");
    memset(deep + 202, ')', 201);
    deep[403] = '\0';
    kind_is(deep, KEEL__LIT_RAISES); /* more than 200 nested brackets */
}

static void test_unsupported_literals_are_reported(void **state)
{
    /* CPython's set order and Unicode character names are not modelled. */
    kind_is("{1,2}", KEEL__LIT_UNSUPPORTED);
    kind_is("'\\N{EM DASH}'", KEEL__LIT_UNSUPPORTED);
}

static void test_whitespace_and_lines(void **state)
{
    kind_is(" a", KEEL__LIT_PATH);
    kind_is("\ta", KEEL__LIT_PATH);
    kind_is("\na", KEEL__LIT_PATH);
    kind_is("a\n", KEEL__LIT_PATH);
    kind_is("#c\na", KEEL__LIT_PATH);
    kind_is("\n a", KEEL__LIT_RAISES);
    kind_is("a\nb", KEEL__LIT_RAISES);
    kind_is("a\\\nb", KEEL__LIT_RAISES);
    value_is("(\n1\n)", "1");
    value_is("1 # c", "1");
    value_is("'a\\\nb'", "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_numbers_render_as_str_does),
        cmocka_unit_test(test_literal_complex_numbers),
        cmocka_unit_test(test_literal_strings_and_containers),
        cmocka_unit_test(test_names_and_expressions_are_credential_paths),
        cmocka_unit_test(test_syntax_errors_and_type_errors_raise),
        cmocka_unit_test(test_unsupported_literals_are_reported),
        cmocka_unit_test(test_whitespace_and_lines),
    };
    return cmocka_run_group_tests_name("policy/pylit.c", tests, NULL, NULL);
}
