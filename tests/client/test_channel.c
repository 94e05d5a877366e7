/*
 * test_channel.c — src/client/channel.c and ops.c against an in-process
 * keeld on the same loop: declarations, publish and consume, confirms,
 * nacks, returns, basic.get, large messages, channel exceptions and the
 * channel re-opening itself, operations queued before the connection.
 */
#include "client_testlib.h"

typedef struct {
    uv_loop_t loop;
    keel_broker_t *broker;
    uint16_t port;
    tl_events_t ev;
    keel_client_t *c;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    tl_quiet();
    f->broker = tl_broker_start(&f->loop, 0);
    f->port = keel_broker_port(f->broker);
    f->c = tl_client_connect(&f->loop, f->port, &f->ev);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->c)
        tl_client_close(&f->loop, f->c);
    tl_broker_stop(&f->loop, f->broker);
    tl_loop_close(&f->loop);
    free(f);
    return 0;
}

static void declare_queue(fx_t *f, keel_client_channel_t *ch, const char *name, keel_amqp_table_t args)
{
    tl_op_t op = {0};
    keel_client_queue_t q = {.name = name, .arguments = args};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    assert_string_equal(op.name, name);
}

static void test_channel_publish_consume_round_trip(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    declare_queue(f, ch, "rt", (keel_amqp_table_t){0});
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "rt"};
    keel_client_consumer_t *handle = NULL;
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, tl_consume_ok_cb, &cons, &handle), 0);
    assert_non_null(handle);
    assert_memory_equal(keel_client_consumer_tag(handle), "keel.ctag-", 10);

    keel_amqp_properties_t props = {.flags =
                                        KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_CORRELATION_ID | KEEL_AMQP_PROP_DELIVERY_MODE,
                                    .content_type = KEEL_AMQP_STR("application/json"),
                                    .correlation_id = KEEL_AMQP_STR("c-1"),
                                    .delivery_mode = 2};
    for (int i = 0; i < 3; i++) {
        char body[32];
        snprintf(body, sizeof(body), "{\"n\": %d}", i);
        keel_client_publish_t p = {.routing_key = "rt", .props = &props, .body = body, .body_len = strlen(body)};
        assert_int_equal(keel_client_publish(ch, &p, NULL, NULL), 0);
    }
    assert_true(tl_run_until_count(&f->loop, &cons.count, 3, 5000));
    assert_int_equal(cons.ok_calls, 1);
    assert_int_equal(cons.ok_status, 0);
    for (int i = 0; i < 3; i++) {
        char body[32];
        snprintf(body, sizeof(body), "{\"n\": %d}", i);
        keel_client_message_t *m = cons.msgs[i];
        assert_int_equal(m->body_len, strlen(body));
        assert_memory_equal(m->body, body, m->body_len);
        assert_true(keel_amqp_str_eq(m->routing_key, "rt"));
        assert_true(keel_amqp_str_eq(m->exchange, ""));
        assert_true(keel_amqp_str_eq(m->props.content_type, "application/json"));
        assert_true(keel_amqp_str_eq(m->props.correlation_id, "c-1"));
        assert_int_equal(m->props.delivery_mode, 2);
        assert_int_equal(m->delivery_tag, (uint64_t)i + 1);
        assert_false(m->redelivered);
    }
    /* cancel: the final call comes, then cancel's own callback */
    tl_op_t cancel = {0};
    assert_int_equal(keel_client_cancel(handle, tl_op_cb, &cancel), 0);
    assert_int_equal(keel_client_cancel(handle, tl_op_cb, &cancel), KEEL_EPIPE);
    assert_int_equal(tl_wait_op(&f->loop, &cancel), 0);
    assert_int_equal(cons.final_calls, 1);
    assert_int_equal(cons.final_status, KEEL_ECANCELED);
    tl_consumer_free(&cons);
}

static void test_channel_server_named_queue_returns_its_name(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    tl_op_t op = {0};
    keel_client_queue_t q = {.exclusive = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    assert_memory_equal(op.name, "amq.gen-", 8);
}

static void test_channel_confirms_ack_every_publish(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    declare_queue(f, ch, "conf", (keel_amqp_table_t){0});
    /* without confirm mode a confirm callback is refused */
    tl_confirms_t t = {0};
    assert_int_equal(tl_publish(ch, "", "conf", "x", false, tl_confirm_cb, &t), KEEL_EINVAL);
    tl_op_t sel = {0};
    assert_int_equal(keel_client_confirm_select(ch, tl_op_cb, &sel), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(tl_publish(ch, "", "conf", "payload", false, tl_confirm_cb, &t), 0);
    assert_int_equal(keel_client_unconfirmed(ch), 500);
    for (int i = 0; i < 200 && tl_confirmed(&t) < 500; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(sel.calls, 1);
    assert_int_equal(sel.status, 0);
    assert_int_equal(t.acked, 500);
    assert_int_equal(tl_confirmed(&t), 500);
    assert_int_equal(keel_client_unconfirmed(ch), 0);
    tl_op_t op = {0};
    keel_client_queue_t q = {.name = "conf", .passive = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    assert_int_equal(op.count, 500);
}

static void test_channel_nack_on_reject_publish_overflow(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    keel_buf_t tb;
    keel_buf_init(&tb);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &tb);
    keel_amqp_build_int(&b, "x-max-length", 2);
    keel_amqp_build_str(&b, "x-overflow", "reject-publish");
    keel_amqp_table_t args;
    assert_int_equal(keel_amqp_builder_finish(&b, &args), 0);
    declare_queue(f, ch, "bounded", args);
    keel_buf_free(&tb);
    assert_int_equal(keel_client_confirm_select(ch, NULL, NULL), 0);
    tl_confirms_t t = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(tl_publish(ch, "", "bounded", "m", false, tl_confirm_cb, &t), 0);
    for (int i = 0; i < 200 && tl_confirmed(&t) < 5; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(t.acked, 2);
    assert_int_equal(t.nacked, 3);
}

typedef struct {
    int count;
    uint16_t code;
    char text[64];
    char body[64];
} returns_t;

static void on_return(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    returns_t *r = data;
    r->count++;
    r->code = m->reply_code;
    snprintf(r->text, sizeof(r->text), "%.*s", (int)m->reply_text.len, m->reply_text.base);
    snprintf(r->body, sizeof(r->body), "%.*s", (int)m->body_len, (const char *)m->body);
}

static void test_channel_mandatory_unroutable_comes_back(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    returns_t r = {0};
    keel_client_channel_on_return(ch, on_return, &r);
    assert_int_equal(keel_client_confirm_select(ch, NULL, NULL), 0);
    tl_confirms_t t = {0};
    assert_int_equal(tl_publish(ch, "", "nowhere", "lost?", true, tl_confirm_cb, &t), 0);
    assert_int_equal(tl_publish(ch, "", "nowhere", "silently dropped", false, tl_confirm_cb, &t), 0);
    for (int i = 0; i < 200 && tl_confirmed(&t) < 2; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.code, KEEL_AMQP_NO_ROUTE);
    assert_string_equal(r.text, "NO_ROUTE");
    assert_string_equal(r.body, "lost?");
    /* RabbitMQ acks returned messages after the return */
    assert_int_equal(t.acked, 2);
}

typedef struct {
    int calls;
    int status;
    uint16_t code;
    uint16_t class_id, method_id;
    bool recovering;
    char text[256];
} errors_t;

static void on_error(keel_client_channel_t *ch, int status, const keel_client_error_t *err, void *data)
{
    errors_t *e = data;
    e->calls++;
    e->status = status;
    e->code = err->reply_code;
    e->class_id = err->class_id;
    e->method_id = err->method_id;
    e->recovering = err->recovering;
    snprintf(e->text, sizeof(e->text), "%.*s", (int)err->reply_text.len, err->reply_text.base);
}

static void test_channel_exception_fails_the_op_and_reopens(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    errors_t e = {0};
    keel_client_channel_on_error(ch, on_error, &e);
    declare_queue(f, ch, "kept", (keel_amqp_table_t){0});
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "kept"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);

    /* a passive declare of a missing queue, and an operation pipelined after it */
    tl_op_t missing = {0}, after = {0};
    keel_client_queue_t q = {.name = "no-such-queue", .passive = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &missing), 0);
    q = (keel_client_queue_t){.name = "after"};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &after), 0);
    assert_int_equal(tl_wait_op(&f->loop, &missing), KEEL_ENOENT);
    assert_int_equal(tl_wait_op(&f->loop, &after), KEEL_ECANCELED);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.status, KEEL_ENOENT);
    assert_int_equal(e.code, KEEL_AMQP_NOT_FOUND);
    assert_int_equal(e.class_id, 50);
    assert_int_equal(e.method_id, 10);
    assert_true(e.recovering);
    assert_non_null(strstr(e.text, "no-such-queue"));

    /* the channel comes back by itself, with its consumer */
    tl_op_t again = {0};
    q = (keel_client_queue_t){.name = "after"};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &again), 0);
    assert_int_equal(tl_wait_op(&f->loop, &again), 0);
    assert_true(keel_client_channel_is_ready(ch));
    assert_int_equal(tl_publish(ch, "", "kept", "still here", false, NULL, NULL), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 1, 5000));
    assert_memory_equal(cons.msgs[0]->body, "still here", 10);
    assert_int_equal(cons.final_calls, 0);
    tl_consumer_free(&cons);
}

static void test_channel_exception_redeclares_auto_delete_queues_of_its_consumers(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    keel_client_exchange_t x = {.name = "events", .type = "fanout"};
    assert_int_equal(keel_client_exchange_declare(ch, &x, NULL, NULL), 0);
    keel_client_queue_t q = {.name = "events.mine", .auto_delete = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, NULL, NULL), 0);
    tl_op_t op = {0};
    assert_int_equal(keel_client_queue_bind(ch, "events.mine", "events", "", (keel_amqp_table_t){0}, tl_op_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "events.mine"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    /* the exception cancels the consumer, and the server drops the queue with it */
    tl_op_t missing = {0};
    keel_client_queue_t p = {.name = "no-such-queue", .passive = true};
    assert_int_equal(keel_client_queue_declare(ch, &p, tl_queue_cb, &missing), 0);
    assert_int_equal(tl_wait_op(&f->loop, &missing), KEEL_ENOENT);
    /* keeld, as RabbitMQ, deleted it with its last consumer; the channel
     * re-declared it with its binding before re-consuming */
    tl_op_t again = {0};
    p.name = "events.mine";
    assert_int_equal(keel_client_queue_declare(ch, &p, tl_queue_cb, &again), 0);
    assert_int_equal(tl_wait_op(&f->loop, &again), 0);
    assert_int_equal(tl_publish(ch, "events", "", "still bound", false, NULL, NULL), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 1, 3000));
    tl_consumer_free(&cons);
}

typedef struct {
    int calls;
    int status;
    int publish_rc;
} retry_t;

/* Publishes from inside the failed operation's callback. */
static void publish_from_callback(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data)
{
    retry_t *r = data;
    r->calls++;
    r->status = status;
    r->publish_rc = tl_publish(ch, "", "fromcb", "sent after the re-open", false, NULL, NULL);
}

static void test_channel_work_asked_for_in_a_failure_callback_waits_for_the_reopen(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    declare_queue(f, ch, "fromcb", (keel_amqp_table_t){0});
    retry_t r = {0};
    keel_client_queue_t q = {.name = "absent", .passive = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, publish_from_callback, &r), 0);
    assert_true(tl_run_until_count(&f->loop, &r.calls, 1, 3000));
    assert_int_equal(r.status, KEEL_ENOENT);
    assert_int_equal(r.publish_rc, 0);
    tl_run_for(&f->loop, 50);
    /* no 504 came back for a frame on a closed channel: the connection is the same */
    assert_int_equal(f->ev.disconnected, 0);
    uint32_t n = 0;
    tl_op_t op = {0};
    q = (keel_client_queue_t){.name = "fromcb", .passive = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    n = op.count;
    assert_int_equal(n, 1);
}

static void test_channel_publish_to_missing_exchange_fails_its_confirm(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    errors_t e = {0};
    keel_client_channel_on_error(ch, on_error, &e);
    assert_int_equal(keel_client_confirm_select(ch, NULL, NULL), 0);
    tl_confirms_t t = {0};
    assert_int_equal(tl_publish(ch, "no-such-exchange", "k", "x", false, tl_confirm_cb, &t), 0);
    assert_true(tl_run_until_count(&f->loop, &e.calls, 1, 5000));
    assert_int_equal(e.code, KEEL_AMQP_NOT_FOUND);
    assert_int_equal(e.class_id, 60);
    assert_int_equal(e.method_id, 40);
    assert_int_equal(t.other, 1); /* KEEL_ENOENT */
    /* and publishing works again once the channel is back, still confirmed */
    declare_queue(f, ch, "afterwards", (keel_amqp_table_t){0});
    assert_int_equal(tl_publish(ch, "", "afterwards", "y", false, tl_confirm_cb, &t), 0);
    for (int i = 0; i < 200 && t.acked < 1; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(t.acked, 1);
}

typedef struct {
    int calls;
    int status;
    bool empty;
    char body[64];
    uint64_t tag;
    uint32_t left;
} get_t;

static void on_get(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    get_t *g = data;
    g->calls++;
    g->status = status;
    g->empty = m == NULL;
    if (m != NULL) {
        snprintf(g->body, sizeof(g->body), "%.*s", (int)m->body_len, (const char *)m->body);
        g->tag = m->delivery_tag;
        g->left = m->message_count;
    }
}

static void test_channel_get_returns_message_or_empty(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    declare_queue(f, ch, "getq", (keel_amqp_table_t){0});
    get_t g = {0};
    assert_int_equal(keel_client_get(ch, "getq", false, on_get, &g), 0);
    assert_true(tl_run_until_count(&f->loop, &g.calls, 1, 5000));
    assert_int_equal(g.status, 0);
    assert_true(g.empty);
    assert_int_equal(tl_publish(ch, "", "getq", "one", false, NULL, NULL), 0);
    assert_int_equal(tl_publish(ch, "", "getq", "two", false, NULL, NULL), 0);
    g = (get_t){0};
    assert_int_equal(keel_client_get(ch, "getq", false, on_get, &g), 0);
    assert_true(tl_run_until_count(&f->loop, &g.calls, 1, 5000));
    assert_false(g.empty);
    assert_string_equal(g.body, "one");
    assert_int_equal(g.left, 1);
    assert_int_equal(keel_client_ack(ch, g.tag, false), 0);
    assert_int_equal(keel_client_ack(ch, g.tag + 5, false), KEEL_EINVAL);
}

static void test_channel_large_message_spans_frames(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    declare_queue(f, ch, "big", (keel_amqp_table_t){0});
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "big"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    size_t n = 1000000;
    uint8_t *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 7 + i / 251);
    keel_client_publish_t p = {.routing_key = "big", .body = body, .body_len = n};
    for (int i = 0; i < 3; i++)
        assert_int_equal(keel_client_publish(ch, &p, NULL, NULL), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 3, 10000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cons.msgs[i]->body_len, n);
        assert_memory_equal(cons.msgs[i]->body, body, n);
    }
    free(body);
    tl_consumer_free(&cons);
}

static void test_channel_operations_queue_until_connected(void **state)
{
    fx_t *f = *state;
    /* a second client that has not connected yet: everything waits */
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, f->port, &ev);
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &f->loop, &o), 0);
    keel_client_channel_t *ch = NULL;
    tl_done_t opened = {0};
    assert_int_equal(keel_client_channel_open(c, &ch, tl_channel_cb, &opened), 0);
    tl_op_t xd = {0}, qd = {0}, bind = {0}, qos = {0};
    keel_client_exchange_t x = {.name = "early.x", .type = "topic"};
    assert_int_equal(keel_client_exchange_declare(ch, &x, tl_op_cb, &xd), 0);
    keel_client_queue_t q = {.name = "early.q"};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &qd), 0);
    assert_int_equal(keel_client_queue_bind(ch, "early.q", "early.x", "a.*", (keel_amqp_table_t){0}, tl_op_cb, &bind), 0);
    assert_int_equal(keel_client_qos(ch, 10, false, tl_op_cb, &qos), 0);
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "early.q", .tag = "early-consumer"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, tl_consume_ok_cb, &cons, NULL), 0);
    assert_int_equal(keel_client_confirm_select(ch, NULL, NULL), 0);
    tl_confirms_t t = {0};
    assert_int_equal(tl_publish(ch, "early.x", "a.b", "queued", false, tl_confirm_cb, &t), 0);
    tl_run_for(&f->loop, 20);
    assert_int_equal(xd.calls + qd.calls + bind.calls + cons.count, 0);
    assert_false(opened.done);

    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), KEEL_EBUSY);
    assert_true(tl_run_until(&f->loop, &d.done, 5000));
    assert_true(tl_run_until_count(&f->loop, &cons.count, 1, 5000));
    assert_true(opened.done);
    assert_int_equal(opened.status, 0);
    assert_int_equal(xd.status, 0);
    assert_int_equal(qd.status, 0);
    assert_int_equal(bind.status, 0);
    assert_int_equal(qos.status, 0);
    assert_int_equal(cons.ok_calls, 1);
    assert_memory_equal(cons.msgs[0]->body, "queued", 6);
    assert_true(keel_amqp_str_eq(cons.msgs[0]->consumer_tag, "early-consumer"));
    for (int i = 0; i < 100 && t.acked < 1; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(t.acked, 1);
    assert_int_equal(ev.connected, 1);
    tl_client_close(&f->loop, c);
    /* closing the client ended the consumer */
    assert_int_equal(cons.final_calls, 1);
    assert_int_equal(cons.final_status, KEEL_ECANCELED);
    tl_consumer_free(&cons);
}

static void test_channel_close_runs_callbacks_and_frees_number(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    uint16_t id = keel_client_channel_id(ch);
    declare_queue(f, ch, "closing", (keel_amqp_table_t){0});
    tl_consumer_t cons = {0};
    keel_client_consume_t co = {.queue = "closing"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    tl_done_t closed = {0};
    assert_int_equal(keel_client_channel_close(ch, tl_channel_cb, &closed), 0);
    assert_int_equal(keel_client_channel_close(ch, tl_channel_cb, &closed), KEEL_EPIPE);
    assert_int_equal(tl_publish(ch, "", "closing", "x", false, NULL, NULL), KEEL_EPIPE);
    assert_false(closed.done); /* never from inside the call */
    assert_true(tl_run_until(&f->loop, &closed.done, 5000));
    assert_int_equal(closed.status, 0);
    assert_int_equal(cons.final_calls, 1);
    assert_int_equal(cons.final_status, KEEL_ECANCELED);
    keel_client_channel_t *again = tl_channel(&f->loop, f->c);
    assert_int_equal(keel_client_channel_id(again), id);
    tl_consumer_free(&cons);
}

static void test_channel_bindings_route_and_unbind(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    tl_op_t op = {0};
    keel_client_exchange_t up = {.name = "up", .type = "fanout"}, down = {.name = "down", .type = "topic"};
    assert_int_equal(keel_client_exchange_declare(ch, &up, NULL, NULL), 0);
    assert_int_equal(keel_client_exchange_declare(ch, &down, NULL, NULL), 0);
    declare_queue(f, ch, "leaf", (keel_amqp_table_t){0});
    assert_int_equal(keel_client_exchange_bind(ch, "down", "up", "", (keel_amqp_table_t){0}, NULL, NULL), 0);
    assert_int_equal(keel_client_queue_bind(ch, "leaf", "down", "a.#", (keel_amqp_table_t){0}, tl_op_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    assert_int_equal(tl_publish(ch, "up", "a.b.c", "routed", false, NULL, NULL), 0);
    op = (tl_op_t){0};
    assert_int_equal(keel_client_queue_unbind(ch, "leaf", "down", "a.#", (keel_amqp_table_t){0}, tl_op_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    assert_int_equal(tl_publish(ch, "up", "a.b.c", "not routed", false, NULL, NULL), 0);
    op = (tl_op_t){0};
    keel_client_queue_t q = {.name = "leaf", .passive = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    assert_int_equal(op.count, 1);
    op = (tl_op_t){0};
    assert_int_equal(keel_client_exchange_delete(ch, "up", false, tl_op_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    op = (tl_op_t){0};
    assert_int_equal(keel_client_queue_delete(ch, "leaf", false, false, tl_op_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
}

static void test_channel_rejects_bad_arguments(void **state)
{
    fx_t *f = *state;
    keel_client_channel_t *ch = tl_channel(&f->loop, f->c);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    keel_client_queue_t q = {.name = longname};
    assert_int_equal(keel_client_queue_declare(ch, &q, NULL, NULL), KEEL_EINVAL);
    keel_client_consume_t co = {.queue = "x"};
    assert_int_equal(keel_client_consume(ch, &co, NULL, NULL, NULL, NULL), KEEL_EINVAL);
    assert_int_equal(keel_client_get(ch, "x", false, NULL, NULL), KEEL_EINVAL);
    assert_int_equal(keel_client_ack(ch, 0, false), KEEL_EINVAL);
    assert_int_equal(keel_client_ack(ch, 1, false), KEEL_EINVAL); /* nothing delivered yet */
    co.tag = "dup";
    tl_consumer_t a = {0};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &a, NULL), 0);
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &a, NULL), KEEL_EEXIST);
    /* the consume fails on the server (no queue "x"): final call with KEEL_ENOENT */
    assert_true(tl_run_until_count(&f->loop, &a.final_calls, 1, 5000));
    assert_int_equal(a.final_status, KEEL_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_channel_publish_consume_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_server_named_queue_returns_its_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_confirms_ack_every_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_nack_on_reject_publish_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_mandatory_unroutable_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_exception_fails_the_op_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_exception_redeclares_auto_delete_queues_of_its_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_work_asked_for_in_a_failure_callback_waits_for_the_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_publish_to_missing_exchange_fails_its_confirm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_get_returns_message_or_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_large_message_spans_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_operations_queue_until_connected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_close_runs_callbacks_and_frees_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_bindings_route_and_unbind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_rejects_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests_name("client/channel.c", tests, NULL, NULL);
}
