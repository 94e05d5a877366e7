/* Tests for src/amqp/method.c: method payload decode and encode around the
 * generated code, strictness and reply codes, names, and the UTF-8 check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/amqp.h"
#include "wire.h"

/* Payloads as pika 1.2 encodes them (checked by hand against the spec). */
static const uint8_t queue_declare[] = {0x00, 0x32, 0x00, 0x0A, 0x00, 0x00, 0x05, 't', 'a',
                                        's',  'k',  's',  0x0A, 0x00, 0x00, 0x00, 0x00};
static const uint8_t basic_publish[] = {0x00, 0x3C, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 'q', 0x01};
static const uint8_t connection_start[] = {0x00, 0x0A, 0x00, 0x0A, 0x00, 0x09, 0x00, 0x00, 0x00, 0x12, 0x07, 'p', 'r', 'o',
                                           'd',  'u',  'c',  't',  'S',  0x00, 0x00, 0x00, 0x05, 'k',  'e',  'e', 'l', 'd',
                                           0x00, 0x00, 0x00, 0x0E, 'P',  'L',  'A',  'I',  'N',  ' ',  'A',  'M', 'Q', 'P',
                                           'L',  'A',  'I',  'N',  0x00, 0x00, 0x00, 0x05, 'e',  'n',  '_',  'U', 'S'};
static const uint8_t basic_nack[] = {0x00, 0x3C, 0x00, 0x78, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x02};

static void test_method_decode_reads_queue_declare_bits_in_order(void **state)
{
    keel_amqp_method_t m;
    assert_int_equal(keel_amqp_method_decode(queue_declare, sizeof(queue_declare), &m, NULL), 0);
    assert_int_equal(m.id, KEEL_AMQP_QUEUE_DECLARE);
    assert_true(keel_amqp_str_eq(m.queue_declare.queue, "tasks"));
    assert_false(m.queue_declare.passive);
    assert_true(m.queue_declare.durable);
    assert_false(m.queue_declare.exclusive);
    assert_true(m.queue_declare.auto_delete);
    assert_false(m.queue_declare.nowait);
    assert_int_equal(m.queue_declare.arguments.len, 0);
}

static void test_method_decode_is_zero_copy(void **state)
{
    keel_amqp_method_t m;
    assert_int_equal(keel_amqp_method_decode(basic_publish, sizeof(basic_publish), &m, NULL), 0);
    assert_int_equal(m.id, KEEL_AMQP_BASIC_PUBLISH);
    assert_int_equal(m.basic_publish.exchange.len, 0);
    assert_ptr_equal(m.basic_publish.routing_key.base, (const char *)basic_publish + 8);
    assert_true(m.basic_publish.mandatory);
    assert_false(m.basic_publish.immediate);
}

static void test_method_decode_reads_tables_and_longstrs(void **state)
{
    keel_amqp_method_t m;
    assert_int_equal(keel_amqp_method_decode(connection_start, sizeof(connection_start), &m, NULL), 0);
    assert_int_equal(m.id, KEEL_AMQP_CONNECTION_START);
    assert_int_equal(m.connection_start.version_major, 0);
    assert_int_equal(m.connection_start.version_minor, 9);
    keel_amqp_str_t product;
    assert_int_equal(keel_amqp_table_get_str(m.connection_start.server_properties, "product", &product), 0);
    assert_true(keel_amqp_str_eq(product, "keeld"));
    assert_true(keel_amqp_str_eq(m.connection_start.mechanisms, "PLAIN AMQPLAIN"));
    assert_true(keel_amqp_str_eq(m.connection_start.locales, "en_US"));
}

static void test_method_decode_reads_longlong_and_packed_bits(void **state)
{
    keel_amqp_method_t m;
    assert_int_equal(keel_amqp_method_decode(basic_nack, sizeof(basic_nack), &m, NULL), 0);
    assert_int_equal(m.basic_nack.delivery_tag, 0x0102030405060708ull);
    assert_false(m.basic_nack.multiple);
    assert_true(m.basic_nack.requeue);
}

static void test_method_decode_rejects_every_truncation(void **state)
{
    for (size_t n = 0; n < sizeof(connection_start); n++) {
        keel_amqp_method_t m;
        keel_amqp_error_t err = {0};
        assert_int_equal(keel_amqp_method_decode(connection_start, n, &m, &err), KEEL_EPROTO);
        assert_int_equal(err.code, KEEL_AMQP_FRAME_ERROR);
        if (n >= 4) {
            assert_int_equal(err.class_id, 10);
            assert_int_equal(err.method_id, 10);
        }
    }
}

static void test_method_decode_rejects_trailing_octets(void **state)
{
    uint8_t b[sizeof(basic_publish) + 1];
    memcpy(b, basic_publish, sizeof(basic_publish));
    b[sizeof(basic_publish)] = 0;
    keel_amqp_method_t m;
    keel_amqp_error_t err = {0};
    assert_int_equal(keel_amqp_method_decode(b, sizeof(b), &m, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
    assert_int_equal(err.class_id, 60);
    assert_int_equal(err.method_id, 40);
}

static void test_method_decode_answers_unknown_ids_with_540(void **state)
{
    const uint8_t unknown_method[] = {0x00, 0x3C, 0x00, 0x29};
    const uint8_t unknown_class[] = {0x00, 0x0B, 0x00, 0x0A, 0x00};
    keel_amqp_method_t m;
    keel_amqp_error_t err = {0};
    assert_int_equal(keel_amqp_method_decode(unknown_method, 4, &m, &err), KEEL_EPROTO);
    assert_int_equal(err.code, KEEL_AMQP_NOT_IMPLEMENTED);
    assert_int_equal(err.class_id, 60);
    assert_int_equal(err.method_id, 41);
    assert_int_equal(keel_amqp_method_decode(unknown_class, 5, &m, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 540);
}

static void test_method_decode_checks_utf8_only_without_content(void **state)
{
    /* exchange.delete with exchange "\xff": RabbitMQ's frame_error. */
    const uint8_t del[] = {0x00, 0x28, 0x00, 0x14, 0x00, 0x00, 0x01, 0xFF, 0x00};
    keel_amqp_method_t m;
    keel_amqp_error_t err = {0};
    assert_int_equal(keel_amqp_method_decode(del, sizeof(del), &m, &err), KEEL_EPROTO);
    assert_int_equal(err.code, 501);
    assert_string_equal(err.text, "malformed UTF-8 in shortstr");
    /* basic.publish skips the check, for speed, as RabbitMQ does. */
    const uint8_t pub[] = {0x00, 0x3C, 0x00, 0x28, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x00};
    assert_int_equal(keel_amqp_method_decode(pub, sizeof(pub), &m, &err), 0);
}

static void test_method_decode_ignores_unused_bits(void **state)
{
    uint8_t b[sizeof(basic_publish)];
    memcpy(b, basic_publish, sizeof(b));
    b[sizeof(b) - 1] = 0xFD; /* mandatory, not immediate, and six stray bits */
    keel_amqp_method_t m;
    assert_int_equal(keel_amqp_method_decode(b, sizeof(b), &m, NULL), 0);
    assert_true(m.basic_publish.mandatory);
    assert_false(m.basic_publish.immediate);
}

static void test_method_encode_matches_golden_bytes(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_method_t m = {.id = KEEL_AMQP_QUEUE_DECLARE,
                            .queue_declare = {.queue = KEEL_AMQP_STR("tasks"), .durable = true, .auto_delete = true}};
    assert_int_equal(keel_amqp_method_encode(&b, 5, &m), 0);
    assert_int_equal(b.len, 8 + sizeof(queue_declare));
    const uint8_t head[] = {1, 0, 5, 0, 0, 0, sizeof(queue_declare)};
    assert_memory_equal(b.base, head, 7);
    assert_memory_equal(b.base + 7, queue_declare, sizeof(queue_declare));
    assert_int_equal((uint8_t)b.base[b.len - 1], 0xCE);

    keel_buf_reset(&b);
    m = (keel_amqp_method_t){.id = KEEL_AMQP_BASIC_NACK, .basic_nack = {.delivery_tag = 0x0102030405060708ull, .requeue = true}};
    assert_int_equal(keel_amqp_method_encode(&b, 1, &m), 0);
    assert_memory_equal(b.base + 7, basic_nack, sizeof(basic_nack));
    keel_buf_free(&b);
}

static void test_method_encode_handles_methods_without_fields(void **state)
{
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_CLOSE_OK};
    assert_int_equal(keel_amqp_method_encode(&b, 0, &m), 0);
    const uint8_t want[] = {1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.base, want, sizeof(want));
    keel_buf_free(&b);
}

static void test_method_encode_refuses_what_the_wire_cannot_carry(void **state)
{
    char big[256];
    memset(big, 'a', sizeof(big));
    keel_buf_t b;
    keel_buf_init(&b);
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_PUBLISH, .basic_publish = {.routing_key = {big, 256}}};
    assert_int_equal(keel_amqp_method_encode(&b, 1, &m), KEEL_EINVAL);
    m.basic_publish.routing_key.len = 255;
    assert_int_equal(keel_amqp_method_encode(&b, 1, &m), 0);
    keel_amqp_method_t bad = {.id = keel_amqp_method_id(60, 41)};
    assert_int_equal(keel_amqp_method_encode(&b, 1, &bad), KEEL_EINVAL);
    keel_amqp_method_t nullstr = {.id = KEEL_AMQP_BASIC_PUBLISH, .basic_publish = {.routing_key = {NULL, 3}}};
    assert_int_equal(keel_amqp_method_encode(&b, 1, &nullstr), KEEL_EINVAL);
    keel_buf_free(&b);
}

static void test_method_write_measures_and_fills_caller_area(void **state)
{
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_PUBLISH, .basic_publish = {.routing_key = KEEL_AMQP_STR("q"), .mandatory = true}};
    size_t len = 0;
    assert_int_equal(keel_amqp_method_write(NULL, 0, 1, &m, &len), KEEL_ERANGE);
    assert_int_equal(len, sizeof(basic_publish) + 8);
    uint8_t area[64];
    memset(area, 0xAA, sizeof(area));
    assert_int_equal(keel_amqp_method_write(area, len - 1, 1, &m, &len), KEEL_ERANGE);
    assert_int_equal(area[0], 0xAA);
    assert_int_equal(keel_amqp_method_write(area, sizeof(area), 1, &m, &len), 0);
    assert_memory_equal(area + 7, basic_publish, sizeof(basic_publish));
    assert_int_equal(area[len - 1], 0xCE);
}

static void test_method_info_describes_rabbitmq_extensions(void **state)
{
    const keel_amqp_method_info_t *i = keel_amqp_method_info(KEEL_AMQP_EXCHANGE_UNBIND);
    assert_non_null(i);
    assert_string_equal(i->name, "exchange.unbind");
    assert_true(i->flags & KEEL_AMQP_METHOD_RABBITMQ);
    assert_true(i->flags & KEEL_AMQP_METHOD_SYNC);
    assert_int_equal(i->nreplies, 1);
    assert_int_equal(i->replies[0], keel_amqp_method_id(40, 51));
    assert_int_equal(KEEL_AMQP_CONNECTION_UPDATE_SECRET, keel_amqp_method_id(10, 70));
    assert_int_equal(KEEL_AMQP_CONFIRM_SELECT_OK, keel_amqp_method_id(85, 11));
    i = keel_amqp_method_info(KEEL_AMQP_BASIC_GET);
    assert_int_equal(i->nreplies, 2);
    assert_int_equal(i->replies[1], KEEL_AMQP_BASIC_GET_EMPTY);
    i = keel_amqp_method_info(KEEL_AMQP_BASIC_DELIVER);
    assert_true(i->flags & KEEL_AMQP_METHOD_CONTENT);
    assert_true(i->flags & KEEL_AMQP_METHOD_TO_CLIENT);
    assert_false(i->flags & KEEL_AMQP_METHOD_TO_SERVER);
    assert_null(keel_amqp_method_info(0));
    assert_string_equal(keel_amqp_method_name(KEEL_AMQP_CONNECTION_BLOCKED), "connection.blocked");
    assert_null(keel_amqp_method_name(keel_amqp_method_id(10, 62)));
}

static void test_reply_names_follow_rabbitmq(void **state)
{
    assert_string_equal(keel_amqp_reply_name(404), "NOT_FOUND");
    assert_string_equal(keel_amqp_reply_name(KEEL_AMQP_PRECONDITION_FAILED), "PRECONDITION_FAILED");
    assert_string_equal(keel_amqp_reply_name(541), "INTERNAL_ERROR");
    assert_null(keel_amqp_reply_name(999));
    assert_false(keel_amqp_reply_is_hard(404));
    assert_false(keel_amqp_reply_is_hard(200));
    assert_true(keel_amqp_reply_is_hard(501));
    assert_true(keel_amqp_reply_is_hard(530));
    assert_true(keel_amqp_reply_is_hard(999));
}

static void test_utf8_valid_follows_rfc_3629(void **state)
{
    assert_true(keel__amqp_utf8_valid("", 0));
    assert_true(keel__amqp_utf8_valid("plain", 5));
    assert_true(keel__amqp_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\x87", 9));
    assert_false(keel__amqp_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(keel__amqp_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(keel__amqp_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(keel__amqp_utf8_valid("\xe2\x82", 2));         /* cut short */
    assert_false(keel__amqp_utf8_valid("\x80", 1));
    assert_false(keel__amqp_utf8_valid("\xf8\x88\x80\x80\x80", 5));
}

static void test_str_helpers_view_c_strings(void **state)
{
    keel_amqp_str_t s = keel_amqp_str("abc");
    assert_int_equal(s.len, 3);
    assert_true(keel_amqp_str_eq(s, "abc"));
    assert_false(keel_amqp_str_eq(s, "ab"));
    assert_int_equal(keel_amqp_str(NULL).len, 0);
    assert_true(keel_amqp_str_eq(KEEL_AMQP_STR(""), ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_decode_reads_queue_declare_bits_in_order),
        cmocka_unit_test(test_method_decode_is_zero_copy),
        cmocka_unit_test(test_method_decode_reads_tables_and_longstrs),
        cmocka_unit_test(test_method_decode_reads_longlong_and_packed_bits),
        cmocka_unit_test(test_method_decode_rejects_every_truncation),
        cmocka_unit_test(test_method_decode_rejects_trailing_octets),
        cmocka_unit_test(test_method_decode_answers_unknown_ids_with_540),
        cmocka_unit_test(test_method_decode_checks_utf8_only_without_content),
        cmocka_unit_test(test_method_decode_ignores_unused_bits),
        cmocka_unit_test(test_method_encode_matches_golden_bytes),
        cmocka_unit_test(test_method_encode_handles_methods_without_fields),
        cmocka_unit_test(test_method_encode_refuses_what_the_wire_cannot_carry),
        cmocka_unit_test(test_method_write_measures_and_fills_caller_area),
        cmocka_unit_test(test_method_info_describes_rabbitmq_extensions),
        cmocka_unit_test(test_reply_names_follow_rabbitmq),
        cmocka_unit_test(test_utf8_valid_follows_rfc_3629),
        cmocka_unit_test(test_str_helpers_view_c_strings),
    };
    return cmocka_run_group_tests_name("amqp/method.c", tests, NULL, NULL);
}
