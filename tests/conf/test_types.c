/*
 * Tests for src/conf/types.c (with pynum.c, pyre.c and uri.c under it):
 * option text to typed values as oslo_config.types converts it. Every
 * expected value and reason below is what oslo.config 9.0 on Python 3.11
 * returns or raises for the same input (checked by hand against it; the
 * bulk comparison is tests/interop/conf_types_diff.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/conf.h"
#include "types.h"

/*
 * Converts len bytes of text copied into a block of exactly that size, so
 * AddressSanitizer reports any read past the end (the text is not
 * NUL-terminated for the converter).
 */
static int convert_exact(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *text, size_t len, keel_conf_value_t *out,
                         keel_buf_t *why)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = keel__conf_convert(opt, type, copy, len, out, why);
    free(copy);
    return rc;
}

static void check_ok_n(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *text, size_t len, const char *json)
{
    keel_conf_value_t v;
    keel_buf_t why, out;
    keel_buf_init(&why);
    keel_buf_init(&out);
    int rc = convert_exact(opt, type, text, len, &v, &why);
    if (rc != 0)
        fail_msg("%s \"%s\": rc %d (%s)", keel_conf_type_name(type), text, rc, why.base ? why.base : "");
    assert_int_equal(keel_conf_value_to_json(&v, &out), 0);
    if (strcmp(out.base, json) != 0)
        fail_msg("%s \"%s\": got %s, want %s", keel_conf_type_name(type), text, out.base, json);
    keel__conf_value_clear(&v);
    keel_buf_free(&why);
    keel_buf_free(&out);
}

static void check_bad_n(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *text, size_t len, const char *reason)
{
    keel_conf_value_t v;
    keel_buf_t why;
    keel_buf_init(&why);
    int rc = convert_exact(opt, type, text, len, &v, &why);
    if (rc != KEEL_EVALUE)
        fail_msg("%s \"%s\": rc %d, want KEEL_EVALUE", keel_conf_type_name(type), text, rc);
    assert_int_equal(v.kind, KEEL_CONF_VNONE);
    if (strcmp(why.base ? why.base : "", reason) != 0)
        fail_msg("%s \"%s\": reason \"%s\", want \"%s\"", keel_conf_type_name(type), text, why.base ? why.base : "", reason);
    keel_buf_free(&why);
}

#define OK(opt, type, text, json) check_ok_n(opt, KEEL_CONF_##type, text, strlen(text), json)
#define BAD(opt, type, text, reason) check_bad_n(opt, KEEL_CONF_##type, text, strlen(text), reason)

static const keel_conf_opt_t plain = {.name = "o"};

/* ---- String ---- */

static void test_string_returns_text_unchanged(void **state)
{
    OK(&plain, STRING, "", "\"\"");
    OK(&plain, STRING, " a b ", "\" a b \"");
    OK(&plain, STRING, "'a'", "\"'a'\"");
    OK(NULL, STRING, "\xc3\xa9", "\"\xc3\xa9\"");
    check_ok_n(&plain, KEEL_CONF_STRING, "a\0b", 3, "\"a\\u0000b\"");
}

static void test_string_quotes_strip_one_level(void **state)
{
    static const keel_conf_opt_t q = {.name = "o", .flags = KEEL_CONF_QUOTES};
    OK(&q, STRING, "'a'", "\"a\"");
    OK(&q, STRING, "\"a,b\"", "\"a,b\"");
    OK(&q, STRING, "''", "\"\"");
    OK(&q, STRING, "\"'x'\"", "\"'x'\"");
    OK(&q, STRING, "a'", "\"a'\"");
    OK(&q, STRING, "", "\"\"");
    BAD(&q, STRING, "'", "Non-closed quote: '");
    BAD(&q, STRING, "'a\"", "Non-closed quote: 'a\"");
    BAD(&q, STRING, "\"a\xc3\xa9", "Non-closed quote: \"a\xc3\xa9");
}

static void test_string_max_length_counts_code_points(void **state)
{
    static const keel_conf_opt_t m = {.name = "o", .max_length = 2};
    static const keel_conf_opt_t mq = {.name = "o", .max_length = 2, .flags = KEEL_CONF_QUOTES};
    OK(&m, STRING, "\xc3\xa9\xc3\xa9", "\"\xc3\xa9\xc3\xa9\"");
    BAD(&m, STRING, "abc", "Value 'abc' exceeds maximum length 2");
    OK(&mq, STRING, "'ab'", "\"ab\""); /* quotes come off first */
}

static void test_string_regex_searches_as_python(void **state)
{
    static const keel_conf_opt_t start = {.name = "o", .regex = "^a"};
    static const keel_conf_opt_t end = {.name = "o", .regex = "b$"};
    static const keel_conf_opt_t endz = {.name = "o", .regex = "b\\Z"};
    static const keel_conf_opt_t space = {.name = "o", .regex = "^\\s$"};
    static const keel_conf_opt_t nonspace = {.name = "o", .regex = "^[\\S]$"};
    static const keel_conf_opt_t lazy = {.name = "o", .regex = "^a{,2}b$"};
    static const keel_conf_opt_t uesc = {.name = "o", .regex = "\\u00e9"};
    static const keel_conf_opt_t digit = {.name = "o", .regex = "^\\d$"};
    static const keel_conf_opt_t empty = {.name = "o", .regex = ""};
    OK(&start, STRING, "abc", "\"abc\"");
    BAD(&start, STRING, "bab", "Value 'bab' doesn't match regex '^a'");
    OK(&end, STRING, "ab\n", "\"ab\\n\""); /* '$' matches before a final newline */
    BAD(&endz, STRING, "ab\n", "Value 'ab\\n' doesn't match regex 'b\\\\Z'");
    OK(&endz, STRING, "ab", "\"ab\"");
    OK(&space, STRING, "\x1c", "\"\\u001c\"");                                            /* Python's \s includes U+001C */
    BAD(&space, STRING, "\xe1\xa0\x8e", "Value '\\u180e' doesn't match regex '^\\\\s$'"); /* and not U+180E */
    OK(&nonspace, STRING, "\xe1\xa0\x8e", "\"\xe1\xa0\x8e\"");
    BAD(&nonspace, STRING, "\x1f", "Value '\\x1f' doesn't match regex '^[\\\\S]$'");
    OK(&lazy, STRING, "aab", "\"aab\"");
    BAD(&lazy, STRING, "aaab", "Value 'aaab' doesn't match regex '^a{,2}b$'");
    OK(&uesc, STRING, "caf\xc3\xa9", "\"caf\xc3\xa9\"");
    OK(&digit, STRING, "\xd9\xa3", "\"\xd9\xa3\"");
    OK(&empty, STRING, "anything", "\"anything\"");
}

static void test_string_regex_ignore_case_lowers_like_python(void **state)
{
    static const keel_conf_opt_t az = {.name = "o", .regex = "^[a-z]+$", .flags = KEEL_CONF_IGNORE_CASE};
    static const keel_conf_opt_t azc = {.name = "o", .regex = "^[a-z]+$"};
    OK(&az, STRING, "ABC", "\"ABC\"");
    OK(&az, STRING, "\xc4\xb0stanbul", "\"\xc4\xb0stanbul\""); /* İ lowers to i */
    OK(&az, STRING, "\xc4\xb1", "\"\xc4\xb1\"");               /* ı is i's partner in Python's re */
    OK(&az, STRING, "\xe2\x84\xaa\xc5\xbf", "\"\xe2\x84\xaa\xc5\xbf\"");
    BAD(&az, STRING, "\xc3\xa9", "Value '\xc3\xa9' doesn't match regex '^[a-z]+$'");
    BAD(&azc, STRING, "ABC", "Value 'ABC' doesn't match regex '^[a-z]+$'");
}

static void test_string_regex_invalid_pattern_is_reported(void **state)
{
    static const keel_conf_opt_t broken = {.name = "o", .regex = "(a"};
    BAD(&broken, STRING, "a", "invalid regex '(a'");
}

static void test_string_choices_exact_and_ignore_case(void **state)
{
    static const char *const ab[] = {"a", "B", NULL};
    static const char *const none[] = {NULL};
    static const char *const greek[] = {"\xcf\x83\xce\xb1\xcf\x82", "k", "i\xcc\x87", NULL}; /* σας */
    static const keel_conf_opt_t exact = {.name = "o", .choices = ab};
    static const keel_conf_opt_t fold = {.name = "o", .choices = ab, .flags = KEEL_CONF_IGNORE_CASE};
    static const keel_conf_opt_t empty = {.name = "o", .choices = none};
    static const keel_conf_opt_t g = {.name = "o", .choices = greek, .flags = KEEL_CONF_IGNORE_CASE};
    static const char *const blank[] = {"", NULL};
    static const keel_conf_opt_t fold_blank = {.name = "o", .choices = blank, .flags = KEEL_CONF_IGNORE_CASE};
    OK(&exact, STRING, "a", "\"a\"");
    BAD(&exact, STRING, "A", "Valid values are [a, B], but found 'A'");
    OK(&fold, STRING, "A", "\"A\"");
    OK(&fold, STRING, "b", "\"b\"");
    BAD(&fold, STRING, "c", "Valid values are [a, B], but found 'c'");
    BAD(&empty, STRING, "x", "Valid values are [], but found 'x'");
    OK(&fold_blank, STRING, "", "\"\"");                                        /* lowering "" gives an empty buffer */
    OK(&g, STRING, "\xce\xa3\xce\x91\xce\xa3", "\"\xce\xa3\xce\x91\xce\xa3\""); /* ΣΑΣ lowers to σας */
    OK(&g, STRING, "\xe2\x84\xaa", "\"\xe2\x84\xaa\"");                         /* KELVIN SIGN lowers to k */
    OK(&g, STRING, "\xc4\xb0", "\"\xc4\xb0\"");                                 /* İ lowers to i + U+0307 */
    BAD(&g, STRING, "\xce\xa3\xce\x91\xcf\x83",
        "Valid values are [\xcf\x83\xce\xb1\xcf\x82, k, i\xcc\x87], but found '\xce\xa3\xce\x91\xcf\x83'");
}

static void test_string_choices_and_regex_conflict(void **state)
{
    static const char *const ab[] = {"a", NULL};
    static const keel_conf_opt_t both = {.name = "o", .choices = ab, .regex = "a"};
    BAD(&both, STRING, "a", "'choices' and 'regex' cannot both be specified");
}

/* ---- Boolean ---- */

static void test_bool_accepts_oslo_words_in_any_case(void **state)
{
    OK(&plain, BOOL, "TRUE", "true");
    OK(&plain, BOOL, "Yes", "true");
    OK(&plain, BOOL, "oN", "true");
    OK(&plain, BOOL, "1", "true");
    OK(&plain, BOOL, "fAlSe", "false");
    OK(&plain, BOOL, "no", "false");
    OK(&plain, BOOL, "OFF", "false");
    OK(&plain, BOOL, "0", "false");
    BAD(&plain, BOOL, " true", "Unexpected boolean value ' true'");
    BAD(&plain, BOOL, "", "Unexpected boolean value ''");
    BAD(&plain, BOOL, "tru", "Unexpected boolean value 'tru'");
    BAD(&plain, BOOL, "y", "Unexpected boolean value 'y'");
    BAD(&plain, BOOL, "\xc4\xb0", "Unexpected boolean value '\xc4\xb0'");
}

/* ---- Integer and Port ---- */

static void test_int_follows_python_int_grammar(void **state)
{
    OK(&plain, INT, " 42 ", "42");
    OK(&plain, INT, "+7", "7");
    OK(&plain, INT, "-0", "0");
    OK(&plain, INT, "007", "7");
    OK(&plain, INT, "1_000", "1000");
    OK(&plain, INT, "\xd9\xa3", "3");                    /* ARABIC-INDIC THREE */
    OK(&plain, INT, "-\xef\xbc\x91\xef\xbc\x92", "-12"); /* fullwidth */
    OK(&plain, INT,
       "\xc2\xa0"
       "5\xe3\x80\x80",
       "5"); /* Unicode spaces around */
    OK(&plain, INT, "\n9\n", "9");
    BAD(&plain, INT, "0x10", "invalid literal for int() with base 10: '0x10'");
    BAD(&plain, INT, "1__0", "invalid literal for int() with base 10: '1__0'");
    BAD(&plain, INT, "_1", "invalid literal for int() with base 10: '_1'");
    BAD(&plain, INT, "1_", "invalid literal for int() with base 10: '1_'");
    BAD(&plain, INT, "+_1", "invalid literal for int() with base 10: '+_1'");
    BAD(&plain, INT, "1.0", "invalid literal for int() with base 10: '1.0'");
    BAD(&plain, INT, "1 2", "invalid literal for int() with base 10: '1 2'");
    BAD(&plain, INT, "-", "invalid literal for int() with base 10: '-'");
    BAD(&plain, INT,
        "\x1c"
        "5",
        "invalid literal for int() with base 10: '\\x1c5'");                            /* strip() yes, int() no */
    BAD(&plain, INT, "\xc2\xb2", "invalid literal for int() with base 10: '\xc2\xb2'"); /* a digit, not decimal */
    check_bad_n(&plain, KEEL_CONF_INT, "5\0", 2, "invalid literal for int() with base 10: '5\\x00'");
}

static void test_int_blank_is_none(void **state)
{
    OK(&plain, INT, "", "null");
    OK(&plain, INT, " \t", "null");
    OK(&plain, INT, "\xe3\x80\x80", "null");
    OK(&plain, INT, "\x1c", "null");
    OK(&plain, PORT, "", "null");
    OK(&plain, FLOAT, "  ", "null");
}

static void test_int_rejects_beyond_64_bits(void **state)
{
    OK(&plain, INT, "9223372036854775807", "9223372036854775807");
    OK(&plain, INT, "-9223372036854775808", "-9223372036854775808");
    OK(&plain, INT, "0000000000000000000000000001", "1");
    BAD(&plain, INT, "9223372036854775808", "Integer value 9223372036854775808 is out of range (keel integers are 64-bit)");
    BAD(&plain, INT, "-9223372036854775809", "Integer value -9223372036854775809 is out of range (keel integers are 64-bit)");
    BAD(&plain, INT, "99999999999999999999999", "Integer value 99999999999999999999999 is out of range (keel integers are 64-bit)");
}

static void test_int_min_max_compare_exactly(void **state)
{
    static const keel_conf_opt_t r = {.name = "o", .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX, .min = 1, .max = 10};
    static const keel_conf_opt_t half = {.name = "o", .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX, .min = 0.5, .max = 2.5};
    static const keel_conf_opt_t huge = {.name = "o", .flags = KEEL_CONF_HAS_MAX, .max = 9223372036854775807.0};
    OK(&r, INT, "1", "1");
    OK(&r, INT, "10", "10");
    BAD(&r, INT, "0", "Should be greater than or equal to 1");
    BAD(&r, INT, "11", "Should be less than or equal to 10");
    BAD(&half, INT, "0", "Should be greater than or equal to 0.5");
    OK(&half, INT, "2", "2");
    BAD(&half, INT, "3", "Should be less than or equal to 2.5");
    OK(&huge, INT, "9223372036854775807", "9223372036854775807"); /* max is 2**63 as a double */
}

static void test_int_choices_compare_numbers(void **state)
{
    static const char *const c[] = {"1", "02", "3", "x", "1", NULL};
    static const keel_conf_opt_t ch = {.name = "o", .choices = c, .flags = KEEL_CONF_HAS_MIN, .min = 10};
    static const char *const none[] = {NULL};
    static const keel_conf_opt_t empty = {.name = "o", .choices = none};
    OK(&ch, INT, "2", "2");
    OK(&ch, INT, "+3", "3");
    OK(&ch, INT, "1", "1"); /* with choices, min and max are not checked */
    BAD(&ch, INT, "4", "Valid values are OrderedDict([(1, None), (2, None), (3, None)]), but found 4");
    BAD(&empty, INT, "4", "Valid values are OrderedDict(), but found 4");
    OK(&ch, INT, " ", "null");
}

static void test_port_defaults_to_0_through_65535(void **state)
{
    static const keel_conf_opt_t low = {.name = "o", .flags = KEEL_CONF_HAS_MAX, .max = 1024};
    static const char *const c[] = {"80", "443", NULL};
    static const keel_conf_opt_t web = {.name = "o", .choices = c};
    OK(&plain, PORT, "0", "0");
    OK(&plain, PORT, "65535", "65535");
    BAD(&plain, PORT, "65536", "Should be less than or equal to 65535");
    BAD(&plain, PORT, "-1", "Should be greater than or equal to 0");
    BAD(&low, PORT, "2000", "Should be less than or equal to 1024");
    OK(&web, PORT, "443", "443");
    BAD(&web, PORT, "22", "Valid values are OrderedDict([(80, None), (443, None)]), but found 22");
    BAD(&plain, PORT, "http", "invalid literal for int() with base 10: 'http'");
}

/* ---- Float ---- */

static void test_float_follows_python_float_grammar(void **state)
{
    OK(&plain, FLOAT, "1.5", "1.5");
    OK(&plain, FLOAT, ".5", "0.5");
    OK(&plain, FLOAT, "5.", "5.0");
    OK(&plain, FLOAT, " 1e3 ", "1000.0");
    OK(&plain, FLOAT, "1E-5", "1e-05");
    OK(&plain, FLOAT, "1_0.2_5e0_1", "102.5");
    OK(&plain, FLOAT, "-inf", "-Infinity");
    OK(&plain, FLOAT, "+Infinity", "Infinity");
    OK(&plain, FLOAT, "nAn", "NaN");
    OK(&plain, FLOAT, "-nan", "NaN");
    OK(&plain, FLOAT, "1e400", "Infinity");
    OK(&plain, FLOAT, "-1e-400", "-0.0");
    OK(&plain, FLOAT, "\xd9\xa3.\xd9\xa5", "3.5");
    OK(&plain, FLOAT, "0.1", "0.1");
    OK(&plain, FLOAT, "123456789012345678901234567890", "1.2345678901234568e+29");
    BAD(&plain, FLOAT, "1e", "could not convert string to float: '1e'");
    BAD(&plain, FLOAT, ".", "could not convert string to float: '.'");
    BAD(&plain, FLOAT, "1_.5", "could not convert string to float: '1_.5'");
    BAD(&plain, FLOAT, "1._5", "could not convert string to float: '1._5'");
    BAD(&plain, FLOAT, "1_ ", "could not convert string to float: '1_ '");
    BAD(&plain, FLOAT, "infinit", "could not convert string to float: 'infinit'");
    BAD(&plain, FLOAT, "0x1p3", "could not convert string to float: '0x1p3'");
    BAD(&plain, FLOAT, "nan(1)", "could not convert string to float: 'nan(1)'");
    BAD(&plain, FLOAT, "1,5", "could not convert string to float: '1,5'");
    BAD(&plain, FLOAT, "--1", "could not convert string to float: '--1'");
}

static void test_float_min_max_let_nan_through(void **state)
{
    static const keel_conf_opt_t r = {.name = "o", .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX, .min = 0, .max = 2.5};
    BAD(&r, FLOAT, "-0.5", "Should be greater than or equal to 0");
    BAD(&r, FLOAT, "3", "Should be less than or equal to 2.5");
    BAD(&r, FLOAT, "inf", "Should be less than or equal to 2.5");
    OK(&r, FLOAT, "nan", "NaN");
    OK(&r, FLOAT, "2.5", "2.5");
}

static void test_float_long_text_uses_heap_scratch(void **state)
{
    char text[600];
    memset(text, ' ', sizeof(text));
    memcpy(text + 250, "1_2.5e1", 7);
    check_ok_n(&plain, KEEL_CONF_FLOAT, text, sizeof(text), "125.0");
    check_ok_n(&plain, KEEL_CONF_INT, text, 253, "12");
}

/* ---- IPAddress, Hostname, HostAddress ---- */

static void test_ip_checks_each_version(void **state)
{
    static const keel_conf_opt_t v4 = {.name = "o", .ip_version = 4};
    static const keel_conf_opt_t v6 = {.name = "o", .ip_version = 6};
    static const keel_conf_opt_t v5 = {.name = "o", .ip_version = 5};
    OK(&v4, IP, "1.2.3.4", "\"1.2.3.4\"");
    BAD(&v4, IP, "01.2.3.4", "01.2.3.4 is not an IPv4 address");
    BAD(&v4, IP, "::1", "::1 is not an IPv4 address");
    OK(&v6, IP, "::1", "\"::1\"");
    BAD(&v6, IP, "1.2.3.4", "1.2.3.4 is not an IPv6 address");
    OK(&plain, IP, "::ffff:1.2.3.4", "\"::ffff:1.2.3.4\"");
    OK(&plain, IP, "1:2:3:4:5:6:7:8", "\"1:2:3:4:5:6:7:8\"");
    OK(&plain, IP, "1:2:3:4:5:6:7::", "\"1:2:3:4:5:6:7::\""); /* "::" for the last group */
    BAD(&plain, IP, "1:2:3:4:5:6:7:8::", "1:2:3:4:5:6:7:8:: is not IPv4 or IPv6 address");
    BAD(&plain, IP, "fe80::1%eth0", "fe80::1%eth0 is not IPv4 or IPv6 address");
    BAD(&plain, IP, "1.2.3.4 ", "1.2.3.4  is not IPv4 or IPv6 address");
    BAD(&plain, IP, "", "IP address cannot be an empty string");
    BAD(&v5, IP, "1.2.3.4", "5 is not a valid IP version.");
}

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static void test_ip_agrees_with_inet_pton(void **state)
{
    /* netaddr's INET_PTON check is glibc's inet_pton(); keel reimplements
     * it, so compare the two on many near-addresses. */
    static const char *const pieces[] = {"0", "1", "9", "00", "255",     "256", "a", "F", "ffff", "12345",   ".",
                                         ".", ":", ":", "::", "1.2.3.4", "%",   " ", "x", "0.0",  "::ffff:", "01"};
    static const keel_conf_opt_t v4 = {.name = "o", .ip_version = 4};
    static const keel_conf_opt_t v6 = {.name = "o", .ip_version = 6};
    char text[80];
    unsigned char addr[16];
    for (int i = 0; i < 200000; i++) {
        size_t n = 0, parts = rng_next() % 12;
        for (size_t k = 0; k < parts; k++) {
            const char *p = pieces[rng_next() % (sizeof(pieces) / sizeof(pieces[0]))];
            if (n + strlen(p) >= sizeof(text))
                break;
            memcpy(text + n, p, strlen(p));
            n += strlen(p);
        }
        text[n] = '\0';
        keel_conf_value_t v;
        bool want4 = n > 0 && inet_pton(AF_INET, text, addr) == 1;
        bool want6 = n > 0 && inet_pton(AF_INET6, text, addr) == 1;
        int rc4 = convert_exact(&v4, KEEL_CONF_IP, text, n, &v, NULL);
        keel__conf_value_clear(&v);
        int rc6 = convert_exact(&v6, KEEL_CONF_IP, text, n, &v, NULL);
        keel__conf_value_clear(&v);
        if ((rc4 == 0) != want4 || (rc6 == 0) != want6)
            fail_msg("\"%s\": keel v4 %d v6 %d, inet_pton v4 %d v6 %d", text, rc4, rc6, want4, want6);
    }
}

static void test_hostname_follows_oslo_rules(void **state)
{
    char label63[64], label64[65], long253[254], long254[255];
    memset(label63, 'a', 63), label63[63] = '\0';
    memset(label64, 'a', 64), label64[64] = '\0';
    memset(long253, 'a', 253), long253[253] = '\0';
    for (int i = 50; i < 253; i += 51)
        long253[i] = '.';
    memcpy(long254, long253, 253), long254[253] = 'b', long254[254] = '\0';
    OK(&plain, HOSTNAME, "example.com", "\"example.com\"");
    OK(&plain, HOSTNAME, "example.com.", "\"example.com\""); /* the trailing dot is dropped */
    OK(&plain, HOSTNAME, "a-b.c0", "\"a-b.c0\"");
    OK(&plain, HOSTNAME, "abc\n", "\"abc\\n\""); /* '$' matches before a final newline */
    OK(&plain, HOSTNAME, "ab\n.com", "\"ab\\n.com\"");
    OK(&plain, HOSTNAME, "\xc4\xb0stanbul.com", "\"\xc4\xb0stanbul.com\""); /* re.IGNORECASE lets İ in */
    OK(&plain, HOSTNAME, label63, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");
    BAD(&plain, HOSTNAME, label64, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa is an invalid hostname");
    keel_conf_value_t v;
    assert_int_equal(convert_exact(&plain, KEEL_CONF_HOSTNAME, long253, 253, &v, NULL), 0);
    keel__conf_value_clear(&v);
    assert_int_equal(convert_exact(&plain, KEEL_CONF_HOSTNAME, long254, 254, &v, NULL), KEEL_EVALUE);
    BAD(&plain, HOSTNAME, "", "Cannot have an empty hostname");
    BAD(&plain, HOSTNAME, "a.b-", "a.b- is an invalid hostname");
    BAD(&plain, HOSTNAME, "-a.com", "-a.com is an invalid hostname");
    BAD(&plain, HOSTNAME, "a..b", "a..b is an invalid hostname");
    BAD(&plain, HOSTNAME, "a_b.com", "a_b.com is an invalid hostname");
    BAD(&plain, HOSTNAME, "a-\n", "a-\n is an invalid hostname");
    BAD(&plain, HOSTNAME, "1.2.3.4",
        "1.2.3.4 contains no non-numeric characters in the top-level domain part of the host name and is invalid");
    BAD(&plain, HOSTNAME, "a..",
        "a. contains no non-numeric characters in the top-level domain part of the host name and is invalid");
}

static void test_host_tries_ip_then_hostname(void **state)
{
    static const keel_conf_opt_t v4 = {.name = "o", .ip_version = 4};
    OK(&plain, HOST, "1.2.3.4", "\"1.2.3.4\"");
    OK(&plain, HOST, "::1", "\"::1\"");
    OK(&plain, HOST, "Example.COM.", "\"Example.COM\"");
    BAD(&v4, HOST, "::1", "::1 is not a valid host address");
    BAD(&plain, HOST, "256.1.1.1", "256.1.1.1 is not a valid host address");
    BAD(&plain, HOST, "", " is not a valid host address");
}

/* ---- URI ---- */

static void test_uri_follows_rfc3986_validator(void **state)
{
    OK(&plain, URI, "http://example.com", "\"http://example.com\"");
    OK(&plain, URI, "rabbit://u:p@[::1]:5672/vhost?x=1#f", "\"rabbit://u:p@[::1]:5672/vhost?x=1#f\"");
    OK(&plain, URI, "http://:80", "\"http://:80\"");                      /* an empty host is present */
    OK(&plain, URI, "http://example.com\n", "\"http://example.com\\n\""); /* '$' again */
    OK(&plain, URI, "http://[fe80::1%25eth0]/", "\"http://[fe80::1%25eth0]/\"");
    OK(&plain, URI, "http://x/a b/\xc3\xa9", "\"http://x/a b/\xc3\xa9\""); /* the path is percent-encoded first */
    BAD(&plain, URI, "example.com", "host, scheme were required but missing");
    BAD(&plain, URI, "http://", "host was required but missing");
    BAD(&plain, URI, "//example.com", "scheme was required but missing");
    BAD(&plain, URI, "http://256.1.1.1/", "host was required but missing");
    BAD(&plain, URI, "http://[fe80::1%eth0]/", "host was found to be invalid");
    BAD(&plain, URI, "http://x/[a]", "path was found to be invalid");
    BAD(&plain, URI, "http://exa mple.com", "host was required but missing");
    BAD(&plain, URI, "", "host, scheme were required but missing");
}

static void test_uri_schemes_and_max_length(void **state)
{
    static const char *const web[] = {"https", "HTTP", NULL};
    static const keel_conf_opt_t s = {.name = "o", .schemes = web, .max_length = 20};
    OK(&s, URI, "http://example.com", "\"http://example.com\"");
    BAD(&s, URI, "HTTP://example.com", "scheme was required to be one of ['http', 'https'] but was 'HTTP'");
    BAD(&s, URI, "ftp://example.com", "scheme was required to be one of ['http', 'https'] but was 'ftp'");
    BAD(&s, URI, "https://example.com/x", "Value 'https://example.com/x' exceeds maximum length 20");
}

/* ---- List and Dict ---- */

static void test_list_splits_strips_and_drops_trailing_commas(void **state)
{
    static const keel_conf_opt_t ints = {.name = "o", .item_type = KEEL_CONF_INT};
    OK(&plain, LIST, "a, b ,c", "[\"a\", \"b\", \"c\"]");
    OK(&plain, LIST, "a,b,,,", "[\"a\", \"b\"]");
    OK(&plain, LIST, "a,,b", "[\"a\", \"\", \"b\"]");
    OK(&plain, LIST, "a, ,", "[\"a\", \"\"]");
    OK(&plain, LIST, "", "[]");
    OK(&plain, LIST, " , ", "[]");
    OK(&plain, LIST,
       "\xe3\x80\x80"
       "a,b\xe3\x80\x80",
       "[\"a\", \"b\"]");
    OK(&ints, LIST, "1,,2", "[1, null, 2]");
    OK(&ints, LIST, " 1 , 2 ", "[1, 2]");
}

static void test_list_merges_parts_until_an_item_converts(void **state)
{
    static const keel_conf_opt_t q = {.name = "o", .flags = KEEL_CONF_QUOTES};
    static const keel_conf_opt_t ints = {.name = "o", .item_type = KEEL_CONF_INT};
    static const keel_conf_opt_t uris = {.name = "o", .item_type = KEEL_CONF_URI};
    OK(&q, LIST, "'a,b',c", "[\"a,b\", \"c\"]");
    OK(&q, LIST, "\"x, y\"", "[\"x, y\"]");
    BAD(&q, LIST, "'a,b", "Non-closed quote: 'a,b");
    BAD(&ints, LIST, "1,x", "invalid literal for int() with base 10: 'x'");
    BAD(&ints, LIST, "x,1", "invalid literal for int() with base 10: 'x,1'");   /* the last attempt's reason */
    BAD(&uris, LIST, "http://a/b,c", "host, scheme were required but missing"); /* no going back: "c" fails */
    OK(&uris, LIST, "http://a/b,http://c", "[\"http://a/b\", \"http://c\"]");
}

static void test_list_bounds_need_brackets(void **state)
{
    static const keel_conf_opt_t b = {.name = "o", .flags = KEEL_CONF_BOUNDS};
    OK(&b, LIST, " [a, b] ", "[\"a\", \"b\"]");
    OK(&b, LIST, "[a,]", "[\"a\", \"\"]");
    OK(&b, LIST, "[]", "[]");
    BAD(&b, LIST, "a", "Value should start with \"[\"");
    BAD(&b, LIST, "[a", "Value should end with \"]\"");
    BAD(&b, LIST, "", "Value should start with \"[\"");
}

static void test_dict_reads_name_value_pairs(void **state)
{
    static const keel_conf_opt_t ints = {.name = "o", .item_type = KEEL_CONF_INT};
    static const keel_conf_opt_t b = {.name = "o", .flags = KEEL_CONF_BOUNDS};
    OK(&plain, DICT, "a:1, b : 2 ", "{\"a\": \"1\", \"b\": \"2\"}");
    OK(&plain, DICT, "a:b:c", "{\"a\": \"b:c\"}");
    OK(&plain, DICT, "a,b:1", "{\"a,b\": \"1\"}"); /* "a" fails, "a,b:1" converts */
    OK(&plain, DICT, "", "{}");
    OK(&ints, DICT, "x:1,y:", "{\"x\": 1, \"y\": null}");
    OK(&b, DICT, "{a:1}", "{\"a\": \"1\"}");
    OK(&b, DICT, "{}", "{}");
    BAD(&plain, DICT, "a:1,a:2", "Duplicate key a");
    BAD(&plain, DICT, ":1", "Key name should not be empty");
    BAD(&plain, DICT, "a", "Value should be NAME:VALUE pairs separated by \",\"");
    BAD(&plain, DICT, "a:1,", "Value should be NAME:VALUE pairs separated by \",\"");
    BAD(&plain, DICT, "k:x,y", "Value should be NAME:VALUE pairs separated by \",\"");
    BAD(&ints, DICT, "a:x", "invalid literal for int() with base 10: 'x'");
    BAD(&b, DICT, "a:1", "Value should start with \"{\"");
    BAD(&b, DICT, "{a:1", "Value should end with \"}\"");
}

/* ---- Whole-call behaviour ---- */

static void test_convert_rejects_malformed_utf8(void **state)
{
    static const char *const bad[] = {"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf", "ok,\xe2\x82"};
    static const keel_conf_type_t types[] = {KEEL_CONF_STRING, KEEL_CONF_INT,  KEEL_CONF_FLOAT, KEEL_CONF_BOOL, KEEL_CONF_HOST,
                                             KEEL_CONF_URI,    KEEL_CONF_LIST, KEEL_CONF_DICT,  KEEL_CONF_IP,   KEEL_CONF_HOSTNAME};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
            check_bad_n(&plain, types[t], bad[i], strlen(bad[i]), "Value is not valid UTF-8");
}

static void test_convert_rejects_types_it_cannot_hold(void **state)
{
    static const keel_conf_opt_t nested = {.name = "o", .item_type = KEEL_CONF_LIST};
    keel_conf_value_t v;
    assert_int_equal(keel__conf_convert(&plain, KEEL_CONF_MULTI, "a", 1, &v, NULL), KEEL_EINVAL);
    assert_int_equal(keel__conf_convert(&plain, KEEL_CONF_TYPE_COUNT_, "a", 1, &v, NULL), KEEL_EINVAL);
    assert_int_equal(keel__conf_convert(&plain, KEEL_CONF_STRING, NULL, 1, &v, NULL), KEEL_EINVAL);
    assert_int_equal(keel__conf_convert(&plain, KEEL_CONF_STRING, NULL, 0, &v, NULL), 0);
    keel__conf_value_clear(&v);
    BAD(&nested, LIST, "a", "item_type must be a scalar type, not list");
    OK(&nested, LIST, "", "[]");
}

/* Allocator that fails the Nth allocation (0 = never). */
static int alloc_count, fail_at;

static void *failing_malloc(size_t n)
{
    return (fail_at && ++alloc_count == fail_at) ? NULL : malloc(n);
}

static void *failing_realloc(void *p, size_t n)
{
    return (fail_at && ++alloc_count == fail_at) ? NULL : realloc(p, n);
}

static void *failing_calloc(size_t c, size_t n)
{
    return (fail_at && ++alloc_count == fail_at) ? NULL : calloc(c, n);
}

/* Fails allocation 1, 2, ... until the conversion succeeds: each failure
 * must be KEEL_ENOMEM with nothing left behind (ASan checks for leaks). */
static void check_oom_ladder(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *text, const char *json)
{
    int rc = KEEL_ENOMEM, n;
    for (n = 1; rc == KEEL_ENOMEM; n++) {
        keel_conf_value_t v;
        keel_buf_t why;
        keel_buf_init(&why);
        alloc_count = 0, fail_at = n;
        rc = keel__conf_convert(opt, type, text, strlen(text), &v, &why);
        fail_at = 0;
        if (rc == KEEL_ENOMEM) {
            assert_int_equal(v.kind, KEEL_CONF_VNONE);
        } else {
            assert_int_equal(rc, 0);
            keel_buf_t out;
            keel_buf_init(&out);
            assert_int_equal(keel_conf_value_to_json(&v, &out), 0);
            assert_string_equal(out.base, json);
            keel_buf_free(&out);
        }
        keel__conf_value_clear(&v);
        keel_buf_free(&why);
        assert_true(n < 10000);
    }
    assert_true(n >= 3); /* at least one allocation failed on the way */
}

static void test_convert_survives_allocation_failure(void **state)
{
    static const keel_conf_opt_t strs = {
        .name = "o", .regex = "^[a-z,]+$", .flags = KEEL_CONF_IGNORE_CASE | KEEL_CONF_QUOTES, .item_type = KEEL_CONF_STRING};
    static const char *const schemes[] = {"HTTP", "amqp", NULL};
    static const keel_conf_opt_t uris = {.name = "o", .item_type = KEEL_CONF_URI, .schemes = schemes};
    static const keel_conf_opt_t ints = {.name = "o", .item_type = KEEL_CONF_INT};
    static const char *const c[] = {"X", "y", NULL};
    static const keel_conf_opt_t choice = {.name = "o", .choices = c, .flags = KEEL_CONF_IGNORE_CASE};
    keel_replace_allocator(failing_malloc, failing_realloc, failing_calloc, free);
    check_oom_ladder(&strs, KEEL_CONF_LIST, "'A,b',c,D,e,f,g,h,i,j",
                     "[\"A,b\", \"c\", \"D\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\"]");
    check_oom_ladder(&ints, KEEL_CONF_DICT, "a:1,b:2,c,d:3,e:4", "{\"a\": 1, \"b\": 2, \"c,d\": 3, \"e\": 4}");
    check_oom_ladder(&uris, KEEL_CONF_LIST, "http://a/,amqp://[::1]:5672/v", "[\"http://a/\", \"amqp://[::1]:5672/v\"]");
    check_oom_ladder(&choice, KEEL_CONF_DICT, "k:x,l:Y", "{\"k\": \"x\", \"l\": \"Y\"}");
    check_oom_ladder(&plain, KEEL_CONF_FLOAT, "                                                                                1.5",
                     "1.5");
    keel_replace_allocator(malloc, realloc, calloc, free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_returns_text_unchanged),
        cmocka_unit_test(test_string_quotes_strip_one_level),
        cmocka_unit_test(test_string_max_length_counts_code_points),
        cmocka_unit_test(test_string_regex_searches_as_python),
        cmocka_unit_test(test_string_regex_ignore_case_lowers_like_python),
        cmocka_unit_test(test_string_regex_invalid_pattern_is_reported),
        cmocka_unit_test(test_string_choices_exact_and_ignore_case),
        cmocka_unit_test(test_string_choices_and_regex_conflict),
        cmocka_unit_test(test_bool_accepts_oslo_words_in_any_case),
        cmocka_unit_test(test_int_follows_python_int_grammar),
        cmocka_unit_test(test_int_blank_is_none),
        cmocka_unit_test(test_int_rejects_beyond_64_bits),
        cmocka_unit_test(test_int_min_max_compare_exactly),
        cmocka_unit_test(test_int_choices_compare_numbers),
        cmocka_unit_test(test_port_defaults_to_0_through_65535),
        cmocka_unit_test(test_float_follows_python_float_grammar),
        cmocka_unit_test(test_float_min_max_let_nan_through),
        cmocka_unit_test(test_float_long_text_uses_heap_scratch),
        cmocka_unit_test(test_ip_checks_each_version),
        cmocka_unit_test(test_ip_agrees_with_inet_pton),
        cmocka_unit_test(test_hostname_follows_oslo_rules),
        cmocka_unit_test(test_host_tries_ip_then_hostname),
        cmocka_unit_test(test_uri_follows_rfc3986_validator),
        cmocka_unit_test(test_uri_schemes_and_max_length),
        cmocka_unit_test(test_list_splits_strips_and_drops_trailing_commas),
        cmocka_unit_test(test_list_merges_parts_until_an_item_converts),
        cmocka_unit_test(test_list_bounds_need_brackets),
        cmocka_unit_test(test_dict_reads_name_value_pairs),
        cmocka_unit_test(test_convert_rejects_malformed_utf8),
        cmocka_unit_test(test_convert_rejects_types_it_cannot_hold),
        cmocka_unit_test(test_convert_survives_allocation_failure),
    };
    return cmocka_run_group_tests_name("conf/types.c", tests, NULL, NULL);
}
