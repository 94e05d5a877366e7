/*
 * Tests for src/messaging/client.c, through the public API over fake://:
 * call with a result, remote errors and allowed_remote_exmods, cast,
 * fanout, a targeted server, namespace and version dispatch, the version
 * cap, timeouts (no server, a server that never answers, the call
 * monitor), retries against a broker that is down, prepare(), the
 * serializer, the blocking wrapper, and a transport closing under a call.
 */
#include "fixture.h"

#include "keel/log.h"

/* ---- the endpoint the calls go to ---- */

typedef struct ep_state_s {
    int calls;
    int casts;
    char last_method[64];
    json_t *last_ctxt;
    keel_messaging_request_t *held; /* a deferred request, answered by the test */
    uv_timer_t timer;
    int answer_after_ms;
    const char *tag;
} ep_state_t;

static void note(keel_messaging_request_t *req, ep_state_t *st)
{
    if (keel_messaging_request_is_call(req))
        st->calls++;
    else
        st->casts++;
    snprintf(st->last_method, sizeof(st->last_method), "%s", keel_messaging_request_method(req));
    json_decref(st->last_ctxt);
    st->last_ctxt = json_deep_copy(keel_messaging_request_context(req));
}

static void m_echo(keel_messaging_request_t *req, void *data)
{
    note(req, data);
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_arg(req, "value")));
}

static void m_whoami(keel_messaging_request_t *req, void *data)
{
    ep_state_t *st = data;
    note(req, st);
    keel_messaging_request_reply(req, json_string(st->tag));
}

static void m_fail(keel_messaging_request_t *req, void *data)
{
    note(req, data);
    const char *module = json_string_value(keel_messaging_request_arg(req, "module"));
    const char *cls = json_string_value(keel_messaging_request_arg(req, "kind"));
    keel_messaging_request_fail(req, cls ? cls : "ValueError", module, "%s",
                                json_string_value(keel_messaging_request_arg(req, "message")));
}

static void m_none(keel_messaging_request_t *req, void *data)
{
    note(req, data); /* returns without replying: None */
}

static void on_answer_timer(uv_timer_t *t)
{
    ep_state_t *st = t->data;
    keel_messaging_request_t *req = st->held;
    st->held = NULL;
    keel_messaging_request_reply(req, json_string("late"));
}

/* Defers; the answer comes from a timer after answer_after_ms (or never, when negative). */
static void m_slow(keel_messaging_request_t *req, void *data)
{
    ep_state_t *st = data;
    note(req, st);
    assert_int_equal(keel_messaging_request_defer(req), 0);
    assert_int_equal(keel_messaging_request_defer(req), KEEL_EINVAL);
    st->held = req;
    if (st->answer_after_ms >= 0)
        uv_timer_start(&st->timer, on_answer_timer, (uint64_t)st->answer_after_ms, 0);
}

static const keel_messaging_method_t methods[] = {
    {.name = "echo", .fn = m_echo},
    {.name = "whoami", .fn = m_whoami},
    {.name = "fail", .fn = m_fail},
    {.name = "none", .fn = m_none},
    {.name = "slow", .fn = m_slow},
    {.name = "_private", .fn = m_echo},
    {0},
};

static void ep_init(fx_t *f, ep_state_t *st, const char *tag)
{
    memset(st, 0, sizeof(*st));
    st->tag = tag;
    uv_timer_init(&f->loop, &st->timer);
    st->timer.data = st;
}

static void ep_close(ep_state_t *st)
{
    json_decref(st->last_ctxt);
    uv_close((uv_handle_t *)&st->timer, NULL);
}

static const keel_messaging_target_t server_target = {.topic = "compute", .server = "host1"};
static const keel_messaging_target_t client_target = {.topic = "compute"};

/* ---- tests ---- */

static void test_client_call_returns_the_result_and_carries_the_context(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st, "a");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    json_t *ctxt = json_pack("{s:s,s:s,s:[s]}", "request_id", "req-123", "user", "u1", "roles", "admin");
    fx_result_t r;
    fx_call(&f, c, ctxt, "echo", json_pack("{s:{s:[i,i]}}", "value", "k", 1, 2), &r, 2000);
    assert_int_equal(r.status, 0);
    assert_ptr_equal(r.client, c);
    json_t *want = json_pack("{s:[i,i]}", "k", 1, 2);
    assert_true(json_equal(r.result, want));
    json_decref(want);
    fx_result_clear(&r);
    /* The endpoint saw the context, with client_timeout added as oslo adds it. */
    assert_string_equal(json_string_value(json_object_get(st.last_ctxt, "request_id")), "req-123");
    assert_true(json_is_null(json_object_get(st.last_ctxt, "client_timeout")));
    assert_int_equal(st.calls, 1);
    /* A method that returns without replying answers None. */
    fx_call(&f, c, NULL, "none", NULL, &r, 2000);
    assert_int_equal(r.status, 0);
    assert_true(json_is_null(r.result));
    fx_result_clear(&r);
    json_decref(ctxt);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_client_call_raises_remote_errors_as_oslo_would(void **state)
{
    fx_t f;
    fx_init(&f);
    const char *const exmods[] = {"nova.exception", NULL};
    keel_messaging_transport_t *t2 = fx_transport_conf(&f, "fake://", NULL, exmods);
    f.extra[f.nextra++] = t2;
    ep_state_t st;
    ep_init(&f, &st, "a");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_BLOCKING);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    keel_messaging_rpc_client_t *c2 = fx_client(t2, &client_target);

    fx_result_t r;
    fx_call(&f, c, NULL, "fail", json_pack("{s:s}", "message", "boom"), &r, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    assert_null(r.result);
    assert_string_equal(r.error->exc_class, "ValueError");
    assert_string_equal(r.error->exc_module, "builtins");
    assert_string_equal(r.error->message, "boom");
    assert_string_equal(r.error->traceback, "ValueError: boom\n");
    assert_true(r.error->allowed);
    fx_result_clear(&r);

    json_t *nova = json_pack("{s:s,s:s,s:s}", "message", "gone", "kind", "InstanceNotFound", "module", "nova.exception");
    fx_call(&f, c, NULL, "fail", json_incref(nova), &r, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    assert_string_equal(r.error->exc_class, "InstanceNotFound");
    assert_false(r.error->allowed); /* oslo_messaging.RemoteError on this transport */
    fx_result_clear(&r);
    fx_call(&f, c2, NULL, "fail", nova, &r, 2000);
    assert_true(r.error->allowed); /* allowed_remote_exmods: nova.exception.InstanceNotFound */
    fx_result_clear(&r);

    /* Dispatcher failures come back as oslo_messaging.rpc.dispatcher's exceptions. */
    fx_call(&f, c, NULL, "nope", NULL, &r, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    assert_string_equal(r.error->exc_class, "NoSuchMethod");
    assert_string_equal(r.error->exc_module, "oslo_messaging.rpc.dispatcher");
    assert_string_equal(r.error->message, "Endpoint does not support RPC method nope");
    fx_result_clear(&r);
    fx_call(&f, c, NULL, "_private", NULL, &r, 2000);
    assert_string_equal(r.error->exc_class, "NoSuchMethod");
    fx_result_clear(&r);

    keel_messaging_rpc_client_free(c);
    keel_messaging_rpc_client_free(c2);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_client_cast_fanout_and_targeted_server(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_transport_t *t2 = fx_transport(&f);
    ep_state_t st1, st2;
    ep_init(&f, &st1, "host1");
    ep_init(&f, &st2, "host2");
    keel_messaging_endpoint_t ep1 = {.methods = methods, .data = &st1}, ep2 = {.methods = methods, .data = &st2};
    keel_messaging_target_t tg2 = {.topic = "compute", .server = "host2"};
    keel_messaging_rpc_server_t *s1 = fx_server(&f, NULL, &server_target, &ep1, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_server_t *s2 = fx_server(&f, t2, &tg2, &ep2, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);

    /* Casts on the topic go to one server or the other, round-robin. */
    fx_result_t r;
    for (int i = 0; i < 4; i++) {
        memset(&r, 0, sizeof(r));
        assert_int_equal(keel_messaging_rpc_cast(c, NULL, "echo", json_pack("{s:i}", "value", i), fx_on_cast, &r), 0);
        assert_false(r.done);
        fx_wait(&f, &r.done, 2000);
        assert_int_equal(r.status, 0);
    }
    fx_idle(&f, 30);
    assert_int_equal(st1.casts + st2.casts, 4);
    assert_int_equal(st1.casts, 2);

    /* Fanout: every server gets a copy; a call may not be fanout. */
    keel_messaging_rpc_client_t *fan = NULL;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_FANOUT, .fanout = true}, &fan),
                     0);
    assert_int_equal(keel_messaging_rpc_cast(fan, NULL, "echo", NULL, NULL, NULL), 0);
    fx_idle(&f, 30);
    assert_int_equal(st1.casts, 3);
    assert_int_equal(st2.casts, 3);
    assert_int_equal(keel_messaging_rpc_call(fan, NULL, "echo", NULL, fx_on_call, &r), KEEL_MESSAGING_ETARGET);

    /* A targeted call reaches only that server, every time. */
    keel_messaging_rpc_client_t *to2 = NULL;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_SERVER, .server = "host2"}, &to2),
                     0);
    for (int i = 0; i < 3; i++) {
        fx_call(&f, to2, NULL, "whoami", NULL, &r, 2000);
        assert_string_equal(json_string_value(r.result), "host2");
        fx_result_clear(&r);
    }
    keel_messaging_rpc_client_free(fan);
    keel_messaging_rpc_client_free(to2);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s1);
    fx_server_stop(&f, s2);
    ep_close(&st1);
    ep_close(&st2);
    fx_finish(&f);
}

static void test_client_at_least_once_fails_what_no_queue_takes(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_rpc_client_t *c = NULL;
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.at_least_once = true;
    assert_int_equal(keel_messaging_rpc_client_new(&c, f.t, &client_target, &o), 0);
    /* No server: dropped by the broker without at_least_once, MessageUndeliverable with it. */
    keel_messaging_rpc_client_t *plain = fx_client(f.t, &client_target);
    fx_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_cast(plain, NULL, "echo", NULL, fx_on_cast, &r), 0);
    fx_wait(&f, &r.done, 2000);
    assert_int_equal(r.status, 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "echo", NULL, fx_on_cast, &r), 0);
    fx_wait(&f, &r.done, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EDELIVERY);
    /* prepare() keeps it; with a server the cast goes through. */
    keel_messaging_rpc_client_t *cc = NULL;
    assert_int_equal(
        keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_TIMEOUT, .timeout = 1}, &cc),
        0);
    ep_state_t st;
    ep_init(&f, &st, "host1");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    memset(&r, 0, sizeof(r));
    assert_int_equal(keel_messaging_rpc_cast(cc, NULL, "echo", NULL, fx_on_cast, &r), 0);
    fx_wait(&f, &r.done, 2000);
    assert_int_equal(r.status, 0);
    fx_idle(&f, 30);
    assert_int_equal(st.casts, 1);
    keel_messaging_rpc_client_free(cc);
    keel_messaging_rpc_client_free(c);
    keel_messaging_rpc_client_free(plain);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_client_namespace_and_version_pick_the_endpoint(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t a, b;
    ep_init(&f, &a, "v1.3");
    ep_init(&f, &b, "other-v2.0");
    keel_messaging_endpoint_t eps[] = {
        {.target = {.version = "1.3"}, .methods = methods, .data = &a},
        {.target = {.namespace_ = "other", .version = "2.0"}, .methods = methods, .data = &b},
    };
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, eps, 2, KEEL_MESSAGING_EXECUTOR_LOOP);
    static const struct {
        const char *ns, *version, *expect, *error;
    } cases[] = {
        {NULL, NULL, "v1.3", NULL},
        {NULL, "1.0", "v1.3", NULL},
        {NULL, "1.3", "v1.3", NULL},
        {NULL, "1.4", NULL, "Endpoint does not support RPC version 1.4. Attempted method: whoami"},
        {NULL, "2.0", NULL, "Endpoint does not support RPC version 2.0. Attempted method: whoami"},
        {"other", "2.0", "other-v2.0", NULL},
        {"other", NULL, NULL, "Endpoint does not support RPC version 1.0. Attempted method: whoami"},
        {"nowhere", "1.0", NULL, "Endpoint does not support RPC version 1.0. Attempted method: whoami"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel_messaging_target_t tg = {.topic = "compute", .namespace_ = cases[i].ns, .version = cases[i].version};
        keel_messaging_rpc_client_t *c = fx_client(f.t, &tg);
        fx_result_t r;
        fx_call(&f, c, NULL, "whoami", NULL, &r, 2000);
        if (cases[i].expect) {
            assert_int_equal(r.status, 0);
            assert_string_equal(json_string_value(r.result), cases[i].expect);
        } else {
            assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
            assert_string_equal(r.error->exc_class, "UnsupportedVersion");
            assert_string_equal(r.error->message, cases[i].error);
        }
        fx_result_clear(&r);
        keel_messaging_rpc_client_free(c);
    }
    fx_server_stop(&f, s);
    ep_close(&a);
    ep_close(&b);
    fx_finish(&f);
}

static void test_client_version_cap_refuses_before_the_wire(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_target_t tg = {.topic = "compute", .version = "1.3"};
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.version_cap = "1.2";
    keel_messaging_rpc_client_t *c = NULL;
    assert_int_equal(keel_messaging_rpc_client_new(&c, f.t, &tg, &o), 0);
    fx_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "echo", json_object(), fx_on_call, &r), KEEL_MESSAGING_EVERSIONCAP);
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "echo", json_object(), NULL, NULL), KEEL_MESSAGING_EVERSIONCAP);
    assert_false(keel_messaging_rpc_client_can_send_version(c, NULL));
    assert_true(keel_messaging_rpc_client_can_send_version(c, "1.2"));
    assert_false(keel_messaging_rpc_client_can_send_version(c, "2.0"));
    keel_messaging_rpc_client_t *lower = NULL;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_VERSION, .version = "1.1"}, &lower),
                     0);
    assert_true(keel_messaging_rpc_client_can_send_version(lower, NULL));
    /* prepare() keeps the base as it was; a version oslo cannot read is refused. */
    assert_string_equal(keel_messaging_rpc_client_target(c)->version, "1.3");
    assert_string_equal(keel_messaging_rpc_client_target(lower)->version, "1.1");
    keel_messaging_rpc_client_t *bad = NULL;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_VERSION, .version = "2"}, &bad),
                     KEEL_EVALUE);
    /* Without a topic there is nowhere to send. */
    keel_messaging_rpc_client_t *notopic = NULL;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_TOPIC, .topic = NULL}, &notopic),
                     0);
    assert_int_equal(keel_messaging_rpc_cast(notopic, NULL, "echo", NULL, NULL, NULL), KEEL_MESSAGING_ETARGET);
    keel_messaging_rpc_client_free(notopic);
    keel_messaging_rpc_client_free(lower);
    keel_messaging_rpc_client_free(c);
    fx_finish(&f);
}

static void test_client_call_times_out_as_messaging_timeout(void **state)
{
    fx_t f;
    fx_init(&f);
    /* Nobody declared the topic's queue: the request is dropped and the call times out. */
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.timeout = 0.15;
    keel_messaging_rpc_client_t *c = NULL;
    assert_int_equal(keel_messaging_rpc_client_new(&c, f.t, &client_target, &o), 0);
    fx_result_t r;
    uint64_t t0 = uv_hrtime();
    fx_call(&f, c, NULL, "echo", NULL, &r, 2000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    assert_int_equal(r.status, KEEL_ETIMEDOUT);
    assert_true(ms >= 140 && ms < 1000);
    fx_result_clear(&r);

    /* A server that takes the call but never answers: the same, and the late answer is dropped. */
    ep_state_t st;
    ep_init(&f, &st, "a");
    st.answer_after_ms = 300;
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    fx_call(&f, c, NULL, "slow", NULL, &r, 2000);
    assert_int_equal(r.status, KEEL_ETIMEDOUT);
    fx_result_clear(&r);
    fx_idle(&f, 400);
    assert_null(st.held);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_client_call_monitor_needs_heartbeats(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st, "a");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.timeout = 5;
    /* A monitor under 2 s gets no heartbeats (int(t)/2 < 1): the call fails at 0.3 s, not 5. */
    o.call_monitor_timeout = 0.3;
    keel_messaging_rpc_client_t *c = NULL;
    assert_int_equal(keel_messaging_rpc_client_new(&c, f.t, &client_target, &o), 0);
    st.answer_after_ms = 700;
    fx_result_t r;
    uint64_t t0 = uv_hrtime();
    fx_call(&f, c, NULL, "slow", NULL, &r, 3000);
    assert_int_equal(r.status, KEEL_ETIMEDOUT);
    assert_true((uv_hrtime() - t0) / 1000000u < 2500); /* far below the 5 s timeout */
    fx_result_clear(&r);
    fx_idle(&f, 500);

    /* With 2 s the server heartbeats every second, so a 1.4 s call outlives the monitor's 2 s... and one of 2.4 s too. */
    keel_messaging_rpc_client_t *c2 = NULL;
    assert_int_equal(
        keel_messaging_rpc_client_prepare(
            c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_CALL_MONITOR_TIMEOUT, .call_monitor_timeout = 2}, &c2),
        0);
    st.answer_after_ms = 2400;
    fx_call(&f, c2, NULL, "slow", NULL, &r, 5000);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(r.result), "late");
    assert_int_equal(json_integer_value(json_object_get(st.last_ctxt, "client_timeout")), 2);
    fx_result_clear(&r);
    keel_messaging_rpc_client_free(c);
    keel_messaging_rpc_client_free(c2);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_client_retries_while_the_broker_is_down(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st, "a");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    keel_messaging_fake_broker_set_down(f.broker, true);
    fx_result_t r = {0};
    /* retry=0: one attempt, then MessageDeliveryFailure. */
    keel_messaging_rpc_client_t *once = NULL, *thrice = NULL;
    assert_int_equal(
        keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_RETRY, .retry = 0}, &once),
        0);
    assert_int_equal(keel_messaging_rpc_cast(once, NULL, "echo", NULL, fx_on_cast, &r), 0);
    fx_wait(&f, &r.done, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EDELIVERY);
    assert_int_equal(
        keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_RETRY, .retry = 2}, &thrice),
        0);
    uint64_t t0 = uv_hrtime();
    fx_call(&f, thrice, NULL, "echo", NULL, &r, 2000);
    assert_int_equal(r.status, KEEL_MESSAGING_EDELIVERY);
    assert_true((uv_hrtime() - t0) / 1000000u >= 35); /* two pauses between three attempts */
    fx_result_clear(&r);
    /* retry forever (the default): the call goes through once the broker is back. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "echo", json_pack("{s:s}", "value", "back"), fx_on_call, &r), 0);
    fx_idle(&f, 100);
    assert_false(r.done);
    keel_messaging_fake_broker_set_down(f.broker, false);
    fx_wait(&f, &r.done, 2000);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(r.result), "back");
    fx_result_clear(&r);
    keel_messaging_rpc_client_free(once);
    keel_messaging_rpc_client_free(thrice);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

/* A serializer that wraps entities in {"obj": ...} on the wire, as nova's object serializer would. */
static int wrap(void *data, json_t *ctxt, json_t *in, json_t **out)
{
    (*(int *)data)++;
    *out = json_pack("{s:O}", "obj", in);
    return 0;
}

static int unwrap(void *data, json_t *ctxt, json_t *in, json_t **out)
{
    (*(int *)data)++;
    json_t *inner = json_object_get(in, "obj");
    *out = json_incref(inner ? inner : in);
    return 0;
}

static int add_ctx(void *data, json_t *ctxt, json_t **out)
{
    *out = json_deep_copy(ctxt);
    json_object_set_new(*out, "serialized", json_true());
    return 0;
}

static void test_client_serializer_shapes_arguments_results_and_context(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st, "a");
    int n = 0;
    keel_messaging_serializer_t ser = {
        .serialize_entity = wrap, .deserialize_entity = unwrap, .serialize_context = add_ctx, .data = &n};
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    /* The server has no serializer: it sees the wire form and echoes it back. */
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.serializer = &ser;
    keel_messaging_rpc_client_t *c = NULL;
    assert_int_equal(keel_messaging_rpc_client_new(&c, f.t, &client_target, &o), 0);
    fx_result_t r;
    json_t *ctxt = json_object();
    fx_call(&f, c, ctxt, "echo", json_pack("{s:i}", "value", 7), &r, 2000);
    json_decref(ctxt);
    assert_int_equal(r.status, 0);
    /* Out: {"obj": 7}; back: the client unwraps it to 7. */
    assert_int_equal(json_integer_value(r.result), 7);
    assert_int_equal(n, 2);
    assert_true(json_is_true(json_object_get(st.last_ctxt, "serialized")));
    fx_result_clear(&r);
    keel_messaging_rpc_client_free(c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

/* ---- the blocking wrapper from another thread ---- */

typedef struct sync_ctx_s {
    keel_messaging_rpc_client_t *c;
    int rc, cast_rc, fail_rc;
    json_t *result;
    keel_messaging_error_t *error;
    volatile bool done;
} sync_ctx_t;

static void sync_thread(void *arg)
{
    sync_ctx_t *x = arg;
    x->rc = keel_messaging_rpc_call_sync(x->c, NULL, "echo", json_pack("{s:s}", "value", "from a thread"), &x->result, NULL);
    x->cast_rc = keel_messaging_rpc_cast_sync(x->c, NULL, "echo", NULL);
    x->fail_rc = keel_messaging_rpc_call_sync(x->c, NULL, "fail", json_pack("{s:s}", "message", "no"), NULL, &x->error);
    __atomic_store_n(&x->done, true, __ATOMIC_RELEASE);
}

static void test_client_call_sync_blocks_a_thread_not_the_loop(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st, "a");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    sync_ctx_t x = {.c = fx_client(f.t, &client_target)};
    /* On the loop's own thread it would deadlock: refused. */
    assert_int_equal(keel_messaging_rpc_call_sync(x.c, NULL, "echo", json_object(), NULL, NULL), KEEL_EINVAL);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, sync_thread, &x), 0);
    fx_wait(&f, (volatile bool *)&x.done, 5000);
    uv_thread_join(&th);
    assert_int_equal(x.rc, 0);
    assert_string_equal(json_string_value(x.result), "from a thread");
    assert_int_equal(x.cast_rc, 0);
    assert_int_equal(x.fail_rc, KEEL_MESSAGING_EREMOTE);
    assert_string_equal(x.error->message, "no");
    json_decref(x.result);
    keel_messaging_error_free(x.error);
    keel_messaging_rpc_client_free(x.c);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

static void test_client_closing_transport_cancels_waiting_calls(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    fx_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "echo", NULL, fx_on_call, &r), 0);
    /* The client goes first; the call keeps it until its callback. */
    keel_messaging_rpc_client_free(c);
    fx_idle(&f, 20);
    assert_false(r.done);
    assert_int_equal(keel_messaging_transport_close(f.t, fx_on_closed, &f), 0);
    assert_int_equal(keel_messaging_transport_close(f.t, fx_on_closed, &f), KEEL_EINVAL);
    f.t = NULL;
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_true(r.done);
    assert_int_equal(r.status, KEEL_ECANCELED);
    assert_int_equal(f.closed, 1);
    f.closed = 0;
    fx_finish(&f);
}

static void test_client_refuses_bad_arguments_without_calling_back(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_rpc_client_t *c = fx_client(f.t, &client_target);
    fx_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_call(c, NULL, NULL, NULL, fx_on_call, &r), KEEL_EINVAL);
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "m", json_array(), fx_on_call, &r), KEEL_EINVAL);
    assert_int_equal(keel_messaging_rpc_call(c, NULL, "m", NULL, NULL, &r), KEEL_EINVAL);
    assert_int_equal(keel_messaging_rpc_call(NULL, NULL, "m", json_object(), fx_on_call, &r), KEEL_EINVAL);
    fx_idle(&f, 10);
    assert_false(r.done);
    keel_messaging_rpc_client_free(c);
    fx_finish(&f);
}

static void test_client_survives_running_out_of_memory(void **state)
{
    fx_t f;
    fx_init(&f);
    ep_state_t st;
    ep_init(&f, &st, "a");
    keel_messaging_endpoint_t ep = {.methods = methods, .data = &st};
    keel_messaging_rpc_server_t *s = fx_server(&f, NULL, &server_target, &ep, 1, KEEL_MESSAGING_EXECUTOR_LOOP);
    json_t *ctxt = json_pack("{s:s}", "request_id", "req-oom");
    int rc = KEEL_ENOMEM, status = KEEL_ENOMEM;
    long n;
    /* Every allocation of new(), prepare() and the synchronous part of call() fails in turn. */
    for (n = 0; (rc != 0 || status != 0) && n < 10000; n++) {
        keel_messaging_rpc_client_t *c = NULL, *p = NULL;
        fx_result_t r = {0};
        oom_install(n);
        rc = keel_messaging_rpc_client_new(&c, f.t, &client_target, NULL);
        if (rc == 0)
            rc = keel_messaging_rpc_client_prepare(
                c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_TIMEOUT, .timeout = 2}, &p);
        if (rc == 0)
            rc = keel_messaging_rpc_call(p, ctxt, "echo", json_pack("{s:i}", "value", 5), fx_on_call, &r);
        oom_uninstall();
        assert_true(rc == 0 || rc == KEEL_ENOMEM);
        status = rc;
        if (rc == 0) {
            fx_wait(&f, &r.done, 3000);
            status = r.status;
            assert_true(status == 0 || status == KEEL_ENOMEM);
            if (status == 0)
                assert_int_equal(json_integer_value(r.result), 5);
            fx_result_clear(&r);
        }
        keel_messaging_rpc_client_free(p);
        keel_messaging_rpc_client_free(c);
    }
    assert_int_equal(status, 0);
    assert_true(n > 10);
    json_decref(ctxt);
    fx_server_stop(&f, s);
    ep_close(&st);
    fx_finish(&f);
}

int main(void)
{
    keel_log_set_level("oslo.messaging", KEEL_LOG_LEVEL_CRITICAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_call_returns_the_result_and_carries_the_context),
        cmocka_unit_test(test_client_call_raises_remote_errors_as_oslo_would),
        cmocka_unit_test(test_client_cast_fanout_and_targeted_server),
        cmocka_unit_test(test_client_at_least_once_fails_what_no_queue_takes),
        cmocka_unit_test(test_client_namespace_and_version_pick_the_endpoint),
        cmocka_unit_test(test_client_version_cap_refuses_before_the_wire),
        cmocka_unit_test(test_client_call_times_out_as_messaging_timeout),
        cmocka_unit_test(test_client_call_monitor_needs_heartbeats),
        cmocka_unit_test(test_client_retries_while_the_broker_is_down),
        cmocka_unit_test(test_client_serializer_shapes_arguments_results_and_context),
        cmocka_unit_test(test_client_call_sync_blocks_a_thread_not_the_loop),
        cmocka_unit_test(test_client_closing_transport_cancels_waiting_calls),
        cmocka_unit_test(test_client_refuses_bad_arguments_without_calling_back),
        cmocka_unit_test(test_client_survives_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/client.c", tests, NULL, NULL);
}
