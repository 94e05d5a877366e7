/*
 * Tests for src/messaging/fake.c: the in-memory broker as a raw AMQP
 * client sees it (publish to exchanges and the default exchange, basic.get,
 * 404 for a missing exchange), per-message expiration of call requests,
 * private brokers per transport, and a broker in use not being freed.
 */
#include "fixture.h"

#include "keel/log.h"

static void test_fake_broker_routes_like_amqp(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_buf_t out;
    keel_buf_init(&out);
    assert_int_equal(keel_messaging_fake_broker_describe(f.broker, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "nope", "k", "x", 1), KEEL_ENOENT);
    /* The default exchange routes by queue name; nothing there: dropped. */
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "", "q", "x", 1), 0);
    assert_int_equal(keel_messaging_fake_broker_get(f.broker, "q", &out), KEEL_ENOENT);
    /* A notifier declares its N.P queue before publishing, so the message waits there. */
    keel_messaging_target_t tg = {.topic = "t", .server = "s"};
    keel_messaging_endpoint_t ep = {0};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &tg, &ep, 0, KEEL_MESSAGING_EXECUTOR_LOOP);
    fx_server_stop(&f, s);
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "openstack", "t.s", "one", 3), 0);
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "", "t.s", "two", 3), 0);
    assert_int_equal(keel_messaging_fake_broker_get(f.broker, "t.s", &out), 0);
    assert_string_equal(out.base, "one");
    keel_buf_reset(&out);
    assert_int_equal(keel_messaging_fake_broker_get(f.broker, "t.s", &out), 0);
    assert_string_equal(out.base, "two");
    assert_int_equal(keel_messaging_fake_broker_get(f.broker, "t.s", &out), KEEL_EAGAIN);
    keel_messaging_fake_broker_set_down(f.broker, true);
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "openstack", "t.s", "x", 1), KEEL_ECONNREFUSED);
    keel_messaging_fake_broker_set_down(f.broker, false);
    keel_buf_free(&out);
    fx_finish(&f);
}

static void test_fake_call_requests_expire_in_their_queue(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_target_t tg = {.topic = "t", .server = "s"};
    keel_messaging_endpoint_t ep = {0};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &tg, &ep, 0, KEEL_MESSAGING_EXECUTOR_LOOP);
    fx_server_stop(&f, s); /* the queue t stays, with nobody consuming */
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.timeout = 0.1;
    keel_messaging_rpc_client_t *c = NULL;
    keel_messaging_target_t ct = {.topic = "t"};
    assert_int_equal(keel_messaging_rpc_client_new(&c, f.t, &ct, &o), 0);
    fx_result_t r;
    fx_call(&f, c, NULL, "m", NULL, &r, 2000);
    assert_int_equal(r.status, KEEL_ETIMEDOUT);
    fx_result_clear(&r);
    /* The request carried expiration = timeout: a server starting now would not get it.
       (The call's timer runs on loop time, the expiration on the clock: give it a moment.) */
    fx_idle(&f, 20);
    keel_buf_t out;
    keel_buf_init(&out);
    assert_int_equal(keel_messaging_fake_broker_get(f.broker, "t", &out), KEEL_EAGAIN);
    /* A cast has no expiration: it waits. */
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "m", NULL, NULL, NULL), 0);
    fx_idle(&f, 150);
    assert_int_equal(keel_messaging_fake_broker_get(f.broker, "t", &out), 0);
    assert_non_null(strstr(out.base, "\\\"method\\\": \\\"m\\\""));
    assert_null(strstr(out.base, "_reply_q"));
    keel_buf_free(&out);
    keel_messaging_rpc_client_free(c);
    fx_finish(&f);
}

static void test_fake_transports_without_a_broker_are_private(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    keel_messaging_transport_t *a = NULL, *b = NULL;
    keel_messaging_transport_opts_t o = {.url = "fake://"};
    assert_int_equal(keel_messaging_transport_new(&a, &loop, NULL, &o), 0);
    assert_int_equal(keel_messaging_transport_new(&b, &loop, NULL, &o), 0);
    keel_messaging_target_t tg = {.topic = "t", .server = "s"};
    keel_messaging_endpoint_t ep = {0};
    keel_messaging_rpc_server_t *s = NULL;
    assert_int_equal(keel_messaging_rpc_server_new(&s, a, &tg, &ep, 0, NULL), 0);
    assert_int_equal(keel_messaging_rpc_server_start(s), 0);
    keel_messaging_rpc_client_opts_t co = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    co.timeout = 0.05;
    keel_messaging_rpc_client_t *c = NULL;
    assert_int_equal(keel_messaging_rpc_client_new(&c, b, &tg, &co), 0);
    fx_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "m", NULL, fx_on_call, &r), 0);
    assert_true(run_until(&loop, &r.done, 2000));
    assert_int_equal(r.status, KEEL_ETIMEDOUT); /* b's broker has no such server */
    keel_messaging_rpc_client_free(c);
    keel_messaging_rpc_server_stop(s);
    bool waited = false;
    assert_int_equal(keel_messaging_rpc_server_wait(s, fx_on_wait, &waited), 0);
    assert_true(run_until(&loop, &waited, 2000));
    assert_int_equal(keel_messaging_rpc_server_free(s), 0);
    assert_int_equal(keel_messaging_transport_close(a, NULL, NULL), 0);
    assert_int_equal(keel_messaging_transport_close(b, NULL, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_fake_broker_in_use_is_not_freed(void **state)
{
    fx_t f;
    fx_init(&f);
    assert_int_equal(keel_messaging_fake_broker_free(f.broker), KEEL_EBUSY);
    assert_int_equal(keel_messaging_fake_broker_free(NULL), 0);
    fx_finish(&f);
}

int main(void)
{
    keel_log_set_level("oslo.messaging", KEEL_LOG_LEVEL_CRITICAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_broker_routes_like_amqp),
        cmocka_unit_test(test_fake_call_requests_expire_in_their_queue),
        cmocka_unit_test(test_fake_transports_without_a_broker_are_private),
        cmocka_unit_test(test_fake_broker_in_use_is_not_freed),
    };
    return cmocka_run_group_tests_name("messaging/fake.c", tests, NULL, NULL);
}
