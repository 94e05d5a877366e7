/* Tests for src/conf/ini.c: oslo.config's INI dialect line by line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/conf/ini.h"

/* Records what the parser reported as "[s]" and "k=v@line" lines. */
typedef struct {
    keel_buf_t log;
} record_t;

static int rec_section(void *data, const char *name, size_t len, unsigned lineno)
{
    record_t *r = data;
    return keel_buf_printf(&r->log, "[%.*s]\n", (int)len, name);
}

static int rec_assign(void *data, const char *key, size_t klen, const char *value, size_t vlen, unsigned lineno)
{
    record_t *r = data;
    return keel_buf_printf(&r->log, "%.*s=%.*s@%u\n", (int)klen, key, (int)vlen, value, lineno);
}

static const keel__ini_handler_t handler = {rec_section, rec_assign};

/* Parses text; returns the status and leaves the record or error in out. */
static int parse(const char *text, keel_buf_t *out)
{
    record_t r;
    keel_buf_init(&r.log);
    keel_buf_t err;
    keel_buf_init(&err);
    int rc = keel__ini_parse(text, strlen(text), &handler, &r, &err);
    keel_buf_reset(out);
    keel_buf_puts(out, rc == 0 ? (r.log.base ? r.log.base : "") : (err.base ? err.base : ""));
    keel_buf_free(&r.log);
    keel_buf_free(&err);
    return rc;
}

static void expect(const char *text, const char *want)
{
    keel_buf_t out;
    keel_buf_init(&out);
    assert_int_equal(parse(text, &out), 0);
    assert_string_equal(out.base ? out.base : "", want);
    keel_buf_free(&out);
}

static void expect_error(const char *text, const char *want)
{
    keel_buf_t out;
    keel_buf_init(&out);
    assert_int_equal(parse(text, &out), KEEL_EPARSE);
    assert_string_equal(out.base, want);
    keel_buf_free(&out);
}

static void test_ini_splits_on_first_of_colon_or_equals(void **state)
{
    expect("[s]\na = 1\nb: 2\nc:d=e\nf=g:h\n", "[s]\na=1@2\nb=2@3\nc=d=e@4\nf=g:h@5\n");
}

static void test_ini_strips_one_level_of_matching_quotes(void **state)
{
    expect("[s]\na = \"x y\"\nb = 'z'\nc = \"\nd = \"'\ne = ''''\n", "[s]\na=x y@2\nb=z@3\nc=@4\nd=\"'@5\ne=''@6\n");
}

static void test_ini_joins_continuation_lines_even_when_they_look_like_comments(void **state)
{
    expect("[s]\na = one\n  two\n\t# three\nb = x\n", "[s]\na=one\ntwo\n# three@2\nb=x@5\n");
}

static void test_ini_blank_line_ends_a_value(void **state)
{
    expect_error("[s]\na = one\n\n  two\n", "4: Unexpected continuation line: '  two'");
}

static void test_ini_comments_and_trailing_space_are_dropped(void **state)
{
    expect("# c\n; c\n[s]  \na = v # not a comment  \n", "[s]\na=v # not a comment@4\n");
}

static void test_ini_trailing_unicode_whitespace_is_stripped(void **state)
{
    expect("[s]\na = v\xc2\xa0\xe3\x80\x80\n", "[s]\na=v@2\n");
}

static void test_ini_universal_newlines(void **state)
{
    expect("[s]\r\na = 1\rb = 2\r\n", "[s]\na=1@2\nb=2@3\n");
}

static void test_ini_reports_bad_lines_like_oslo(void **state)
{
    expect_error("[]\n", "1: Empty section name: '[]'");
    expect_error("[abc\n", "1: Invalid section (must end with ]): '[abc'");
    expect_error("[s]\njust words\n", "2: No ':' or '=' found in assignment: 'just words'");
    expect_error("[s]\n= value\n", "2: Key cannot be empty: '= value'");
    expect_error("  indented first\n", "1: Unexpected continuation line: '  indented first'");
}

static void test_ini_reports_assignment_before_section_to_caller(void **state)
{
    /* oslo's ConfigParser rejects it; the push parser leaves that to the caller */
    expect("a = 1\n", "a=1@1\n");
}

static void test_ini_keeps_section_names_unstripped(void **state)
{
    expect("[ Spaced ]\n", "[ Spaced ]\n");
}

static void test_ini_text_need_not_be_terminated(void **state)
{
    const char text[] = {'[', 's', ']', '\n', 'a', '=', '1'};
    record_t r;
    keel_buf_init(&r.log);
    keel_buf_t err;
    keel_buf_init(&err);
    assert_int_equal(keel__ini_parse(text, sizeof(text), &handler, &r, &err), 0);
    assert_string_equal(r.log.base, "[s]\na=1@2\n");
    keel_buf_free(&r.log);
    keel_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini_splits_on_first_of_colon_or_equals),
        cmocka_unit_test(test_ini_strips_one_level_of_matching_quotes),
        cmocka_unit_test(test_ini_joins_continuation_lines_even_when_they_look_like_comments),
        cmocka_unit_test(test_ini_blank_line_ends_a_value),
        cmocka_unit_test(test_ini_comments_and_trailing_space_are_dropped),
        cmocka_unit_test(test_ini_trailing_unicode_whitespace_is_stripped),
        cmocka_unit_test(test_ini_universal_newlines),
        cmocka_unit_test(test_ini_reports_bad_lines_like_oslo),
        cmocka_unit_test(test_ini_reports_assignment_before_section_to_caller),
        cmocka_unit_test(test_ini_keeps_section_names_unstripped),
        cmocka_unit_test(test_ini_text_need_not_be_terminated),
    };
    return cmocka_run_group_tests_name("conf/ini.c", tests, NULL, NULL);
}
