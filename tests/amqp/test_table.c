/* Tests for src/amqp/table.c: every RabbitMQ field type, validation limits,
 * iteration, lookups and typed getters, and the builder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/amqp.h"
#include "wire.h"

/* One entry of every type, keys "t".."x", as RabbitMQ's generator writes them. */
static const uint8_t every_type[] = {
    1, 't', 't', 1,                                                              /* bool true */
    1, 'b', 'b', 0xFF,                                                           /* i8 -1 */
    1, 'B', 'B', 0xFF,                                                           /* u8 255 */
    1, 's', 's', 0xFF, 0xFE,                                                     /* i16 -2 */
    1, 'u', 'u', 0xFF, 0xFE,                                                     /* u16 65534 */
    1, 'I', 'I', 0xFF, 0xFF, 0xFF, 0xFD,                                         /* i32 -3 */
    1, 'i', 'i', 0xFF, 0xFF, 0xFF, 0xFD,                                         /* u32 4294967293 */
    1, 'l', 'l', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC,                 /* i64 -4 */
    1, 'L', 'L', 0,    0,    0,    0,    0,    0,    0,    5,                    /* i64 5 ('L', read signed) */
    1, 'f', 'f', 0x3F, 0xC0, 0,    0,                                            /* float 1.5 */
    1, 'd', 'd', 0xC0, 0x04, 0,    0,    0,    0,    0,    0,                    /* double -2.5 */
    1, 'D', 'D', 2,    0,    0,    0x30, 0x39,                                   /* decimal 123.45 */
    1, 'S', 'S', 0,    0,    0,    2,    'h',  'i',                              /* longstr */
    1, 'A', 'A', 0,    0,    0,    8,    'I',  0,    0,    0,    1, 'V', 't', 1, /* array [1, void, true] */
    1, 'T', 'T', 0,    0,    0,    0,    0x65, 0x53, 0xF1, 0x00,                 /* timestamp 1700000000 */
    1, 'F', 'F', 0,    0,    0,    3,    1,    'k',  'V',                        /* table {k: void} */
    1, 'V', 'V',                                                                 /* void */
    1, 'x', 'x', 0,    0,    0,    3,    0,    1,    2,                          /* bytes */
};

static const keel_amqp_table_t every = {every_type, sizeof(every_type)};

static void test_table_check_accepts_every_rabbitmq_type(void **state)
{
    assert_null(keel__amqp_table_check(every.base, every.len, false, 1));
    /* An array length one short leaves its last value cut off. */
    uint8_t copy[sizeof(every_type)];
    memcpy(copy, every_type, sizeof(copy));
    size_t at = (size_t)((const uint8_t *)memchr(every_type + 60, 'A', sizeof(every_type) - 60) - every_type);
    assert_int_equal(copy[at + 5], 8);
    copy[at + 5] = 7;
    assert_non_null(keel__amqp_table_check(copy, sizeof(copy), false, 1));
}

static void test_table_iter_yields_typed_values_in_order(void **state)
{
    keel_amqp_table_t t = every;
    keel_amqp_iter_t it;
    keel_amqp_str_t k;
    keel_amqp_value_t v;
    keel_amqp_table_iter(&it, t);
    const char *order = "tbBsuIilLfdDSATFVx";
    for (const char *c = order; *c; c++) {
        assert_true(keel_amqp_iter_next(&it, &k, &v));
        assert_int_equal(k.len, 1);
        assert_int_equal(k.base[0], *c);
        assert_int_equal(v.type, *c);
        switch (*c) {
        case 't':
            assert_true(v.b);
            break;
        case 'b':
            assert_int_equal(v.i8, -1);
            break;
        case 'B':
            assert_int_equal(v.u8, 255);
            break;
        case 's':
            assert_int_equal(v.i16, -2);
            break;
        case 'u':
            assert_int_equal(v.u16, 65534);
            break;
        case 'I':
            assert_int_equal(v.i32, -3);
            break;
        case 'i':
            assert_int_equal(v.u32, 4294967293u);
            break;
        case 'l':
            assert_int_equal(v.i64, -4);
            break;
        case 'L':
            assert_int_equal(v.i64, 5);
            break;
        case 'f':
            assert_true(v.f == 1.5f);
            break;
        case 'd':
            assert_true(v.d == -2.5);
            break;
        case 'D':
            assert_int_equal(v.decimal.scale, 2);
            assert_int_equal(v.decimal.value, 12345);
            break;
        case 'S':
            assert_int_equal(v.str.len, 2);
            assert_memory_equal(v.str.base, "hi", 2);
            break;
        case 'A':
            assert_int_equal(keel_amqp_array_count(v.array), 3);
            break;
        case 'T':
            assert_int_equal(v.timestamp, 1700000000);
            break;
        case 'F':
            assert_int_equal(keel_amqp_table_count(v.table), 1);
            break;
        case 'x':
            assert_int_equal(v.str.len, 3);
            break;
        default:
            break;
        }
    }
    assert_false(keel_amqp_iter_next(&it, &k, &v));
    assert_false(keel_amqp_iter_next(&it, &k, &v));
}

static void test_builder_reproduces_wire_bytes_of_every_type(void **state)
{
    keel_amqp_table_t t = every;
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_builder_t bld;
    keel_amqp_builder_init(&bld, &b);
    keel_amqp_iter_t it;
    keel_amqp_str_t k;
    keel_amqp_value_t v;
    keel_amqp_table_iter(&it, t);
    while (keel_amqp_iter_next(&it, &k, &v)) {
        if (v.type == 'A') {
            /* Rebuild the array value by value rather than copying it. */
            assert_int_equal(keel_amqp_build_begin(&bld, k, 'A'), 0);
            keel_amqp_iter_t ai;
            keel_amqp_value_t av;
            keel_amqp_array_iter(&ai, v.array);
            while (keel_amqp_iter_next(&ai, NULL, &av))
                assert_int_equal(keel_amqp_build_put(&bld, KEEL_AMQP_STR("ignored in arrays"), &av), 0);
            assert_int_equal(keel_amqp_build_end(&bld), 0);
        } else {
            assert_int_equal(keel_amqp_build_put(&bld, k, &v), 0);
        }
    }
    keel_amqp_table_t out;
    assert_int_equal(keel_amqp_builder_finish(&bld, &out), 0);
    assert_int_equal(out.len, t.len);
    assert_memory_equal(out.base, t.base, t.len);
    keel_buf_free(&b);
}

/* A RabbitMQ dead-lettered message's headers. */
static keel_amqp_table_t build_x_death(keel_buf_t *b)
{
    keel_amqp_builder_t bld;
    keel_amqp_builder_init(&bld, b);
    keel_amqp_build_begin(&bld, KEEL_AMQP_STR("x-death"), 'A');
    keel_amqp_build_begin(&bld, (keel_amqp_str_t){0}, 'F');
    keel_amqp_value_t count = {.type = 'l', .i64 = 3};
    keel_amqp_build_put(&bld, KEEL_AMQP_STR("count"), &count);
    keel_amqp_build_str(&bld, "reason", "expired");
    keel_amqp_build_str(&bld, "queue", "work");
    keel_amqp_value_t time = {.type = 'T', .timestamp = 1700000000};
    keel_amqp_build_put(&bld, KEEL_AMQP_STR("time"), &time);
    keel_amqp_build_str(&bld, "exchange", "");
    keel_amqp_build_begin(&bld, KEEL_AMQP_STR("routing-keys"), 'A');
    keel_amqp_build_str(&bld, NULL, "work");
    keel_amqp_build_end(&bld);
    keel_amqp_build_end(&bld);
    keel_amqp_build_end(&bld);
    keel_amqp_build_str(&bld, "x-first-death-reason", "expired");
    keel_amqp_table_t t = {0};
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), 0);
    return t;
}

static void test_table_reads_x_death_arrays_of_tables(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_table_t t = build_x_death(&b);
    assert_null(keel__amqp_table_check(t.base, t.len, false, 1));
    keel_amqp_array_t deaths;
    assert_int_equal(keel_amqp_table_get_array(t, "x-death", &deaths), 0);
    assert_int_equal(keel_amqp_array_count(deaths), 1);
    keel_amqp_iter_t it;
    keel_amqp_value_t d;
    keel_amqp_array_iter(&it, deaths);
    assert_true(keel_amqp_iter_next(&it, NULL, &d));
    assert_int_equal(d.type, 'F');
    int64_t count;
    assert_int_equal(keel_amqp_table_get_int(d.table, "count", &count), 0);
    assert_int_equal(count, 3);
    keel_amqp_str_t reason;
    assert_int_equal(keel_amqp_table_get_str(d.table, "reason", &reason), 0);
    assert_true(keel_amqp_str_eq(reason, "expired"));
    keel_amqp_array_t keys;
    assert_int_equal(keel_amqp_table_get_array(d.table, "routing-keys", &keys), 0);
    assert_int_equal(keel_amqp_array_count(keys), 1);
    keel_buf_free(&b);
}

static void test_table_get_int_accepts_every_integer_type(void **state)
{
    static const keel_amqp_value_t ttls[] = {
        {.type = 'b', .i8 = 100},        {.type = 'B', .u8 = 200},    {.type = 's', .i16 = 30000},
        {.type = 'u', .u16 = 60000},     {.type = 'I', .i32 = 60000}, {.type = 'i', .u32 = 4000000000u},
        {.type = 'l', .i64 = 1ll << 40}, {.type = 'L', .i64 = -1},
    };
    static const int64_t want[] = {100, 200, 30000, 60000, 60000, 4000000000ll, 1ll << 40, -1};
    keel_buf_t b;
    keel_buf_init(&b);
    for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
        keel_buf_reset(&b);
        keel_amqp_builder_t bld;
        keel_amqp_builder_init(&bld, &b);
        keel_amqp_build_str(&bld, "x-dead-letter-exchange", "dlx");
        keel_amqp_build_put(&bld, KEEL_AMQP_STR("x-message-ttl"), &ttls[i]);
        keel_amqp_table_t t;
        assert_int_equal(keel_amqp_builder_finish(&bld, &t), 0);
        int64_t ttl = 0;
        assert_int_equal(keel_amqp_table_get_int(t, "x-message-ttl", &ttl), 0);
        assert_int_equal(ttl, want[i]);
        assert_int_equal(keel_amqp_table_get_int(t, "x-dead-letter-exchange", &ttl), KEEL_EVALUE);
        assert_int_equal(keel_amqp_table_get_int(t, "x-expires", &ttl), KEEL_ENOENT);
    }
    keel_buf_free(&b);
}

static void test_table_typed_getters_insist_on_their_type(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_builder_t bld;
    keel_amqp_builder_init(&bld, &b);
    keel_amqp_build_bool(&bld, "publisher_confirms", true);
    keel_amqp_value_t bytes = {.type = 'x', .str = KEEL_AMQP_STR("raw")};
    keel_amqp_build_put(&bld, KEEL_AMQP_STR("blob"), &bytes);
    keel_amqp_build_begin(&bld, KEEL_AMQP_STR("capabilities"), 'F');
    keel_amqp_build_bool(&bld, "consumer_cancel_notify", true);
    keel_amqp_build_end(&bld);
    keel_amqp_build_int(&bld, "dup", 1);
    keel_amqp_build_int(&bld, "dup", 2);
    keel_amqp_table_t t;
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), 0);
    bool on = false;
    assert_int_equal(keel_amqp_table_get_bool(t, "publisher_confirms", &on), 0);
    assert_true(on);
    keel_amqp_str_t s;
    assert_int_equal(keel_amqp_table_get_str(t, "blob", &s), KEEL_EVALUE);
    keel_amqp_table_t caps;
    assert_int_equal(keel_amqp_table_get_table(t, "capabilities", &caps), 0);
    assert_int_equal(keel_amqp_table_get_bool(caps, "consumer_cancel_notify", &on), 0);
    assert_int_equal(keel_amqp_table_get_table(t, "blob", &caps), KEEL_EVALUE);
    keel_amqp_array_t arr;
    assert_int_equal(keel_amqp_table_get_array(t, "capabilities", &arr), KEEL_EVALUE);
    int64_t dup;
    assert_int_equal(keel_amqp_table_get_int(t, "dup", &dup), 0);
    assert_int_equal(dup, 1); /* the first, as RabbitMQ's table_lookup */
    assert_int_equal(keel_amqp_table_count(t), 5);
    assert_int_equal(keel_amqp_table_count((keel_amqp_table_t){0}), 0);
    keel_buf_free(&b);
}

static void test_builder_int_picks_i32_or_i64(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_builder_t bld;
    keel_amqp_builder_init(&bld, &b);
    keel_amqp_build_int(&bld, "a", INT32_MAX);
    keel_amqp_build_int(&bld, "b", (int64_t)INT32_MAX + 1);
    keel_amqp_table_t t;
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), 0);
    const uint8_t want[] = {1, 'a', 'I', 0x7F, 0xFF, 0xFF, 0xFF, 1, 'b', 'l', 0, 0, 0, 0, 0x80, 0, 0, 0};
    assert_int_equal(t.len, sizeof(want));
    assert_memory_equal(t.base, want, sizeof(want));
    keel_buf_free(&b);
}

/* depth nested tables {"k": {"k": ...}} as bytes, innermost empty. */
static size_t nested_bytes(uint8_t *out, unsigned depth)
{
    if (depth <= 1)
        return 0;
    size_t inner = nested_bytes(out + 7, depth - 1);
    out[0] = 1, out[1] = 'k', out[2] = 'F';
    keel__wr_u32(out + 3, (uint32_t)inner);
    return inner + 7;
}

static void test_table_check_bounds_nesting_depth(void **state)
{
    uint8_t buf[7 * (KEEL_AMQP_MAX_DEPTH + 2)];
    size_t n = nested_bytes(buf, KEEL_AMQP_MAX_DEPTH);
    assert_null(keel__amqp_table_check(buf, n, false, 1));
    n = nested_bytes(buf, KEEL_AMQP_MAX_DEPTH + 1);
    assert_string_equal(keel__amqp_table_check(buf, n, false, 1), "field table nested too deeply");

    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_builder_t bld;
    keel_amqp_builder_init(&bld, &b);
    for (unsigned i = 1; i < KEEL_AMQP_MAX_DEPTH; i++)
        assert_int_equal(keel_amqp_build_begin(&bld, KEEL_AMQP_STR("k"), 'F'), 0);
    assert_int_equal(keel_amqp_build_begin(&bld, KEEL_AMQP_STR("k"), 'F'), KEEL_EINVAL);
    keel_amqp_table_t t;
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), KEEL_EINVAL);
    assert_int_equal(b.len, 0);
    keel_amqp_builder_init(&bld, &b);
    for (unsigned i = 1; i < KEEL_AMQP_MAX_DEPTH; i++)
        keel_amqp_build_begin(&bld, KEEL_AMQP_STR("k"), 'F');
    for (unsigned i = 1; i < KEEL_AMQP_MAX_DEPTH; i++)
        assert_int_equal(keel_amqp_build_end(&bld), 0);
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), 0);
    assert_int_equal(t.len, nested_bytes(buf, KEEL_AMQP_MAX_DEPTH));
    assert_memory_equal(t.base, buf, t.len);
    keel_buf_free(&b);
}

static void test_table_check_rejects_malformed_bytes(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x01k", 2},                       /* no type */
        {"\x01kU\x00\x01", 5},              /* pika's 'U' is not RabbitMQ's */
        {"\x01kQ", 3},                      /* unknown type */
        {"\x05k", 2},                       /* key overruns */
        {"\x01kS\x00\x00\x00\x05hi", 9},    /* longstr overruns */
        {"\x01kF\x00\x00\x00\x02\x01", 8},  /* table overruns */
        {"\x01kF\x00\x00\x00\x02\x01z", 9}, /* nested entry without type */
        {"\x01kA\x00\x00\x00\x01Z", 8},     /* unknown type inside array */
        {"\x01kI\x00\x00\x00", 6},          /* i32 cut short */
        {"\x01kD\x02\x00\x00\x00", 7},      /* decimal cut short */
        {"\x01kx\xff\xff\xff\xff", 8},      /* bytes length near 4 GiB */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_non_null(keel__amqp_table_check((const uint8_t *)bad[i].bytes, bad[i].len, false, 1));
        /* The iterator on the same unvalidated bytes stops, never overruns. */
        keel_amqp_iter_t it;
        keel_amqp_value_t v;
        keel_amqp_table_iter(&it, (keel_amqp_table_t){(const uint8_t *)bad[i].bytes, bad[i].len});
        while (keel_amqp_iter_next(&it, NULL, &v))
            ;
    }
}

static void test_table_parse_reads_the_length_prefix(void **state)
{
    const uint8_t b[] = {0, 0, 0, 3, 1, 'k', 'V', 0xEE};
    keel_amqp_table_t t;
    size_t used;
    keel_amqp_error_t err = {0};
    assert_int_equal(keel_amqp_table_parse(b, sizeof(b), &t, &used, &err), 0);
    assert_int_equal(used, 7);
    assert_int_equal(t.len, 3);
    assert_ptr_equal(t.base, b + 4);
    assert_int_equal(keel_amqp_table_parse(b, 3, &t, &used, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
    const uint8_t bad[] = {0, 0, 0, 3, 1, 'k', 'Z'};
    assert_int_equal(keel_amqp_table_parse(bad, sizeof(bad), &t, &used, &err), KEEL_EPROTO);
    assert_string_equal(err.text, "unknown field type in table");
}

static void test_builder_errors_stick_and_roll_back(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "prefix");
    keel_amqp_builder_t bld;
    keel_amqp_table_t t;
    char longkey[257];
    memset(longkey, 'k', 256);
    longkey[256] = 0;

    keel_amqp_builder_init(&bld, &b);
    assert_int_equal(keel_amqp_build_str(&bld, NULL, "no key in a table"), KEEL_EINVAL);
    assert_int_equal(keel_amqp_build_str(&bld, "fine", "but too late"), KEEL_EINVAL);
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), KEEL_EINVAL);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.base, "prefix");

    keel_amqp_builder_init(&bld, &b);
    assert_int_equal(keel_amqp_build_str(&bld, longkey, "v"), KEEL_EINVAL);
    keel_amqp_builder_init(&bld, &b);
    assert_int_equal(keel_amqp_build_end(&bld), KEEL_EINVAL);
    keel_amqp_builder_init(&bld, &b);
    assert_int_equal(keel_amqp_build_begin(&bld, KEEL_AMQP_STR("k"), 'S'), KEEL_EINVAL);
    keel_amqp_builder_init(&bld, &b);
    keel_amqp_value_t odd = {.type = 'Q'};
    assert_int_equal(keel_amqp_build_put(&bld, KEEL_AMQP_STR("k"), &odd), KEEL_EINVAL);
    keel_amqp_builder_init(&bld, &b);
    assert_int_equal(keel_amqp_build_begin(&bld, KEEL_AMQP_STR("k"), 'A'), 0);
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), KEEL_EINVAL); /* still open */
    assert_int_equal(b.len, 6);
    /* A copied-in nested table that does not validate is caught at finish. */
    keel_amqp_builder_init(&bld, &b);
    keel_amqp_value_t junk = {.type = 'F', .table = {(const uint8_t *)"\x01kZ", 3}};
    assert_int_equal(keel_amqp_build_put(&bld, KEEL_AMQP_STR("k"), &junk), 0);
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), KEEL_EINVAL);
    assert_int_equal(b.len, 6);
    /* After all that, the same buffer still builds a table after the prefix. */
    keel_amqp_builder_init(&bld, &b);
    assert_int_equal(keel_amqp_build_str(&bld, longkey + 1, "v"), 0);
    assert_int_equal(keel_amqp_builder_finish(&bld, &t), 0);
    assert_ptr_equal(t.base, (const uint8_t *)b.base + 6);
    assert_int_equal(t.len, 1 + 255 + 1 + 4 + 1);
    keel_buf_free(&b);
}

static int fail_after = -1;
static void *counting_realloc(void *p, size_t n)
{
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return realloc(p, n);
}
static void *counting_malloc(size_t n)
{
    return counting_realloc(NULL, n);
}
static void *counting_calloc(size_t c, size_t n)
{
    void *p = counting_realloc(NULL, c * n);
    if (p)
        memset(p, 0, c * n);
    return p;
}

static void test_builder_reports_oom_and_retries_cleanly(void **state)
{
    assert_int_equal(keel_replace_allocator(counting_malloc, counting_realloc, counting_calloc, free), 0);
    keel_buf_t ref;
    keel_buf_init(&ref);
    fail_after = -1;
    keel_amqp_table_t want = build_x_death(&ref);
    int failures = 0;
    for (int n = 0;; n++) {
        keel_buf_t b;
        keel_buf_init(&b);
        keel_amqp_builder_t bld;
        keel_amqp_builder_init(&bld, &b);
        fail_after = n;
        int rc = 0;
        char pad[300];
        memset(pad, 'p', sizeof(pad));
        pad[299] = 0;
        for (int i = 0; i < 8 && rc == 0; i++)
            rc = keel_amqp_build_str(&bld, "pad", pad);
        keel_amqp_table_t t;
        int frc = keel_amqp_builder_finish(&bld, &t);
        fail_after = -1;
        if (rc == 0 && frc == 0) {
            assert_int_equal(t.len, 8 * (1 + 3 + 1 + 4 + 299));
            keel_buf_free(&b);
            break;
        }
        assert_int_equal(rc, KEEL_ENOMEM);
        assert_int_equal(frc, KEEL_ENOMEM);
        assert_int_equal(b.len, 0);
        failures++;
        keel_buf_free(&b);
    }
    assert_true(failures > 0);
    assert_true(want.len > 0);
    keel_buf_free(&ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_check_accepts_every_rabbitmq_type),
        cmocka_unit_test(test_table_iter_yields_typed_values_in_order),
        cmocka_unit_test(test_builder_reproduces_wire_bytes_of_every_type),
        cmocka_unit_test(test_table_reads_x_death_arrays_of_tables),
        cmocka_unit_test(test_table_get_int_accepts_every_integer_type),
        cmocka_unit_test(test_table_typed_getters_insist_on_their_type),
        cmocka_unit_test(test_builder_int_picks_i32_or_i64),
        cmocka_unit_test(test_table_check_bounds_nesting_depth),
        cmocka_unit_test(test_table_check_rejects_malformed_bytes),
        cmocka_unit_test(test_table_parse_reads_the_length_prefix),
        cmocka_unit_test(test_builder_errors_stick_and_roll_back),
        cmocka_unit_test(test_builder_reports_oom_and_retries_cleanly),
    };
    return cmocka_run_group_tests_name("amqp/table.c", tests, NULL, NULL);
}
