/*
 * test_oom.c — the client when an allocation fails, libuv's
 * test-loop-oom.c way: run a whole session (new, connect, open a channel,
 * declare an exchange and a server-named queue, bind, qos, consume,
 * confirm.select, publish, receive, cancel, close) with the Nth allocation
 * of the client's thread failing, for N = 1, 2, ... until a run sees no
 * failure. keeld runs on a thread and loop of its own, so its allocations
 * never fail. Every run must end cleanly: a call that failed returned
 * KEEL_ENOMEM and is retried, every callback ran exactly once, the client
 * closes, the loop closes with no handle left, and (under ASan) nothing
 * leaks.
 */
#include <pthread.h>

#include "client_testlib.h"

/* ---- the failing allocator ---- */

static pthread_t main_thread;
static long alloc_count;
static long fail_at;         /* 0: never */
static long fail_window = 1; /* allocations fail_at .. fail_at + fail_window - 1 fail */
static int failures;

static bool counting; /* count the main thread's allocations without failing them */
static long counted;

static bool should_fail(void)
{
    if (counting && pthread_equal(pthread_self(), main_thread))
        counted++;
    if (!pthread_equal(pthread_self(), main_thread) || fail_at == 0)
        return false;
    ++alloc_count;
    if (alloc_count >= fail_at && alloc_count < fail_at + fail_window) {
        failures++;
        return true;
    }
    return false;
}

static void *t_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

static void *t_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

static void *t_calloc(size_t a, size_t b)
{
    return should_fail() ? NULL : calloc(a, b);
}

/* ---- keeld on its own thread ---- */

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    uv_sem_t ready;
    keel_broker_t *broker;
    uint16_t port;
    uv_thread_t thread;
} broker_thread_t;

static void bt_stop(uv_async_t *a)
{
    broker_thread_t *bt = a->data;
    keel_broker_close(bt->broker, NULL, NULL);
    uv_close((uv_handle_t *)&bt->stop, NULL);
}

static void bt_main(void *arg)
{
    broker_thread_t *bt = arg;
    uv_loop_init(&bt->loop);
    keel_broker_opts_t o;
    keel_broker_opts_init(&o);
    o.port = 0;
    keel_broker_new(&bt->broker, &bt->loop, &o);
    keel_broker_listen(bt->broker);
    bt->port = keel_broker_port(bt->broker);
    uv_async_init(&bt->loop, &bt->stop, bt_stop);
    bt->stop.data = bt;
    uv_sem_post(&bt->ready);
    uv_run(&bt->loop, UV_RUN_DEFAULT);
    keel_broker_free(bt->broker);
    uv_loop_close(&bt->loop);
}

static void bt_start(broker_thread_t *bt)
{
    uv_sem_init(&bt->ready, 0);
    uv_thread_create(&bt->thread, bt_main, bt);
    uv_sem_wait(&bt->ready);
}

static void bt_join(broker_thread_t *bt)
{
    uv_async_send(&bt->stop);
    uv_thread_join(&bt->thread);
    uv_sem_destroy(&bt->ready);
}

/* ---- one session ---- */

/* Calls expr again while it fails with KEEL_ENOMEM (once is enough: one failure per run). */
#define RETRY(expr)                                                                                                                \
    ({                                                                                                                             \
        int rc_;                                                                                                                   \
        while ((rc_ = (expr)) == KEEL_ENOMEM)                                                                                      \
            ;                                                                                                                      \
        rc_;                                                                                                                       \
    })

typedef struct {
    int connect_calls, open_calls, close_calls;
    int deliveries, finals;
} counts_t;

static void s_connect_cb(keel_client_t *c, int status, void *data)
{
    ((counts_t *)data)->connect_calls++;
}

static void s_close_cb(keel_client_t *c, int status, void *data)
{
    ((counts_t *)data)->close_calls++;
}

static void s_open_cb(keel_client_channel_t *ch, int status, void *data)
{
    ((counts_t *)data)->open_calls++;
}

static void s_deliver(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    counts_t *k = data;
    if (status != 0) {
        k->finals++;
        return;
    }
    k->deliveries++;
    keel_client_ack(ch, m->delivery_tag, false); /* may fail on a lost connection: redelivered then */
}

static int lost_runs; /* sessions where a failure cost the connection */

static void session(uv_loop_t *loop, uint16_t port)
{
    counts_t k = {0};
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, port, &ev);
    o.retry_interval_ms = o.retry_backoff_ms = o.retry_interval_max_ms = 5;
    keel_client_t *c = NULL;
    if (keel_client_new(&c, loop, &o) != 0)
        return; /* nothing was made */
    keel_client_channel_t *ch = NULL;
    assert_int_equal(RETRY(keel_client_channel_open(c, &ch, s_open_cb, &k)), 0);
    assert_int_equal(RETRY(keel_client_connect(c, s_connect_cb, &k)), 0);

    tl_op_t xd = {0}, qd = {0}, bind = {0}, qos = {0}, sel = {0}, cancel = {0};
    keel_client_exchange_t x = {.name = "oom.x", .type = "direct"};
    assert_int_equal(RETRY(keel_client_exchange_declare(ch, &x, tl_op_cb, &xd)), 0);
    keel_client_queue_t q = {.name = "oom.q", .auto_delete = true};
    assert_int_equal(RETRY(keel_client_queue_declare(ch, &q, tl_queue_cb, &qd)), 0);
    assert_int_equal(RETRY(keel_client_queue_bind(ch, "oom.q", "oom.x", "k", (keel_amqp_table_t){0}, tl_op_cb, &bind)), 0);
    assert_int_equal(RETRY(keel_client_qos(ch, 10, false, tl_op_cb, &qos)), 0);
    keel_client_consumer_t *cons = NULL;
    keel_client_consume_t co = {.queue = "oom.q"};
    assert_int_equal(RETRY(keel_client_consume(ch, &co, s_deliver, NULL, &k, &cons)), 0);
    assert_int_equal(RETRY(keel_client_confirm_select(ch, tl_op_cb, &sel)), 0);
    tl_confirms_t t = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(RETRY(tl_publish(ch, "oom.x", "k", "payload", false, tl_confirm_cb, &t)), 0);
    /* everything answers, or the connection dropped and the client came back */
    for (int i = 0; i < 300 && (tl_confirmed(&t) < 3 || k.deliveries < 3); i++)
        tl_run_for(loop, 5);
    assert_int_equal(k.connect_calls, 1);
    assert_int_equal(k.open_calls, 1);
    assert_int_equal(xd.calls, 1);
    assert_int_equal(qd.calls, 1);
    assert_int_equal(bind.calls, 1);
    assert_int_equal(qos.calls, 1);
    assert_int_equal(sel.calls, 1);
    assert_int_equal(tl_confirmed(&t), 3);
    assert_true(k.deliveries >= 1 || t.acked < 3);
    if (k.finals == 0) {
        int rc = RETRY(keel_client_cancel(cons, tl_op_cb, &cancel));
        assert_true(rc == 0 || rc == KEEL_EPIPE);
        if (rc == 0)
            assert_true(tl_run_until_count(loop, &cancel.calls, 1, 2000));
    }
    assert_int_equal(keel_client_close(c, s_close_cb, &k), 0);
    assert_true(tl_run_until_count(loop, &k.close_calls, 1, 3000));
    assert_int_equal(k.finals, 1);
    if (ev.disconnected + ev.connect_failed > 0)
        lost_runs++;
    keel_client_free(c);
}

static void run_sessions(long window)
{
    fail_window = window;
    lost_runs = 0;
    broker_thread_t bt;
    bt_start(&bt);
    int clean_runs = 0;
    long n;
    for (n = 1; n < 5000; n++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        alloc_count = 0;
        failures = 0;
        fail_at = n;
        session(&loop, bt.port);
        fail_at = 0;
        tl_loop_close(&loop);
        if (failures == 0 && ++clean_runs == 2)
            break; /* past the last allocation of a session, twice */
    }
    print_message("client sessions with allocations n..n+%ld failing, n = 1..%ld: all clean, %d reconnected\n", window - 1, n - 2,
                  lost_runs);
    assert_true(n > 20);
    bt_join(&bt);
}

static void test_oom_every_allocation_of_a_session_may_fail(void **state)
{
    run_sessions(1);
}

static void test_oom_three_failures_in_a_row_are_survived(void **state)
{
    run_sessions(3);
}

typedef struct {
    int received, confirmed;
} steady_t;

static void steady_deliver(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    if (status == 0) {
        ((steady_t *)data)->received++;
        keel_client_ack(ch, m->delivery_tag, false);
    }
}

static void steady_confirm(keel_client_channel_t *ch, int status, void *data)
{
    ((steady_t *)data)->confirmed++;
}

/* One round: n confirmed publishes of 1 KiB, all consumed and acked. */
static void steady_round(uv_loop_t *loop, keel_client_channel_t *ch, steady_t *st, int n)
{
    static uint8_t body[1024];
    int want_r = st->received + n, want_c = st->confirmed + n;
    for (int i = 0; i < n; i++) {
        keel_client_publish_t p = {.routing_key = "steady", .body = body, .body_len = sizeof(body)};
        assert_int_equal(keel_client_publish(ch, &p, steady_confirm, st), 0);
        if (i % 100 == 99)
            uv_run(loop, UV_RUN_NOWAIT);
    }
    assert_true(tl_run_until_count(loop, &st->received, want_r, 10000));
    assert_true(tl_run_until_count(loop, &st->confirmed, want_c, 10000));
}

static void test_oom_steady_publish_and_consume_allocate_nothing(void **state)
{
    broker_thread_t bt;
    bt_start(&bt);
    uv_loop_t loop;
    uv_loop_init(&loop);
    tl_events_t ev = {0};
    keel_client_t *c = tl_client_connect(&loop, bt.port, &ev);
    keel_client_channel_t *ch = tl_channel(&loop, c);
    keel_client_queue_t q = {.name = "steady", .auto_delete = true};
    assert_int_equal(keel_client_queue_declare(ch, &q, NULL, NULL), 0);
    assert_int_equal(keel_client_confirm_select(ch, NULL, NULL), 0);
    steady_t st = {0};
    keel_client_consume_t co = {.queue = "steady"};
    assert_int_equal(keel_client_consume(ch, &co, steady_deliver, NULL, &st, NULL), 0);
    for (int i = 0; i < 3; i++)
        steady_round(&loop, ch, &st, 2000); /* buffers and rings reach their size */
    counted = 0;
    counting = true;
    steady_round(&loop, ch, &st, 2000);
    counting = false;
    print_message("client allocations for 2000 confirmed publishes and deliveries: %ld\n", counted);
    assert_int_equal(counted, 0);
    tl_client_close(&loop, c);
    tl_loop_close(&loop);
    bt_join(&bt);
}

int main(void)
{
    main_thread = pthread_self();
    keel_replace_allocator(t_malloc, t_realloc, t_calloc, free);
    tl_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_every_allocation_of_a_session_may_fail),
        cmocka_unit_test(test_oom_three_failures_in_a_row_are_survived),
        cmocka_unit_test(test_oom_steady_publish_and_consume_allocate_nothing),
    };
    return cmocka_run_group_tests_name("client/oom", tests, NULL, NULL);
}
