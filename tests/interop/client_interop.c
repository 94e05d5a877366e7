/*
 * client_interop.c — keel's AMQP client against a real RabbitMQ, driven by
 * tests/interop/client_rabbitmq.py, which starts the node and restarts it.
 *
 *   client_interop cases --port P --dead-port D
 *       the functional cases, one line each ("ok NAME" or "FAIL NAME: why")
 *   client_interop tls --port P --ca FILE
 *       a verified TLS connection and a round trip
 *   client_interop load --port P
 *       a steady confirmed publish load and a consumer on two connections
 *       until SIGUSR1; then drain and report. Every event is printed with
 *       the CLOCK_MONOTONIC time in ms (Python's time.monotonic() clock):
 *       "EVENT t=... who=pub|con what=disconnected|reconnected|..."
 *
 * Every mode ends with one "SUMMARY: " line.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "keel/client.h"

static uv_loop_t loop;

static double now_ms(void)
{
    return (double)uv_hrtime() / 1e6;
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag or ms pass. */
static bool run_until(const bool *flag, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 5, 5);
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + ms;
    while (!*flag && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return *flag;
}

static bool run_until_n(const int *n, int want, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 5, 5);
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + ms;
    while (*n < want && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return *n >= want;
}

static void run_for(uint64_t ms)
{
    bool never = false;
    run_until(&never, ms);
}

/* ---- callbacks that record ---- */

typedef struct {
    bool done;
    int status;
    char name[256];
    uint32_t count;
} res_t;

static void client_cb(keel_client_t *c, int status, void *data)
{
    res_t *r = data;
    r->done = true;
    r->status = status;
}

static void channel_cb(keel_client_channel_t *ch, int status, void *data)
{
    res_t *r = data;
    r->done = true;
    r->status = status;
}

static void op_cb(keel_client_channel_t *ch, int status, void *data)
{
    res_t *r = data;
    r->done = true;
    r->status = status;
}

static void queue_cb(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data)
{
    res_t *r = data;
    r->done = true;
    r->status = status;
    if (ok != NULL) {
        snprintf(r->name, sizeof(r->name), "%.*s", (int)ok->name.len, ok->name.base);
        r->count = ok->message_count;
    }
}

typedef struct {
    int acked, nacked, reset, other;
} confirms_t;

static void confirm_cb(keel_client_channel_t *ch, int status, void *data)
{
    confirms_t *c = data;
    if (status == 0)
        c->acked++;
    else if (status == KEEL_EIO)
        c->nacked++;
    else if (status == KEEL_ECONNRESET)
        c->reset++;
    else
        c->other++;
}

typedef struct {
    int count;
    int finals;
    int final_status;
    bool ack;
    size_t last_len;
    bool body_ok;
    const uint8_t *expect;
} consumer_t;

static void deliver_cb(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    consumer_t *c = data;
    if (status != 0) {
        c->finals++;
        c->final_status = status;
        return;
    }
    c->count++;
    c->last_len = m->body_len;
    if (c->expect != NULL)
        c->body_ok = memcmp(m->body, c->expect, m->body_len) == 0;
    if (c->ack)
        keel_client_ack(ch, m->delivery_tag, false);
}

typedef struct {
    int calls;
    int status;
    uint16_t code, class_id, method_id;
} chan_err_t;

static void error_cb(keel_client_channel_t *ch, int status, const keel_client_error_t *e, void *data)
{
    chan_err_t *r = data;
    r->calls++;
    r->status = status;
    r->code = e->reply_code;
    r->class_id = e->class_id;
    r->method_id = e->method_id;
}

typedef struct {
    int count;
    uint16_t code;
} returns_t;

static void return_cb(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    returns_t *r = data;
    r->count++;
    r->code = m->reply_code;
}

typedef struct {
    bool done;
    int status;
    bool empty;
    size_t len;
} get_t;

static void get_cb(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    get_t *g = data;
    g->done = true;
    g->status = status;
    g->empty = m == NULL;
    if (m != NULL)
        g->len = m->body_len;
}

/* ---- the cases ---- */

static uint16_t port, dead_port;

static void event_cb(keel_client_t *c, int status, const keel_client_event_t *ev, void *data)
{
    static const char *names[] = {"",        "connected", "disconnected",  "reconnected",     "connect_failed",
                                  "blocked", "unblocked", "queue_renamed", "recovery_failed", "failed"};
    printf("EVENT t=%.1f who=%s what=%s status=%s code=%u text=%.*s\n", now_ms(), (const char *)data, names[ev->type],
           status ? keel_err_name(status) : "0", ev->reply_code, (int)ev->reply_text.len, ev->reply_text.base);
    fflush(stdout);
}

static int passed, failed;
static char why[512];

static bool fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return false;
}

#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        if (!(cond))                                                                                                               \
            return fail("%s (line %d)", #cond, __LINE__);                                                                          \
    } while (0)

static void opts_for(keel_client_opts_t *o, keel_client_host_t *h, uint16_t p)
{
    keel_client_opts_init(o);
    h->host = "127.0.0.1";
    h->port = p;
    o->hosts = h;
    o->n_hosts = 1;
    o->retry_interval_ms = 50;
    o->retry_backoff_ms = 50;
    o->retry_interval_max_ms = 200;
    o->connection_name = "keel interop";
    o->on_event = event_cb;
    o->event_data = (void *)"case";
}

static keel_client_t *connect_to(uint16_t p, int *status)
{
    keel_client_opts_t o;
    keel_client_host_t h;
    opts_for(&o, &h, p);
    o.max_retries = 3;
    keel_client_t *c = NULL;
    *status = keel_client_new(&c, &loop, &o);
    if (*status != 0)
        return NULL;
    res_t r = {0};
    keel_client_connect(c, client_cb, &r);
    if (!run_until(&r.done, 10000))
        r.status = KEEL_ETIMEDOUT;
    *status = r.status;
    return c;
}

static void close_client(keel_client_t *c)
{
    res_t r = {0};
    if (keel_client_close(c, client_cb, &r) == 0)
        run_until(&r.done, 5000);
    keel_client_free(c);
}

static keel_client_channel_t *channel(keel_client_t *c)
{
    keel_client_channel_t *ch = NULL;
    res_t r = {0};
    if (keel_client_channel_open(c, &ch, channel_cb, &r) != 0 || !run_until(&r.done, 5000) || r.status != 0)
        return NULL;
    return ch;
}

static int declare(keel_client_channel_t *ch, keel_client_queue_t *q, res_t *r)
{
    *r = (res_t){0};
    if (keel_client_queue_declare(ch, q, queue_cb, r) != 0)
        return -1;
    run_until(&r->done, 5000);
    return r->status;
}

static int wait_op(int rc, res_t *r)
{
    if (rc != 0)
        return rc;
    run_until(&r->done, 5000);
    return r->done ? r->status : KEEL_ETIMEDOUT;
}

static bool case_connect(keel_client_t *c, keel_client_channel_t *ch)
{
    keel_client_info_t info;
    CHECK(keel_client_info(c, &info) == 0);
    CHECK(keel_amqp_str_eq(info.product, "RabbitMQ"));
    CHECK(info.frame_max == 131072);
    CHECK(info.heartbeat == 60);
    CHECK(info.channel_max == 2047);
    return true;
}

static bool case_round_trip_with_confirms(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r = {0};
    keel_client_exchange_t x = {.name = "keel.topic", .type = "topic"};
    CHECK(wait_op(keel_client_exchange_declare(ch, &x, op_cb, &r), &r) == 0);
    keel_client_queue_t q = {.name = "keel.rt", .auto_delete = true};
    CHECK(declare(ch, &q, &r) == 0);
    r = (res_t){0};
    CHECK(wait_op(keel_client_queue_bind(ch, "keel.rt", "keel.topic", "a.#", (keel_amqp_table_t){0}, op_cb, &r), &r) == 0);
    static consumer_t cons;
    cons = (consumer_t){.ack = true};
    keel_client_consume_t co = {.queue = "keel.rt"};
    CHECK(keel_client_consume(ch, &co, deliver_cb, NULL, &cons, NULL) == 0);
    CHECK(keel_client_confirm_select(ch, NULL, NULL) == 0);
    confirms_t cf = {0};
    keel_amqp_properties_t props = {.flags = KEEL_AMQP_PROP_CONTENT_TYPE, .content_type = KEEL_AMQP_STR("text/plain")};
    for (int i = 0; i < 1000; i++) {
        keel_client_publish_t p = {.exchange = "keel.topic", .routing_key = "a.b", .props = &props, .body = "hello", .body_len = 5};
        CHECK(keel_client_publish(ch, &p, confirm_cb, &cf) == 0);
    }
    run_until_n(&cons.count, 1000, 10000);
    run_until_n(&cf.acked, 1000, 10000);
    if (cons.count != 1000 || cf.acked != 1000)
        return fail("received %d, acked %d, nacked %d, reset %d, other %d, finals %d (%s)", cons.count, cf.acked, cf.nacked,
                    cf.reset, cf.other, cons.finals, keel_err_name(cons.final_status));
    return true;
}

static bool case_server_named_queue(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r;
    keel_client_queue_t q = {.exclusive = true};
    CHECK(declare(ch, &q, &r) == 0);
    CHECK(strncmp(r.name, "amq.gen-", 8) == 0);
    return true;
}

static bool case_nack_on_reject_publish(keel_client_t *c, keel_client_channel_t *ch)
{
    keel_buf_t tb;
    keel_buf_init(&tb);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &tb);
    keel_amqp_build_int(&b, "x-max-length", 1);
    keel_amqp_build_str(&b, "x-overflow", "reject-publish");
    keel_client_queue_t q = {.name = "keel.bounded", .auto_delete = true};
    CHECK(keel_amqp_builder_finish(&b, &q.arguments) == 0);
    res_t r = {0};
    wait_op(keel_client_queue_delete(ch, "keel.bounded", false, false, op_cb, &r), &r); /* a fresh, empty one */
    int st = declare(ch, &q, &r);
    keel_buf_free(&tb);
    CHECK(st == 0);
    keel_client_channel_t *pc = channel(c);
    CHECK(pc != NULL);
    CHECK(keel_client_confirm_select(pc, NULL, NULL) == 0);
    confirms_t cf = {0};
    for (int i = 0; i < 4; i++) {
        keel_client_publish_t p = {.routing_key = "keel.bounded", .body = "x", .body_len = 1};
        CHECK(keel_client_publish(pc, &p, confirm_cb, &cf) == 0);
    }
    int total = 0;
    for (int i = 0; i < 500 && total < 4; i++) {
        run_for(10);
        total = cf.acked + cf.nacked + cf.reset + cf.other;
    }
    CHECK(cf.acked == 1);
    CHECK(cf.nacked == 3);
    keel_client_channel_close(pc, NULL, NULL);
    return true;
}

static bool case_mandatory_return(keel_client_t *c, keel_client_channel_t *ch)
{
    returns_t rt = {0};
    keel_client_channel_on_return(ch, return_cb, &rt);
    confirms_t cf = {0};
    keel_client_publish_t p = {.routing_key = "keel.nowhere", .mandatory = true, .body = "x", .body_len = 1};
    CHECK(keel_client_publish(ch, &p, confirm_cb, &cf) == 0);
    CHECK(run_until_n(&cf.acked, 1, 5000));
    CHECK(rt.count == 1);
    CHECK(rt.code == 312);
    keel_client_channel_on_return(ch, NULL, NULL);
    return true;
}

static bool case_channel_error_recovers(keel_client_t *c, keel_client_channel_t *ch)
{
    chan_err_t e = {0};
    keel_client_channel_on_error(ch, error_cb, &e);
    keel_client_queue_t q = {.name = "keel.kept", .auto_delete = true};
    res_t r;
    CHECK(declare(ch, &q, &r) == 0);
    static consumer_t cons;
    cons = (consumer_t){.ack = true};
    keel_client_consume_t co = {.queue = "keel.kept"};
    CHECK(keel_client_consume(ch, &co, deliver_cb, NULL, &cons, NULL) == 0);
    keel_client_queue_t missing = {.name = "keel.no-such-queue", .passive = true};
    CHECK(declare(ch, &missing, &r) == KEEL_ENOENT);
    CHECK(e.calls == 1 && e.code == 404 && e.class_id == 50 && e.method_id == 10);
    /* the channel re-opens with its consumer */
    keel_client_queue_t again = {.name = "keel.kept", .passive = true};
    CHECK(declare(ch, &again, &r) == 0);
    keel_client_publish_t p = {.routing_key = "keel.kept", .body = "x", .body_len = 1};
    /* the confirm may come after the delivery: wait for both, since cf
       must outlive its callback */
    confirms_t cf = {0};
    CHECK(keel_client_publish(ch, &p, confirm_cb, &cf) == 0);
    CHECK(run_until_n(&cons.count, 1, 5000));
    CHECK(run_until_n(&cf.acked, 1, 5000));
    keel_client_channel_on_error(ch, NULL, NULL);
    return true;
}

static bool case_publish_to_missing_exchange(keel_client_t *c, keel_client_channel_t *ch)
{
    chan_err_t e = {0};
    keel_client_channel_on_error(ch, error_cb, &e);
    confirms_t cf = {0};
    keel_client_publish_t p = {.exchange = "keel.no-such-exchange", .body = "x", .body_len = 1};
    CHECK(keel_client_publish(ch, &p, confirm_cb, &cf) == 0);
    CHECK(run_until_n(&e.calls, 1, 5000));
    CHECK(e.code == 404 && e.class_id == 60 && e.method_id == 40);
    CHECK(cf.other == 1); /* KEEL_ENOENT */
    keel_client_channel_on_error(ch, NULL, NULL);
    res_t r = {0};
    keel_client_queue_t q = {.name = "keel.after-error", .auto_delete = true};
    CHECK(declare(ch, &q, &r) == 0);
    return true;
}

static bool case_get(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r;
    keel_client_queue_t q = {.name = "keel.get", .auto_delete = true};
    CHECK(declare(ch, &q, &r) == 0);
    get_t g = {0};
    CHECK(keel_client_get(ch, "keel.get", true, get_cb, &g) == 0);
    CHECK(run_until(&g.done, 5000) && g.status == 0 && g.empty);
    confirms_t cf = {0};
    keel_client_publish_t p = {.routing_key = "keel.get", .body = "abc", .body_len = 3};
    CHECK(keel_client_publish(ch, &p, confirm_cb, &cf) == 0);
    CHECK(run_until_n(&cf.acked, 1, 5000));
    g = (get_t){0};
    CHECK(keel_client_get(ch, "keel.get", true, get_cb, &g) == 0);
    CHECK(run_until(&g.done, 5000) && g.status == 0 && !g.empty && g.len == 3);
    return true;
}

static bool case_large_message(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r;
    keel_client_queue_t q = {.name = "keel.large", .auto_delete = true};
    CHECK(declare(ch, &q, &r) == 0);
    size_t n = 1 << 20;
    uint8_t *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 31 + (i >> 9));
    static consumer_t cons;
    cons = (consumer_t){.ack = true, .expect = body};
    keel_client_consume_t co = {.queue = "keel.large"};
    bool ok = keel_client_consume(ch, &co, deliver_cb, NULL, &cons, NULL) == 0;
    keel_client_publish_t p = {.routing_key = "keel.large", .body = body, .body_len = n};
    confirms_t cf = {0};
    ok = ok && keel_client_publish(ch, &p, confirm_cb, &cf) == 0;
    ok = ok && run_until_n(&cons.count, 1, 10000) && cons.last_len == n && cons.body_ok;
    ok = ok && run_until_n(&cf.acked, 1, 5000);
    free(body);
    CHECK(ok);
    return true;
}

static bool case_prefetch(keel_client_t *c, keel_client_channel_t *unused)
{
    keel_client_channel_t *ch = channel(c);
    CHECK(ch != NULL);
    res_t r;
    keel_client_queue_t q = {.name = "keel.prefetch", .auto_delete = true};
    CHECK(declare(ch, &q, &r) == 0);
    r = (res_t){0};
    CHECK(wait_op(keel_client_qos(ch, 2, false, op_cb, &r), &r) == 0);
    static consumer_t cons;
    cons = (consumer_t){0};
    keel_client_consume_t co = {.queue = "keel.prefetch"};
    CHECK(keel_client_consume(ch, &co, deliver_cb, NULL, &cons, NULL) == 0);
    for (int i = 0; i < 10; i++) {
        keel_client_publish_t p = {.routing_key = "keel.prefetch", .body = "x", .body_len = 1};
        CHECK(keel_client_publish(ch, &p, NULL, NULL) == 0);
    }
    run_for(300);
    CHECK(cons.count == 2);
    CHECK(keel_client_ack(ch, 2, true) == 0);
    CHECK(run_until_n(&cons.count, 4, 5000));
    res_t closed = {0};
    keel_client_channel_close(ch, channel_cb, &closed);
    run_until(&closed.done, 5000);
    CHECK(cons.finals == 1);
    return true;
}

static bool case_consumer_cancel_notify(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r;
    keel_client_queue_t q = {.name = "keel.doomed"};
    CHECK(declare(ch, &q, &r) == 0);
    static consumer_t cons;
    cons = (consumer_t){0};
    keel_client_consume_t co = {.queue = "keel.doomed"};
    CHECK(keel_client_consume(ch, &co, deliver_cb, NULL, &cons, NULL) == 0);
    run_for(100);
    keel_client_channel_t *other = channel(c);
    CHECK(other != NULL);
    r = (res_t){0};
    CHECK(wait_op(keel_client_queue_delete(other, "keel.doomed", false, false, op_cb, &r), &r) == 0);
    CHECK(run_until_n(&cons.finals, 1, 5000));
    CHECK(cons.final_status == KEEL_ENOENT);
    keel_client_channel_close(other, NULL, NULL);
    return true;
}

static bool case_exchange_to_exchange(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r = {0};
    /* a leaf left by an earlier run goes first: deleting it drops
       keel.down's last binding, which deletes that auto-delete exchange */
    wait_op(keel_client_queue_delete(ch, "keel.leaf", false, false, op_cb, &r), &r);
    keel_client_exchange_t up = {.name = "keel.up", .type = "fanout", .auto_delete = true};
    keel_client_exchange_t down = {.name = "keel.down", .type = "direct", .auto_delete = true};
    CHECK(keel_client_exchange_declare(ch, &up, NULL, NULL) == 0);
    r = (res_t){0};
    CHECK(wait_op(keel_client_exchange_declare(ch, &down, op_cb, &r), &r) == 0);
    keel_client_queue_t q = {.name = "keel.leaf", .auto_delete = true};
    CHECK(declare(ch, &q, &r) == 0);
    r = (res_t){0};
    CHECK(keel_client_exchange_bind(ch, "keel.down", "keel.up", "", (keel_amqp_table_t){0}, NULL, NULL) == 0);
    CHECK(wait_op(keel_client_queue_bind(ch, "keel.leaf", "keel.down", "k", (keel_amqp_table_t){0}, op_cb, &r), &r) == 0);
    confirms_t cf = {0};
    keel_client_publish_t p = {.exchange = "keel.up", .routing_key = "k", .body = "x", .body_len = 1};
    CHECK(keel_client_publish(ch, &p, confirm_cb, &cf) == 0);
    CHECK(run_until_n(&cf.acked, 1, 5000));
    keel_client_queue_t pq = {.name = "keel.leaf", .passive = true};
    CHECK(declare(ch, &pq, &r) == 0);
    CHECK(r.count == 1);
    return true;
}

static bool case_exclusive_queue_is_locked(keel_client_t *c, keel_client_channel_t *ch)
{
    res_t r;
    keel_client_queue_t q = {.name = "keel.mine", .exclusive = true};
    CHECK(declare(ch, &q, &r) == 0);
    int st;
    keel_client_t *other = connect_to(port, &st);
    CHECK(st == 0);
    keel_client_channel_t *och = channel(other);
    bool ok = och != NULL;
    static consumer_t cons;
    cons = (consumer_t){0};
    keel_client_consume_t co = {.queue = "keel.mine"};
    ok = ok && keel_client_consume(och, &co, deliver_cb, NULL, &cons, NULL) == 0;
    ok = ok && run_until_n(&cons.finals, 1, 5000) && cons.final_status == KEEL_EBUSY;
    close_client(other);
    CHECK(ok);
    return true;
}

static bool case_failover(keel_client_t *unused_c, keel_client_channel_t *unused)
{
    keel_client_host_t hosts[2] = {{"127.0.0.1", dead_port}, {"localhost", port}};
    keel_client_opts_t o;
    keel_client_host_t h;
    opts_for(&o, &h, 0);
    o.hosts = hosts;
    o.n_hosts = 2;
    keel_client_t *c = NULL;
    CHECK(keel_client_new(&c, &loop, &o) == 0);
    res_t r = {0};
    keel_client_connect(c, client_cb, &r);
    bool ok = run_until(&r.done, 10000) && r.status == 0;
    keel_client_info_t info;
    ok = ok && keel_client_info(c, &info) == 0 && info.host == 1;
    close_client(c);
    CHECK(ok);
    return true;
}

static bool case_refused_login(keel_client_t *unused_c, keel_client_channel_t *unused)
{
    keel_client_opts_t o;
    keel_client_host_t h;
    opts_for(&o, &h, port);
    o.password = "not-the-password";
    keel_client_t *c = NULL;
    CHECK(keel_client_new(&c, &loop, &o) == 0);
    res_t r = {0};
    keel_client_connect(c, client_cb, &r);
    bool ok = run_until(&r.done, 10000) && r.status == KEEL_EACCES;
    close_client(c);
    CHECK(ok);
    return true;
}

typedef bool (*case_fn)(keel_client_t *c, keel_client_channel_t *ch);

static int run_cases(void)
{
    static const struct {
        const char *name;
        case_fn fn;
    } cases[] = {
        {"connect", case_connect},
        {"round_trip_with_confirms", case_round_trip_with_confirms},
        {"server_named_queue", case_server_named_queue},
        {"nack_on_reject_publish", case_nack_on_reject_publish},
        {"mandatory_return", case_mandatory_return},
        {"channel_error_recovers", case_channel_error_recovers},
        {"publish_to_missing_exchange", case_publish_to_missing_exchange},
        {"get", case_get},
        {"large_message", case_large_message},
        {"prefetch", case_prefetch},
        {"consumer_cancel_notify", case_consumer_cancel_notify},
        {"exchange_to_exchange", case_exchange_to_exchange},
        {"exclusive_queue_is_locked", case_exclusive_queue_is_locked},
        {"failover", case_failover},
        {"refused_login", case_refused_login},
    };
    int st;
    keel_client_t *c = connect_to(port, &st);
    if (st != 0) {
        printf("FAIL connect: %s\n", keel_strerror(st));
        printf("SUMMARY: cases=%zu passed=0 failed=%zu\n", sizeof(cases) / sizeof(cases[0]), sizeof(cases) / sizeof(cases[0]));
        return 1;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why[0] = '\0';
        /* a channel per case, closed after it: its consumers end there */
        keel_client_channel_t *ch = channel(c);
        if (ch != NULL)
            keel_client_confirm_select(ch, NULL, NULL);
        bool ok = ch != NULL && cases[i].fn(c, ch);
        if (ch != NULL) {
            res_t closed = {0};
            if (keel_client_channel_close(ch, channel_cb, &closed) == 0)
                run_until(&closed.done, 5000);
        }
        if (ok) {
            passed++;
            printf("ok %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s: %s\n", cases[i].name, ch ? why : "no channel");
        }
        fflush(stdout);
    }
    close_client(c);
    printf("SUMMARY: cases=%d passed=%d failed=%d\n", passed + failed, passed, failed);
    return failed == 0 ? 0 : 1;
}

/* ---- TLS ---- */

static int run_tls(const char *ca)
{
    keel_client_opts_t o;
    keel_client_host_t h;
    opts_for(&o, &h, port);
    h.host = "localhost";
    o.ssl = true;
    o.ssl_ca_file = ca;
    o.max_retries = 3;
    keel_client_t *c = NULL;
    int rc = keel_client_new(&c, &loop, &o);
    if (rc != 0) {
        printf("FAIL tls: new: %s\nSUMMARY: cases=1 passed=0 failed=1\n", keel_strerror(rc));
        return 1;
    }
    res_t r = {0};
    keel_client_connect(c, client_cb, &r);
    const char *step = "connect";
    bool ok = run_until(&r.done, 10000) && r.status == 0;
    keel_client_channel_t *ch = NULL;
    consumer_t cons = {.ack = true};
    confirms_t cf = {0};
    if (ok) {
        step = "channel";
        ok = (ch = channel(c)) != NULL;
    }
    if (ok) {
        step = "declare";
        keel_client_queue_t q = {.name = "keel.tls", .auto_delete = true};
        ok = declare(ch, &q, &r) == 0;
    }
    if (ok) {
        step = "round trip";
        keel_client_consume_t co = {.queue = "keel.tls"};
        ok = keel_client_consume(ch, &co, deliver_cb, NULL, &cons, NULL) == 0;
        ok = ok && keel_client_confirm_select(ch, NULL, NULL) == 0;
        for (int i = 0; ok && i < 100; i++) {
            keel_client_publish_t p = {.routing_key = "keel.tls", .body = "secret", .body_len = 6};
            ok = keel_client_publish(ch, &p, confirm_cb, &cf) == 0;
        }
        ok = ok && run_until_n(&cons.count, 100, 10000) && run_until_n(&cf.acked, 100, 10000);
    }
    if (ok)
        printf("ok tls: verified TLS to localhost, %d received, %d confirmed\n", cons.count, cf.acked);
    else
        printf("FAIL tls: %s failed (status %s), %d received, %d confirmed\n", step, keel_err_name(r.status), cons.count, cf.acked);
    if (ch != NULL)
        keel_client_channel_close(ch, NULL, NULL);
    close_client(c);
    printf("SUMMARY: cases=1 passed=%d failed=%d\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}

/* ---- load through restarts ---- */

#define LOAD_QUEUE "keel.interop.load"
#define MAX_MSGS (1 << 20)

static struct {
    keel_client_t *pub, *con;
    keel_client_channel_t *pch, *cch;
    uv_timer_t timer;
    uv_signal_t sig;
    bool stopping;
    uint32_t next_id;
    int published, refused;
    confirms_t cf;
    uint8_t *acked;    /* by message id: the broker confirmed it */
    uint8_t *received; /* by message id: the consumer got it */
    int received_unique, duplicates;
    int answered;
} L;

typedef struct {
    uint32_t id;
} pub_ctx_t;

static pub_ctx_t *ctxs;

static void load_confirm_cb(keel_client_channel_t *ch, int status, void *data)
{
    pub_ctx_t *p = data;
    L.answered++;
    if (status == 0) {
        L.cf.acked++;
        L.acked[p->id] = 1;
    } else if (status == KEEL_EIO) {
        L.cf.nacked++;
    } else if (status == KEEL_ECONNRESET) {
        L.cf.reset++;
    } else {
        L.cf.other++;
    }
}

static void load_deliver_cb(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    if (status != 0) {
        printf("EVENT t=%.1f who=con what=consumer_ended status=%s code=0\n", now_ms(), keel_err_name(status));
        return;
    }
    uint32_t id = 0;
    if (m->body_len >= 4)
        id = (uint32_t)m->body[0] << 24 | (uint32_t)m->body[1] << 16 | (uint32_t)m->body[2] << 8 | m->body[3];
    if (id < MAX_MSGS) {
        if (L.received[id])
            L.duplicates++;
        else
            L.received_unique++;
        L.received[id] = 1;
    }
    keel_client_ack(ch, m->delivery_tag, false); /* a stale ack after a reconnect is refused: redelivered */
}

/* Every 2 ms: 4 persistent messages, about 2000 a second. */
static void load_tick(uv_timer_t *t)
{
    if (L.stopping)
        return;
    keel_amqp_properties_t props = {.flags = KEEL_AMQP_PROP_DELIVERY_MODE, .delivery_mode = 2};
    for (int i = 0; i < 4 && L.next_id < MAX_MSGS; i++) {
        uint32_t id = L.next_id;
        uint8_t body[64] = {(uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
        ctxs[id].id = id;
        keel_client_publish_t p = {.routing_key = LOAD_QUEUE, .props = &props, .body = body, .body_len = sizeof(body)};
        int rc = keel_client_publish(L.pch, &p, load_confirm_cb, &ctxs[id]);
        if (rc == 0) {
            L.next_id++;
            L.published++;
        } else {
            L.refused++; /* told at once: the caller knows */
            break;
        }
    }
}

static void on_usr1(uv_signal_t *s, int signum)
{
    L.stopping = true;
    uv_signal_stop(s);
}

static keel_client_t *load_client(const char *who)
{
    keel_client_opts_t o;
    keel_client_host_t h;
    opts_for(&o, &h, port);
    o.retry_interval_ms = 100;
    o.retry_backoff_ms = 100;
    o.retry_interval_max_ms = 400;
    o.heartbeat = 10;
    o.on_event = event_cb;
    o.event_data = (void *)who;
    keel_client_t *c = NULL;
    if (keel_client_new(&c, &loop, &o) != 0)
        return NULL;
    res_t r = {0};
    keel_client_connect(c, client_cb, &r);
    if (!run_until(&r.done, 15000) || r.status != 0)
        return NULL;
    return c;
}

static int run_load(void)
{
    L.acked = calloc(MAX_MSGS, 1);
    L.received = calloc(MAX_MSGS, 1);
    ctxs = calloc(MAX_MSGS, sizeof(*ctxs));
    L.pub = load_client("pub");
    L.con = load_client("con");
    if (L.pub == NULL || L.con == NULL) {
        printf("SUMMARY: load failed to connect\n");
        return 1;
    }
    L.pch = channel(L.pub);
    L.cch = channel(L.con);
    res_t r;
    keel_client_queue_t q = {.name = LOAD_QUEUE, .durable = true};
    if (L.pch == NULL || L.cch == NULL || declare(L.pch, &q, &r) != 0 || declare(L.cch, &q, &r) != 0) {
        printf("SUMMARY: load failed to declare\n");
        return 1;
    }
    keel_client_confirm_select(L.pch, NULL, NULL);
    keel_client_qos(L.cch, 500, false, NULL, NULL);
    keel_client_consume_t co = {.queue = LOAD_QUEUE, .tag = "keel-load-consumer"};
    keel_client_consume(L.cch, &co, load_deliver_cb, NULL, NULL, NULL);
    printf("READY t=%.1f\n", now_ms());
    fflush(stdout);
    uv_signal_init(&loop, &L.sig);
    uv_signal_start(&L.sig, on_usr1, SIGUSR1);
    uv_timer_init(&loop, &L.timer);
    uv_timer_start(&L.timer, load_tick, 2, 2);
    run_until(&L.stopping, 600000);
    uv_timer_stop(&L.timer);
    printf("STOPPING t=%.1f\n", now_ms());
    fflush(stdout);
    /* every publish gets its answer, well within the bound */
    run_until_n(&L.answered, L.published, 30000);
    /* every acked message reaches the consumer */
    int acked = L.cf.acked;
    for (int i = 0; i < 3000 && L.received_unique < acked; i++) {
        run_for(10);
        int missing = 0;
        for (uint32_t id = 0; id < L.next_id; id++)
            missing += L.acked[id] && !L.received[id];
        if (missing == 0)
            break;
    }
    int missing = 0;
    for (uint32_t id = 0; id < L.next_id; id++)
        missing += L.acked[id] && !L.received[id];
    int unanswered = L.published - L.answered;
    uv_close((uv_handle_t *)&L.timer, NULL);
    uv_close((uv_handle_t *)&L.sig, NULL);
    close_client(L.pub);
    close_client(L.con);
    printf("SUMMARY: published=%d acked=%d nacked=%d reset=%d other=%d refused_at_call=%d unanswered=%d "
           "received_unique=%d duplicates=%d missing_acked=%d\n",
           L.published, L.cf.acked, L.cf.nacked, L.cf.reset, L.cf.other, L.refused, unanswered, L.received_unique, L.duplicates,
           missing);
    free(L.acked);
    free(L.received);
    free(ctxs);
    return unanswered == 0 && missing == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: client_interop cases|tls|load --port P [--dead-port D] [--ca FILE]\n");
        return 2;
    }
    const char *ca = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = (uint16_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dead-port") == 0)
            dead_port = (uint16_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--ca") == 0)
            ca = argv[i + 1];
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    int rc;
    if (strcmp(argv[1], "cases") == 0)
        rc = run_cases();
    else if (strcmp(argv[1], "tls") == 0)
        rc = run_tls(ca);
    else if (strcmp(argv[1], "load") == 0)
        rc = run_load();
    else
        rc = 2;
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&loop) != 0) {
        printf("loop still has handles\n");
        rc = 1;
    }
    return rc;
}
