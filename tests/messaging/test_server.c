/*
 * Tests for src/messaging/server.c, through the public API over fake://:
 * the three executors (one at a time, all at once on the loop, a bounded
 * thread pool), stop/wait/free, requests that outlive a stop waiting in
 * their queue, duplicates by _unique_id, bare 1.0 and foreign envelopes,
 * rpc_ping_enabled, access policies, the log context of a method, the
 * topology a server declares, and failures with kwargs or expected.
 */
#include "fixture.h"

#include "keel/log.h"

typedef struct ep_state_s {
    int active, max_active, handled;
    int fails;
    uv_timer_t timer;
    keel_messaging_request_t *held[8];
    int nheld;
    int sleep_ms; /* threading: how long a method blocks its worker */
    uv_thread_t loop_thread;
    bool off_loop;
    char request_id[64];
    uv_mutex_t lock;
} ep_state_t;

static void enter(ep_state_t *st)
{
    uv_mutex_lock(&st->lock);
    st->active++;
    if (st->active > st->max_active)
        st->max_active = st->active;
    uv_mutex_unlock(&st->lock);
}

static void leave(ep_state_t *st)
{
    uv_mutex_lock(&st->lock);
    st->active--;
    st->handled++;
    uv_mutex_unlock(&st->lock);
}

static void on_release(uv_timer_t *t)
{
    ep_state_t *st = t->data;
    for (int i = 0; i < st->nheld; i++) {
        leave(st);
        keel_messaging_request_reply(st->held[i], json_string("released"));
    }
    st->nheld = 0;
}

/* Loop executors: hold the request for 50 ms. */
static void m_hold(keel_messaging_request_t *req, void *data)
{
    ep_state_t *st = data;
    enter(st);
    assert_int_equal(keel_messaging_request_defer(req), 0);
    st->held[st->nheld++] = req;
    uv_timer_start(&st->timer, on_release, 50, 0);
}

/* Threading executor: block the worker thread. */
static void m_block(keel_messaging_request_t *req, void *data)
{
    ep_state_t *st = data;
    enter(st);
    uv_thread_t self = uv_thread_self();
    uv_mutex_lock(&st->lock);
    if (!uv_thread_equal(&self, &st->loop_thread))
        st->off_loop = true;
    uv_mutex_unlock(&st->lock);
    uv_sleep((unsigned)st->sleep_ms);
    leave(st);
    keel_messaging_request_reply(req, json_integer(1));
}

static void m_echo(keel_messaging_request_t *req, void *data)
{
    ep_state_t *st = data;
    uv_mutex_lock(&st->lock);
    st->handled++;
    uv_mutex_unlock(&st->lock);
    const keel_log_context_t *lc = keel_log_context_get();
    snprintf(st->request_id, sizeof(st->request_id), "%s", lc && lc->request_id ? lc->request_id : "");
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_arg(req, "value")));
}

/* While the method runs the request stays: a second answer is refused, not a use after free. */
static void m_twice(keel_messaging_request_t *req, void *data)
{
    assert_int_equal(keel_messaging_request_reply(req, json_string("first")), 0);
    assert_int_equal(keel_messaging_request_reply(req, json_string("second")), KEEL_EINVAL);
    assert_int_equal(keel_messaging_request_fail(req, "ValueError", NULL, "late"), KEEL_EINVAL);
    assert_int_equal(keel_messaging_request_defer(req), 0);
}

static void m_fail_kwargs(keel_messaging_request_t *req, void *data)
{
    ep_state_t *st = data;
    st->fails++;
    keel_messaging_error_t *e = NULL;
    assert_int_equal(keel_messaging_error_new(&e, "QuotaError", "nova.exception", "Quota exceeded: %d", 10), 0);
    json_object_set_new(e->kwargs, "code", json_integer(413));
    e->expected = json_is_true(keel_messaging_request_arg(req, "expected"));
    assert_int_equal(keel_messaging_request_fail_error(req, e), 0);
}

static const keel_messaging_method_t methods[] = {
    {.name = "hold", .fn = m_hold},
    {.name = "block", .fn = m_block},
    {.name = "echo", .fn = m_echo, .exposed = true},
    {.name = "twice", .fn = m_twice},
    {.name = "fail", .fn = m_fail_kwargs},
    {.name = "_hidden", .fn = m_echo},
    {0},
};

static void ep_init(fx_t *f, ep_state_t *st)
{
    memset(st, 0, sizeof(*st));
    uv_timer_init(&f->loop, &st->timer);
    st->timer.data = st;
    st->loop_thread = uv_thread_self();
    uv_mutex_init(&st->lock);
}

static void ep_close(ep_state_t *st)
{
    uv_close((uv_handle_t *)&st->timer, NULL);
    uv_mutex_destroy(&st->lock);
}

static const keel_messaging_target_t server_target = {.topic = "compute", .server = "host1"};
static const keel_messaging_target_t client_target = {.topic = "compute"};

/* Sends n calls of method and waits for all of them. */
static void call_many(fx_t *f, keel_messaging_rpc_client_t *c, const char *method, int n)
{
    fx_result_t r[8];
    assert_true(n <= 8);
    memset(r, 0, sizeof(r));
    for (int i = 0; i < n; i++)
        assert_int_equal(keel_messaging_rpc_call(c, NULL, method, NULL, fx_on_call, &r[i]), 0);
    for (int i = 0; i < n; i++) {
        fx_wait(f, &r[i].done, 5000);
        assert_int_equal(r[i].status, 0);
        fx_result_clear(&r[i]);
    }
}

static void test_server_blocking_executor_takes_one_request_at_a_time(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_BLOCKING);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    call_many(&f, c, "hold", 3);
    /* Even a deferred request keeps the next one waiting. */
    assert_int_equal(st.max_active, 1);
    assert_int_equal(st.handled, 3);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_loop_executor_takes_requests_as_they_come(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    call_many(&f, c, "hold", 3);
    assert_int_equal(st.max_active, 3);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_threading_executor_uses_a_bounded_pool(void **state)
{
    fx_t f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(keel_messaging_fake_broker_new(&f.broker), 0);
    keel_conf_t *conf = fx_conf("[DEFAULT]\nexecutor_thread_pool_size = 2\n");
    f.t = fx_transport_conf(&f, "fake://", conf, NULL);
    keel_conf_free(conf);
    ep_state_t st;
    ep_init(&f, &st);
    st.sleep_ms = 60;
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_THREADING);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    call_many(&f, c, "block", 5);
    assert_true(st.off_loop);
    assert_int_equal(st.max_active, 2);
    assert_int_equal(st.handled, 5);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_wait_follows_the_last_request_and_queues_outlive_the_server(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    fx_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "hold", NULL, fx_on_call, &r), 0);
    while (st.nheld == 0)
        fx_idle(&f, 1);
    bool waited = false;
    keel_messaging_rpc_server_stop(s);
    assert_int_equal(keel_messaging_rpc_server_wait(s, fx_on_wait, &waited), 0);
    assert_int_equal(keel_messaging_rpc_server_wait(s, fx_on_wait, &waited), KEEL_EBUSY);
    assert_int_equal(keel_messaging_rpc_server_free(s), KEEL_EBUSY);
    assert_int_equal(keel_messaging_transport_close(f.t, NULL, NULL), KEEL_EBUSY);
    /* The request taken before stop() still gets its answer; wait() follows it. */
    fx_wait(&f, &r.done, 2000);
    assert_string_equal(json_string_value(r.result), "released");
    fx_result_clear(&r);
    fx_wait(&f, &waited, 2000);
    assert_int_equal(keel_messaging_rpc_server_free(s), 0);

    /* The topic queue stays: a cast sent now waits there for the next server. */
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "echo", NULL, NULL, NULL), 0);
    fx_idle(&f, 20);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_non_null(strstr(topo.base, "queue compute durable=0 auto_delete=0 messages=1 unacked=0 consumers=0"));
    /* ... and the stopped server's fanout queue was deleted, its exchange with it (auto-delete). */
    assert_null(strstr(topo.base, "compute_fanout"));
    keel_buf_free(&topo);
    int before = st.handled;
    s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    fx_idle(&f, 30);
    assert_int_equal(st.handled, before + 1);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_declares_the_rabbit_topology(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_target_t tg = {.topic = "wsp", .server = "srv1"};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &tg, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_buf_t topo;
    keel_buf_init(&topo);
    assert_int_equal(keel_messaging_fake_broker_describe(f.broker, &topo), 0);
    /* spec §4: what rabbitmqctl listed for a Python server on topic wsp, server srv1. */
    assert_string_equal(topo.base,
                        "binding openstack -> wsp key wsp\n"
                        "binding openstack -> wsp.srv1 key wsp.srv1\n"
                        "binding wsp_fanout -> wsp_fanout_* key wsp\n"
                        "exchange openstack topic durable=0 auto_delete=0\n"
                        "exchange wsp_fanout fanout durable=0 auto_delete=1\n"
                        "queue wsp durable=0 auto_delete=0 messages=0 unacked=0 consumers=1\n"
                        "queue wsp.srv1 durable=0 auto_delete=0 messages=0 unacked=0 consumers=1\n"
                        "queue wsp_fanout_* durable=0 auto_delete=0 messages=0 unacked=0 consumers=1 x-expires=1800000\n");
    keel_buf_free(&topo);
    fx_server_stop(&f, s);

    /* ?amqp_durable_queues=true&rabbit_ha_queues=true on another transport: the flags change, and a
       queue already declared otherwise is refused (406 PRECONDITION_FAILED). */
    keel_messaging_transport_t *t2 = fx_transport_conf(&f, "fake:///?amqp_durable_queues=true&rabbit_ha_queues=true", NULL, NULL);
    f.extra[f.nextra++] = t2;
    keel_messaging_rpc_server_t *s2 = NULL;
    assert_int_equal(keel_messaging_rpc_server_new(&s2, t2, &tg, &ep, 1, NULL), 0);
    assert_int_equal(keel_messaging_rpc_server_start(s2), KEEL_EVALUE);
    assert_int_equal(keel_messaging_rpc_server_free(s2), 0);
    keel_messaging_target_t other = {.exchange = "nova", .topic = "wsd", .server = "srv1"};
    s2 = fx_server(&f, t2, &other, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_non_null(strstr(topo.base, "exchange nova topic durable=1 auto_delete=0\n"));
    assert_non_null(strstr(topo.base, "queue wsd.srv1 durable=1 auto_delete=0 messages=0 unacked=0 consumers=1 x-ha-policy=all\n"));
    keel_buf_free(&topo);
    fx_server_stop(&f, s2);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_drops_duplicates_and_reads_bare_messages(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    const char *dup = "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"echo\\\", \\\"args\\\": {}, "
                      "\\\"_unique_id\\\": \\\"fixedunique0001\\\"}\"}";
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "openstack", "compute", dup, strlen(dup)), 0);
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "openstack", "compute", dup, strlen(dup)), 0);
    fx_idle(&f, 30);
    assert_int_equal(st.handled, 1);
    /* The 1.0 format (the dict itself) is served; a 3.0 envelope and broken JSON are dropped. */
    const char *bare = "{\"method\": \"echo\", \"args\": {\"value\": 1}}";
    const char *v3 = "{\"oslo.version\": \"3.0\", \"oslo.message\": \"{\\\"method\\\": \\\"echo\\\", \\\"args\\\": {}}\"}";
    keel_messaging_fake_broker_publish(f.broker, "openstack", "compute.host1", bare, strlen(bare));
    keel_messaging_fake_broker_publish(f.broker, "openstack", "compute", v3, strlen(v3));
    keel_messaging_fake_broker_publish(f.broker, "openstack", "compute", "{nope", 5);
    fx_idle(&f, 30);
    assert_int_equal(st.handled, 2);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_non_null(strstr(topo.base, "queue compute durable=0 auto_delete=0 messages=0 unacked=0"));
    keel_buf_free(&topo);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_answers_ping_when_enabled_and_keeps_private_methods_private(void **state)
{
    fx_t f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(keel_messaging_fake_broker_new(&f.broker), 0);
    keel_conf_t *conf = fx_conf("[DEFAULT]\nrpc_ping_enabled = true\n");
    f.t = fx_transport_conf(&f, "fake://", conf, NULL);
    keel_conf_free(conf);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    fx_result_t r;
    fx_call(&f, c, NULL, "oslo_rpc_server_ping", NULL, &r, 2000);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(r.result), "pong");
    fx_result_clear(&r);
    fx_call(&f, c, NULL, "_hidden", json_pack("{s:i}", "value", 1), &r, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    assert_string_equal(r.error->exc_class, "NoSuchMethod");
    fx_result_clear(&r);
    fx_server_stop(&f, s);

    /* LegacyRPCAccessPolicy allows it; ExplicitRPCAccessPolicy only what is exposed. */
    keel_messaging_rpc_server_opts_t o = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .access_policy = KEEL_MESSAGING_ACCESS_LEGACY};
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &server_target, &ep, 1, &o), 0);
    assert_int_equal(keel_messaging_rpc_server_start(s), 0);
    fx_call(&f, c, NULL, "_hidden", json_pack("{s:i}", "value", 1), &r, 2000);
    assert_int_equal(r.status, 0);
    fx_result_clear(&r);
    fx_server_stop(&f, s);
    o.access_policy = KEEL_MESSAGING_ACCESS_EXPLICIT;
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &server_target, &ep, 1, &o), 0);
    assert_int_equal(keel_messaging_rpc_server_start(s), 0);
    fx_call(&f, c, NULL, "echo", json_pack("{s:i}", "value", 1), &r, 2000);
    assert_int_equal(r.status, 0);
    fx_result_clear(&r);
    fx_call(&f, c, NULL, "twice", NULL, &r, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    fx_result_clear(&r);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_methods_log_with_the_callers_request_id(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_BLOCKING);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    json_t *ctxt = json_pack("{s:s}", "request_id", "req-from-c");
    fx_result_t r;
    fx_call(&f, c, ctxt, "echo", NULL, &r, 2000);
    assert_string_equal(st.request_id, "req-from-c");
    /* ... and the loop's thread does not keep it afterwards. */
    assert_null(keel_log_context_get());
    fx_result_clear(&r);
    json_decref(ctxt);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_sends_failures_with_kwargs_and_one_answer_only(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st);
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    fx_result_t r;
    for (int expected = 0; expected < 2; expected++) {
        fx_call(&f, c, NULL, "fail", json_pack("{s:b}", "expected", expected), &r, 2000);
        assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
        assert_string_equal(r.error->exc_class, "QuotaError");
        assert_string_equal(r.error->message, "Quota exceeded: 10");
        assert_int_equal(json_integer_value(json_object_get(r.error->kwargs, "code")), 413);
        fx_result_clear(&r);
    }
    fx_call(&f, c, NULL, "twice", NULL, &r, 2000);
    assert_string_equal(json_string_value(r.result), "first");
    fx_result_clear(&r);
    /* A cast that fails sends nothing back. */
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "fail", NULL, NULL, NULL), 0);
    fx_idle(&f, 20);
    assert_int_equal(st.fails, 3);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_server_needs_topic_and_server_to_start(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_rpc_server_t *s = NULL;
    keel_messaging_endpoint_t ep = {.methods = methods};
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &client_target, &ep, 1, NULL), 0);
    assert_int_equal(keel_messaging_rpc_server_start(s), KEEL_MESSAGING_ETARGET);
    assert_int_equal(keel_messaging_rpc_server_free(s), 0);
    static const keel_messaging_method_t broken[] = {{.name = "x"}, {0}};
    keel_messaging_endpoint_t bad = {.methods = broken};
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &server_target, &bad, 1, NULL), KEEL_EINVAL);
    keel_messaging_rpc_server_opts_t o = {.executor = 7};
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &server_target, &ep, 1, &o), KEEL_EINVAL);
    /* A server never started stops and waits at once. */
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &server_target, &ep, 1, NULL), 0);
    fx_server_stop(&f, s);
    assert_int_equal(keel_messaging_rpc_server_free(NULL), 0);
    fx_finish(&f);
}

int main(void)
{
    keel_log_set_level("oslo.messaging", KEEL_LOG_LEVEL_CRITICAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_blocking_executor_takes_one_request_at_a_time),
        cmocka_unit_test(test_server_loop_executor_takes_requests_as_they_come),
        cmocka_unit_test(test_server_threading_executor_uses_a_bounded_pool),
        cmocka_unit_test(test_server_wait_follows_the_last_request_and_queues_outlive_the_server),
        cmocka_unit_test(test_server_declares_the_rabbit_topology),
        cmocka_unit_test(test_server_drops_duplicates_and_reads_bare_messages),
        cmocka_unit_test(test_server_answers_ping_when_enabled_and_keeps_private_methods_private),
        cmocka_unit_test(test_server_methods_log_with_the_callers_request_id),
        cmocka_unit_test(test_server_sends_failures_with_kwargs_and_one_answer_only),
        cmocka_unit_test(test_server_needs_topic_and_server_to_start),
    };
    return cmocka_run_group_tests_name("messaging/server.c", tests, NULL, NULL);
}
