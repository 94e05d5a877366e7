/*
 * Tests for src/log/json.c: the keys, order and JSON types of oslo.log's
 * JSONFormatter, "args" rebuilt from the printf argument list, the context
 * dictionary, the traceback list, and bytes that are not UTF-8.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log_int.h"

static keel__log_record_t base_record(const char *msg, const char *message)
{
    return (keel__log_record_t){
        .name = "keel.test",
        .levelno = 20,
        .levelname = "INFO",
        .pathname = "/src/keel/x.c",
        .filename = "x.c",
        .module_len = 1,
        .funcname = "f",
        .lineno = 7,
        .created = 1700000000.25,
        .msecs = 250.0,
        .relative = 1500.5,
        .thread = 1234,
        .thread_name = "MainThread",
        .process = 99,
        .message = message,
        .message_len = strlen(message),
        .msg = msg,
        .asctime = "2023-11-14 22:13:20",
        .error_summary = "",
    };
}

/* Encodes r with the arguments given and parses the text back. */
static json_t *encode(const keel__log_record_t *r, ...)
{
    va_list ap;
    va_start(ap, r);
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = keel__log_json(r, "host1", ap, &b);
    va_end(ap);
    assert_int_equal(rc, 0);
    /* One line: the writer adds the newline. */
    assert_null(strchr(b.base, '\n'));
    json_error_t err;
    json_t *j = json_loads(b.base, 0, &err);
    if (j == NULL)
        fail_msg("not JSON: %s: %s", err.text, b.base);
    keel_buf_free(&b);
    return j;
}

static void test_json_has_oslo_keys_in_order_with_types(void **state)
{
    keel__log_record_t r = base_record("hello", "hello");
    json_t *j = encode(&r);
    static const char *const keys[] = {
        "message",     "asctime",      "name",    "msg",       "args",     "levelname",     "levelno",          "pathname",
        "filename",    "module",       "lineno",  "funcname",  "created",  "msecs",         "relative_created", "thread",
        "thread_name", "process_name", "process", "traceback", "hostname", "error_summary", "context",          "extra"};
    assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        assert_string_equal(key, keys[k]);
        k++;
    }
    assert_string_equal(json_string_value(json_object_get(j, "message")), "hello");
    assert_true(json_is_array(json_object_get(j, "args")));
    assert_int_equal(json_array_size(json_object_get(j, "args")), 0);
    assert_true(json_is_integer(json_object_get(j, "levelno")));
    assert_true(json_is_integer(json_object_get(j, "lineno")));
    assert_true(json_is_integer(json_object_get(j, "thread")));
    assert_true(json_is_integer(json_object_get(j, "process")));
    assert_true(json_is_real(json_object_get(j, "created")));
    assert_true(json_is_real(json_object_get(j, "msecs")));
    assert_true(json_is_real(json_object_get(j, "relative_created")));
    assert_true(json_real_value(json_object_get(j, "created")) == 1700000000.25);
    assert_string_equal(json_string_value(json_object_get(j, "module")), "x");
    assert_string_equal(json_string_value(json_object_get(j, "funcname")), "f");
    assert_string_equal(json_string_value(json_object_get(j, "process_name")), "MainProcess");
    assert_string_equal(json_string_value(json_object_get(j, "hostname")), "host1");
    assert_true(json_is_null(json_object_get(j, "traceback")));
    assert_string_equal(json_string_value(json_object_get(j, "error_summary")), "");
    assert_int_equal(json_object_size(json_object_get(j, "context")), 0);
    json_t *extra = json_object_get(j, "extra");
    assert_string_equal(json_string_value(json_object_get(extra, "project")), "unknown");
    assert_string_equal(json_string_value(json_object_get(extra, "version")), "unknown");
    json_decref(j);
}

static void test_json_args_follow_printf_types(void **state)
{
    const char *fmt = "%s %d %ld %lld %zu %u %x %hhd %5.2f %Lf %c %p %% %*d %.*s %s";
    keel__log_record_t r = base_record(fmt, "(formatted elsewhere)");
    int marker;
    json_t *j = encode(&r, "str", -1, 2L, 3LL, (size_t)4, 5u, 255u, 300, 1.5, (long double)2.5, 'A', (void *)&marker, 7, 8, 2,
                       "abc", (const char *)NULL);
    json_t *args = json_object_get(j, "args");
    assert_int_equal(json_array_size(args), 15);
    assert_string_equal(json_string_value(json_array_get(args, 0)), "str");
    assert_int_equal(json_integer_value(json_array_get(args, 1)), -1);
    assert_int_equal(json_integer_value(json_array_get(args, 2)), 2);
    assert_int_equal(json_integer_value(json_array_get(args, 3)), 3);
    assert_int_equal(json_integer_value(json_array_get(args, 4)), 4);
    assert_int_equal(json_integer_value(json_array_get(args, 5)), 5);
    assert_int_equal(json_integer_value(json_array_get(args, 6)), 255);
    assert_int_equal(json_integer_value(json_array_get(args, 7)), 44); /* (signed char)300 */
    assert_true(json_is_real(json_array_get(args, 8)));
    assert_true(json_real_value(json_array_get(args, 8)) == 1.5);
    assert_true(json_real_value(json_array_get(args, 9)) == 2.5);
    assert_int_equal(json_integer_value(json_array_get(args, 10)), 'A');
    assert_int_equal(json_integer_value(json_array_get(args, 11)), (json_int_t)(uintptr_t)&marker);
    /* '*' widths are consumed, not listed; %% takes nothing. */
    assert_int_equal(json_integer_value(json_array_get(args, 12)), 8);
    assert_string_equal(json_string_value(json_array_get(args, 13)), "abc");
    assert_true(json_is_null(json_array_get(args, 14)));
    json_decref(j);
    /* A NULL %s is JSON null; a positional format cannot be typed in order. */
    r = base_record("%s", "(null)");
    j = encode(&r, (const char *)NULL);
    assert_true(json_is_null(json_array_get(json_object_get(j, "args"), 0)));
    json_decref(j);
    r = base_record("%2$s %1$s", "b a");
    j = encode(&r, "a", "b");
    assert_true(json_is_null(json_object_get(j, "args")));
    json_decref(j);
}

static void test_json_escapes_non_ascii_and_replaces_bad_utf8(void **state)
{
    keel__log_record_t r = base_record("h\xc3\xa9 \xff!", "h\xc3\xa9 \xff!");
    json_t *j = encode(&r);
    /* é survives, the stray byte becomes U+FFFD. */
    assert_string_equal(json_string_value(json_object_get(j, "message")), "h\xc3\xa9 \xef\xbf\xbd!");
    json_decref(j);
}

static void test_json_context_has_logging_values(void **state)
{
    const char *roles[] = {"admin", NULL};
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = "req-1";
    c.project_id = "p1";
    c.auth_token = "tok";
    c.roles = roles;
    assert_int_equal(keel_log_context_set(&c), 0);
    keel__log_record_t r = base_record("x", "x");
    r.ctx = keel_log_context_get();
    json_t *j = encode(&r);
    json_t *ctx = json_object_get(j, "context");
    assert_int_equal(json_object_size(ctx), 22);
    assert_string_equal(json_string_value(json_object_get(ctx, "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(ctx, "project")), "p1");
    assert_string_equal(json_string_value(json_object_get(ctx, "project_id")), "p1");
    assert_true(json_is_null(json_object_get(ctx, "user")));
    assert_string_equal(json_string_value(json_object_get(ctx, "auth_token")), "***");
    assert_true(json_is_false(json_object_get(ctx, "is_admin")));
    assert_true(json_is_true(json_object_get(ctx, "is_admin_project")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(ctx, "roles"), 0)), "admin");
    assert_string_equal(json_string_value(json_object_get(ctx, "user_identity")), "- p1 - - -");
    /* The adapter's extra "project" is the context's once a context is set. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "extra"), "project")), "p1");
    json_decref(j);
    keel_log_context_clear();
}

static void test_json_traceback_is_a_list_of_lines(void **state)
{
    keel__log_record_t r = base_record("x", "x");
    r.levelno = 40;
    r.error_summary = "ValueError: bad";
    r.traceback = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f  \n    g()\n\nValueError: bad  \n";
    json_t *j = encode(&r);
    json_t *tb = json_object_get(j, "traceback");
    assert_int_equal(json_array_size(tb), 4);
    assert_string_equal(json_string_value(json_array_get(tb, 0)), "Traceback (most recent call last):");
    /* Inside a piece, trailing blanks stay; at a piece's end they go, and empty lines are dropped. */
    assert_string_equal(json_string_value(json_array_get(tb, 1)), "  File \"a.py\", line 1, in f  ");
    assert_string_equal(json_string_value(json_array_get(tb, 2)), "    g()");
    assert_string_equal(json_string_value(json_array_get(tb, 3)), "ValueError: bad");
    assert_string_equal(json_string_value(json_object_get(j, "error_summary")), "ValueError: bad");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_has_oslo_keys_in_order_with_types),
        cmocka_unit_test(test_json_args_follow_printf_types),
        cmocka_unit_test(test_json_escapes_non_ascii_and_replaces_bad_utf8),
        cmocka_unit_test(test_json_context_has_logging_values),
        cmocka_unit_test(test_json_traceback_is_a_list_of_lines),
    };
    return cmocka_run_group_tests_name("log/json.c", tests, NULL, NULL);
}
