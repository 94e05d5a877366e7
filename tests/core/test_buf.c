/* Tests for src/core/buf.c: growable buffers and pointer vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "keel/core.h"

static void test_buf_appends_keep_text_terminated(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_buf_puts(&b, "hello"), 0);
    assert_int_equal(keel_buf_putc(&b, ' '), 0);
    assert_int_equal(keel_buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.base, "hello 42-x");
    assert_int_equal(b.len, 10);
    keel_buf_free(&b);
    assert_null(b.base);
}

static void test_buf_grows_across_many_appends(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(keel_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 30000);
    assert_int_equal(b.base[b.len], '\0');
    assert_memory_equal(b.base + 29997, "abc", 3);
    keel_buf_free(&b);
}

static void test_buf_steal_empties_buffer(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    char *empty = keel_buf_steal(&b);
    assert_string_equal(empty, "");
    keel__free(empty);
    keel_buf_puts(&b, "x");
    char *s = keel_buf_steal(&b);
    assert_string_equal(s, "x");
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    keel__free(s);
}

static void test_vec_insert_keeps_order(void **state)
{
    keel_vec_t v;
    keel_vec_init(&v);
    int a = 1, b = 2, c = 3;
    assert_int_equal(keel_vec_push(&v, &a), 0);
    assert_int_equal(keel_vec_push(&v, &c), 0);
    assert_int_equal(keel_vec_insert(&v, 1, &b), 0);
    assert_int_equal(v.len, 3);
    assert_ptr_equal(v.items[0], &a);
    assert_ptr_equal(v.items[1], &b);
    assert_ptr_equal(v.items[2], &c);
    keel_vec_free(&v);
}

static void test_error_names_and_messages_come_from_one_list(void **state)
{
    assert_string_equal(keel_err_name(KEEL_ENOMEM), "ENOMEM");
    assert_int_equal(KEEL_ENOMEM, -ENOMEM);
    assert_string_equal(keel_strerror(KEEL_EPARSE), "syntax error");
    assert_string_equal(keel_err_name(12345), "UNKNOWN");
    assert_non_null(keel_strerror(-EXDEV));
}

static void test_read_file_reports_missing_file(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_read_file("/nonexistent/keel/file", &b), KEEL_ENOENT);
    assert_int_equal(keel_read_file("/dev/null", &b), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.base, "");
    keel_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_appends_keep_text_terminated),
        cmocka_unit_test(test_buf_grows_across_many_appends),
        cmocka_unit_test(test_buf_steal_empties_buffer),
        cmocka_unit_test(test_vec_insert_keeps_order),
        cmocka_unit_test(test_error_names_and_messages_come_from_one_list),
        cmocka_unit_test(test_read_file_reports_missing_file),
    };
    return cmocka_run_group_tests_name("core/buf.c", tests, NULL, NULL);
}
