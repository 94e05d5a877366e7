/* Tests for src/conf/value.c: type names, deep copy/compare, JSON and str(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/conf.h"
#include "types.h"

/* Value builders for the tests (abort on OOM: test code). */
static keel_conf_value_t vstr(const char *s)
{
    keel_conf_value_t v = {.kind = KEEL_CONF_VSTR, .len = strlen(s), .u.s = keel__strdup(s)};
    return v;
}

static keel_conf_value_t vint(int64_t i)
{
    return (keel_conf_value_t){.kind = KEEL_CONF_VINT, .u.i = i};
}

static keel_conf_value_t vfloat(double f)
{
    return (keel_conf_value_t){.kind = KEEL_CONF_VFLOAT, .u.f = f};
}

static keel_conf_value_t vbool(bool b)
{
    return (keel_conf_value_t){.kind = KEEL_CONF_VBOOL, .u.b = b};
}

static keel_conf_value_t vnone(void)
{
    return (keel_conf_value_t){.kind = KEEL_CONF_VNONE};
}

/* A list (or, with dict set, a dict of n/2 pairs) taking the n items. */
static keel_conf_value_t vseq(bool dict, size_t n, ...)
{
    keel_conf_value_t v = {.kind = dict ? KEEL_CONF_VDICT : KEEL_CONF_VLIST, .len = dict ? n / 2 : n};
    v.u.items = keel__calloc(n ? n : 1, sizeof(*v.u.items));
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        v.u.items[i] = va_arg(ap, keel_conf_value_t);
    va_end(ap);
    return v;
}

static void check_json(keel_conf_value_t v, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_conf_value_to_json(&v, &b), 0);
    assert_string_equal(b.base, want);
    keel_buf_free(&b);
    keel__conf_value_clear(&v);
}

static void check_pystr(keel_conf_value_t v, const char *want)
{
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_conf_value_to_pystr(&v, &b), 0);
    assert_string_equal(b.base ? b.base : "", want);
    keel_buf_free(&b);
    keel__conf_value_clear(&v);
}

static void test_type_name_round_trips_every_type(void **state)
{
    for (int t = 0; t < KEEL_CONF_TYPE_COUNT_; t++) {
        keel_conf_type_t back;
        assert_int_equal(keel_conf_type_from_name(keel_conf_type_name((keel_conf_type_t)t), &back), 0);
        assert_int_equal(back, t);
    }
    assert_string_equal(keel_conf_type_name(KEEL_CONF_PORT), "port");
    assert_string_equal(keel_conf_type_name(KEEL_CONF_HOST), "host");
}

static void test_type_from_name_rejects_unknown(void **state)
{
    keel_conf_type_t t = KEEL_CONF_INT;
    assert_int_equal(keel_conf_type_from_name("integer", &t), KEEL_EINVAL);
    assert_int_equal(keel_conf_type_from_name("", &t), KEEL_EINVAL);
    assert_int_equal(keel_conf_type_from_name(NULL, &t), KEEL_EINVAL);
    assert_int_equal(t, KEEL_CONF_INT);
    assert_string_equal(keel_conf_type_name(KEEL_CONF_TYPE_COUNT_), "unknown");
    assert_string_equal(keel_conf_type_name((keel_conf_type_t)-1), "unknown");
}

static void test_value_copy_is_deep(void **state)
{
    keel_conf_value_t src = vseq(true, 4, vstr("k"), vseq(false, 2, vstr("a"), vint(1)), vstr("n"), vnone());
    keel_conf_value_t dst;
    assert_int_equal(keel__conf_value_copy(&dst, &src), 0);
    assert_true(keel__conf_value_equal(&src, &dst));
    assert_ptr_not_equal(dst.u.items, src.u.items);
    assert_ptr_not_equal(dst.u.items[1].u.items[0].u.s, src.u.items[1].u.items[0].u.s);
    dst.u.items[1].u.items[0].u.s[0] = 'b'; /* changing the copy leaves the source */
    assert_string_equal(src.u.items[1].u.items[0].u.s, "a");
    assert_false(keel__conf_value_equal(&src, &dst));
    keel__conf_value_clear(&src);
    keel__conf_value_clear(&dst);
    assert_int_equal(dst.kind, KEEL_CONF_VNONE);
}

static void test_value_equal_follows_python(void **state)
{
    keel_conf_value_t a = vfloat(NAN), b = vfloat(NAN);
    assert_true(keel__conf_value_equal(&a, &b)); /* documented: NaN equals NaN here */
    a = vfloat(0.0), b = vfloat(-0.0);
    assert_true(keel__conf_value_equal(&a, &b));
    a = vint(1), b = vfloat(1.0);
    assert_false(keel__conf_value_equal(&a, &b)); /* kinds differ */
    keel_conf_value_t d1 = vseq(true, 4, vstr("a"), vint(1), vstr("b"), vint(2));
    keel_conf_value_t d2 = vseq(true, 4, vstr("b"), vint(2), vstr("a"), vint(1));
    keel_conf_value_t d3 = vseq(true, 4, vstr("b"), vint(2), vstr("a"), vint(3));
    assert_true(keel__conf_value_equal(&d1, &d2)); /* dicts compare in any order */
    assert_false(keel__conf_value_equal(&d1, &d3));
    keel_conf_value_t l1 = vseq(false, 2, vstr("a"), vstr("b"));
    keel_conf_value_t l2 = vseq(false, 2, vstr("b"), vstr("a"));
    assert_false(keel__conf_value_equal(&l1, &l2)); /* lists do not */
    keel_conf_value_t s1 = {.kind = KEEL_CONF_VSTR, .len = 3, .u.s = keel__strndup("a\0b", 3)}, s2 = vstr("a");
    assert_false(keel__conf_value_equal(&s1, &s2));
    keel__conf_value_clear(&d1);
    keel__conf_value_clear(&d2);
    keel__conf_value_clear(&d3);
    keel__conf_value_clear(&l1);
    keel__conf_value_clear(&l2);
    keel__conf_value_clear(&s1);
    keel__conf_value_clear(&s2);
}

static void test_value_clear_accepts_none_and_null(void **state)
{
    keel_conf_value_t v = vnone();
    keel__conf_value_clear(&v);
    keel__conf_value_clear(NULL);
    keel_conf_value_t empty = vseq(false, 0);
    keel__conf_value_clear(&empty);
    assert_int_equal(empty.kind, KEEL_CONF_VNONE);
}

static void test_to_json_writes_scalars_as_python(void **state)
{
    check_json(vnone(), "null");
    check_json(vbool(true), "true");
    check_json(vbool(false), "false");
    check_json(vint(0), "0");
    check_json(vint(INT64_MIN), "-9223372036854775808");
    check_json(vfloat(0.1), "0.1");
    check_json(vfloat(1e16), "1e+16");
    check_json(vfloat(-0.0), "-0.0");
    check_json(vfloat(3.0), "3.0");
    check_json(vfloat(INFINITY), "Infinity");
    check_json(vfloat(-INFINITY), "-Infinity");
    check_json(vfloat(NAN), "NaN");
}

static void test_to_json_escapes_strings_as_json_dumps(void **state)
{
    check_json(vstr("plain"), "\"plain\"");
    check_json(vstr("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
    check_json(vstr("\b\f\n\r\t\x01\x1f\x7f"), "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
    check_json(vstr("\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80"), "\"\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\"");
    keel_conf_value_t nul = vstr("a");
    keel__free(nul.u.s);
    nul.u.s = keel__strndup("a\0b", 3);
    nul.len = 3;
    check_json(nul, "\"a\\u0000b\"");
    keel_conf_value_t bad = vstr("x\xff");
    check_json(bad, "\"x\\ufffd\""); /* never produced by conversion, but still JSON */
}

static void test_to_json_writes_containers_with_python_separators(void **state)
{
    check_json(vseq(false, 0), "[]");
    check_json(vseq(true, 0), "{}");
    check_json(vseq(false, 4, vstr("a"), vint(1), vnone(), vfloat(1.5)), "[\"a\", 1, null, 1.5]");
    check_json(vseq(true, 4, vstr("k"), vstr("v"), vstr("n\""), vseq(false, 1, vbool(true))), "{\"k\": \"v\", \"n\\\"\": [true]}");
}

static void test_to_json_appends_to_existing_text(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "x=");
    keel_conf_value_t v = vint(5);
    assert_int_equal(keel_conf_value_to_json(&v, &b), 0);
    assert_string_equal(b.base, "x=5");
    keel_buf_free(&b);
}

static void test_to_pystr_renders_str_of_values(void **state)
{
    check_pystr(vstr("it's"), "it's"); /* a str is itself */
    check_pystr(vnone(), "");          /* None interpolates as '' */
    check_pystr(vbool(true), "True");
    check_pystr(vbool(false), "False");
    check_pystr(vint(-42), "-42");
    check_pystr(vfloat(0.5), "0.5");
    check_pystr(vfloat(1e22), "1e+22");
    check_pystr(vfloat(NAN), "nan");
    check_pystr(vfloat(-INFINITY), "-inf");
}

static void test_to_pystr_renders_containers_with_repr(void **state)
{
    check_pystr(vseq(false, 2, vstr("a"), vstr("b")), "['a', 'b']");
    check_pystr(vseq(false, 0), "[]");
    check_pystr(vseq(false, 3, vstr("it's"), vstr("\t"), vstr("\xc2\xa0")), "[\"it's\", '\\t', '\\xa0']");
    check_pystr(vseq(false, 5, vint(1), vnone(), vbool(false), vfloat(2.0), vfloat(INFINITY)), "[1, None, False, 2.0, inf]");
    check_pystr(vseq(true, 4, vstr("k"), vstr("v"), vstr("n"), vint(3)), "{'k': 'v', 'n': 3}");
    check_pystr(vseq(true, 0), "{}");
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

static void test_value_copy_and_json_survive_allocation_failure(void **state)
{
    keel_conf_value_t src = vseq(true, 4, vstr("key"), vseq(false, 3, vstr("a"), vstr("b"), vint(1)), vstr("k2"), vstr("v"));
    keel_replace_allocator(failing_malloc, failing_realloc, failing_calloc, free);
    int rc = KEEL_ENOMEM;
    for (int n = 1; rc == KEEL_ENOMEM; n++) {
        alloc_count = 0, fail_at = n;
        keel_conf_value_t dst;
        rc = keel__conf_value_copy(&dst, &src);
        if (rc == KEEL_ENOMEM) {
            assert_int_equal(dst.kind, KEEL_CONF_VNONE);
        } else {
            assert_int_equal(rc, 0);
            assert_true(keel__conf_value_equal(&src, &dst));
            keel__conf_value_clear(&dst);
        }
        assert_true(n < 100);
    }
    rc = KEEL_ENOMEM;
    for (int n = 1; rc == KEEL_ENOMEM; n++) {
        keel_buf_t b;
        keel_buf_init(&b);
        fail_at = 0;
        keel_buf_puts(&b, "pre:");
        alloc_count = 0, fail_at = n;
        rc = keel_conf_value_to_json(&src, &b);
        fail_at = 0;
        if (rc == KEEL_ENOMEM)
            assert_string_equal(b.base, "pre:"); /* left as it was */
        else
            assert_string_equal(b.base, "pre:{\"key\": [\"a\", \"b\", 1], \"k2\": \"v\"}");
        keel_buf_free(&b);
        assert_true(n < 100);
    }
    fail_at = 0;
    keel_replace_allocator(malloc, realloc, calloc, free);
    keel__conf_value_clear(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_name_round_trips_every_type),
        cmocka_unit_test(test_type_from_name_rejects_unknown),
        cmocka_unit_test(test_value_copy_is_deep),
        cmocka_unit_test(test_value_equal_follows_python),
        cmocka_unit_test(test_value_clear_accepts_none_and_null),
        cmocka_unit_test(test_to_json_writes_scalars_as_python),
        cmocka_unit_test(test_to_json_escapes_strings_as_json_dumps),
        cmocka_unit_test(test_to_json_writes_containers_with_python_separators),
        cmocka_unit_test(test_to_json_appends_to_existing_text),
        cmocka_unit_test(test_to_pystr_renders_str_of_values),
        cmocka_unit_test(test_to_pystr_renders_containers_with_repr),
        cmocka_unit_test(test_value_copy_and_json_survive_allocation_failure),
    };
    return cmocka_run_group_tests_name("conf/value.c", tests, NULL, NULL);
}
