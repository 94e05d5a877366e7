/*
 * test_message.c — src/client/message.c: a kept copy of a message has
 * every view (strings, header table, body) in its own allocation, so it
 * outlives the buffers it was delivered from.
 */
#include "client_testlib.h"

static void test_message_copy_owns_every_view(void **state)
{
    keel_buf_t tb;
    keel_buf_init(&tb);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &tb);
    keel_amqp_build_str(&b, "x-trace", "abc");
    keel_amqp_table_t headers;
    assert_int_equal(keel_amqp_builder_finish(&b, &headers), 0);
    char tag[] = "ctag-1", ex[] = "exchange", rk[] = "route.key", text[] = "NO_ROUTE", ct[] = "text/plain", mid[] = "m-42";
    uint8_t body[] = {0, 1, 2, 3, 255};
    keel_client_message_t m = {.consumer_tag = {tag, strlen(tag)},
                               .delivery_tag = 7,
                               .redelivered = true,
                               .exchange = {ex, strlen(ex)},
                               .routing_key = {rk, strlen(rk)},
                               .message_count = 3,
                               .reply_code = 312,
                               .reply_text = {text, strlen(text)},
                               .body = body,
                               .body_len = sizeof(body)};
    m.props.flags = KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_HEADERS | KEEL_AMQP_PROP_MESSAGE_ID | KEEL_AMQP_PROP_PRIORITY;
    m.props.content_type = (keel_amqp_str_t){ct, strlen(ct)};
    m.props.headers = headers;
    m.props.message_id = (keel_amqp_str_t){mid, strlen(mid)};
    m.props.priority = 4;
    m.consumer = (keel_client_consumer_t *)&m; /* any pointer: the copy drops it */
    keel_client_message_t *c = NULL;
    assert_int_equal(keel_client_message_copy(&m, &c), 0);
    /* scribble over the originals: the copy must not notice */
    memset(tag, 'x', strlen(tag));
    memset(ex, 'x', strlen(ex));
    memset(rk, 'x', strlen(rk));
    memset(text, 'x', strlen(text));
    memset(ct, 'x', strlen(ct));
    memset(mid, 'x', strlen(mid));
    memset(body, 9, sizeof(body));
    keel_amqp_str_t trace;
    assert_int_equal(keel_amqp_table_get_str(c->props.headers, "x-trace", &trace), 0);
    keel_buf_free(&tb);
    assert_true(keel_amqp_str_eq(trace, "abc"));
    assert_null(c->consumer);
    assert_true(keel_amqp_str_eq(c->consumer_tag, "ctag-1"));
    assert_true(keel_amqp_str_eq(c->exchange, "exchange"));
    assert_true(keel_amqp_str_eq(c->routing_key, "route.key"));
    assert_true(keel_amqp_str_eq(c->reply_text, "NO_ROUTE"));
    assert_true(keel_amqp_str_eq(c->props.content_type, "text/plain"));
    assert_true(keel_amqp_str_eq(c->props.message_id, "m-42"));
    assert_int_equal(c->props.priority, 4);
    assert_int_equal(c->delivery_tag, 7);
    assert_true(c->redelivered);
    assert_int_equal(c->message_count, 3);
    assert_int_equal(c->reply_code, 312);
    assert_int_equal(c->body_len, 5);
    assert_memory_equal(c->body, ((uint8_t[]){0, 1, 2, 3, 255}), 5);
    keel_client_message_free(c);
    keel_client_message_free(NULL);
}

static void test_message_copy_of_an_empty_message(void **state)
{
    keel_client_message_t m = {0};
    keel_client_message_t *c = NULL;
    assert_int_equal(keel_client_message_copy(&m, &c), 0);
    assert_int_equal(c->body_len, 0);
    assert_int_equal(c->props.flags, 0);
    keel_client_message_free(c);
    assert_int_equal(keel_client_message_copy(NULL, &c), KEEL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_copy_owns_every_view),
        cmocka_unit_test(test_message_copy_of_an_empty_message),
    };
    return cmocka_run_group_tests_name("client/message.c", tests, NULL, NULL);
}
