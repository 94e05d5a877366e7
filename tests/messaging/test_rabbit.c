/*
 * The rabbit:// driver (src/messaging/rabbit.c, rabbit_listen.c) end to end
 * through the public API against a real broker: keel client to keel
 * server over keeld (or RabbitMQ), started by tests/messaging/rabbit_broker.py,
 * which passes its URL in KEEL_TEST_RABBIT_URL. Without it only the cases
 * that need no broker run (a dead port: retry and timeouts).
 *
 * Every case names its topics with a random suffix, so cases cannot see
 * each other's queues, and waits until its server answers before it
 * measures anything: listen() returns before the broker declared the
 * queues, and a message sent before them is dropped, as with oslo.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/client.h"
#include "keel/messaging.h"
#include "test_helpers.h"

static const char *broker_url(void)
{
    const char *u = getenv("KEEL_TEST_RABBIT_URL");
    return u && *u ? u : NULL;
}

typedef struct rx_s {
    uv_loop_t loop;
    keel_messaging_transport_t *t[3];
    size_t nt;
    int closed;
    char topic[64];
} rx_t;

static void on_transport_closed(keel_messaging_transport_t *t, void *data)
{
    (void)t;
    ((rx_t *)data)->closed++;
}

static keel_messaging_transport_t *rx_transport(rx_t *x, const char *url, bool notifications)
{
    keel_buf_t err;
    keel_buf_init(&err);
    keel_messaging_transport_t *t = NULL;
    keel_messaging_transport_opts_t o = {.url = url, .notifications = notifications, .error = &err};
    int rc = keel_messaging_transport_new(&t, &x->loop, NULL, &o);
    if (rc != 0)
        fail_msg("transport %s: %s (%s)", url, keel_messaging_strerror(rc), err.base ? err.base : "");
    keel_buf_free(&err);
    assert_true(x->nt < 3);
    x->t[x->nt++] = t;
    return t;
}

static void rx_init(rx_t *x, const char *prefix)
{
    memset(x, 0, sizeof(*x));
    assert_int_equal(uv_loop_init(&x->loop), 0);
    char hex[9];
    snprintf(hex, sizeof(hex), "%08x", (unsigned)(uv_hrtime() ^ (uint64_t)getpid() << 16));
    snprintf(x->topic, sizeof(x->topic), "%s_%s", prefix, hex);
}

static void rx_wait(rx_t *x, const volatile bool *flag, uint64_t ms)
{
    if (!run_until(&x->loop, flag, ms))
        fail_msg("timed out after %llu ms", (unsigned long long)ms);
}

/* One turn of the loop that never blocks: a wait for something that never comes ends at its deadline. */
static void rx_turn(rx_t *x)
{
    uv_run(&x->loop, UV_RUN_NOWAIT);
    uv_sleep(1);
}

static void rx_finish(rx_t *x)
{
    for (size_t i = 0; i < x->nt; i++)
        assert_int_equal(keel_messaging_transport_close(x->t[i], on_transport_closed, x), 0);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_int_equal(x->closed, (int)x->nt);
    assert_int_equal(uv_loop_close(&x->loop), 0);
}

static int dead_port(void);

/* ---- a server ---- */

typedef struct srv_s {
    const char *name;
    int casts;
    json_t *last_args;
    keel_messaging_request_t *held; /* hang(): never answered until the test says so */
} srv_t;

static void m_echo(keel_messaging_request_t *req, void *data)
{
    srv_t *s = data;
    json_t *r = json_pack("{s:O, s:s}", "args", keel_messaging_request_args(req), "server", s->name);
    keel_messaging_request_reply(req, r);
}

static void m_count(keel_messaging_request_t *req, void *data)
{
    srv_t *s = data;
    s->casts++;
    json_decref(s->last_args);
    s->last_args = json_incref(keel_messaging_request_args(req));
    keel_messaging_request_reply(req, NULL);
}

static void m_fail(keel_messaging_request_t *req, void *data)
{
    (void)data;
    keel_messaging_request_fail(req, "ValueError", NULL, "boom %d", 42);
}

static void m_hang(keel_messaging_request_t *req, void *data)
{
    srv_t *s = data;
    assert_int_equal(keel_messaging_request_defer(req), 0);
    s->held = req;
}

static const keel_messaging_method_t methods[] = {
    {.name = "echo", .fn = m_echo},
    {.name = "count", .fn = m_count},
    {.name = "fail", .fn = m_fail},
    {.name = "hang", .fn = m_hang},
    {0},
};

typedef struct server_s {
    srv_t state;
    keel_messaging_endpoint_t ep;
    keel_messaging_rpc_server_t *s;
} server_t;

static void start_server(rx_t *x, keel_messaging_transport_t *t, server_t *sv, const char *name)
{
    memset(sv, 0, sizeof(*sv));
    sv->state.name = name;
    sv->ep = (keel_messaging_endpoint_t){.methods = methods, .data = &sv->state};
    keel_messaging_target_t target = {.topic = x->topic, .server = name};
    keel_messaging_rpc_server_opts_t o = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    assert_int_equal(keel_messaging_rpc_server_new(&sv->s, t, &target, &sv->ep, 1, &o), 0);
    assert_int_equal(keel_messaging_rpc_server_start(sv->s), 0);
}

static void on_server_waited(keel_messaging_rpc_server_t *s, int status, void *data)
{
    (void)s;
    assert_int_equal(status, 0);
    *(bool *)data = true;
}

static void stop_server(rx_t *x, server_t *sv)
{
    bool waited = false;
    keel_messaging_rpc_server_stop(sv->s);
    assert_int_equal(keel_messaging_rpc_server_wait(sv->s, on_server_waited, &waited), 0);
    rx_wait(x, &waited, 5000);
    assert_int_equal(keel_messaging_rpc_server_free(sv->s), 0);
    json_decref(sv->state.last_args);
}

/* ---- calls ---- */

typedef struct call_s {
    bool done;
    int status;
    json_t *result;
    keel_messaging_error_t *error;
} call_t;

static void on_call(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error, void *data)
{
    (void)c;
    call_t *r = data;
    r->done = true;
    r->status = status;
    r->result = result ? json_incref(result) : NULL;
    if (error)
        assert_int_equal(keel_messaging_error_copy(error, &r->error), 0);
}

static void call_clear(call_t *r)
{
    json_decref(r->result);
    keel_messaging_error_free(r->error);
    memset(r, 0, sizeof(*r));
}

static void do_call(rx_t *x, keel_messaging_rpc_client_t *c, const char *method, json_t *args, call_t *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(keel_messaging_rpc_call(c, NULL, method, args, on_call, r), 0);
    rx_wait(x, &r->done, 15000);
}

/* Calls echo with a short timeout until a server answers: its queues exist from then on. */
static void wait_ready(rx_t *x, keel_messaging_rpc_client_t *c)
{
    keel_messaging_rpc_client_t *quick;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_TIMEOUT, .timeout = 0.5}, &quick),
                     0);
    for (int i = 0; i < 40; i++) {
        call_t r;
        do_call(x, quick, "echo", NULL, &r);
        int status = r.status;
        call_clear(&r);
        if (status == 0) {
            keel_messaging_rpc_client_free(quick);
            return;
        }
        if (status != KEEL_ETIMEDOUT) { /* at_least_once: returned at once while the queue is missing */
            assert_int_equal(status, KEEL_MESSAGING_EDELIVERY);
            bool never = false;
            run_until(&x->loop, &never, 200);
        }
    }
    fail_msg("no server answered on %s", x->topic);
}

static keel_messaging_rpc_client_t *client_for(rx_t *x, keel_messaging_transport_t *t, double timeout)
{
    keel_messaging_rpc_client_t *c;
    keel_messaging_target_t target = {.topic = x->topic};
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.timeout = timeout;
    assert_int_equal(keel_messaging_rpc_client_new(&c, t, &target, &o), 0);
    return c;
}

static void test_rabbit_call_returns_the_servers_result(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_call");
    keel_messaging_transport_t *st = rx_transport(&x, broker_url(), false);
    keel_messaging_transport_t *ct = rx_transport(&x, broker_url(), false);
    server_t sv;
    start_server(&x, st, &sv, "s1");
    keel_messaging_rpc_client_t *c = client_for(&x, ct, 10);
    wait_ready(&x, c);
    for (int i = 0; i < 20; i++) {
        call_t r;
        do_call(&x, c, "echo", json_pack("{s:i, s:s}", "i", i, "s", "x\u00e9"), &r);
        assert_int_equal(r.status, 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r.result, "args"), "i")), i);
        assert_string_equal(json_string_value(json_object_get(json_object_get(r.result, "args"), "s")), "x\u00e9");
        call_clear(&r);
    }
    /* A remote error comes back with its class and message. */
    call_t r;
    do_call(&x, c, "fail", NULL, &r);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    assert_non_null(r.error);
    assert_string_equal(r.error->exc_class, "ValueError");
    assert_string_equal(r.error->message, "boom 42");
    call_clear(&r);
    /* So does NoSuchMethod from the dispatcher. */
    do_call(&x, c, "nope", NULL, &r);
    assert_int_equal(r.status, KEEL_MESSAGING_EREMOTE);
    assert_string_equal(r.error->exc_class, "NoSuchMethod");
    call_clear(&r);
    keel_messaging_rpc_client_free(c);
    stop_server(&x, &sv);
    rx_finish(&x);
}

static void test_rabbit_fails_over_to_a_host_that_answers(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    keel_messaging_url_t *url;
    keel_messaging_broker_t b;
    assert_int_equal(keel_messaging_url_parse(broker_url(), &url, NULL), 0);
    assert_int_equal(keel_messaging_url_broker(url, 0, &b), 0);
    const char *q = strchr(broker_url(), '?');
    /* A dead host and the broker, in whichever order the driver shuffles them. */
    char multi[512];
    snprintf(multi, sizeof(multi), "rabbit://%s:%s@127.0.0.1:%d,%s:%s@%s:%u/%s", b.username, b.password, dead_port(), b.username,
             b.password, b.hostname, b.port, q ? q : "");
    keel_messaging_url_free(url);
    rx_t x;
    rx_init(&x, "kt_failover");
    keel_messaging_transport_t *t = rx_transport(&x, multi, false);
    server_t sv;
    start_server(&x, t, &sv, "s1");
    keel_messaging_rpc_client_t *c = client_for(&x, t, 10);
    wait_ready(&x, c);
    call_t r;
    do_call(&x, c, "echo", NULL, &r);
    assert_int_equal(r.status, 0);
    call_clear(&r);
    keel_messaging_rpc_client_free(c);
    stop_server(&x, &sv);
    rx_finish(&x);
}

static void test_rabbit_call_times_out_when_nobody_answers(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_timeout");
    keel_messaging_transport_t *t = rx_transport(&x, broker_url(), false);
    server_t sv;
    start_server(&x, t, &sv, "s1");
    keel_messaging_rpc_client_t *c = client_for(&x, t, 10);
    wait_ready(&x, c);
    keel_messaging_rpc_client_t *quick;
    assert_int_equal(keel_messaging_rpc_client_prepare(
                         c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_TIMEOUT, .timeout = 0.3}, &quick),
                     0);
    uint64_t t0 = uv_hrtime();
    call_t r;
    do_call(&x, quick, "hang", NULL, &r);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    assert_int_equal(r.status, KEEL_ETIMEDOUT);
    assert_true(ms >= 250 && ms < 2000);
    call_clear(&r);
    /* The late reply is dropped ("No calling threads waiting"), and the next call still works. */
    assert_non_null(sv.state.held);
    keel_messaging_request_reply(sv.state.held, json_string("late"));
    do_call(&x, c, "echo", NULL, &r);
    assert_int_equal(r.status, 0);
    call_clear(&r);
    keel_messaging_rpc_client_free(quick);
    keel_messaging_rpc_client_free(c);
    stop_server(&x, &sv);
    rx_finish(&x);
}

/* ---- casts, fanout, targeted ---- */

typedef struct cast_result_s {
    bool done;
    int status;
} cast_result_t;

static void on_cast_result(keel_messaging_rpc_client_t *c, int status, void *data)
{
    (void)c;
    cast_result_t *r = data;
    r->done = true;
    r->status = status;
}


static void on_cast(keel_messaging_rpc_client_t *c, int status, void *data)
{
    (void)c;
    int *n = data;
    assert_int_equal(status, 0);
    (*n)++;
}

static bool both_at_least(const server_t *a, const server_t *b, int n)
{
    return a->state.casts >= n && b->state.casts >= n;
}

static void test_rabbit_cast_fanout_and_targeted_server(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_cast");
    keel_messaging_transport_t *st = rx_transport(&x, broker_url(), false);
    keel_messaging_transport_t *ct = rx_transport(&x, broker_url(), false);
    server_t a, b;
    start_server(&x, st, &a, "a");
    start_server(&x, st, &b, "b");
    keel_messaging_rpc_client_t *c = client_for(&x, ct, 10);
    keel_messaging_rpc_client_t *to_b, *fan;
    assert_int_equal(
        keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_SERVER, .server = "b"}, &to_b),
        0);
    assert_int_equal(
        keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_FANOUT, .fanout = true}, &fan),
        0);
    wait_ready(&x, to_b);
    wait_ready(&x, c);
    /* Casts to the topic are shared between the servers; each is confirmed by the broker. */
    int confirmed = 0;
    for (int i = 0; i < 50; i++)
        assert_int_equal(keel_messaging_rpc_cast(c, NULL, "count", json_pack("{s:i}", "i", i), on_cast, &confirmed), 0);
    for (uint64_t deadline = uv_hrtime() + 10000000000u; uv_hrtime() < deadline;) {
        rx_turn(&x);
        if (confirmed == 50 && a.state.casts + b.state.casts == 50)
            break;
    }
    assert_int_equal(confirmed, 50);
    assert_int_equal(a.state.casts + b.state.casts, 50);
    /* A call to server b is answered by b only, every time. */
    for (int i = 0; i < 5; i++) {
        call_t r;
        do_call(&x, to_b, "echo", NULL, &r);
        assert_int_equal(r.status, 0);
        assert_string_equal(json_string_value(json_object_get(r.result, "server")), "b");
        call_clear(&r);
    }
    /* A fanout cast reaches both servers. */
    int before_a = a.state.casts, before_b = b.state.casts;
    confirmed = 0;
    assert_int_equal(keel_messaging_rpc_cast(fan, NULL, "count", json_pack("{s:s}", "fan", "out"), on_cast, &confirmed), 0);
    for (uint64_t deadline = uv_hrtime() + 10000000000u; uv_hrtime() < deadline;) {
        rx_turn(&x);
        if (confirmed == 1 && a.state.casts > before_a && b.state.casts > before_b)
            break;
    }
    assert_int_equal(confirmed, 1);
    assert_true(both_at_least(&a, &b, 1));
    assert_int_equal(a.state.casts, before_a + 1);
    assert_int_equal(b.state.casts, before_b + 1);
    assert_string_equal(json_string_value(json_object_get(a.state.last_args, "fan")), "out");
    keel_messaging_rpc_client_free(fan);
    keel_messaging_rpc_client_free(to_b);
    keel_messaging_rpc_client_free(c);
    stop_server(&x, &a);
    stop_server(&x, &b);
    rx_finish(&x);
}

static void test_rabbit_at_least_once_reports_a_cast_no_queue_takes(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_alo");
    keel_messaging_transport_t *t = rx_transport(&x, broker_url(), false);
    keel_messaging_rpc_client_t *c;
    keel_messaging_target_t target = {.topic = x.topic};
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.at_least_once = true;
    assert_int_equal(keel_messaging_rpc_client_new(&c, t, &target, &o), 0);
    /* No server yet: the broker returns the mandatory cast, which fails instead of vanishing. */
    cast_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "count", NULL, on_cast_result, &r), 0);
    rx_wait(&x, &r.done, 5000);
    assert_int_equal(r.status, KEEL_MESSAGING_EDELIVERY);
    /* With a server it is confirmed and arrives. */
    server_t sv;
    start_server(&x, t, &sv, "s1");
    wait_ready(&x, c);
    memset(&r, 0, sizeof(r));
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "count", NULL, on_cast_result, &r), 0);
    rx_wait(&x, &r.done, 5000);
    assert_int_equal(r.status, 0);
    for (uint64_t deadline = uv_hrtime() + 5000000000u; sv.state.casts == 0 && uv_hrtime() < deadline;)
        rx_turn(&x);
    assert_int_equal(sv.state.casts, 1);
    keel_messaging_rpc_client_free(c);
    stop_server(&x, &sv);
    rx_finish(&x);
}

static void test_rabbit_refused_declaration_fails_the_cast(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_refused");
    char durable_url[512];
    snprintf(durable_url, sizeof(durable_url), "%s%samqp_durable_queues=true", broker_url(), strchr(broker_url(), '?') ? "&" : "?");
    keel_messaging_transport_t *td = rx_transport(&x, durable_url, false);
    keel_messaging_transport_t *tp = rx_transport(&x, broker_url(), false);
    /* The exchange is declared durable first ... */
    char exchange[96];
    snprintf(exchange, sizeof(exchange), "ex_%s", x.topic);
    keel_messaging_target_t tg = {.exchange = exchange, .topic = x.topic};
    keel_messaging_rpc_client_t *cd, *cp, *other;
    assert_int_equal(keel_messaging_rpc_client_new(&cd, td, &tg, NULL), 0);
    assert_int_equal(keel_messaging_rpc_client_new(&cp, tp, &tg, NULL), 0);
    keel_messaging_target_t tg_other = {.topic = x.topic};
    assert_int_equal(keel_messaging_rpc_client_new(&other, tp, &tg_other, NULL), 0);
    cast_result_t r = {0};
    assert_int_equal(keel_messaging_rpc_cast(cd, NULL, "count", NULL, on_cast_result, &r), 0);
    rx_wait(&x, &r.done, 5000);
    assert_int_equal(r.status, 0);
    /* ... so a transport that declares it non-durable is refused (406), and its cast fails at
     * once instead of being published again into the same refusal (retry is -1). */
    memset(&r, 0, sizeof(r));
    assert_int_equal(keel_messaging_rpc_cast(cp, NULL, "count", NULL, on_cast_result, &r), 0);
    rx_wait(&x, &r.done, 5000);
    assert_int_equal(r.status, KEEL_EVALUE);
    /* The channel recovers: other exchanges still work. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(keel_messaging_rpc_cast(other, NULL, "count", NULL, on_cast_result, &r), 0);
    rx_wait(&x, &r.done, 5000);
    assert_int_equal(r.status, 0);
    keel_messaging_rpc_client_free(cd);
    keel_messaging_rpc_client_free(cp);
    keel_messaging_rpc_client_free(other);
    rx_finish(&x);
}

/* ---- a reply whose queue does not exist yet (spec §6.1, reply-queue-missing) ---- */

typedef struct raw_s {
    bool connected, declared, got;
    char body[4096];
} raw_t;

static void raw_on_connect(keel_client_t *c, int status, void *data)
{
    (void)c;
    assert_int_equal(status, 0);
    ((raw_t *)data)->connected = true;
}

static void raw_on_declared(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data)
{
    (void)ch;
    (void)ok;
    assert_int_equal(status, 0);
    ((raw_t *)data)->declared = true;
}

static void raw_on_message(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    raw_t *r = data;
    if (status != 0)
        return;
    snprintf(r->body, sizeof(r->body), "%.*s", (int)m->body_len, (const char *)m->body);
    r->got = true;
    keel_client_ack(ch, m->delivery_tag, false);
}

static void raw_on_closed(keel_client_t *c, int status, void *data)
{
    (void)status;
    (void)data;
    keel_client_free(c);
}

static void test_rabbit_reply_waits_for_its_missing_queue(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_replyq");
    keel_messaging_transport_t *t = rx_transport(&x, broker_url(), false);
    server_t sv;
    start_server(&x, t, &sv, "s1");
    keel_messaging_rpc_client_t *c = client_for(&x, t, 5);
    wait_ready(&x, c);
    /* A raw AMQP client plays a caller whose reply queue is not there yet (spec A.12). */
    keel_messaging_url_t *url;
    keel_messaging_broker_t b;
    assert_int_equal(keel_messaging_url_parse(broker_url(), &url, NULL), 0);
    assert_int_equal(keel_messaging_url_broker(url, 0, &b), 0);
    keel_client_host_t host = {.host = b.hostname, .port = b.port};
    keel_client_opts_t o;
    keel_client_opts_init(&o);
    o.hosts = &host;
    o.n_hosts = 1;
    o.user = b.username;
    o.password = b.password;
    o.vhost = b.virtual_host;
    const char *ssl = keel_messaging_url_query_get(url, "ssl");
    o.ssl = ssl && (strcmp(ssl, "1") == 0 || strcmp(ssl, "true") == 0);
    o.ssl_ca_file = keel_messaging_url_query_get(url, "ssl_ca_file");
    keel_client_t *raw;
    raw_t r = {0};
    assert_int_equal(keel_client_new(&raw, &x.loop, &o), 0);
    keel_messaging_url_free(url); /* keel_client_new() copied what it needs */
    keel_client_channel_t *ch;
    assert_int_equal(keel_client_channel_open(raw, &ch, NULL, NULL), 0);
    assert_int_equal(keel_client_connect(raw, raw_on_connect, &r), 0);
    rx_wait(&x, &r.connected, 5000);
    char reply_q[96], inner[512], body[1024];
    snprintf(reply_q, sizeof(reply_q), "reply_missing_%s", x.topic);
    snprintf(inner, sizeof(inner),
             "{\\\"method\\\": \\\"echo\\\", \\\"args\\\": {\\\"v\\\": 7}, "
             "\\\"_msg_id\\\": \\\"0123456789abcdef0123456789abcdef\\\", \\\"_reply_q\\\": \\\"%s\\\", "
             "\\\"_timeout\\\": null, \\\"_unique_id\\\": \\\"fedcba9876543210fedcba9876543210\\\"}",
             reply_q);
    snprintf(body, sizeof(body), "{\"oslo.version\": \"2.0\", \"oslo.message\": \"%s\"}", inner);
    keel_amqp_properties_t props = {.flags = KEEL_AMQP_PROP_CONTENT_TYPE,
                                    .content_type = {.base = "application/json", .len = 16}};
    keel_client_publish_t p = {
        .exchange = "openstack", .routing_key = x.topic, .props = &props, .body = body, .body_len = strlen(body)};
    assert_int_equal(keel_client_publish(ch, &p, NULL, NULL), 0);
    /* The server's reply comes back (NO_ROUTE) and is sent again every 250 ms ... */
    bool never = false;
    run_until(&x.loop, &never, 700);
    /* ... so once the queue exists, it arrives. */
    keel_client_queue_t q = {.name = reply_q};
    assert_int_equal(keel_client_queue_declare(ch, &q, raw_on_declared, &r), 0);
    keel_client_consume_t co = {.queue = reply_q};
    assert_int_equal(keel_client_consume(ch, &co, raw_on_message, NULL, &r, NULL), 0);
    rx_wait(&x, &r.got, 5000);
    assert_non_null(strstr(r.body, "0123456789abcdef0123456789abcdef"));
    assert_non_null(strstr(r.body, "\\\"v\\\": 7"));
    assert_int_equal(keel_client_queue_delete(ch, reply_q, false, false, NULL, NULL), 0);
    assert_int_equal(keel_client_close(raw, raw_on_closed, NULL), 0);
    keel_messaging_rpc_client_free(c);
    stop_server(&x, &sv);
    rx_finish(&x);
}

/* ---- notifications ---- */

typedef struct got_s {
    int n, probes;
    char event_type[64];
    int payload_i;
} got_t;

static keel_messaging_notification_result_t on_info(const keel_messaging_notification_t *n, void *data)
{
    got_t *g = data;
    if (n->event_type && strcmp(n->event_type, "probe") == 0) {
        g->probes++;
        return KEEL_MESSAGING_HANDLED;
    }
    g->n++;
    snprintf(g->event_type, sizeof(g->event_type), "%s", n->event_type ? n->event_type : "");
    g->payload_i = (int)json_integer_value(json_object_get(n->payload, "i"));
    return KEEL_MESSAGING_HANDLED;
}

static keel_messaging_listener_t *start_listener(rx_t *x, keel_messaging_transport_t *t, keel_messaging_notification_endpoint_t *ep,
                                                 const char *pool)
{
    keel_messaging_listener_t *l;
    keel_messaging_target_t target = {.topic = x->topic};
    keel_messaging_listener_opts_t o = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .pool = pool};
    assert_int_equal(keel_messaging_listener_new(&l, t, &target, 1, ep, 1, &o), 0);
    assert_int_equal(keel_messaging_listener_start(l), 0);
    return l;
}

static void on_listener_waited(keel_messaging_listener_t *l, int status, void *data)
{
    (void)l;
    assert_int_equal(status, 0);
    *(bool *)data = true;
}

static void stop_listener(rx_t *x, keel_messaging_listener_t *l)
{
    bool waited = false;
    keel_messaging_listener_stop(l);
    assert_int_equal(keel_messaging_listener_wait(l, on_listener_waited, &waited), 0);
    rx_wait(x, &waited, 5000);
    assert_int_equal(keel_messaging_listener_free(l), 0);
}

static void on_notified(keel_messaging_notifier_t *n, int status, void *data)
{
    (void)n;
    assert_int_equal(status, 0);
    (*(int *)data)++;
}

static void test_rabbit_notify_reaches_listeners_and_pools(void **state)
{
    (void)state;
    if (!broker_url())
        skip();
    rx_t x;
    rx_init(&x, "kt_notif");
    keel_messaging_transport_t *lt = rx_transport(&x, broker_url(), true);
    keel_messaging_transport_t *nt = rx_transport(&x, broker_url(), true);
    got_t plain = {0}, p1a = {0}, p1b = {0}, p2 = {0};
    keel_messaging_notification_endpoint_t eps[4];
    got_t *gots[4] = {&plain, &p1a, &p1b, &p2};
    for (int i = 0; i < 4; i++) {
        memset(&eps[i], 0, sizeof(eps[i]));
        eps[i].on[KEEL_MESSAGING_INFO] = on_info;
        eps[i].data = gots[i];
    }
    keel_messaging_listener_t *l0 = start_listener(&x, lt, &eps[0], NULL);
    keel_messaging_listener_t *l1 = start_listener(&x, lt, &eps[1], "pool1");
    keel_messaging_listener_t *l2 = start_listener(&x, lt, &eps[2], "pool1");
    keel_messaging_listener_t *l3 = start_listener(&x, lt, &eps[3], "pool2");
    keel_messaging_notifier_t *n;
    static const char *const drivers[] = {"messagingv2", NULL};
    const char *topics[] = {x.topic, NULL};
    keel_messaging_notifier_opts_t no = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    no.publisher_id = "test.host";
    no.drivers = drivers;
    no.topics = topics;
    assert_int_equal(keel_messaging_notifier_new(&n, nt, &no), 0);
    /* Probes until every pool's queue exists (the listeners' declares are done). */
    int probes = 0;
    for (int i = 0; i < 100 && !(plain.probes && p1a.probes + p1b.probes && p2.probes); i++) {
        assert_int_equal(keel_messaging_notify(n, NULL, KEEL_MESSAGING_INFO, "probe", json_object(), on_notified, &probes), 0);
        bool never = false;
        run_until(&x.loop, &never, 100);
    }
    assert_true(plain.probes && p1a.probes + p1b.probes && p2.probes);
    int sent = 0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(
            keel_messaging_notify(n, NULL, KEEL_MESSAGING_INFO, "thing.happened", json_pack("{s:i}", "i", i), on_notified, &sent), 0);
    for (uint64_t deadline = uv_hrtime() + 10000000000u; uv_hrtime() < deadline;) {
        rx_turn(&x);
        if (sent == 10 && plain.n == 10 && p1a.n + p1b.n == 10 && p2.n == 10)
            break;
    }
    assert_int_equal(sent, 10);
    /* Without a pool: N.P; each pool gets its own copy, shared by its listeners. */
    assert_int_equal(plain.n, 10);
    assert_int_equal(p1a.n + p1b.n, 10);
    assert_int_equal(p2.n, 10);
    assert_string_equal(plain.event_type, "thing.happened");
    assert_int_equal(p2.payload_i, 9);
    keel_messaging_notifier_free(n);
    stop_listener(&x, l0);
    stop_listener(&x, l1);
    stop_listener(&x, l2);
    stop_listener(&x, l3);
    rx_finish(&x);
}

/* ---- no broker ---- */

static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_rabbit_retry_bounds_sends_to_a_dead_broker(void **state)
{
    (void)state;
    rx_t x;
    rx_init(&x, "kt_dead");
    char url[128];
    snprintf(url, sizeof(url), "rabbit://127.0.0.1:%d/?rabbit_retry_interval=1&rabbit_retry_backoff=0", dead_port());
    keel_messaging_transport_t *t = rx_transport(&x, url, false);
    keel_messaging_rpc_client_t *c = client_for(&x, t, 0.4);
    keel_messaging_rpc_client_t *once, *twice;
    assert_int_equal(keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_RETRY, .retry = 0},
                                                       &once),
                     0);
    assert_int_equal(keel_messaging_rpc_client_prepare(c, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_RETRY, .retry = 1},
                                                       &twice),
                     0);
    /* retry 0: the first refused connection fails the cast. */
    cast_result_t r0 = {0}, r1 = {0}, rf = {0};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(keel_messaging_rpc_cast(once, NULL, "count", NULL, on_cast_result, &r0), 0);
    rx_wait(&x, &r0.done, 3000);
    assert_int_equal(r0.status, KEEL_MESSAGING_EDELIVERY);
    assert_true((uv_hrtime() - t0) / 1000000u < 900);
    /* retry 1: a second refused attempt, a rabbit_retry_interval later. */
    assert_int_equal(keel_messaging_rpc_cast(twice, NULL, "count", NULL, on_cast_result, &r1), 0);
    /* retry forever: still waiting when the others are done. */
    assert_int_equal(keel_messaging_rpc_cast(c, NULL, "count", NULL, on_cast_result, &rf), 0);
    rx_wait(&x, &r1.done, 5000);
    assert_int_equal(r1.status, KEEL_MESSAGING_EDELIVERY);
    assert_false(rf.done);
    /* A call times out within its timeout even though it never left. */
    call_t cr;
    t0 = uv_hrtime();
    do_call(&x, c, "echo", NULL, &cr);
    assert_int_equal(cr.status, KEEL_ETIMEDOUT);
    assert_true((uv_hrtime() - t0) / 1000000u < 1000);
    call_clear(&cr);
    keel_messaging_rpc_client_free(once);
    keel_messaging_rpc_client_free(twice);
    keel_messaging_rpc_client_free(c);
    /* Closing ends the cast still waiting. */
    assert_int_equal(keel_messaging_transport_close(t, on_transport_closed, &x), 0);
    x.nt = 0;
    uv_run(&x.loop, UV_RUN_DEFAULT);
    assert_true(rf.done);
    assert_int_equal(rf.status, KEEL_ECANCELED);
    assert_int_equal(uv_loop_close(&x.loop), 0);
}

static void test_rabbit_server_stops_while_the_broker_is_away(void **state)
{
    (void)state;
    rx_t x;
    rx_init(&x, "kt_away");
    char url[128];
    snprintf(url, sizeof(url), "rabbit://127.0.0.1:%d/", dead_port());
    keel_messaging_transport_t *t = rx_transport(&x, url, false);
    server_t sv;
    start_server(&x, t, &sv, "s1");
    got_t g = {0};
    keel_messaging_notification_endpoint_t ep = {.data = &g};
    ep.on[KEEL_MESSAGING_INFO] = on_info;
    keel_messaging_listener_t *l = start_listener(&x, t, &ep, "pool");
    bool never = false;
    run_until(&x.loop, &never, 100);
    /* Neither waits for a broker that is not there. */
    stop_server(&x, &sv);
    stop_listener(&x, l);
    rx_finish(&x);
}

/* Fails the Nth allocation of making a rabbit:// transport, a listener and a cast, for each N until all succeed. */
static void test_rabbit_survives_running_out_of_memory(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "rabbit://127.0.0.1:%d/", dead_port());
    bool done = false;
    for (long n = 0; !done && n < 5000; n++) {
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        keel_messaging_transport_t *t = NULL;
        keel_messaging_rpc_server_t *s = NULL;
        keel_messaging_rpc_client_t *c = NULL;
        keel_messaging_endpoint_t ep = {.methods = methods};
        keel_messaging_target_t tg = {.topic = "oom", .server = "s1"};
        keel_messaging_rpc_client_opts_t co = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
        co.retry = 0;
        cast_result_t r = {0};
        oom_install(n);
        int rc = keel_messaging_transport_new(&t, &loop, NULL, &(keel_messaging_transport_opts_t){.url = url});
        if (rc == 0)
            rc = keel_messaging_rpc_server_new(&s, t, &tg, &ep, 1,
                                               &(keel_messaging_rpc_server_opts_t){.executor = KEEL_MESSAGING_EXECUTOR_LOOP});
        if (rc == 0)
            rc = keel_messaging_rpc_server_start(s);
        if (rc == 0)
            rc = keel_messaging_rpc_client_new(&c, t, &tg, &co);
        if (rc == 0)
            rc = keel_messaging_rpc_cast(c, NULL, "count", NULL, on_cast_result, &r);
        oom_uninstall();
        if (rc == 0) {
            run_until(&loop, &r.done, 3000);
            assert_true(r.done);
            done = true;
        } else {
            assert_int_equal(rc, KEEL_ENOMEM);
        }
        keel_messaging_rpc_client_free(c);
        if (s) {
            bool waited = false;
            keel_messaging_rpc_server_stop(s);
            if (keel_messaging_rpc_server_wait(s, on_server_waited, &waited) == 0)
                run_until(&loop, &waited, 3000);
            keel_messaging_rpc_server_free(s);
        }
        if (t)
            assert_int_equal(keel_messaging_transport_close(t, NULL, NULL), 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rabbit_retry_bounds_sends_to_a_dead_broker),
        cmocka_unit_test(test_rabbit_server_stops_while_the_broker_is_away),
        cmocka_unit_test(test_rabbit_survives_running_out_of_memory),
        cmocka_unit_test(test_rabbit_call_returns_the_servers_result),
        cmocka_unit_test(test_rabbit_fails_over_to_a_host_that_answers),
        cmocka_unit_test(test_rabbit_call_times_out_when_nobody_answers),
        cmocka_unit_test(test_rabbit_cast_fanout_and_targeted_server),
        cmocka_unit_test(test_rabbit_at_least_once_reports_a_cast_no_queue_takes),
        cmocka_unit_test(test_rabbit_reply_waits_for_its_missing_queue),
        cmocka_unit_test(test_rabbit_refused_declaration_fails_the_cast),
        cmocka_unit_test(test_rabbit_notify_reaches_listeners_and_pools),
    };
    return cmocka_run_group_tests_name("messaging/rabbit.c", tests, NULL, NULL);
}
