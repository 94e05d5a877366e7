/*
 * test_conn.c — src/client/conn.c against scripted servers: heartbeats
 * sent when idle and a silent peer declared dead after two intervals,
 * connection.blocked and unblocked, a server answering with another
 * protocol, a server closing with 320 (reconnect) or 403 (final), the
 * close handshake, and a host name resolved through getaddrinfo.
 */
#include "client_testlib.h"
#include "fake_server.h"

static keel_client_t *client_to(uv_loop_t *loop, uint16_t port, tl_events_t *ev, keel_client_opts_t *out_opts)
{
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, port, ev);
    if (out_opts)
        *out_opts = o;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, loop, &o), 0);
    return c;
}

static void test_conn_silent_peer_is_dead_after_two_heartbeats(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_HANDSHAKE);
    fs.heartbeat = 1;
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    assert_int_equal(d.status, 0);
    keel_client_info_t info;
    assert_int_equal(keel_client_info(c, &info), 0);
    assert_int_equal(info.heartbeat, 1); /* the smaller of 60 and 1 */
    assert_int_equal(info.frame_max, 8192);
    assert_int_equal(info.channel_max, 100);
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    assert_true(tl_run_until_count(&loop, &ev.disconnected, 1, 4000));
    uint64_t took = uv_now(&loop) - t0;
    assert_int_equal(ev.last_status, KEEL_ETIMEDOUT);
    assert_true(took >= 1900 && took <= 4000);
    /* meanwhile the client kept the connection alive from its side */
    assert_true(fs.heartbeats_in >= 2);
    /* and it connects again (the fake server accepts again) */
    assert_true(tl_run_until_count(&loop, &ev.reconnected, 1, 2000));
    assert_int_equal(fs.accepted, 2);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_heartbeats_keep_a_live_peer(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_HANDSHAKE);
    fs.heartbeat = 1;
    fs.send_heartbeats = true;
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    tl_run_for(&loop, 3500);
    assert_int_equal(ev.disconnected, 0);
    assert_true(fs.heartbeats_in >= 5);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_heartbeat_zero_turns_them_off(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_HANDSHAKE);
    fs.heartbeat = 1;
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, fs.port, &ev);
    o.heartbeat = 0;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    keel_client_info_t info;
    assert_int_equal(keel_client_info(c, &info), 0);
    assert_int_equal(info.heartbeat, 0);
    tl_run_for(&loop, 2500);
    assert_int_equal(ev.disconnected, 0);
    assert_int_equal(fs.heartbeats_in, 0);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_blocked_and_unblocked_are_reported(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_BLOCKING);
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    assert_int_equal(keel_client_connect(c, NULL, NULL), 0);
    assert_true(tl_run_until_count(&loop, &ev.unblocked, 1, 2000));
    assert_int_equal(ev.blocked, 1);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_other_protocol_fails_the_attempt(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_WRONG_PROTO);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, fs.port, &ev);
    o.max_retries = 2;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    assert_int_equal(d.status, KEEL_EPROTO);
    assert_int_equal(ev.connect_failed, 2);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_forced_close_reconnects(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_CLOSE_320);
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    assert_int_equal(keel_client_connect(c, NULL, NULL), 0);
    assert_true(tl_run_until_count(&loop, &ev.disconnected, 2, 3000));
    assert_int_equal(ev.last_status, KEEL_ECONNRESET);
    assert_non_null(strstr(ev.last_text, "CONNECTION_FORCED"));
    assert_true(fs.accepted >= 2);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_refused_login_close_is_final(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_BAD_LOGIN);
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    assert_int_equal(d.status, KEEL_EACCES);
    tl_run_for(&loop, 100);
    assert_int_equal(fs.accepted, 1);
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_close_handshake_waits_for_close_ok(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_HANDSHAKE);
    fs.heartbeat = 0;
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    int before = fs.frames_in;
    tl_client_close(&loop, c);
    /* connection.close went out and close-ok came back (the fake answers it) */
    assert_true(fs.frames_in > before);
    assert_int_equal(ev.disconnected, 0);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_server_close_is_answered_with_close_ok(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_CLOSE_320);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, fs.port, &ev);
    o.retry_interval_ms = o.retry_interval_max_ms = 5000;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    assert_int_equal(keel_client_connect(c, NULL, NULL), 0);
    assert_true(tl_run_until_count(&loop, &fs.close_ok_in, 1, 2000));
    tl_client_close(&loop, c);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

static void test_conn_host_names_are_resolved(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, keel_broker_port(b), &ev);
    h.host = "localhost";
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 3000));
    assert_int_equal(d.status, 0);
    tl_client_close(&loop, c);
    /* a name that does not resolve fails the attempt */
    h.host = "no-such-host.invalid";
    o.max_retries = 1;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    d = (tl_done_t){0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 5000));
    assert_int_not_equal(d.status, 0);
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

static void test_conn_consume_ok_may_come_after_a_later_reply(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t fs;
    fs_start(&fs, &loop, FS_REORDER);
    fs.heartbeat = 0;
    tl_events_t ev = {0};
    keel_client_t *c = client_to(&loop, fs.port, &ev, NULL);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 2000));
    keel_client_channel_t *ch = tl_channel(&loop, c);
    tl_consumer_t cons = {0};
    keel_client_consume_t co = {.queue = "q"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, tl_consume_ok_cb, &cons, NULL), 0);
    tl_op_t sel = {0};
    assert_int_equal(keel_client_confirm_select(ch, tl_op_cb, &sel), 0);
    assert_int_equal(tl_wait_op(&loop, &sel), 0);
    assert_true(tl_run_until_count(&loop, &cons.ok_calls, 1, 2000));
    assert_int_equal(cons.ok_status, 0);
    assert_int_equal(ev.disconnected, 0);
    tl_client_close(&loop, c);
    assert_int_equal(cons.final_calls, 1);
    fs_stop(&fs);
    tl_loop_close(&loop);
}

int main(void)
{
    tl_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_silent_peer_is_dead_after_two_heartbeats),
        cmocka_unit_test(test_conn_heartbeats_keep_a_live_peer),
        cmocka_unit_test(test_conn_heartbeat_zero_turns_them_off),
        cmocka_unit_test(test_conn_blocked_and_unblocked_are_reported),
        cmocka_unit_test(test_conn_other_protocol_fails_the_attempt),
        cmocka_unit_test(test_conn_forced_close_reconnects),
        cmocka_unit_test(test_conn_refused_login_close_is_final),
        cmocka_unit_test(test_conn_close_handshake_waits_for_close_ok),
        cmocka_unit_test(test_conn_server_close_is_answered_with_close_ok),
        cmocka_unit_test(test_conn_host_names_are_resolved),
        cmocka_unit_test(test_conn_consume_ok_may_come_after_a_later_reply),
    };
    return cmocka_run_group_tests_name("client/conn.c", tests, NULL, NULL);
}
