/*
 * The examples of docs/messaging.md, compiled and run: a server and a
 * client (echo, a remote ValueError, a fanout cast), the orderly shutdown,
 * and a notifier with a filtered pool listener. If the doc's API drifts,
 * this stops compiling.
 */
#include "fixture.h"

/* cmocka's fail() macro would shadow the doc's method named fail; this file needs neither. */
#undef fail

/* ---- docs: "A server and a client" ---- */

static void echo(keel_messaging_request_t *req, void *data)
{
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_arg(req, "value")));
}

static void fail(keel_messaging_request_t *req, void *data)
{
    keel_messaging_request_fail(req, "ValueError", NULL, "%s", json_string_value(keel_messaging_request_arg(req, "message")));
}

static const keel_messaging_method_t methods[] = {
    {.name = "echo", .fn = echo},
    {.name = "fail", .fn = fail},
    {0},
};

static const keel_messaging_endpoint_t endpoint = {.target = {.version = "1.3"}, .methods = methods};

static char printed[4][128];
static int nprinted;

static void on_reply(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error, void *data)
{
    char *line = printed[nprinted++];
    if (status == 0)
        snprintf(line, 128, "echo returned %lld", json_integer_value(result));
    else if (status == KEEL_MESSAGING_EREMOTE)
        snprintf(line, 128, "remote %s.%s: %s", error->exc_module, error->exc_class, error->message);
    else
        snprintf(line, 128, "call failed: %s", keel_messaging_strerror(status));
}

/* ---- docs: "Shutting down" ---- */

static bool closed;

static void on_closed(keel_messaging_transport_t *t, void *data)
{
    closed = true;
}

static void on_wait(keel_messaging_rpc_server_t *s, int status, void *data)
{
    keel_messaging_rpc_server_free(s);
    keel_messaging_transport_close(data, on_closed, NULL);
}

static void test_example_server_and_client(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    keel_messaging_transport_t *t;
    assert_int_equal(keel_messaging_transport_new(&t, &loop, NULL, &(keel_messaging_transport_opts_t){.url = "fake://"}), 0);

    keel_messaging_rpc_server_t *server;
    keel_messaging_target_t server_target = {.topic = "compute", .server = "host1"};
    assert_int_equal(keel_messaging_rpc_server_new(&server, t, &server_target, &endpoint, 1,
                                                   &(keel_messaging_rpc_server_opts_t){.executor = KEEL_MESSAGING_EXECUTOR_LOOP}),
                     0);
    assert_int_equal(keel_messaging_rpc_server_start(server), 0);

    keel_messaging_rpc_client_t *client;
    keel_messaging_target_t target = {.topic = "compute", .version = "1.2"};
    assert_int_equal(keel_messaging_rpc_client_new(&client, t, &target, NULL), 0);
    json_t *ctxt = json_pack("{s:s}", "request_id", "req-123");
    keel_messaging_rpc_call(client, ctxt, "echo", json_pack("{s:i}", "value", 42), on_reply, NULL);
    keel_messaging_rpc_call(client, ctxt, "fail", json_pack("{s:s}", "message", "boom"), on_reply, NULL);
    json_decref(ctxt);

    keel_messaging_rpc_client_t *everyone;
    keel_messaging_rpc_client_prepare(client, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_FANOUT, .fanout = true},
                                      &everyone);
    keel_messaging_rpc_cast(everyone, NULL, "echo", json_pack("{s:i}", "value", 1), NULL, NULL);
    keel_messaging_rpc_client_free(everyone);

    bool two = false;
    while (!two && uv_run(&loop, UV_RUN_ONCE))
        two = nprinted == 2;
    assert_string_equal(printed[0], "echo returned 42");
    assert_string_equal(printed[1], "remote builtins.ValueError: boom");
    keel_messaging_rpc_client_free(client);

    keel_messaging_rpc_server_stop(server);
    keel_messaging_rpc_server_wait(server, on_wait, t);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- docs: "Notifications" ---- */

static int heard;

static keel_messaging_notification_result_t on_info(const keel_messaging_notification_t *n, void *data)
{
    assert_string_equal(n->event_type, "compute.instance.create.end");
    assert_string_equal(n->publisher_id, "compute.host1");
    assert_string_equal(json_string_value(json_object_get(n->payload, "state")), "active");
    heard++;
    return KEEL_MESSAGING_HANDLED;
}

static const char *const context_rules[] = {"project_id", "p1", NULL};
static const keel_messaging_filter_t only_instances = {
    .event_type = "compute\\.instance\\..*",
    .context = context_rules,
};
static const keel_messaging_notification_endpoint_t listener_ep = {
    .on = {[KEEL_MESSAGING_INFO] = on_info},
    .filter = &only_instances,
};

static void on_listener_wait(keel_messaging_listener_t *l, int status, void *data)
{
    *(bool *)data = true;
}

static void test_example_notifier_and_listener(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_transport_t *t = f.t;

    keel_messaging_listener_t *l;
    keel_messaging_target_t targets[] = {{.topic = "notifications"}};
    assert_int_equal(keel_messaging_listener_new(&l, t, targets, 1, &listener_ep, 1,
                                                 &(keel_messaging_listener_opts_t){.pool = "billing", .allow_requeue = true}),
                     0);
    assert_int_equal(keel_messaging_listener_start(l), 0);

    keel_messaging_notifier_t *n;
    assert_int_equal(keel_messaging_notifier_new(&n, t,
                                                 &(keel_messaging_notifier_opts_t){.publisher_id = "compute.host1",
                                                                                   .drivers = (const char *[]){"messagingv2", NULL},
                                                                                   .retry = KEEL_MESSAGING_RETRY_CONF}),
                     0);
    json_t *ctxt = json_pack("{s:s,s:s}", "request_id", "req-1", "project_id", "p1");
    keel_messaging_notify(n, ctxt, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_pack("{s:s}", "state", "active"), NULL,
                          NULL);
    json_decref(ctxt);
    /* Filtered out: another project. */
    ctxt = json_pack("{s:s}", "project_id", "p2");
    keel_messaging_notify(n, ctxt, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_pack("{s:s}", "state", "active"), NULL,
                          NULL);
    json_decref(ctxt);
    fx_idle(&f, 30);
    assert_int_equal(heard, 1);
    keel_messaging_notifier_free(n);

    bool waited = false;
    keel_messaging_listener_stop(l);
    keel_messaging_listener_wait(l, on_listener_wait, &waited);
    fx_wait(&f, &waited, 2000);
    assert_int_equal(keel_messaging_listener_free(l), 0);
    fx_finish(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_server_and_client),
        cmocka_unit_test(test_example_notifier_and_listener),
    };
    return cmocka_run_group_tests_name("messaging/example.c", tests, NULL, NULL);
}
