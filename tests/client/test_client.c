/*
 * test_client.c — src/client/client.c: connecting, what the connection
 * negotiated, failover over several hosts (in order and shuffled), the
 * backoff between rounds, max_retries, final failures (login, vhost),
 * closing at any stage, and reconnecting after keeld goes away and comes
 * back on the same port.
 */
#include "client_testlib.h"
#include "fake_server.h"

static void test_client_connects_and_reports_negotiated_values(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    tl_events_t ev = {0};
    keel_client_t *c = tl_client_connect(&loop, keel_broker_port(b), &ev);
    assert_true(keel_client_is_connected(c));
    assert_int_equal(ev.connected, 1);
    keel_client_info_t info;
    assert_int_equal(keel_client_info(c, &info), 0);
    assert_int_equal(info.host, 0);
    assert_int_equal(info.frame_max, 131072);
    assert_int_equal(info.channel_max, 2047);
    assert_int_equal(info.heartbeat, 60);
    assert_int_equal(info.connections, 1);
    assert_true(keel_amqp_str_eq(info.product, "keel"));
    assert_ptr_equal(keel_client_loop(c), &loop);
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

static void test_client_info_before_any_connection_is_enoent(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, NULL), 0);
    keel_client_info_t info;
    assert_int_equal(keel_client_info(c, &info), KEEL_ENOENT);
    assert_false(keel_client_is_connected(c));
    tl_client_close(&loop, c);
    tl_loop_close(&loop);
}

static void test_client_new_rejects_bad_options(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_client_opts_t o;
    keel_client_opts_init(&o);
    keel_client_host_t h = {.host = "", .port = 1};
    o.hosts = &h;
    o.n_hosts = 1;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), KEEL_EINVAL);
    assert_int_equal(keel_client_new(NULL, &loop, &o), KEEL_EINVAL);
    keel_client_opts_init(&o);
    o.ssl = true;
    o.ssl_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(keel_client_new(&c, &loop, &o), KEEL_EIO);
    tl_loop_close(&loop);
}

static void test_client_fails_over_to_the_second_host(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    keel_client_host_t hosts[2] = {{"127.0.0.1", fs_dead_port(&loop)}, {"localhost", keel_broker_port(b)}};
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t unused;
    tl_opts(&o, &unused, 0, &ev);
    o.hosts = hosts;
    o.n_hosts = 2;
    o.retry_interval_ms = 5000; /* a full round would sleep: failing over must not */
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_false(d.done);
    assert_true(tl_run_until(&loop, &d.done, 3000));
    assert_int_equal(d.status, 0);
    assert_true(uv_now(&loop) - t0 < 1000);
    assert_int_equal(ev.connect_failed, 1);
    keel_client_info_t info;
    assert_int_equal(keel_client_info(c, &info), 0);
    assert_int_equal(info.host, 1);
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

static void test_client_shuffle_tries_each_host_once_per_round(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    uint16_t dead = fs_dead_port(&loop);
    keel_client_host_t hosts[4] = {
        {"127.0.0.1", dead}, {"127.0.0.1", dead}, {"127.0.0.1", keel_broker_port(b)}, {"127.0.0.1", dead}};
    for (int round = 0; round < 8; round++) {
        tl_events_t ev = {0};
        keel_client_opts_t o;
        keel_client_host_t unused;
        tl_opts(&o, &unused, 0, &ev);
        o.hosts = hosts;
        o.n_hosts = 4;
        o.failover = KEEL_CLIENT_FAILOVER_SHUFFLE;
        o.retry_interval_ms = 5000;
        keel_client_t *c = NULL;
        assert_int_equal(keel_client_new(&c, &loop, &o), 0);
        tl_done_t d = {0};
        assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
        assert_true(tl_run_until(&loop, &d.done, 3000));
        assert_int_equal(d.status, 0);
        /* the live host is found within the first round: at most 3 dead ones first */
        assert_true(ev.connect_failed <= 3);
        keel_client_info_t info;
        assert_int_equal(keel_client_info(c, &info), 0);
        assert_int_equal(info.host, 2);
        tl_client_close(&loop, c);
    }
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

static void test_client_backs_off_between_rounds_and_gives_up(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uint16_t dead = fs_dead_port(&loop);
    keel_client_host_t hosts[2] = {{"127.0.0.1", dead}, {"127.0.0.1", dead}};
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t unused;
    tl_opts(&o, &unused, 0, &ev);
    o.hosts = hosts;
    o.n_hosts = 2;
    o.retry_interval_ms = 100;
    o.retry_backoff_ms = 100;
    o.retry_interval_max_ms = 150;
    o.max_retries = 6;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 5000));
    uint64_t elapsed = uv_now(&loop) - t0;
    /* rounds of two attempts; sleeps of 100 then 150 (capped) between them */
    assert_int_equal(d.status, KEEL_ECONNREFUSED);
    assert_int_equal(ev.connect_failed, 6);
    assert_int_equal(ev.failed, 1);
    assert_int_equal(ev.last_status, KEEL_ECONNREFUSED);
    assert_true(elapsed >= 240);
    assert_true(elapsed < 2000);
    /* a failed client refuses work with its failure */
    keel_client_channel_t *ch;
    assert_int_equal(keel_client_channel_open(c, &ch, NULL, NULL), KEEL_ECONNREFUSED);
    tl_client_close(&loop, c);
    tl_loop_close(&loop);
}

static void test_client_refused_login_is_final(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, keel_broker_port(b), &ev);
    o.password = "wrong";
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    keel_client_channel_t *ch;
    tl_done_t opened = {0};
    assert_int_equal(keel_client_channel_open(c, &ch, tl_channel_cb, &opened), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 3000));
    assert_int_equal(d.status, KEEL_EACCES);
    assert_int_equal(ev.failed, 1);
    assert_int_equal(ev.connect_failed, 0);
    assert_non_null(strstr(ev.last_text, "ACCESS_REFUSED"));
    /* channels waiting for the connection learn it will not come */
    assert_true(opened.done);
    assert_int_equal(opened.status, KEEL_EACCES);
    tl_done_t closed = {0};
    assert_int_equal(keel_client_channel_close(ch, tl_channel_cb, &closed), 0);
    assert_true(tl_run_until(&loop, &closed.done, 1000));
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

static void test_client_unknown_vhost_is_final(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, keel_broker_port(b), &ev);
    o.vhost = "/nowhere";
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 3000));
    assert_int_equal(d.status, KEEL_EACCES);
    assert_int_equal(ev.failed, 1);
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

static void test_client_connect_timeout_moves_to_the_next_host(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_SILENT);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    keel_client_host_t hosts[2] = {{"127.0.0.1", fs.port}, {"127.0.0.1", keel_broker_port(b)}};
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t unused;
    tl_opts(&o, &unused, 0, &ev);
    o.hosts = hosts;
    o.n_hosts = 2;
    o.connect_timeout_ms = 200;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 3000));
    assert_int_equal(d.status, 0);
    assert_int_equal(fs.accepted, 1);
    assert_int_equal(ev.connect_failed, 1);
    assert_int_equal(ev.last_status, 0); /* the last event was CONNECTED */
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_client_close_before_connected_cancels_connect(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_SILENT);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, fs.port, &ev);
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    keel_client_channel_t *ch;
    tl_done_t opened = {0};
    assert_int_equal(keel_client_channel_open(c, &ch, tl_channel_cb, &opened), 0);
    tl_run_for(&loop, 50);
    assert_false(d.done);
    tl_done_t closed = {0};
    assert_int_equal(keel_client_close(c, tl_client_cb, &closed), 0);
    assert_int_equal(keel_client_close(c, tl_client_cb, &closed), KEEL_EBUSY);
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), KEEL_ECANCELED);
    assert_false(d.done);
    assert_true(tl_run_until(&loop, &closed.done, 3000));
    assert_true(d.done);
    assert_int_equal(d.status, KEEL_ECANCELED);
    assert_int_equal(opened.status, KEEL_ECANCELED);
    keel_client_free(c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_client_close_without_connect(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, NULL), 0);
    tl_client_close(&loop, c);
    keel_client_free(NULL);
    tl_loop_close(&loop);
}

static void test_client_reconnects_when_keeld_returns(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    uint16_t port = keel_broker_port(b);
    tl_events_t ev = {0};
    keel_client_t *c = tl_client_connect(&loop, port, &ev);
    keel_client_channel_t *ch = tl_channel(&loop, c);
    tl_broker_stop(&loop, b);
    assert_true(tl_run_until_count(&loop, &ev.disconnected, 1, 3000));
    assert_false(keel_client_is_connected(c));
    assert_false(keel_client_channel_is_ready(ch));
    tl_run_for(&loop, 200); /* a few refused attempts */
    assert_true(ev.connect_failed >= 1);
    b = tl_broker_start(&loop, port);
    assert_non_null(b);
    uv_update_time(&loop);
    uint64_t back = uv_now(&loop);
    assert_true(tl_run_until_count(&loop, &ev.reconnected, 1, 3000));
    /* retry_interval_max_ms is 100 in these tests */
    assert_true(uv_now(&loop) - back < 500);
    assert_true(keel_client_is_connected(c));
    assert_true(keel_client_channel_is_ready(ch));
    keel_client_info_t info;
    assert_int_equal(keel_client_info(c, &info), 0);
    assert_int_equal(info.connections, 2);
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

int main(void)
{
    tl_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_connects_and_reports_negotiated_values),
        cmocka_unit_test(test_client_info_before_any_connection_is_enoent),
        cmocka_unit_test(test_client_new_rejects_bad_options),
        cmocka_unit_test(test_client_fails_over_to_the_second_host),
        cmocka_unit_test(test_client_shuffle_tries_each_host_once_per_round),
        cmocka_unit_test(test_client_backs_off_between_rounds_and_gives_up),
        cmocka_unit_test(test_client_refused_login_is_final),
        cmocka_unit_test(test_client_unknown_vhost_is_final),
        cmocka_unit_test(test_client_connect_timeout_moves_to_the_next_host),
        cmocka_unit_test(test_client_close_before_connected_cancels_connect),
        cmocka_unit_test(test_client_close_without_connect),
        cmocka_unit_test(test_client_reconnects_when_keeld_returns),
    };
    return cmocka_run_group_tests_name("client/client.c", tests, NULL, NULL);
}
