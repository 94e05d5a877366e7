/* Tests for src/rootwrap/ini.c: configparser.RawConfigParser's dialect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/rootwrap/ini.h"

static keel__rw_ini_t ini;

static int setup(void **state)
{
    keel__rw_ini_init(&ini);
    return 0;
}

static int teardown(void **state)
{
    keel__rw_ini_free(&ini);
    return 0;
}

static int parse(const char *text, bool strict)
{
    return keel__rw_ini_parse(&ini, "t.conf", text, strlen(text), strict, NULL);
}

static const char *value(const char *section, const char *name)
{
    keel__rw_ini_section_t *s = keel__rw_ini_section(&ini, section);
    if (!s)
        return NULL;
    keel__rw_ini_opt_t *o = keel__rw_ini_opt(s, name);
    return o ? o->value.base : NULL;
}

static void test_ini_lowers_names_and_splits_on_first_delimiter(void **state)
{
    assert_int_equal(parse("[Filters]\nCat: CommandFilter, cat, root\na=b:c\nx : y = z\n", true), 0);
    assert_string_equal(value("Filters", "cat"), "CommandFilter, cat, root");
    assert_string_equal(value("Filters", "a"), "b:c");
    assert_string_equal(value("Filters", "x"), "y = z");
}

static void test_ini_keeps_inline_comments_in_values(void **state)
{
    assert_int_equal(parse("[s]\n# full line\n  ; indented\nk = v # not a comment\n", true), 0);
    assert_string_equal(value("s", "k"), "v # not a comment");
}

static void test_ini_continuation_keeps_blank_lines_and_drops_comments(void **state)
{
    assert_int_equal(parse("[s]\nk = a\n\n  b\n  # gone\n\tc\n\n\n", true), 0);
    assert_string_equal(value("s", "k"), "a\n\nb\nc");
}

static void test_ini_indent_counts_characters_not_bytes(void **state)
{
    /* U+3000 is one character of indentation: deeper than "k" at column 0. */
    assert_int_equal(parse("[s]\nk = a\n\xe3\x80\x80more\n", true), 0);
    assert_string_equal(value("s", "k"), "a\nmore");
}

static void test_ini_universal_newlines(void **state)
{
    assert_int_equal(parse("[s]\r\nk = a\r  b\r\nj=1", true), 0);
    assert_string_equal(value("s", "k"), "a\nb");
    assert_string_equal(value("s", "j"), "1");
}

static void test_ini_header_takes_the_last_bracket(void **state)
{
    assert_int_equal(parse("[a]b]\nk=1\n[x] = y\nj=2\n", true), 0);
    assert_string_equal(value("a]b", "k"), "1");
    assert_string_equal(value("x", "j"), "2");
}

static void test_ini_missing_header_is_fatal(void **state)
{
    assert_int_equal(parse("# c\nk=v\n", false), KEEL_EPARSE);
    assert_int_equal(ini.error, KEEL__RW_INI_MISSING_SECTION);
    assert_int_equal(ini.error_line, 2);
}

static void test_ini_bad_lines_are_reported_after_the_file(void **state)
{
    keel_buf_t why;
    keel_buf_init(&why);
    const char *text = "[s]\nbad\nk=1\n=x\n";
    assert_int_equal(keel__rw_ini_parse(&ini, "t.conf", text, strlen(text), false, &why), KEEL_EPARSE);
    assert_int_equal(ini.error, KEEL__RW_INI_PARSING);
    assert_int_equal(ini.error_line, 2);
    assert_string_equal(value("s", "k"), "1"); /* parsing went on */
    assert_non_null(strstr(why.base, "t.conf:2:"));
    keel_buf_free(&why);
}

static void test_ini_duplicates_only_fail_when_strict(void **state)
{
    assert_int_equal(parse("[s]\nk=1\nj=0\nK=2\n", false), 0);
    assert_string_equal(value("s", "k"), "2");
    keel__rw_ini_section_t *s = keel__rw_ini_section(&ini, "s");
    assert_string_equal(((keel__rw_ini_opt_t *)s->opts.items[0])->name, "k"); /* first position kept */
    keel__rw_ini_free(&ini);
    assert_int_equal(parse("[s]\nk=1\nK=2\n", true), KEEL_EPARSE);
    assert_int_equal(ini.error, KEEL__RW_INI_DUPLICATE_OPTION);
    assert_int_equal(ini.error_line, 3);
    keel__rw_ini_free(&ini);
    assert_int_equal(parse("[s]\n[t]\n[s]\n", true), KEEL_EPARSE);
    assert_int_equal(ini.error, KEEL__RW_INI_DUPLICATE_SECTION);
}

static void test_ini_immediate_error_replaces_pending_bad_line(void **state)
{
    assert_int_equal(parse("[s]\n=a\n=b\n", true), KEEL_EPARSE);
    assert_int_equal(ini.error, KEEL__RW_INI_DUPLICATE_OPTION);
    assert_int_equal(ini.error_line, 3);
}

static void test_ini_default_section_may_repeat(void **state)
{
    assert_int_equal(parse("[DEFAULT]\na=1\n[DEFAULT]\nb=2\n", true), 0);
    assert_string_equal(value("DEFAULT", "a"), "1");
    assert_string_equal(value("DEFAULT", "b"), "2");
}

static void test_ini_bad_utf8_fails_before_later_errors(void **state)
{
    assert_int_equal(parse("k=v\n\xff\n", true), KEEL_EPARSE);
    assert_int_equal(ini.error, KEEL__RW_INI_DECODE); /* the whole first chunk is decoded first */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ini_lowers_names_and_splits_on_first_delimiter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_keeps_inline_comments_in_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_continuation_keeps_blank_lines_and_drops_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_indent_counts_characters_not_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_universal_newlines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_header_takes_the_last_bracket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_missing_header_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_bad_lines_are_reported_after_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_duplicates_only_fail_when_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_immediate_error_replaces_pending_bad_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_default_section_may_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_bad_utf8_fails_before_later_errors, setup, teardown),
    };
    return cmocka_run_group_tests_name("rootwrap/ini.c", tests, NULL, NULL);
}
