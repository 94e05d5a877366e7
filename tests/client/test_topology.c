/*
 * test_topology.c — src/client/topology.c: what the client records and
 * how it puts it back. keeld keeps nothing across a restart here (no data
 * directory), so everything the new broker has after the reconnect was
 * re-declared by the client: exchanges, queues, bindings, consumers under
 * their tags, qos and confirm mode; server-named queues under a new name;
 * deletes and unbinds forgotten; a record the new broker refuses reported
 * and dropped. Also what happens to publishes around the restart.
 */
#include "client_testlib.h"

typedef struct {
    uv_loop_t loop;
    keel_broker_t *broker;
    uint16_t port;
    tl_events_t ev;
    keel_client_t *c;
    keel_client_channel_t *ch;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    f->broker = tl_broker_start(&f->loop, 0);
    f->port = keel_broker_port(f->broker);
    f->c = tl_client_connect(&f->loop, f->port, &f->ev);
    f->ch = tl_channel(&f->loop, f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->c)
        tl_client_close(&f->loop, f->c);
    tl_broker_stop(&f->loop, f->broker);
    f->broker = NULL;
    tl_loop_close(&f->loop);
    free(f);
    return 0;
}

/* Stops keeld, waits for the client to notice, starts a new one on the same port. */
static void restart(fx_t *f)
{
    int before = f->ev.disconnected;
    tl_broker_stop(&f->loop, f->broker);
    f->broker = NULL;
    assert_true(tl_run_until_count(&f->loop, &f->ev.disconnected, before + 1, 3000));
    tl_run_for(&f->loop, 50);
    f->broker = tl_broker_start(&f->loop, f->port);
    assert_non_null(f->broker);
}

static void wait_reconnected(fx_t *f, int n)
{
    assert_true(tl_run_until_count(&f->loop, &f->ev.reconnected, n, 3000));
}

static int op_status(fx_t *f, int rc, tl_op_t *op)
{
    assert_int_equal(rc, 0);
    return tl_wait_op(&f->loop, op);
}

static int passive_queue(fx_t *f, const char *name, uint32_t *count)
{
    tl_op_t op = {0};
    keel_client_queue_t q = {.name = name, .passive = true};
    int st = op_status(f, keel_client_queue_declare(f->ch, &q, tl_queue_cb, &op), &op);
    if (count)
        *count = op.count;
    return st;
}

static void test_topology_is_redeclared_after_restart(void **state)
{
    fx_t *f = *state;
    tl_op_t op = {0};
    keel_client_exchange_t x = {.name = "svc", .type = "topic", .durable = true};
    assert_int_equal(op_status(f, keel_client_exchange_declare(f->ch, &x, tl_op_cb, &op), &op), 0);
    keel_client_exchange_t fan = {.name = "fan", .type = "fanout"};
    assert_int_equal(keel_client_exchange_declare(f->ch, &fan, NULL, NULL), 0);
    keel_buf_t tb;
    keel_buf_init(&tb);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &tb);
    keel_amqp_build_int(&b, "x-message-ttl", 60000);
    keel_amqp_table_t args;
    assert_int_equal(keel_amqp_builder_finish(&b, &args), 0);
    keel_client_queue_t q = {.name = "svc.work", .durable = true, .arguments = args};
    op = (tl_op_t){0};
    assert_int_equal(op_status(f, keel_client_queue_declare(f->ch, &q, tl_queue_cb, &op), &op), 0);
    keel_buf_free(&tb);
    assert_int_equal(keel_client_exchange_bind(f->ch, "svc", "fan", "", (keel_amqp_table_t){0}, NULL, NULL), 0);
    op = (tl_op_t){0};
    assert_int_equal(
        op_status(f, keel_client_queue_bind(f->ch, "svc.work", "svc", "work.#", (keel_amqp_table_t){0}, tl_op_cb, &op), &op), 0);
    op = (tl_op_t){0};
    assert_int_equal(op_status(f, keel_client_qos(f->ch, 5, false, tl_op_cb, &op), &op), 0);
    assert_int_equal(keel_client_confirm_select(f->ch, NULL, NULL), 0);
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "svc.work", .tag = "worker-1"};
    assert_int_equal(keel_client_consume(f->ch, &co, tl_deliver_cb, tl_consume_ok_cb, &cons, NULL), 0);
    tl_confirms_t t = {0};
    assert_int_equal(tl_publish(f->ch, "fan", "work.a", "before", false, tl_confirm_cb, &t), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 1, 3000));

    restart(f);
    wait_reconnected(f, 1);
    assert_int_equal(f->ev.recovery_failed, 0);
    assert_int_equal(cons.final_calls, 0);
    assert_int_equal(cons.ok_calls, 1); /* consume-ok once, not again on recovery */
    /* the new broker routes fan -> svc -> svc.work to the same consumer tag */
    assert_int_equal(tl_publish(f->ch, "fan", "work.b", "after", false, tl_confirm_cb, &t), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 2, 3000));
    assert_memory_equal(cons.msgs[1]->body, "after", 5);
    assert_true(keel_amqp_str_eq(cons.msgs[1]->consumer_tag, "worker-1"));
    /* delivery tags keep increasing across the reconnect, and acks of new ones work */
    assert_true(cons.msgs[1]->delivery_tag > cons.msgs[0]->delivery_tag);
    for (int i = 0; i < 100 && t.acked < 2; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(t.acked, 2); /* confirm mode came back too */
    keel_buf_t out;
    keel_buf_init(&out);
    assert_int_equal(keel_broker_list(f->broker, KEEL_BROKER_LIST_QUEUES, "/", &out), 0);
    assert_non_null(strstr(out.base, "svc.work"));
    keel_buf_reset(&out);
    assert_int_equal(keel_broker_list(f->broker, KEEL_BROKER_LIST_CONSUMERS, "/", &out), 0);
    assert_non_null(strstr(out.base, "worker-1"));
    keel_buf_free(&out);
    tl_consumer_free(&cons);
}

static void test_topology_server_named_queue_is_renamed(void **state)
{
    fx_t *f = *state;
    keel_client_exchange_t x = {.name = "replies", .type = "direct"};
    assert_int_equal(keel_client_exchange_declare(f->ch, &x, NULL, NULL), 0);
    tl_op_t op = {0};
    keel_client_queue_t q = {.exclusive = true, .auto_delete = true};
    assert_int_equal(op_status(f, keel_client_queue_declare(f->ch, &q, tl_queue_cb, &op), &op), 0);
    char old[256];
    snprintf(old, sizeof(old), "%s", op.name);
    op = (tl_op_t){0};
    assert_int_equal(op_status(f, keel_client_queue_bind(f->ch, old, "replies", "me", (keel_amqp_table_t){0}, tl_op_cb, &op), &op),
                     0);
    tl_consumer_t cons = {0};
    keel_client_consume_t co = {.queue = old, .no_ack = true};
    assert_int_equal(keel_client_consume(f->ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    restart(f);
    wait_reconnected(f, 1);
    assert_int_equal(f->ev.renamed, 1);
    assert_string_equal(f->ev.renamed_from, old);
    assert_memory_equal(f->ev.renamed_to, "amq.gen-", 8);
    assert_string_not_equal(f->ev.renamed_to, old);
    assert_int_equal(tl_publish(f->ch, "replies", "me", "found you", false, NULL, NULL), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 1, 3000));
    assert_memory_equal(cons.msgs[0]->body, "found you", 9);
    tl_consumer_free(&cons);
}

static void test_topology_forgets_deleted_and_unbound(void **state)
{
    fx_t *f = *state;
    keel_client_queue_t q = {.name = "gone"};
    assert_int_equal(keel_client_queue_declare(f->ch, &q, NULL, NULL), 0);
    q.name = "stays";
    assert_int_equal(keel_client_queue_declare(f->ch, &q, NULL, NULL), 0);
    keel_client_exchange_t x = {.name = "ex", .type = "direct"};
    assert_int_equal(keel_client_exchange_declare(f->ch, &x, NULL, NULL), 0);
    assert_int_equal(keel_client_queue_bind(f->ch, "stays", "ex", "k1", (keel_amqp_table_t){0}, NULL, NULL), 0);
    assert_int_equal(keel_client_queue_bind(f->ch, "stays", "ex", "k2", (keel_amqp_table_t){0}, NULL, NULL), 0);
    assert_int_equal(keel_client_queue_unbind(f->ch, "stays", "ex", "k1", (keel_amqp_table_t){0}, NULL, NULL), 0);
    tl_op_t op = {0};
    assert_int_equal(op_status(f, keel_client_queue_delete(f->ch, "gone", false, false, tl_op_cb, &op), &op), 0);
    restart(f);
    wait_reconnected(f, 1);
    assert_int_equal(passive_queue(f, "gone", NULL), KEEL_ENOENT);
    assert_int_equal(passive_queue(f, "stays", NULL), 0);
    assert_int_equal(tl_publish(f->ch, "ex", "k1", "unbound", false, NULL, NULL), 0);
    assert_int_equal(tl_publish(f->ch, "ex", "k2", "bound", false, NULL, NULL), 0);
    uint32_t n = 0;
    assert_int_equal(passive_queue(f, "stays", &n), 0);
    assert_int_equal(n, 1);
}

static void test_topology_auto_delete_queue_forgotten_with_last_consumer(void **state)
{
    fx_t *f = *state;
    keel_client_queue_t q = {.name = "temp", .auto_delete = true};
    assert_int_equal(keel_client_queue_declare(f->ch, &q, NULL, NULL), 0);
    tl_consumer_t cons = {0};
    keel_client_consume_t co = {.queue = "temp"};
    keel_client_consumer_t *h;
    assert_int_equal(keel_client_consume(f->ch, &co, tl_deliver_cb, tl_consume_ok_cb, &cons, &h), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.ok_calls, 1, 3000));
    tl_op_t op = {0};
    assert_int_equal(op_status(f, keel_client_cancel(h, tl_op_cb, &op), &op), 0);
    restart(f);
    wait_reconnected(f, 1);
    assert_int_equal(passive_queue(f, "temp", NULL), KEEL_ENOENT);
}

static void test_topology_refused_record_is_reported_and_dropped(void **state)
{
    fx_t *f = *state;
    /* our own client, sleeping a whole second between rounds of attempts */
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, f->port, &ev);
    o.retry_interval_ms = o.retry_interval_max_ms = 1000;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &f->loop, &o), 0);
    keel_client_channel_t *ch;
    assert_int_equal(keel_client_channel_open(c, &ch, NULL, NULL), 0);
    keel_client_queue_t q = {.name = "first"};
    assert_int_equal(keel_client_queue_declare(ch, &q, NULL, NULL), 0);
    q.name = "clash";
    assert_int_equal(keel_client_queue_declare(ch, &q, NULL, NULL), 0);
    q.name = "last";
    tl_op_t op = {0};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(keel_client_connect(c, NULL, NULL), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);

    /* the broker goes; the fixture's client and ours both notice */
    tl_broker_stop(&f->loop, f->broker);
    f->broker = NULL;
    assert_true(tl_run_until_count(&f->loop, &ev.disconnected, 1, 3000));
    f->broker = tl_broker_start(&f->loop, f->port);
    /* while ours sleeps, the fixture's client declares "clash" differently */
    keel_client_queue_t durable = {.name = "clash", .durable = true};
    tl_op_t od = {0};
    assert_int_equal(keel_client_queue_declare(f->ch, &durable, tl_queue_cb, &od), 0);
    assert_int_equal(tl_wait_op(&f->loop, &od), 0);
    assert_int_equal(ev.reconnected, 0);
    assert_true(tl_run_until_count(&f->loop, &ev.reconnected, 1, 3000));
    assert_int_equal(ev.recovery_failed, 1);
    /* the other two came back, and the refused one is no longer recorded */
    assert_int_equal(passive_queue(f, "first", NULL), 0);
    assert_int_equal(passive_queue(f, "last", NULL), 0);
    tl_client_close(&f->loop, c);
}

static void test_topology_unconfirmed_publishes_fail_at_loss(void **state)
{
    fx_t *f = *state;
    keel_client_queue_t q = {.name = "loss"};
    assert_int_equal(keel_client_queue_declare(f->ch, &q, NULL, NULL), 0);
    assert_int_equal(keel_client_confirm_select(f->ch, NULL, NULL), 0);
    tl_confirms_t t = {0};
    int n = 2000;
    /* some go out and are confirmed, the rest are still in flight when the broker goes */
    for (int i = 0; i < n / 2; i++)
        assert_int_equal(tl_publish(f->ch, "", "loss", "m", false, tl_confirm_cb, &t), 0);
    assert_true(tl_run_until_count(&f->loop, &t.acked, 1, 3000));
    for (int i = n / 2; i < n; i++)
        assert_int_equal(tl_publish(f->ch, "", "loss", "m", false, tl_confirm_cb, &t), 0);
    tl_broker_stop(&f->loop, f->broker);
    f->broker = NULL;
    assert_true(tl_run_until_count(&f->loop, &f->ev.disconnected, 1, 3000));
    /* every publish has its answer: none is silently dropped */
    assert_int_equal(tl_confirmed(&t), n);
    assert_int_equal(t.acked + t.reset, n);
    assert_true(t.reset > 0);
    f->broker = tl_broker_start(&f->loop, f->port);
    wait_reconnected(f, 1);
}

static void test_topology_offline_publishes_are_queued_and_sent(void **state)
{
    fx_t *f = *state;
    keel_client_queue_t q = {.name = "offline"};
    assert_int_equal(keel_client_queue_declare(f->ch, &q, NULL, NULL), 0);
    assert_int_equal(keel_client_confirm_select(f->ch, NULL, NULL), 0);
    tl_run_for(&f->loop, 20);
    tl_broker_stop(&f->loop, f->broker);
    f->broker = NULL;
    assert_true(tl_run_until_count(&f->loop, &f->ev.disconnected, 1, 3000));
    tl_confirms_t t = {0};
    for (int i = 0; i < 10; i++)
        assert_int_equal(tl_publish(f->ch, "", "offline", "later", false, tl_confirm_cb, &t), 0);
    assert_int_equal(keel_client_unconfirmed(f->ch), 10);
    tl_run_for(&f->loop, 100);
    assert_int_equal(tl_confirmed(&t), 0);
    f->broker = tl_broker_start(&f->loop, f->port);
    wait_reconnected(f, 1);
    for (int i = 0; i < 100 && t.acked < 10; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(t.acked, 10);
    uint32_t n = 0;
    assert_int_equal(passive_queue(f, "offline", &n), 0);
    assert_int_equal(n, 10);
}

static void test_topology_offline_queue_is_bounded(void **state)
{
    fx_t *f = *state;
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, f->port, &ev);
    o.offline_queue_max = 4096;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &f->loop, &o), 0);
    keel_client_channel_t *ch;
    assert_int_equal(keel_client_channel_open(c, &ch, NULL, NULL), 0);
    char body[1000];
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    int ok = 0, rc;
    while ((rc = tl_publish(ch, "", "x", body, false, NULL, NULL)) == 0)
        ok++;
    assert_int_equal(rc, KEEL_EAGAIN);
    assert_true(ok >= 2 && ok <= 4);
    tl_client_close(&f->loop, c);
    /* and with offline_publish = FAIL, nothing is queued at all */
    o.offline_publish = KEEL_CLIENT_OFFLINE_FAIL;
    assert_int_equal(keel_client_new(&c, &f->loop, &o), 0);
    assert_int_equal(keel_client_channel_open(c, &ch, NULL, NULL), 0);
    assert_int_equal(tl_publish(ch, "", "x", "now or never", false, NULL, NULL), KEEL_ECONNRESET);
    tl_client_close(&f->loop, c);
}

static void test_topology_stale_ack_is_refused_not_sent(void **state)
{
    fx_t *f = *state;
    keel_client_queue_t q = {.name = "acks"};
    assert_int_equal(keel_client_queue_declare(f->ch, &q, NULL, NULL), 0);
    tl_consumer_t cons = {0};
    keel_client_consume_t co = {.queue = "acks"};
    assert_int_equal(keel_client_consume(f->ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    assert_int_equal(tl_publish(f->ch, "", "acks", "one", false, NULL, NULL), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 1, 3000));
    uint64_t old = cons.msgs[0]->delivery_tag;
    restart(f);
    assert_int_equal(keel_client_ack(f->ch, old, false), KEEL_ECONNRESET); /* disconnected */
    wait_reconnected(f, 1);
    assert_int_equal(keel_client_ack(f->ch, old, false), KEEL_ECONNRESET); /* from the old connection */
    assert_int_equal(tl_publish(f->ch, "", "acks", "two", false, NULL, NULL), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 2, 3000));
    assert_int_equal(keel_client_ack(f->ch, cons.msgs[1]->delivery_tag, false), 0);
    /* the channel is still fine: no 406 for an unknown tag came back */
    tl_run_for(&f->loop, 50);
    assert_true(keel_client_channel_is_ready(f->ch));
    assert_int_equal(passive_queue(f, "acks", NULL), 0);
    tl_consumer_free(&cons);
}

static void test_topology_survives_several_restarts(void **state)
{
    fx_t *f = *state;
    keel_client_queue_t q = {.name = "again"};
    tl_op_t op = {0};
    assert_int_equal(op_status(f, keel_client_queue_declare(f->ch, &q, tl_queue_cb, &op), &op), 0);
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "again"};
    assert_int_equal(keel_client_consume(f->ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    for (int i = 1; i <= 4; i++) {
        restart(f);
        wait_reconnected(f, i);
        assert_int_equal(tl_publish(f->ch, "", "again", "hello", false, NULL, NULL), 0);
        assert_true(tl_run_until_count(&f->loop, &cons.count, i, 3000));
    }
    assert_int_equal(cons.final_calls, 0);
    tl_consumer_free(&cons);
}

int main(void)
{
    tl_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topology_is_redeclared_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_server_named_queue_is_renamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_forgets_deleted_and_unbound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_auto_delete_queue_forgotten_with_last_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_refused_record_is_reported_and_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_unconfirmed_publishes_fail_at_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_offline_publishes_are_queued_and_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_offline_queue_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_stale_ack_is_refused_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_survives_several_restarts, setup, teardown),
    };
    return cmocka_run_group_tests_name("client/topology.c", tests, NULL, NULL);
}
