/*
 * rabbit_topology — builds everything the rabbit:// driver declares, for
 * tests/messaging/rabbit_topology.py, which reads it back from RabbitMQ
 * (rabbitmqctl list_queues, list_exchanges, list_bindings) and compares it
 * with spec §4.
 *
 *   rabbit_topology URL TOPIC NOTIFY_TOPIC POOL
 *
 * An RPC server on TOPIC (server "srv1"), one call to it (so the reply
 * queue exists), a notification listener on NOTIFY_TOPIC for info and
 * error, another with pool POOL for every priority, and one notification
 * at priority warn with no listener for it (the notifier declares N.P
 * itself). Prints "ready" once all of that answered, then waits for its
 * standard input to close and shuts down cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keel/messaging.h"

static uv_loop_t loop;
static bool called, notified, got_info, got_pool, stdin_closed;

static void m_echo(keel_messaging_request_t *req, void *data)
{
    (void)data;
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_args(req)));
}

static const keel_messaging_method_t methods[] = {{.name = "echo", .fn = m_echo}, {0}};

static keel_messaging_notification_result_t on_plain(const keel_messaging_notification_t *n, void *data)
{
    (void)n;
    (void)data;
    got_info = true;
    return KEEL_MESSAGING_HANDLED;
}

static keel_messaging_notification_result_t on_pool(const keel_messaging_notification_t *n, void *data)
{
    (void)n;
    (void)data;
    got_pool = true;
    return KEEL_MESSAGING_HANDLED;
}

static void on_call(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error, void *data)
{
    (void)c;
    (void)result;
    (void)error;
    (void)data;
    called = called || status == 0;
}

static void on_notified(keel_messaging_notifier_t *n, int status, void *data)
{
    (void)n;
    (void)data;
    notified = status == 0;
}

static void on_stdin(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    char buf[64];
    if (read(0, buf, sizeof(buf)) <= 0) {
        stdin_closed = true;
        uv_poll_stop(p);
    }
}

static void on_wakeup(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag or ms pass; a timer wakes it up, or an idle loop would block. */
static bool run_until(const bool *flag, int ms)
{
    uv_timer_t wakeup;
    uv_timer_init(&loop, &wakeup);
    uv_timer_start(&wakeup, on_wakeup, 10, 10);
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!*flag && uv_hrtime() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wakeup, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return *flag;
}

static void on_waited_server(keel_messaging_rpc_server_t *s, int status, void *data)
{
    (void)s;
    (void)status;
    *(bool *)data = true;
}

static void on_waited_listener(keel_messaging_listener_t *l, int status, void *data)
{
    (void)l;
    (void)status;
    *(bool *)data = true;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: rabbit_topology URL TOPIC NOTIFY_TOPIC POOL\n");
        return 2;
    }
    uv_loop_init(&loop);
    keel_messaging_transport_t *t, *nt;
    if (keel_messaging_transport_new(&t, &loop, NULL, &(keel_messaging_transport_opts_t){.url = argv[1]}) != 0 ||
        keel_messaging_transport_new(&nt, &loop, NULL, &(keel_messaging_transport_opts_t){.url = argv[1], .notifications = true}) != 0)
        return 2;
    keel_messaging_endpoint_t ep = {.methods = methods};
    keel_messaging_target_t st = {.topic = argv[2], .server = "srv1"};
    keel_messaging_rpc_server_t *server;
    keel_messaging_rpc_server_opts_t so = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    if (keel_messaging_rpc_server_new(&server, t, &st, &ep, 1, &so) != 0 || keel_messaging_rpc_server_start(server) != 0)
        return 2;
    keel_messaging_notification_endpoint_t plain = {0}, pooled = {0};
    plain.on[KEEL_MESSAGING_INFO] = on_plain;
    plain.on[KEEL_MESSAGING_ERROR] = on_plain;
    for (int p = 0; p < KEEL_MESSAGING_PRIORITY_COUNT; p++)
        pooled.on[p] = on_pool;
    keel_messaging_target_t ntg = {.topic = argv[3]};
    keel_messaging_listener_t *l1, *l2;
    keel_messaging_listener_opts_t lo = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    keel_messaging_listener_opts_t lpo = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .pool = argv[4]};
    if (keel_messaging_listener_new(&l1, nt, &ntg, 1, &plain, 1, &lo) != 0 || keel_messaging_listener_start(l1) != 0 ||
        keel_messaging_listener_new(&l2, nt, &ntg, 1, &pooled, 1, &lpo) != 0 || keel_messaging_listener_start(l2) != 0)
        return 2;
    keel_messaging_target_t ct = {.topic = argv[2]};
    keel_messaging_rpc_client_t *c;
    keel_messaging_rpc_client_opts_t co = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    co.timeout = 1;
    if (keel_messaging_rpc_client_new(&c, t, &ct, &co) != 0)
        return 2;
    for (int i = 0; i < 20 && !called; i++) {
        keel_messaging_rpc_call(c, NULL, "echo", NULL, on_call, NULL);
        run_until(&called, 1100);
    }
    keel_messaging_notifier_t *n;
    static const char *const drivers[] = {"messagingv2", NULL};
    const char *topics[] = {argv[3], NULL};
    keel_messaging_notifier_opts_t no = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    no.drivers = drivers;
    no.topics = topics;
    no.publisher_id = "topology";
    if (keel_messaging_notifier_new(&n, nt, &no) != 0)
        return 2;
    keel_messaging_notify(n, NULL, KEEL_MESSAGING_WARN, "nobody.listens", json_object(), on_notified, NULL);
    for (int i = 0; i < 20 && !(got_info && got_pool); i++) {
        keel_messaging_notify(n, NULL, KEEL_MESSAGING_INFO, "probe", json_object(), NULL, NULL);
        bool done = false;
        run_until(&done, 200);
    }
    run_until(&notified, 3000);
    if (!(called && notified && got_info && got_pool)) {
        fprintf(stderr, "not ready: call %d notify %d info %d pool %d\n", called, notified, got_info, got_pool);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    uv_poll_t in;
    uv_poll_init(&loop, &in, 0);
    uv_poll_start(&in, UV_READABLE, on_stdin);
    run_until(&stdin_closed, 60000);
    uv_close((uv_handle_t *)&in, NULL);
    keel_messaging_notifier_free(n);
    keel_messaging_rpc_client_free(c);
    bool w1 = false, w2 = false, w3 = false;
    keel_messaging_rpc_server_stop(server);
    keel_messaging_rpc_server_wait(server, on_waited_server, &w1);
    keel_messaging_listener_stop(l1);
    keel_messaging_listener_wait(l1, on_waited_listener, &w2);
    keel_messaging_listener_stop(l2);
    keel_messaging_listener_wait(l2, on_waited_listener, &w3);
    run_until(&w1, 5000);
    run_until(&w2, 5000);
    run_until(&w3, 5000);
    keel_messaging_rpc_server_free(server);
    keel_messaging_listener_free(l1);
    keel_messaging_listener_free(l2);
    keel_messaging_transport_close(t, NULL, NULL);
    keel_messaging_transport_close(nt, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
