/*
 * test_pyobj.c — tests of src/policy/pyobj.c: CPython's printf-style
 * formatting with a mapping, str()/repr() of JSON values and floats, and
 * str.lower(). Expected strings are what Python 3.11 prints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pyobj.h"

static json_t *mapping(void)
{
    json_error_t err;
    json_t *m = json_loads("{\"a\": \"hello\", \"f\": 3.7, \"n\": null, \"t\": true, \"i\": 65, \"neg\": -255, "
                           "\"l\": [1, \"x\", null, 1.5, [true]], \"d\": {\"k\": \"v\", \"n\": [1]}, "
                           "\"u\": \"\\u00e9\\u2028x\\u0000'\\\"\", \"a(b)c\": \"paren\", \"z\": 0, \"big\": 1e300}",
                           JSON_ALLOW_NUL, &err);
    assert_non_null(m);
    return m;
}

/* Formats fmt with the test mapping: returns the text, "KeyError" or "raises". */
static const char *fmt(const char *f, char *out, size_t cap)
{
    json_t *m = mapping();
    keel__pol_fmt_t *c;
    assert_int_equal(keel__pol_fmt_compile(f, strlen(f), &c), 0);
    char st[64];
    keel__pol_sbuf_t s;
    keel__pol_sbuf_init(&s, st, sizeof(st));
    const char *txt;
    size_t n;
    int rc = keel__pol_fmt_apply(c, m, &s, &txt, &n, NULL);
    if (rc == KEEL_ENOENT)
        snprintf(out, cap, "KeyError");
    else if (rc == KEEL_EVALUE)
        snprintf(out, cap, "raises");
    else {
        assert_int_equal(rc, 0);
        snprintf(out, cap, "%.*s", (int)n, txt);
    }
    keel__pol_sbuf_free(&s);
    keel__pol_fmt_free(c);
    json_decref(m);
    return out;
}

#define FMT(f, expect)                                                                                                             \
    do {                                                                                                                           \
        char b_[512];                                                                                                              \
        assert_string_equal(fmt((f), b_, sizeof(b_)), (expect));                                                                   \
    } while (0)

static void test_format_substitutes_keys_like_python(void **state)
{
    FMT("%(a)s", "hello");
    FMT("x%(a)sy%%z", "xhelloy%z");
    FMT("%(a(b)c)s", "paren");
    FMT("%(t)s", "True");
    FMT("%(n)s", "None");
    FMT("%(f)s", "3.7");
    FMT("%(l)s", "[1, 'x', None, 1.5, [True]]");
    FMT("%(d)s", "{'k': 'v', 'n': [1]}");
    FMT("no directives", "no directives");
}

static void test_format_missing_key_is_key_error_and_bad_text_raises(void **state)
{
    FMT("%(missing)s", "KeyError");
    FMT("%(missing)Q", "KeyError"); /* the lookup comes before the conversion */
    FMT("%(a)Q", "raises");
    FMT("%(a", "raises");
    FMT("%", "raises");
    FMT("%(a)", "raises");
    FMT("%(a)*s", "raises");
    FMT("%(a)s%s", "raises"); /* not enough arguments */
    FMT("%(a)%", "raises");
    FMT("%(a)d", "raises");
    FMT("%(f)x", "raises");
    FMT("%(a)c", "raises");
}

static void test_format_whole_mapping_for_a_bare_s(void **state)
{
    char b[512];
    fmt("%s", b, sizeof(b));
    assert_true(strncmp(b, "{'a': 'hello', 'f': 3.7, 'n': None", 34) == 0);
    fmt("%s%s", b, sizeof(b));
    assert_string_equal(b, "raises");
}

static void test_format_numbers_flags_width_precision(void **state)
{
    FMT("%(i)d", "65");
    FMT("%(f)d", "3");
    FMT("%(t)d", "1");
    FMT("%(i)c", "A");
    FMT("%(f)e", "3.700000e+00");
    FMT("%(i)#x", "0x41");
    FMT("%(i)#o", "0o101");
    FMT("%(i)+d", "+65");
    FMT("%(i) d", " 65");
    FMT("%(i)-05d|", "65   |");
    FMT("%(i).5d", "00065");
    FMT("%(i)010.5d", "0000000065");
    FMT("%(f)+.3g", "+3.7");
    FMT("%(neg)x", "-ff");
    FMT("%(neg)#X", "-0XFF");
    FMT("%(neg)#08x", "-0x000ff");
    FMT("%(i)#8x|", "    0x41|");
    FMT("%(a)05s", "hello");
    FMT("%(a)8s|", "   hello|");
    FMT("%(a).1s", "h");
    FMT("%(a)5.2s|", "   he|");
    FMT("%(z).0d|", "0|");
    FMT("%(z)#.0x", "0x0");
    FMT("%(f)#.0f", "4.");
    FMT("%(f)#g", "3.70000");
    FMT("%(i)ld", "65");
    FMT("%(big)d", /* int(1e300), exactly */
        "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864"
        "0437044438328838781769425232353604305756447921847867069828483872009265758037378302337947880900593689"
        "5323497079994508111903896764088007465274278014249457925878882005684283811566947219638686545940054016"
        "0");
}

static void test_format_repr_and_ascii_of_strings(void **state)
{
    FMT("%(u)r", "'\xc3\xa9\\u2028x\\x00\\'\"'");
    FMT("%(u)a", "'\\xe9\\u2028x\\x00\\'\"'");
    FMT("%(d)a", "{'k': 'v', 'n': [1]}");
    FMT("%(u).2s", "\xc3\xa9\xe2\x80\xa8");
}

static void test_float_repr_is_shortest_round_trip(void **state)
{
    struct {
        double x;
        const char *s;
    } cases[] = {{0.1, "0.1"},      {1e16, "1e+16"},     {1e15, "1000000000000000.0"}, {0.0001, "0.0001"}, {0.00001, "1e-05"},
                 {-0.0, "-0.0"},    {1.5e-7, "1.5e-07"}, {123.456, "123.456"},         {2.0, "2.0"},       {1e300, "1e+300"},
                 {5e-324, "5e-324"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel__pol_sbuf_t b;
        keel__pol_sbuf_init(&b, NULL, 0);
        assert_int_equal(keel__pol_float_repr(&b, cases[i].x, true), 0);
        assert_string_equal(keel__pol_sbuf_cstr(&b), cases[i].s);
        keel__pol_sbuf_free(&b);
    }
}

static void lower_is(const char *in, const char *expect)
{
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, NULL, 0);
    assert_int_equal(keel__pol_lower(&b, in, strlen(in)), 0);
    assert_string_equal(keel__pol_sbuf_cstr(&b), expect);
    keel__pol_sbuf_free(&b);
}

static void test_lower_uses_full_mapping_and_final_sigma(void **state)
{
    lower_is("ADMIN", "admin");
    lower_is("M\xc3\x89MB\xc3\x89R", "m\xc3\xa9mb\xc3\xa9r");
    lower_is("\xc4\xb0nsan", "i\xcc\x87nsan");                        /* U+0130 lowers to two code points */
    lower_is("\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x82"); /* ΣΑΣ -> σας */
    lower_is("\xce\xa3", "\xcf\x83");
    lower_is("STRASSE", "strasse");
}

static void test_truthiness_matches_python(void **state)
{
    const char *falsy[] = {"null", "false", "0", "0.0", "\"\"", "[]", "{}"};
    const char *truthy[] = {"true", "1", "-0.5", "\"0\"", "[0]", "{\"a\": null}"};
    for (size_t i = 0; i < sizeof(falsy) / sizeof(falsy[0]); i++) {
        json_t *v = json_loads(falsy[i], JSON_DECODE_ANY, NULL);
        assert_false(keel__pol_truthy(v));
        json_decref(v);
    }
    for (size_t i = 0; i < sizeof(truthy) / sizeof(truthy[0]); i++) {
        json_t *v = json_loads(truthy[i], JSON_DECODE_ANY, NULL);
        assert_true(keel__pol_truthy(v));
        json_decref(v);
    }
}

static void test_sbuf_moves_to_heap_when_storage_runs_out(void **state)
{
    char st[4];
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, st, sizeof(st));
    assert_int_equal(keel__pol_sbuf_append(&b, "ab", 2), 0);
    assert_false(b.heap);
    assert_int_equal(keel__pol_sbuf_append(&b, "cdefgh", 6), 0);
    assert_true(b.heap);
    assert_string_equal(keel__pol_sbuf_cstr(&b), "abcdefgh");
    keel__pol_sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_substitutes_keys_like_python),
        cmocka_unit_test(test_format_missing_key_is_key_error_and_bad_text_raises),
        cmocka_unit_test(test_format_whole_mapping_for_a_bare_s),
        cmocka_unit_test(test_format_numbers_flags_width_precision),
        cmocka_unit_test(test_format_repr_and_ascii_of_strings),
        cmocka_unit_test(test_float_repr_is_shortest_round_trip),
        cmocka_unit_test(test_lower_uses_full_mapping_and_final_sigma),
        cmocka_unit_test(test_truthiness_matches_python),
        cmocka_unit_test(test_sbuf_moves_to_heap_when_storage_runs_out),
    };
    return cmocka_run_group_tests_name("policy/pyobj.c", tests, NULL, NULL);
}
