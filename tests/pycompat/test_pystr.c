/* Tests for src/pycompat/pystr.c: Python str semantics over UTF-8 bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <locale.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "pycompat/pystr.h"

static void test_utf8_decode_accepts_each_length(void **state)
{
    uint32_t cp;
    assert_int_equal(keel__utf8_decode("a", 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(keel__utf8_decode("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(keel__utf8_decode("\xe3\x80\x80", 3, &cp), 3);
    assert_int_equal(cp, 0x3000);
    assert_int_equal(keel__utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
}

static void test_utf8_decode_rejects_malformed(void **state)
{
    uint32_t cp;
    assert_int_equal(keel__utf8_decode("\xc0\x80", 2, &cp), 0);         /* overlong NUL */
    assert_int_equal(keel__utf8_decode("\xe0\x80\xaf", 3, &cp), 0);     /* overlong '/' */
    assert_int_equal(keel__utf8_decode("\xed\xa0\x80", 3, &cp), 0);     /* surrogate */
    assert_int_equal(keel__utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0); /* > U+10FFFF */
    assert_int_equal(keel__utf8_decode("\xe3\x80", 2, &cp), 0);         /* truncated */
    assert_int_equal(keel__utf8_decode("\x80", 1, &cp), 0);             /* lone continuation */
    assert_int_equal(keel__utf8_decode("\xff", 1, &cp), 0);
    assert_int_equal(keel__utf8_decode("", 0, &cp), 0);
    assert_false(keel__utf8_valid("ab\xc3", 3));
    assert_true(keel__utf8_valid("ab\xc3\xa9", 4));
}

static void test_utf8_length_counts_code_points(void **state)
{
    assert_int_equal(keel__utf8_length("", 0), 0);
    assert_int_equal(keel__utf8_length("abc", 3), 3);
    assert_int_equal(keel__utf8_length("\xc3\xa9t\xc3\xa9", 5), 3);
    assert_int_equal(keel__utf8_length("\xf0\x9f\x98\x80", 4), 1);
}

static void test_py_isspace_is_python_set(void **state)
{
    /* str.isspace() is true for exactly these (Python 3.11). */
    static const uint32_t spaces[] = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x1C,   0x1D,   0x1E,   0x1F,   0x20,
                                      0x85,   0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
                                      0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    size_t n = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (keel__py_isspace(cp)) {
            assert_true(n < sizeof(spaces) / sizeof(spaces[0]));
            assert_int_equal(cp, spaces[n]);
            n++;
        }
    }
    assert_int_equal(n, sizeof(spaces) / sizeof(spaces[0]));
}

static void check_strip(const char *s, const char *want)
{
    size_t b = 0, e = strlen(s);
    keel__py_strip(s, &b, &e);
    assert_int_equal(e - b, strlen(want));
    assert_memory_equal(s + b, want, e - b);
}

static void test_py_strip_removes_unicode_spaces(void **state)
{
    check_strip("  a b  ", "a b");
    check_strip("\xe3\x80\x80x\xc2\xa0", "x");                             /* U+3000, U+00A0 */
    check_strip("\x1c\x1dx\x1e\x1f", "x");                                 /* str.strip() strips U+001C..1F */
    check_strip("\xe2\x80\x8bx\xe2\x80\x8b", "\xe2\x80\x8bx\xe2\x80\x8b"); /* U+200B is not a space */
    check_strip("\xe1\xa0\x8ex", "\xe1\xa0\x8ex");                         /* U+180E is not, since Unicode 6.3 */
    check_strip("", "");
    check_strip(" \t\n", "");
}

static void test_py_rstrip_removes_multibyte_space_at_start(void **state)
{
    /* A whole text that is one 3-byte space: the look-back must not stop
     * short because the text is shorter than 4 bytes (bug fixed here). */
    check_strip("\xe3\x80\x80", "");
    check_strip("\xe2\x80\x80", "");
    check_strip("a\xe2\x80\x80", "a");
    size_t b = 0, e = 3;
    keel__py_rstrip("\xe3\x80\x80", b, &e);
    assert_int_equal(e, 0);
}

static void test_py_rstrip_stops_at_begin(void **state)
{
    /* Only [begin, end) is looked at, even when the byte before begin
     * would complete a character. */
    const char *s = "\xe3\x80\x80";
    size_t e = 3;
    keel__py_rstrip(s, 1, &e);
    assert_int_equal(e, 3);
}

static void test_py_isprintable_follows_python(void **state)
{
    assert_true(keel__py_isprintable('a'));
    assert_true(keel__py_isprintable(' '));
    assert_true(keel__py_isprintable(0xE9));
    assert_true(keel__py_isprintable(0x1F600));
    assert_false(keel__py_isprintable(0x7F));
    assert_false(keel__py_isprintable(0xAD));   /* soft hyphen, Cf */
    assert_false(keel__py_isprintable(0x378));  /* unassigned */
    assert_false(keel__py_isprintable(0x600));  /* ARABIC NUMBER SIGN, Cf */
    assert_false(keel__py_isprintable(0xE000)); /* private use */
    assert_false(keel__py_isprintable(0x2028));
    assert_false(keel__py_isprintable(0xE0001)); /* LANGUAGE TAG */
}

static void test_py_decimal_reads_every_script(void **state)
{
    assert_int_equal(keel__py_decimal('7'), 7);
    assert_int_equal(keel__py_decimal(0x663), 3);   /* ARABIC-INDIC DIGIT THREE */
    assert_int_equal(keel__py_decimal(0xFF19), 9);  /* FULLWIDTH DIGIT NINE */
    assert_int_equal(keel__py_decimal(0x1D7D9), 1); /* MATHEMATICAL DOUBLE-STRUCK DIGIT ONE */
    assert_int_equal(keel__py_decimal(0x1FBF9), 9); /* SEGMENTED DIGIT NINE */
    assert_int_equal(keel__py_decimal(0xB2), -1);   /* SUPERSCRIPT TWO: a digit, not decimal */
    assert_int_equal(keel__py_decimal(0x2167), -1); /* ROMAN NUMERAL EIGHT */
    assert_int_equal(keel__py_decimal('a'), -1);
    assert_int_equal(keel__py_decimal(0x10FFFF), -1);
}

static void check_lower(const char *s, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__py_lower(&b, s, strlen(s)), 0);
    assert_string_equal(b.base ? b.base : "", want);
    keel_buf_free(&b);
}

static void test_py_lower_is_full_unicode_lower(void **state)
{
    check_lower("ABC xyz", "abc xyz");
    check_lower("\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9"); /* ÉTÉ */
    check_lower("\xc4\xb0", "i\xcc\x87");                  /* İ -> i + COMBINING DOT ABOVE */
    check_lower("\xe2\x84\xaa", "k");                      /* KELVIN SIGN */
    check_lower("\xc3\x9f", "\xc3\x9f");                   /* ß stays */
    check_lower("\xe1\xba\x9e", "\xc3\x9f");               /* ẞ -> ß */
    check_lower("\xf0\x90\x90\x80", "\xf0\x90\x90\xa8");   /* DESERET CAPITAL LONG I */
}

static void test_py_upper_is_full_unicode_upper(void **state)
{
    /* 'café', 'straße', 'ﬁ' ligature, 'ŉ', Kelvin sign stays, Greek final sigma */
    const char *in = "caf\xc3\xa9 stra\xc3\x9f"
                     "e \xef\xac\x81 \xc5\x89 \xe2\x84\xaa \xcf\x82";
    const char *want = "CAF\xc3\x89 STRASSE FI \xca\xbc"
                       "N \xe2\x84\xaa \xce\xa3";
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__py_upper(&b, in, strlen(in)), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
}

static void test_py_lower_applies_final_sigma(void **state)
{
    check_lower("\xce\xa3", "\xcf\x83");                 /* Σ alone: σ */
    check_lower("\xce\x91\xce\xa3", "\xce\xb1\xcf\x82"); /* ΑΣ: ας */
    check_lower("\xce\xa3\xce\x91", "\xcf\x83\xce\xb1"); /* ΣΑ: σα */
    check_lower("\xce\x91\xce\xa3\xce\x91", "\xce\xb1\xcf\x83\xce\xb1");
    check_lower("\xce\x91\xce\xa3 x", "\xce\xb1\xcf\x82 x"); /* a word end */
    check_lower("\xce\x91'\xce\xa3", "\xce\xb1'\xcf\x82");   /* apostrophe is case-ignorable */
    check_lower("\xce\x91\xce\xa3'\xce\x91", "\xce\xb1\xcf\x83'\xce\xb1");
}

static void check_repr(const char *s, size_t len, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__py_repr_str(&b, s, len, 0), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
}

static void test_py_repr_str_chooses_quotes_as_cpython(void **state)
{
    check_repr("abc", 3, "'abc'");
    check_repr("it's", 4, "\"it's\"");
    check_repr("a'b\"c", 5, "'a\\'b\"c'");
    check_repr("say \"x\"", 7, "'say \"x\"'");
    check_repr("", 0, "''");
}

static void test_py_repr_str_escapes_as_cpython(void **state)
{
    check_repr("a\\b", 3, "'a\\\\b'");
    check_repr("\t\n\r", 3, "'\\t\\n\\r'");
    check_repr("\x00\x1c\x7f", 3, "'\\x00\\x1c\\x7f'");
    check_repr("\xc2\xa0", 2, "'\\xa0'");
    check_repr("\xc2\xad", 2, "'\\xad'");
    check_repr("\xcd\xb8", 2, "'\\u0378'");
    check_repr("\xe3\x80\x80", 3, "'\\u3000'");
    check_repr("\xee\x80\x80", 3, "'\\ue000'");
    check_repr("\xf3\xa0\x80\x81", 4, "'\\U000e0001'");
    check_repr("\xc3\xa9\xf0\x9f\x98\x80", 6, "'\xc3\xa9\xf0\x9f\x98\x80'");
}

static void check_float(double f, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__py_repr_float(&b, f), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
}

static void test_py_repr_float_is_shortest_round_trip(void **state)
{
    check_float(0.1, "0.1");
    check_float(1.0, "1.0");
    check_float(-0.0, "-0.0");
    check_float(1e16, "1e+16");
    check_float(1e15, "1000000000000000.0");
    check_float(123456789012345678.0, "1.2345678901234568e+17");
    check_float(0.0001, "0.0001");
    check_float(0.00001, "1e-05");
    check_float(1.5e-5, "1.5e-05");
    check_float(5e-324, "5e-324");
    check_float(1.7976931348623157e308, "1.7976931348623157e+308");
    check_float(0.1 + 0.2, "0.30000000000000004");
    check_float(2.5, "2.5");
    check_float(-1e100, "-1e+100");
    check_float(INFINITY, "inf");
    check_float(-INFINITY, "-inf");
    check_float(NAN, "nan");
}

static void test_py_repr_float_ignores_program_locale(void **state)
{
    /* A program that calls setlocale() with a ',' decimal locale must
     * still get Python's text (bug fixed here: snprintf/strtod followed
     * LC_NUMERIC). Needs a comma locale; the meson test builds one with
     * localedef into LOCPATH when it can. */
    static const char *const comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", NULL};
    const char *got = NULL;
    for (const char *const *l = comma_locales; *l && got == NULL; l++)
        got = setlocale(LC_NUMERIC, *l);
    if (got == NULL)
        skip();
    assert_string_equal(localeconv()->decimal_point, ",");
    check_float(0.5, "0.5");
    check_float(1.25e-7, "1.25e-07");
    check_float(123.456, "123.456");
    setlocale(LC_NUMERIC, "C");
}

static void test_py_lower_keeps_bytes_that_are_not_utf8(void **state)
{
    check_lower("FILTERS_PATH", "filters_path");
    check_lower("\xc3\x84rger", "\xc3\xa4rger"); /* Ärger */
    check_lower("a\xff", "a\xff");
    check_lower("\xed\xa0\x80X", "\xed\xa0\x80x"); /* an encoded surrogate is three such bytes */
    /* Python reads \xff as U+DCFF: neither cased nor case-ignorable, so the
     * sigma before it ends a word and the one after it starts one. */
    check_lower("\xce\x91\xce\xa3\xff", "\xce\xb1\xcf\x82\xff");
    check_lower("\xff\xce\xa3", "\xff\xcf\x83");
}

/* A sink that takes at most limit bytes in all, then fails. */
typedef struct {
    char text[64];
    size_t len, limit;
} small_sink_t;

static int small_put(void *sink, const char *p, size_t n)
{
    small_sink_t *k = sink;
    if (k->len + n > k->limit)
        return KEEL_ENOMEM;
    memcpy(k->text + k->len, p, n);
    k->len += n;
    return 0;
}

static void test_py_lower_to_writes_through_any_sink(void **state)
{
    small_sink_t k = {.limit = 63};
    assert_int_equal(keel__py_lower_to(small_put, &k, "\xce\x91\xce\xa3 OK", 7), 0);
    assert_int_equal(k.len, 7);
    assert_memory_equal(k.text, "\xce\xb1\xcf\x82 ok", 7);
    small_sink_t full = {.limit = 3};
    assert_int_equal(keel__py_lower_to(small_put, &full, "ABCDEF", 6), KEEL_ENOMEM);
}

static void test_py_strip_reads_bytes_that_are_not_utf8_as_non_space(void **state)
{
    const char *s = "\xe3\x80\x80\x1c a b\xc2\xa0\t";
    size_t b = 0, e = strlen(s);
    keel__py_strip(s, &b, &e);
    assert_int_equal(e - b, 3);
    assert_memory_equal(s + b, "a b", 3);
    check_strip("\xff \xff", "\xff \xff");
    check_strip(" \x80\xc2\xa0", "\x80");            /* a stray continuation byte, then U+00A0 */
    check_strip("\xe3\x80\xe3\x80\x80", "\xe3\x80"); /* a truncated U+3000 is not a space */
}

static void check_repr_flags(const char *s, size_t len, unsigned flags, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__py_repr_str(&b, s, len, flags), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
}

static void test_py_repr_str_shows_bytes_that_are_not_utf8(void **state)
{
    check_repr("\xff", 1, "'\\udcff'"); /* as Python shows surrogateescape's U+DCFF */
    check_repr("a\tb\n\x7f\x1b", 6, "'a\\tb\\n\\x7f\\x1b'");
    check_repr("\xc2\x85\xe2\x80\xa8", 5, "'\\x85\\u2028'");
    check_repr("\xed\xa0\x80", 3, "'\\udced\\udca0\\udc80'");
    check_repr_flags("a\xff", 2, KEEL__PY_REPR_HEX_BYTES, "'a\\xff'");
    check_repr_flags("\xed\xa0\x80\xff", 4, KEEL__PY_REPR_SURROGATEPASS, "'\\ud800\\udcff'");
}

static void test_py_repr_str_ascii_only_is_ascii(void **state)
{
    check_repr_flags("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, KEEL__PY_REPR_ASCII_ONLY, "'caf\\xe9 \\U0001f600'");
    check_repr_flags("it's \xe2\x82\xac", 8, KEEL__PY_REPR_ASCII_ONLY, "\"it's \\u20ac\"");
}

static void test_py_next_cp_reads_as_surrogateescape(void **state)
{
    uint32_t cp;
    assert_int_equal(keel__py_next_cp("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(keel__py_next_cp("\xc3", 1, &cp), 1);
    assert_int_equal(cp, 0xDCC3);
    assert_int_equal(keel__py_next_cp("\xed\xa0\x80", 3, &cp), 1);
    assert_int_equal(cp, 0xDCED);
    assert_int_equal(keel__py_next_cp_surrogatepass("\xed\xa0\x80", 3, &cp), 3);
    assert_int_equal(cp, 0xD800);
    assert_int_equal(keel__py_next_cp_surrogatepass("\xed\xbf\xbf", 3, &cp), 3);
    assert_int_equal(cp, 0xDFFF);
    assert_int_equal(keel__py_next_cp_surrogatepass("\xed\x9f\xbf", 3, &cp), 3);
    assert_int_equal(cp, 0xD7FF);
    assert_int_equal(keel__py_next_cp_surrogatepass("\xed\xa0", 2, &cp), 1);
    assert_int_equal(cp, 0xDCED);
    assert_int_equal(keel__utf8_invalid_at("ab\xc3\xa9\xff", 5), 4);
    assert_int_equal(keel__utf8_invalid_at("ab", 2), 2);
}

static void test_py_properties_follow_python(void **state)
{
    assert_true(keel__py_isalnum('a') && keel__py_isalnum('7') && keel__py_isalnum(0xE9) && keel__py_isalnum(0x2167));
    assert_false(keel__py_isalnum('_') || keel__py_isalnum(' ') || keel__py_isalnum(0x2028));
    assert_true(keel__py_isdecimal('0') && keel__py_isdecimal(0x663) && keel__py_isdecimal(0x1D7D9));
    assert_false(keel__py_isdecimal(0xB2) || keel__py_isdecimal(0x2167) || keel__py_isdecimal('a'));
    assert_true(keel__py_is_id_start('_') && keel__py_is_id_start(0xE9) && !keel__py_is_id_start('1'));
    assert_true(keel__py_is_id_continue('1') && keel__py_is_id_continue(0x300) && !keel__py_is_id_continue('-'));
    assert_false(keel__py_isprintable(0xD800)); /* lone surrogates are not printable */
    size_t n;
    const uint32_t(*t)[2] = keel__py_table(KEEL__PY_TABLE_SPACE, &n);
    size_t count = 0;
    for (size_t k = 0; k < n; k++)
        count += t[k][1] - t[k][0] + 1;
    assert_int_equal(count, 29); /* the 29 of test_py_isspace_is_python_set */
    t = keel__py_table(KEEL__PY_TABLE_ALNUM, &n);
    assert_true(n > 100);
    assert_int_equal(t[0][0], '0');
}

static void test_py_put_escaped_shows_undecodable_bytes_as_surrogates(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel__py_put_escaped(&b, "a\xff\xc3\xa9", 4);
    assert_string_equal(b.base, "a\\udcff\xc3\xa9");
    keel_buf_free(&b);
}

static void test_py_isidentifier_follows_python(void **state)
{
    assert_true(keel__py_isidentifier("name_1", 6));
    assert_true(keel__py_isidentifier("_", 1));
    assert_true(keel__py_isidentifier("\xc3\xa9t\xc3\xa9", 5));
    assert_false(keel__py_isidentifier("1name", 5));
    assert_false(keel__py_isidentifier("a-b", 3));
    assert_false(keel__py_isidentifier("a\xff", 2));
    assert_false(keel__py_isidentifier("", 0));
}

static void check_float_text(double f, bool add_dot0, const char *want)
{
    char text[KEEL__PY_FLOAT_TEXT_MAX];
    assert_int_equal(keel__py_float_text(text, f, add_dot0), strlen(want));
    assert_string_equal(text, want);
}

static void test_py_float_text_can_leave_out_dot0(void **state)
{
    check_float_text(1.0, false, "1");
    check_float_text(-0.0, false, "-0");
    check_float_text(1e15, false, "1000000000000000");
    check_float_text(2.5, false, "2.5");
    check_float_text(-1.2345678901234568e-300, true, "-1.2345678901234568e-300");
    check_float_text(-123456789012345.67, true, "-123456789012345.67");
    check_float_text(-0.00012345678901234567, true, "-0.00012345678901234567");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode_accepts_each_length),
        cmocka_unit_test(test_utf8_decode_rejects_malformed),
        cmocka_unit_test(test_utf8_length_counts_code_points),
        cmocka_unit_test(test_py_next_cp_reads_as_surrogateescape),
        cmocka_unit_test(test_py_isspace_is_python_set),
        cmocka_unit_test(test_py_strip_removes_unicode_spaces),
        cmocka_unit_test(test_py_rstrip_removes_multibyte_space_at_start),
        cmocka_unit_test(test_py_rstrip_stops_at_begin),
        cmocka_unit_test(test_py_strip_reads_bytes_that_are_not_utf8_as_non_space),
        cmocka_unit_test(test_py_isprintable_follows_python),
        cmocka_unit_test(test_py_decimal_reads_every_script),
        cmocka_unit_test(test_py_properties_follow_python),
        cmocka_unit_test(test_py_isidentifier_follows_python),
        cmocka_unit_test(test_py_lower_is_full_unicode_lower),
        cmocka_unit_test(test_py_lower_applies_final_sigma),
        cmocka_unit_test(test_py_lower_keeps_bytes_that_are_not_utf8),
        cmocka_unit_test(test_py_lower_to_writes_through_any_sink),
        cmocka_unit_test(test_py_upper_is_full_unicode_upper),
        cmocka_unit_test(test_py_repr_str_chooses_quotes_as_cpython),
        cmocka_unit_test(test_py_repr_str_escapes_as_cpython),
        cmocka_unit_test(test_py_repr_str_shows_bytes_that_are_not_utf8),
        cmocka_unit_test(test_py_repr_str_ascii_only_is_ascii),
        cmocka_unit_test(test_py_put_escaped_shows_undecodable_bytes_as_surrogates),
        cmocka_unit_test(test_py_repr_float_is_shortest_round_trip),
        cmocka_unit_test(test_py_repr_float_ignores_program_locale),
        cmocka_unit_test(test_py_float_text_can_leave_out_dot0),
    };
    return cmocka_run_group_tests_name("pycompat/pystr.c", tests, NULL, NULL);
}
