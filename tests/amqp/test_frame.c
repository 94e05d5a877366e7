/* Tests for src/amqp/frame.c: protocol headers, incremental frame parsing
 * with RabbitMQ's reply codes, and frame encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/amqp.h"

static int parse(const void *buf, size_t len, uint32_t frame_max, keel_amqp_frame_t *f, size_t *used, keel_amqp_error_t *err)
{
    return keel_amqp_frame_parse(buf, len, frame_max, f, used, err);
}

static void test_protocol_parse_recognises_0_9_1(void **state)
{
    keel_amqp_protocol_t p;
    size_t used;
    assert_int_equal(keel_amqp_protocol_parse((const uint8_t *)KEEL_AMQP_PROTOCOL_HEADER, 8, &p, &used), 0);
    assert_int_equal(p.kind, KEEL_AMQP_PROTO_0_9_1);
    assert_int_equal(used, 8);
    assert_int_equal(p.minor, 9);
    assert_int_equal(p.revision, 1);
}

static void test_protocol_parse_waits_for_eight_octets(void **state)
{
    keel_amqp_protocol_t p;
    size_t used = 0;
    for (size_t n = 0; n < 8; n++) {
        assert_int_equal(keel_amqp_protocol_parse((const uint8_t *)KEEL_AMQP_PROTOCOL_HEADER, n, &p, &used), KEEL_EAGAIN);
        assert_int_equal(used, 8);
    }
}

static void test_protocol_parse_names_other_versions(void **state)
{
    static const struct {
        const char *hdr;
        int kind;
    } cases[] = {
        {"AMQP\x01\x01\x00\x09", KEEL_AMQP_PROTO_0_9},   {"AMQP\x01\x01\x08\x00", KEEL_AMQP_PROTO_0_8},
        {"AMQP\x00\x01\x00\x00", KEEL_AMQP_PROTO_1_0},   {"AMQP\x03\x01\x00\x00", KEEL_AMQP_PROTO_1_0},
        {"AMQP\x00\x00\x09\x00", KEEL_AMQP_PROTO_OTHER}, {"AMQP\x00\x00\x0a\x01", KEEL_AMQP_PROTO_OTHER},
        {"GET / HTTP/1.1", KEEL_AMQP_PROTO_NOT_AMQP},    {"\x16\x03\x01\x02\x00\x01\x00\x01", KEEL_AMQP_PROTO_NOT_AMQP},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel_amqp_protocol_t p;
        size_t used;
        assert_int_equal(keel_amqp_protocol_parse((const uint8_t *)cases[i].hdr, 8, &p, &used), 0);
        assert_int_equal(p.kind, cases[i].kind);
    }
}

static void test_protocol_parse_refuses_non_amqp_early(void **state)
{
    keel_amqp_protocol_t p;
    size_t used;
    assert_int_equal(keel_amqp_protocol_parse((const uint8_t *)"AMX", 3, &p, &used), 0);
    assert_int_equal(p.kind, KEEL_AMQP_PROTO_NOT_AMQP);
    assert_int_equal(used, 3);
    assert_int_equal(keel_amqp_protocol_parse((const uint8_t *)"AMQ", 3, &p, &used), KEEL_EAGAIN);
}

/* A heartbeat, then a method frame (channel.open on channel 1). */
static const uint8_t stream[] = {8, 0, 0, 0, 0, 0, 0, 0xCE, 1, 0, 1, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE};

static void test_frame_parse_splits_a_stream(void **state)
{
    keel_amqp_frame_t f;
    size_t used;
    assert_int_equal(parse(stream, sizeof(stream), 4096, &f, &used, NULL), 0);
    assert_int_equal(f.type, KEEL_AMQP_FRAME_HEARTBEAT);
    assert_int_equal(f.size, 0);
    assert_int_equal(used, 8);
    assert_int_equal(parse(stream + used, sizeof(stream) - used, 4096, &f, &used, NULL), 0);
    assert_int_equal(f.type, KEEL_AMQP_FRAME_METHOD);
    assert_int_equal(f.channel, 1);
    assert_int_equal(f.size, 5);
    assert_ptr_equal(f.payload, stream + 15);
    assert_int_equal(used, 13);
}

static void test_frame_parse_reports_octets_needed_at_every_cut(void **state)
{
    const uint8_t *m = stream + 8;
    for (size_t n = 0; n < 13; n++) {
        keel_amqp_frame_t f = {.type = 99};
        size_t used = 0;
        assert_int_equal(parse(m, n, 0, &f, &used, NULL), KEEL_EAGAIN);
        assert_int_equal(used, n < 7 ? 8 : 13);
        assert_true(used > n);
        assert_int_equal(f.type, 99);
    }
}

static void test_frame_parse_rejects_bad_frame_end(void **state)
{
    uint8_t b[sizeof(stream)];
    memcpy(b, stream, sizeof(b));
    b[7] = 0xCD;
    keel_amqp_frame_t f;
    size_t used;
    keel_amqp_error_t err = {0};
    assert_int_equal(parse(b, sizeof(b), 0, &f, &used, &err), KEEL_EPROTO);
    assert_int_equal(err.code, KEEL_AMQP_FRAME_ERROR);
    assert_string_equal(err.text, "invalid frame end marker");
}

static void test_frame_parse_refuses_oversize_from_the_head(void **state)
{
    /* Only the head has arrived; a 1 MiB payload is refused right away. */
    const uint8_t head[] = {3, 0, 1, 0, 0x10, 0, 0};
    keel_amqp_frame_t f;
    size_t used;
    keel_amqp_error_t err = {0};
    assert_int_equal(parse(head, sizeof(head), 131072, &f, &used, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
    /* Without a limit the same head just asks for the rest. */
    assert_int_equal(parse(head, sizeof(head), 0, &f, &used, &err), KEEL_EAGAIN);
    assert_int_equal(used, 0x100000 + 8);
}

static void test_frame_parse_tolerates_payload_up_to_frame_max(void **state)
{
    /* RabbitMQ forgives clients that forget the 8 octets of overhead. */
    uint8_t b[4096 + 8] = {3, 0, 1, 0, 0, 0x10, 0};
    b[sizeof(b) - 1] = 0xCE;
    keel_amqp_frame_t f;
    size_t used;
    keel_amqp_error_t err;
    assert_int_equal(parse(b, sizeof(b), 4096, &f, &used, &err), 0);
    assert_int_equal(f.size, 4096);
    assert_int_equal(parse(b, sizeof(b), 4095, &f, &used, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
}

static void check_refused(const uint8_t *b, size_t len, uint16_t code)
{
    keel_amqp_frame_t f;
    size_t used;
    keel_amqp_error_t err = {0};
    assert_int_equal(parse(b, len, 0, &f, &used, &err), KEEL_EPROTO);
    assert_int_equal(err.code, code);
    assert_non_null(err.text);
}

static void test_frame_parse_rejects_unknown_type(void **state)
{
    const uint8_t b[] = {4, 0, 0, 0, 0, 0, 0, 0xCE};
    check_refused(b, sizeof(b), 501);
}

static void test_frame_parse_rejects_heartbeat_with_payload(void **state)
{
    const uint8_t b[] = {8, 0, 0, 0, 0, 0, 1, 0, 0xCE};
    check_refused(b, sizeof(b), 501);
}

static void test_frame_parse_rejects_heartbeat_on_a_channel(void **state)
{
    const uint8_t b[] = {8, 0, 3, 0, 0, 0, 0, 0xCE};
    check_refused(b, sizeof(b), 505);
}

static void test_frame_parse_rejects_content_on_channel_zero(void **state)
{
    const uint8_t body[] = {3, 0, 0, 0, 0, 0, 1, 'x', 0xCE};
    check_refused(body, sizeof(body), 505);
    uint8_t hdr[7 + 14 + 1] = {2, 0, 0, 0, 0, 0, 14};
    hdr[sizeof(hdr) - 1] = 0xCE;
    check_refused(hdr, sizeof(hdr), 505);
}

static void test_frame_parse_rejects_short_method_and_header(void **state)
{
    const uint8_t m[] = {1, 0, 0, 0, 0, 0, 3, 0, 10, 0, 0xCE};
    check_refused(m, sizeof(m), 501);
    uint8_t h[7 + 13 + 1] = {2, 0, 1, 0, 0, 0, 13};
    h[sizeof(h) - 1] = 0xCE;
    check_refused(h, sizeof(h), 501);
}

static void test_frame_head_and_encode_write_wire_layout(void **state)
{
    uint8_t head[7];
    keel_amqp_frame_head(head, KEEL_AMQP_FRAME_BODY, 0x0102, 0x03040506);
    const uint8_t want[] = {3, 1, 2, 3, 4, 5, 6};
    assert_memory_equal(head, want, 7);

    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_amqp_frame_encode(&b, KEEL_AMQP_FRAME_HEARTBEAT, 0, NULL, 0), 0);
    assert_int_equal(keel_amqp_frame_encode(&b, KEEL_AMQP_FRAME_BODY, 7, "hi", 2), 0);
    const uint8_t frames[] = {8, 0, 0, 0, 0, 0, 0, 0xCE, 3, 0, 7, 0, 0, 0, 2, 'h', 'i', 0xCE};
    assert_int_equal(b.len, sizeof(frames));
    assert_memory_equal(b.base, frames, sizeof(frames));
    assert_int_equal(keel_amqp_frame_encode(&b, KEEL_AMQP_FRAME_BODY, 7, NULL, 3), KEEL_EINVAL);
    assert_int_equal(b.len, sizeof(frames));
    keel_buf_free(&b);
}

static int fail_alloc;
static void *failing_malloc(size_t n)
{
    return fail_alloc ? NULL : malloc(n);
}
static void *failing_realloc(void *p, size_t n)
{
    return fail_alloc ? NULL : realloc(p, n);
}
static void *failing_calloc(size_t c, size_t n)
{
    return fail_alloc ? NULL : calloc(c, n);
}

static void test_frame_encode_leaves_buffer_unchanged_on_oom(void **state)
{
    assert_int_equal(keel_replace_allocator(failing_malloc, failing_realloc, failing_calloc, free), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_amqp_frame_encode(&b, KEEL_AMQP_FRAME_BODY, 1, "x", 1), 0);
    size_t len = b.len;
    fail_alloc = 1;
    char big[200] = {0};
    assert_int_equal(keel_amqp_frame_encode(&b, KEEL_AMQP_FRAME_BODY, 1, big, sizeof(big)), KEEL_ENOMEM);
    assert_int_equal(b.len, len);
    fail_alloc = 0;
    assert_int_equal(keel_amqp_frame_encode(&b, KEEL_AMQP_FRAME_BODY, 1, big, sizeof(big)), 0);
    keel_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocol_parse_recognises_0_9_1),
        cmocka_unit_test(test_protocol_parse_waits_for_eight_octets),
        cmocka_unit_test(test_protocol_parse_names_other_versions),
        cmocka_unit_test(test_protocol_parse_refuses_non_amqp_early),
        cmocka_unit_test(test_frame_parse_splits_a_stream),
        cmocka_unit_test(test_frame_parse_reports_octets_needed_at_every_cut),
        cmocka_unit_test(test_frame_parse_rejects_bad_frame_end),
        cmocka_unit_test(test_frame_parse_refuses_oversize_from_the_head),
        cmocka_unit_test(test_frame_parse_tolerates_payload_up_to_frame_max),
        cmocka_unit_test(test_frame_parse_rejects_unknown_type),
        cmocka_unit_test(test_frame_parse_rejects_heartbeat_with_payload),
        cmocka_unit_test(test_frame_parse_rejects_heartbeat_on_a_channel),
        cmocka_unit_test(test_frame_parse_rejects_content_on_channel_zero),
        cmocka_unit_test(test_frame_parse_rejects_short_method_and_header),
        cmocka_unit_test(test_frame_head_and_encode_write_wire_layout),
        cmocka_unit_test(test_frame_encode_leaves_buffer_unchanged_on_oom),
    };
    return cmocka_run_group_tests_name("amqp/frame.c", tests, NULL, NULL);
}
