/*
 * Tests for src/messaging/listener.c over fake://: notifications as a
 * Python notifier sends them (the spec's captured bodies, 2.0 and 1.0),
 * keel notifier to keel listener, filters with re.match semantics, REQUEUE
 * with and without allow_requeue, pools (competing consumers inside a
 * pool, a copy per pool), several targets, unknown priorities, endpoint
 * order, duplicates, the threading executor and a bad regex.
 */
#include "fixture.h"

#include "keel/log.h"

#define MAX_SEEN 16

typedef struct seen_s {
    int count;
    char event[MAX_SEEN][64];
    char publisher[MAX_SEEN][64];
    keel_messaging_priority_t prio[MAX_SEEN];
    json_t *last_payload, *last_metadata, *last_ctxt;
    int requeue_first; /* answer REQUEUE this many times */
    uv_mutex_t lock;
} seen_t;

static keel_messaging_notification_result_t record(const keel_messaging_notification_t *n, void *data)
{
    seen_t *s = data;
    uv_mutex_lock(&s->lock);
    int i = s->count++;
    if (i < MAX_SEEN) {
        snprintf(s->event[i], sizeof(s->event[i]), "%s", n->event_type ? n->event_type : "(none)");
        snprintf(s->publisher[i], sizeof(s->publisher[i]), "%s", n->publisher_id ? n->publisher_id : "(none)");
        s->prio[i] = n->priority;
    }
    json_decref(s->last_payload);
    json_decref(s->last_metadata);
    json_decref(s->last_ctxt);
    s->last_payload = json_deep_copy(n->payload);
    s->last_metadata = json_deep_copy(n->metadata);
    s->last_ctxt = json_deep_copy(n->ctxt);
    bool requeue = s->requeue_first > 0;
    if (requeue)
        s->requeue_first--;
    uv_mutex_unlock(&s->lock);
    return requeue ? KEEL_MESSAGING_REQUEUE : KEEL_MESSAGING_HANDLED;
}

static void seen_init(seen_t *s)
{
    memset(s, 0, sizeof(*s));
    uv_mutex_init(&s->lock);
}

static void seen_clear(seen_t *s)
{
    json_decref(s->last_payload);
    json_decref(s->last_metadata);
    json_decref(s->last_ctxt);
    uv_mutex_destroy(&s->lock);
}

static int seen_count(seen_t *s)
{
    uv_mutex_lock(&s->lock);
    int n = s->count;
    uv_mutex_unlock(&s->lock);
    return n;
}

static keel_messaging_listener_t *listen_on(fx_t *f, const keel_messaging_target_t *targets, size_t nt,
                                            const keel_messaging_notification_endpoint_t *eps, size_t n,
                                            const keel_messaging_listener_opts_t *o)
{
    keel_messaging_listener_t *l = NULL;
    keel_messaging_listener_opts_t dflt = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    assert_int_equal(keel_messaging_listener_new(&l, f->t, targets, nt, eps, n, o ? o : &dflt), 0);
    assert_int_equal(keel_messaging_listener_start(l), 0);
    return l;
}

static void on_wait(keel_messaging_listener_t *l, int status, void *data)
{
    *(bool *)data = true;
}

static void listen_stop(fx_t *f, keel_messaging_listener_t *l)
{
    bool waited = false;
    keel_messaging_listener_stop(l);
    assert_int_equal(keel_messaging_listener_wait(l, on_wait, &waited), 0);
    assert_int_equal(keel_messaging_listener_free(l), KEEL_EBUSY);
    fx_wait(f, &waited, 5000);
    assert_int_equal(keel_messaging_listener_free(l), 0);
}

/* spec Appendix A.10 and A.11: what Python's Notifier published, byte for byte. */
static const char py_v2[] =
    "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"message_id\\\": \\\"1ab8f7c3-bfbc-48e1-b5a1-4a341807afba\\\", "
    "\\\"publisher_id\\\": \\\"compute.host1\\\", \\\"event_type\\\": \\\"compute.instance.create.end\\\", \\\"priority\\\": "
    "\\\"INFO\\\", \\\"payload\\\": {\\\"instance_id\\\": 12, \\\"state\\\": \\\"active\\\"}, \\\"timestamp\\\": \\\"2026-11-26 "
    "21:04:45.515517\\\", \\\"_unique_id\\\": \\\"d00d7b55c23e47cba92ef00f379fbd41\\\", \\\"_context_request_id\\\": "
    "\\\"req-n1\\\", \\\"_context_user\\\": \\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\"}\"}";
static const char py_v1[] =
    "{\"message_id\": \"2667fba0-82c4-470f-99f2-9c91486b146a\", \"publisher_id\": \"compute.host1\", \"event_type\": "
    "\"compute.instance.delete.end\", \"priority\": \"ERROR\", \"payload\": {\"instance_id\": 13}, \"timestamp\": \"2026-11-26 "
    "21:04:46.619193\", \"_unique_id\": \"2febb05dfe714732abe7d6b15c7c3adf\", \"_context_request_id\": \"req-n1\", "
    "\"_context_user\": \"u1\", \"_context_project_id\": \"p1\"}";

static void test_listener_reads_what_a_python_notifier_sends(void **state)
{
    fx_t f;
    fx_init(&f);
    seen_t s;
    seen_init(&s);
    keel_messaging_notification_endpoint_t ep = {.on = {[KEEL_MESSAGING_INFO] = record, [KEEL_MESSAGING_ERROR] = record},
                                                 .data = &s};
    keel_messaging_target_t tg = {.topic = "wspn"};
    keel_messaging_listener_t *l = listen_on(&f, &tg, 1, &ep, 1, NULL);
    /* It declared and bound wspn.info and wspn.error only: the priorities its endpoint has. */
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_string_equal(topo.base, "binding openstack -> wspn.error key wspn.error\n"
                                   "binding openstack -> wspn.info key wspn.info\n"
                                   "exchange openstack topic durable=0 auto_delete=0\n"
                                   "queue wspn.error durable=0 auto_delete=0 messages=0 unacked=0 consumers=1\n"
                                   "queue wspn.info durable=0 auto_delete=0 messages=0 unacked=0 consumers=1\n");
    keel_buf_free(&topo);
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "openstack", "wspn.info", py_v2, strlen(py_v2)), 0);
    fx_idle(&f, 20);
    assert_int_equal(seen_count(&s), 1);
    assert_int_equal(s.prio[0], KEEL_MESSAGING_INFO);
    assert_string_equal(s.publisher[0], "compute.host1");
    assert_string_equal(s.event[0], "compute.instance.create.end");
    assert_int_equal(json_integer_value(json_object_get(s.last_payload, "instance_id")), 12);
    assert_string_equal(json_string_value(json_object_get(s.last_metadata, "message_id")), "1ab8f7c3-bfbc-48e1-b5a1-4a341807afba");
    assert_string_equal(json_string_value(json_object_get(s.last_metadata, "timestamp")), "2026-11-26 21:04:45.515517");
    assert_string_equal(json_string_value(json_object_get(s.last_ctxt, "request_id")), "req-n1");
    assert_true(json_is_null(json_object_get(s.last_ctxt, "client_timeout")));
    /* The bare 1.0 dict, and the method is chosen by the body's priority, not the routing key. */
    assert_int_equal(keel_messaging_fake_broker_publish(f.broker, "openstack", "wspn.info", py_v1, strlen(py_v1)), 0);
    fx_idle(&f, 20);
    assert_int_equal(seen_count(&s), 2);
    assert_int_equal(s.prio[1], KEEL_MESSAGING_ERROR);
    /* Unknown priority: logged and acknowledged, no endpoint called. */
    const char *odd = "{\"priority\": \"whatever\", \"event_type\": \"x\"}";
    keel_messaging_fake_broker_publish(f.broker, "openstack", "wspn.info", odd, strlen(odd));
    /* A priority the endpoint does not implement: acknowledged too. */
    const char *warn = "{\"priority\": \"warn\", \"event_type\": \"x\"}";
    keel_messaging_fake_broker_publish(f.broker, "openstack", "wspn.error", warn, strlen(warn));
    fx_idle(&f, 20);
    assert_int_equal(seen_count(&s), 2);
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_non_null(strstr(topo.base, "queue wspn.info durable=0 auto_delete=0 messages=0 unacked=0"));
    assert_non_null(strstr(topo.base, "queue wspn.error durable=0 auto_delete=0 messages=0 unacked=0"));
    keel_buf_free(&topo);
    /* The same _unique_id again: dropped. */
    keel_messaging_fake_broker_publish(f.broker, "openstack", "wspn.info", py_v2, strlen(py_v2));
    fx_idle(&f, 20);
    assert_int_equal(seen_count(&s), 2);
    listen_stop(&f, l);
    seen_clear(&s);
    fx_finish(&f);
}

static keel_messaging_notifier_t *notifier(keel_messaging_transport_t *t, const char *const *topics)
{
    static const char *const v2[] = {"messagingv2", NULL};
    keel_messaging_notifier_opts_t o = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    o.drivers = v2;
    o.topics = topics;
    o.publisher_id = "compute.host1";
    keel_messaging_notifier_t *n = NULL;
    assert_int_equal(keel_messaging_notifier_new(&n, t, &o), 0);
    return n;
}

static void send_note(fx_t *f, keel_messaging_notifier_t *n, json_t *ctxt, keel_messaging_priority_t p, const char *event,
                      json_t *payload)
{
    assert_int_equal(keel_messaging_notify(n, ctxt, p, event, payload, NULL, NULL), 0);
    fx_idle(f, 15);
}

static void test_listener_filters_match_at_the_start_like_re_match(void **state)
{
    fx_t f;
    fx_init(&f);
    seen_t all, filtered;
    seen_init(&all);
    seen_init(&filtered);
    static const char *const ctx_rules[] = {"request_id", "req-n", NULL};
    static const char *const payload_rules[] = {"state", "act", NULL};
    static const keel_messaging_filter_t rule = {
        .publisher_id = "comp",
        .event_type = "compute\\.instance\\.create\\..*",
        .context = ctx_rules,
        .payload = payload_rules,
    };
    keel_messaging_notification_endpoint_t eps[] = {
        {.on = {[KEEL_MESSAGING_INFO] = record}, .filter = &rule, .data = &filtered},
        {.on = {[KEEL_MESSAGING_INFO] = record}, .data = &all},
    };
    keel_messaging_target_t tg = {.topic = "notifications"};
    keel_messaging_listener_t *l = listen_on(&f, &tg, 1, eps, 2, NULL);
    keel_messaging_notifier_t *n = notifier(f.t, NULL);
    json_t *ctx_ok = json_pack("{s:s}", "request_id", "req-n1"), *ctx_bad = json_pack("{s:s}", "request_id", "xreq-n1");
    send_note(&f, n, ctx_ok, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_pack("{s:s}", "state", "active"));
    send_note(&f, n, ctx_bad, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_pack("{s:s}", "state", "active"));
    send_note(&f, n, ctx_ok, KEEL_MESSAGING_INFO, "compute.instance.delete.end", json_pack("{s:s}", "state", "active"));
    send_note(&f, n, ctx_ok, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_pack("{s:s}", "state", "inactive"));
    send_note(&f, n, ctx_ok, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_pack("{s:i}", "state", 1));
    send_note(&f, n, ctx_ok, KEEL_MESSAGING_INFO, "compute.instance.create.end", json_string("not a dict"));
    assert_int_equal(seen_count(&filtered), 1);
    assert_int_equal(seen_count(&all), 6);
    json_decref(ctx_ok);
    json_decref(ctx_bad);
    keel_messaging_notifier_free(n);
    listen_stop(&f, l);
    /* A pattern PCRE2 cannot compile: refused, with the reason. */
    static const keel_messaging_filter_t broken = {.event_type = "compute.(create"};
    keel_messaging_notification_endpoint_t bad = {.on = {[KEEL_MESSAGING_INFO] = record}, .filter = &broken};
    keel_buf_t err;
    keel_buf_init(&err);
    keel_messaging_listener_opts_t o = {.error = &err};
    assert_int_equal(keel_messaging_listener_new(&l, f.t, &tg, 1, &bad, 1, &o), KEEL_EVALUE);
    assert_non_null(strstr(err.base, "filter regex 'compute.(create'"));
    keel_buf_free(&err);
    seen_clear(&all);
    seen_clear(&filtered);
    fx_finish(&f);
}

static void test_listener_requeues_only_when_allowed(void **state)
{
    fx_t f;
    fx_init(&f);
    seen_t s, after;
    seen_init(&s);
    seen_init(&after);
    s.requeue_first = 1;
    keel_messaging_notification_endpoint_t eps[] = {
        {.on = {[KEEL_MESSAGING_INFO] = record}, .data = &s},
        {.on = {[KEEL_MESSAGING_INFO] = record}, .data = &after},
    };
    keel_messaging_target_t tg = {.topic = "notifications"};
    keel_messaging_listener_opts_t o = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .allow_requeue = true};
    keel_messaging_listener_t *l = listen_on(&f, &tg, 1, eps, 2, &o);
    keel_messaging_notifier_t *n = notifier(f.t, NULL);
    send_note(&f, n, NULL, KEEL_MESSAGING_INFO, "e", NULL);
    fx_idle(&f, 20);
    /* First delivery: REQUEUE stops the walk (the second endpoint is not called) and puts it back;
       the redelivery is handled by both. */
    assert_int_equal(seen_count(&s), 2);
    assert_int_equal(seen_count(&after), 1);
    listen_stop(&f, l);

    /* get_notification_listener()'s default allow_requeue=False: REQUEUE is acknowledged all the same. */
    s.requeue_first = 1;
    o.allow_requeue = false;
    l = listen_on(&f, &tg, 1, eps, 2, &o);
    send_note(&f, n, NULL, KEEL_MESSAGING_INFO, "e", NULL);
    fx_idle(&f, 20);
    assert_int_equal(seen_count(&s), 3);
    assert_int_equal(seen_count(&after), 1);
    keel_messaging_notifier_free(n);
    listen_stop(&f, l);
    seen_clear(&s);
    seen_clear(&after);
    fx_finish(&f);
}

static void test_listener_pools_share_a_queue_and_each_pool_gets_a_copy(void **state)
{
    fx_t f;
    fx_init(&f);
    seen_t a1, a2, b, plain;
    seen_init(&a1);
    seen_init(&a2);
    seen_init(&b);
    seen_init(&plain);
    keel_messaging_target_t tg = {.topic = "notifications"};
    keel_messaging_notification_endpoint_t ea1 = {.on = {[KEEL_MESSAGING_INFO] = record}, .data = &a1};
    keel_messaging_notification_endpoint_t ea2 = {.on = {[KEEL_MESSAGING_INFO] = record}, .data = &a2};
    keel_messaging_notification_endpoint_t eb = {.on = {[KEEL_MESSAGING_INFO] = record, [KEEL_MESSAGING_ERROR] = record},
                                                 .data = &b};
    keel_messaging_notification_endpoint_t ep = {.on = {[KEEL_MESSAGING_INFO] = record}, .data = &plain};
    keel_messaging_listener_opts_t pa = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .pool = "A"};
    keel_messaging_listener_opts_t pb = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .pool = "B"};
    keel_messaging_listener_t *la1 = listen_on(&f, &tg, 1, &ea1, 1, &pa);
    keel_messaging_listener_t *la2 = listen_on(&f, &tg, 1, &ea2, 1, &pa);
    keel_messaging_listener_t *lb = listen_on(&f, &tg, 1, &eb, 1, &pb);
    keel_messaging_listener_t *lp = listen_on(&f, &tg, 1, &ep, 1, NULL);
    keel_messaging_notifier_t *n = notifier(f.t, NULL);
    for (int i = 0; i < 4; i++)
        send_note(&f, n, NULL, KEEL_MESSAGING_INFO, "e", json_integer(i));
    send_note(&f, n, NULL, KEEL_MESSAGING_ERROR, "e", NULL);
    assert_int_equal(seen_count(&a1) + seen_count(&a2), 4);
    assert_int_equal(seen_count(&a1), 2); /* competing consumers, round-robin */
    assert_int_equal(seen_count(&b), 5);
    assert_int_equal(seen_count(&plain), 4);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    /* spec §6.5: the queue is the pool's name, bound with every N.P its endpoints implement. */
    assert_non_null(strstr(topo.base, "binding openstack -> A key notifications.info\n"));
    assert_non_null(strstr(topo.base, "binding openstack -> B key notifications.error\n"));
    assert_non_null(strstr(topo.base, "binding openstack -> B key notifications.info\n"));
    assert_non_null(strstr(topo.base, "queue A durable=0 auto_delete=0 messages=0 unacked=0 consumers=2\n"));
    keel_buf_free(&topo);
    keel_messaging_notifier_free(n);
    listen_stop(&f, la1);
    listen_stop(&f, la2);
    listen_stop(&f, lb);
    listen_stop(&f, lp);
    seen_clear(&a1);
    seen_clear(&a2);
    seen_clear(&b);
    seen_clear(&plain);
    fx_finish(&f);
}

static void test_listener_several_targets_and_the_threading_executor(void **state)
{
    fx_t f;
    fx_init(&f);
    seen_t s;
    seen_init(&s);
    keel_messaging_notification_endpoint_t ep = {.on = {[KEEL_MESSAGING_AUDIT] = record}, .data = &s};
    keel_messaging_target_t tgs[] = {{.topic = "notifications"}, {.topic = "audit", .exchange = "keystone"}};
    keel_messaging_listener_opts_t o = {.executor = KEEL_MESSAGING_EXECUTOR_THREADING};
    keel_messaging_listener_t *l = listen_on(&f, tgs, 2, &ep, 1, &o);
    static const char *const topics[] = {"notifications", "audit", NULL};
    keel_messaging_notifier_t *n = notifier(f.t, topics);
    send_note(&f, n, NULL, KEEL_MESSAGING_AUDIT, "identity.authenticate", NULL);
    for (int i = 0; i < 200 && seen_count(&s) < 2; i++)
        fx_idle(&f, 5);
    /* The notifier publishes to control_exchange, but it also binds audit.audit there, and queue
       names are global: the target on exchange keystone consumes that queue and gets it too. */
    assert_int_equal(seen_count(&s), 2);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_non_null(strstr(topo.base, "binding keystone -> audit.audit key audit.audit\n"));
    assert_non_null(strstr(topo.base, "binding openstack -> audit.audit key audit.audit\n"));
    keel_buf_free(&topo);
    keel_messaging_notifier_free(n);
    listen_stop(&f, l);
    /* A target without a topic cannot be listened to. */
    keel_messaging_target_t none = {0};
    assert_int_equal(keel_messaging_listener_new(&l, f.t, &none, 1, &ep, 1, NULL), 0);
    assert_int_equal(keel_messaging_listener_start(l), KEEL_MESSAGING_ETARGET);
    assert_int_equal(keel_messaging_listener_free(l), 0);
    seen_clear(&s);
    fx_finish(&f);
}

static void test_listener_and_server_creation_survive_running_out_of_memory(void **state)
{
    fx_t f;
    fx_init(&f);
    static const char *const ctx_rules[] = {"request_id", "req-.*", NULL};
    static const keel_messaging_filter_t rule = {.publisher_id = "comp", .event_type = "a.*", .context = ctx_rules};
    seen_t s;
    seen_init(&s);
    keel_messaging_notification_endpoint_t ep = {.on = {[KEEL_MESSAGING_INFO] = record}, .filter = &rule, .data = &s};
    keel_messaging_target_t tgs[] = {{.topic = "n1"}, {.topic = "n2", .exchange = "x"}};
    keel_messaging_listener_opts_t o = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .pool = "pool"};
    int rc = KEEL_ENOMEM;
    for (long n = 0; rc != 0 && n < 10000; n++) {
        keel_messaging_listener_t *l = NULL;
        oom_install(n);
        rc = keel_messaging_listener_new(&l, f.t, tgs, 2, &ep, 1, &o);
        if (rc == 0) {
            rc = keel_messaging_listener_start(l);
            oom_uninstall();
            if (rc == 0) {
                listen_stop(&f, l);
            } else {
                assert_int_equal(keel_messaging_listener_free(l), 0);
            }
        }
        oom_uninstall();
        assert_true(rc == 0 || rc == KEEL_ENOMEM);
    }
    keel_messaging_rpc_server_t *srv = NULL;
    rc = KEEL_ENOMEM;
    static const keel_messaging_method_t none[] = {{0}};
    keel_messaging_endpoint_t rep = {.methods = none};
    keel_messaging_target_t st = {.topic = "t", .server = "s"};
    for (long n = 0; rc != 0 && n < 10000; n++) {
        oom_install(n);
        rc = keel_messaging_rpc_server_new(&srv, f.t, &st, &rep, 1, NULL);
        if (rc == 0) {
            rc = keel_messaging_rpc_server_start(srv);
            oom_uninstall();
            if (rc == 0) {
                fx_server_stop(&f, srv);
            } else {
                assert_int_equal(keel_messaging_rpc_server_free(srv), 0);
            }
        }
        oom_uninstall();
        assert_true(rc == 0 || rc == KEEL_ENOMEM);
    }
    seen_clear(&s);
    fx_finish(&f);
}

int main(void)
{
    keel_log_set_level("oslo.messaging", KEEL_LOG_LEVEL_CRITICAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_reads_what_a_python_notifier_sends),
        cmocka_unit_test(test_listener_filters_match_at_the_start_like_re_match),
        cmocka_unit_test(test_listener_requeues_only_when_allowed),
        cmocka_unit_test(test_listener_pools_share_a_queue_and_each_pool_gets_a_copy),
        cmocka_unit_test(test_listener_several_targets_and_the_threading_executor),
        cmocka_unit_test(test_listener_and_server_creation_survive_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/listener.c", tests, NULL, NULL);
}
