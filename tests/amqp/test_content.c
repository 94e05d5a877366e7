/* Tests for src/amqp/content.c: content header decode and encode with the
 * 14 basic properties and the flag continuation rule, and body splitting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/amqp.h"

/* pika 1.2: BasicProperties(content_type='text/plain', delivery_mode=2,
 * headers={'a': 1}, timestamp=7, cluster_id='c') for a 5-octet body. */
static const uint8_t header[] = {0x00, 0x3C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0xB0, 0x44, 0x0A, 't',
                                 'e',  'x',  't',  '/',  'p',  'l',  'a',  'i',  'n',  0x00, 0x00, 0x00, 0x07, 0x01, 'a',  'I',
                                 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x01, 'c'};

static void test_header_decode_reads_present_properties(void **state)
{
    keel_amqp_header_t h;
    assert_int_equal(keel_amqp_header_decode(header, sizeof(header), &h, NULL), 0);
    assert_int_equal(h.class_id, 60);
    assert_int_equal(h.body_size, 5);
    const keel_amqp_properties_t *p = &h.props;
    assert_int_equal(p->flags, KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_HEADERS | KEEL_AMQP_PROP_DELIVERY_MODE |
                                   KEEL_AMQP_PROP_TIMESTAMP | KEEL_AMQP_PROP_CLUSTER_ID);
    assert_true(keel_amqp_str_eq(p->content_type, "text/plain"));
    assert_int_equal(p->delivery_mode, 2);
    assert_int_equal(p->timestamp, 7);
    assert_true(keel_amqp_str_eq(p->cluster_id, "c"));
    int64_t a;
    assert_int_equal(keel_amqp_table_get_int(p->headers, "a", &a), 0);
    assert_int_equal(a, 1);
    assert_int_equal(p->priority, 0);
    assert_ptr_equal(h.props_raw, header + 12);
    assert_int_equal(h.props_raw_len, sizeof(header) - 12);
}

static void test_header_encode_matches_golden_bytes(void **state)
{
    keel_buf_t tb, b;
    keel_buf_init(&tb);
    keel_buf_init(&b);
    keel_amqp_builder_t tab;
    keel_amqp_builder_init(&tab, &tb);
    keel_amqp_build_int(&tab, "a", 1);
    keel_amqp_properties_t p = {.flags = KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_HEADERS | KEEL_AMQP_PROP_DELIVERY_MODE |
                                         KEEL_AMQP_PROP_TIMESTAMP | KEEL_AMQP_PROP_CLUSTER_ID,
                                .content_type = KEEL_AMQP_STR("text/plain"),
                                .delivery_mode = 2,
                                .timestamp = 7,
                                .cluster_id = KEEL_AMQP_STR("c"),
                                .priority = 9, /* not flagged, so not sent */
                                .reply_to = KEEL_AMQP_STR("ignored")};
    assert_int_equal(keel_amqp_builder_finish(&tab, &p.headers), 0);
    assert_int_equal(keel_amqp_header_encode(&b, 1, 5, &p), 0);
    const uint8_t head[] = {2, 0, 1, 0, 0, 0, sizeof(header)};
    assert_int_equal(b.len, sizeof(header) + 8);
    assert_memory_equal(b.base, head, 7);
    assert_memory_equal(b.base + 7, header, sizeof(header));
    assert_int_equal((uint8_t)b.base[b.len - 1], 0xCE);
    keel_buf_free(&tb);
    keel_buf_free(&b);
}

static void test_header_decode_handles_all_fourteen_properties(void **state)
{
    keel_amqp_properties_t p = {
        .flags = 0xFFFC,
        .content_type = KEEL_AMQP_STR("application/json"),
        .content_encoding = KEEL_AMQP_STR("utf-8"),
        .headers = {(const uint8_t *)"\x01x\x56", 3}, /* {"x": void} */
        .delivery_mode = 1,
        .priority = 9,
        .correlation_id = KEEL_AMQP_STR("corr"),
        .reply_to = KEEL_AMQP_STR("amq.rabbitmq.reply-to"),
        .expiration = KEEL_AMQP_STR("60000"),
        .message_id = KEEL_AMQP_STR("id-1"),
        .timestamp = 1700000000,
        .type = KEEL_AMQP_STR("t"),
        .user_id = KEEL_AMQP_STR("guest"),
        .app_id = KEEL_AMQP_STR("nova"),
        .cluster_id = KEEL_AMQP_STR("rabbit@host"),
    };
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_amqp_header_encode(&b, 3, 1ull << 40, &p), 0);
    keel_amqp_frame_t f;
    size_t used;
    assert_int_equal(keel_amqp_frame_parse((const uint8_t *)b.base, b.len, 0, &f, &used, NULL), 0);
    keel_amqp_header_t h;
    assert_int_equal(keel_amqp_header_decode(f.payload, f.size, &h, NULL), 0);
    assert_int_equal(h.body_size, 1ull << 40);
    assert_int_equal(h.props.flags, 0xFFFC);
    assert_true(keel_amqp_str_eq(h.props.reply_to, "amq.rabbitmq.reply-to"));
    assert_true(keel_amqp_str_eq(h.props.app_id, "nova"));
    assert_true(keel_amqp_str_eq(h.props.user_id, "guest"));
    assert_int_equal(h.props.priority, 9);
    assert_int_equal(h.props.timestamp, 1700000000);
    assert_int_equal(h.props.headers.len, 3);
    keel_buf_free(&b);
}

static void test_header_decode_follows_flag_continuation(void **state)
{
    /* content-type present, continuation set, then an empty flag word. */
    const uint8_t ok[] = {0x00, 0x3C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x01, 0x00, 0x00, 0x01, 'a'};
    keel_amqp_header_t h;
    keel_amqp_error_t err = {0};
    assert_int_equal(keel_amqp_header_decode(ok, sizeof(ok), &h, &err), 0);
    assert_int_equal(h.props.flags, KEEL_AMQP_PROP_CONTENT_TYPE);
    assert_true(keel_amqp_str_eq(h.props.content_type, "a"));
    /* A second word naming a 16th property cannot be decoded. */
    const uint8_t more[] = {0x00, 0x3C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x01, 0x80, 0x00, 0x01, 'a'};
    assert_int_equal(keel_amqp_header_decode(more, sizeof(more), &h, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
    /* Nor can a 15th property in the first word. */
    const uint8_t bit1[] = {0x00, 0x3C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02};
    assert_int_equal(keel_amqp_header_decode(bit1, sizeof(bit1), &h, &err), KEEL_EPROTO);
    /* A continuation bit with nothing after it is truncation. */
    const uint8_t cut[] = {0x00, 0x3C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01};
    assert_int_equal(keel_amqp_header_decode(cut, sizeof(cut), &h, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
}

static void test_header_decode_wants_basic_and_weight_zero(void **state)
{
    uint8_t b[14] = {0x00, 0x3C};
    keel_amqp_header_t h;
    keel_amqp_error_t err = {0};
    assert_int_equal(keel_amqp_header_decode(b, sizeof(b), &h, &err), 0);
    b[1] = 0x32;
    assert_int_equal(keel_amqp_header_decode(b, sizeof(b), &h, &err), KEEL_EPROTO);
    assert_int_equal(err.code, KEEL_AMQP_UNEXPECTED_FRAME);
    b[1] = 0x3C;
    b[3] = 1;
    assert_int_equal(keel_amqp_header_decode(b, sizeof(b), &h, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 505);
}

static void test_header_decode_rejects_truncation_and_leftovers(void **state)
{
    keel_amqp_header_t h;
    keel_amqp_error_t err = {0};
    for (size_t n = 0; n < sizeof(header); n++) {
        assert_int_equal(keel_amqp_header_decode(header, n, &h, &err), KEEL_EPROTO);
        assert_int_equal(err.code, 501);
    }
    uint8_t longer[sizeof(header) + 1];
    memcpy(longer, header, sizeof(header));
    longer[sizeof(header)] = 0;
    assert_int_equal(keel_amqp_header_decode(longer, sizeof(longer), &h, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
}

static void test_header_write_measures_and_fills_caller_area(void **state)
{
    keel_amqp_properties_t p = {.flags = KEEL_AMQP_PROP_PRIORITY, .priority = 5};
    size_t len = 0;
    assert_int_equal(keel_amqp_header_write(NULL, 0, 1, 0, &p, &len), KEEL_ERANGE);
    assert_int_equal(len, 8 + 14 + 1);
    uint8_t area[32];
    assert_int_equal(keel_amqp_header_write(area, sizeof(area), 1, 0, &p, &len), 0);
    assert_int_equal(area[7 + 12], 0x08);
    assert_int_equal(area[7 + 14], 5);
    p.flags |= KEEL_AMQP_PROP_TYPE;
    char big[256] = {0};
    p.type = (keel_amqp_str_t){big, 256};
    assert_int_equal(keel_amqp_header_write(area, sizeof(area), 1, 0, &p, &len), KEEL_EINVAL);
}

/* Parses every frame of b and checks the body splits as expected. */
static void check_content(const keel_buf_t *b, uint32_t frame_max, const char *body, size_t len)
{
    const uint8_t *p = (const uint8_t *)b->base;
    size_t left = b->len, used, got = 0, frames = 0;
    keel_amqp_frame_t f;
    assert_int_equal(keel_amqp_frame_parse(p, left, 0, &f, &used, NULL), 0);
    assert_int_equal(f.type, KEEL_AMQP_FRAME_HEADER);
    keel_amqp_header_t h;
    assert_int_equal(keel_amqp_header_decode(f.payload, f.size, &h, NULL), 0);
    assert_int_equal(h.body_size, len);
    p += used, left -= used;
    while (left) {
        assert_int_equal(keel_amqp_frame_parse(p, left, 0, &f, &used, NULL), 0);
        assert_int_equal(f.type, KEEL_AMQP_FRAME_BODY);
        assert_true(f.size + 8 <= frame_max);
        assert_memory_equal(f.payload, body + got, f.size);
        got += f.size, frames++;
        p += used, left -= used;
    }
    assert_int_equal(got, len);
    assert_int_equal(frames, len ? (len + frame_max - 9) / (frame_max - 8) : 0);
}

static void test_content_encode_splits_body_by_frame_max(void **state)
{
    char body[100];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)i;
    keel_amqp_properties_t p = {.flags = KEEL_AMQP_PROP_DELIVERY_MODE, .delivery_mode = 2};
    keel_buf_t b;
    keel_buf_init(&b);
    static const uint32_t maxes[] = {9, 10, 40, 58, 107, 108, 109, 4096};
    static const size_t lens[] = {0, 1, 49, 50, 51, 99, 100};
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            keel_buf_reset(&b);
            assert_int_equal(keel_amqp_content_encode(&b, 1, maxes[i], &p, body, lens[j]), 0);
            check_content(&b, maxes[i], body, lens[j]);
        }
    }
    assert_int_equal(keel_amqp_content_encode(&b, 1, 8, &p, body, 1), KEEL_EINVAL);
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

static void test_content_encode_fails_whole_on_oom_and_retries(void **state)
{
    assert_int_equal(keel_replace_allocator(counting_malloc, counting_realloc, counting_calloc, free), 0);
    char body[5000] = {0};
    keel_amqp_properties_t p = {.flags = KEEL_AMQP_PROP_TYPE, .type = KEEL_AMQP_STR("t")};
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_PUBLISH, .basic_publish = {.routing_key = KEEL_AMQP_STR("q")}};
    int failures = 0;
    for (int n = 0;; n++) {
        keel_buf_t b;
        keel_buf_init(&b);
        fail_after = n;
        int rc = keel_amqp_method_encode(&b, 1, &m);
        size_t after_method = b.len;
        if (rc == 0)
            rc = keel_amqp_content_encode(&b, 1, 4096, &p, body, sizeof(body));
        fail_after = -1;
        if (rc == 0) {
            assert_int_equal(b.len, 8 + 10 + 8 + 16 + 8 + 4088 + 8 + 912);
            keel_buf_free(&b);
            break;
        }
        assert_int_equal(rc, KEEL_ENOMEM);
        /* nothing half-written: the buffer holds whole frames only */
        assert_true(b.len == 0 || b.len == after_method);
        failures++;
        keel_buf_free(&b);
    }
    assert_true(failures > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_decode_reads_present_properties),
        cmocka_unit_test(test_header_encode_matches_golden_bytes),
        cmocka_unit_test(test_header_decode_handles_all_fourteen_properties),
        cmocka_unit_test(test_header_decode_follows_flag_continuation),
        cmocka_unit_test(test_header_decode_wants_basic_and_weight_zero),
        cmocka_unit_test(test_header_decode_rejects_truncation_and_leftovers),
        cmocka_unit_test(test_header_write_measures_and_fills_caller_area),
        cmocka_unit_test(test_content_encode_splits_body_by_frame_max),
        cmocka_unit_test(test_content_encode_fails_whole_on_oom_and_retries),
    };
    return cmocka_run_group_tests_name("amqp/content.c", tests, NULL, NULL);
}
