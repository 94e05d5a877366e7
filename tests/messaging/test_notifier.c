/*
 * Tests for src/messaging/notifier.c over fake://: what the messagingv2
 * and messaging drivers put on the broker (the shape of spec §7: keys,
 * upper-case priority, uuid with dashes, timestamp, whitelisted context,
 * the N.P queue declared before publishing), no driver meaning nothing
 * sent, topics and control_exchange from conf, the log driver's line,
 * prepare(), retry, the serializer, and the blocking wrapper.
 */
#include "fixture.h"

#include "keel/log.h"

typedef struct sent_s {
    bool done;
    int status;
} sent_t;

static void on_notified(keel_messaging_notifier_t *n, int status, void *data)
{
    sent_t *s = data;
    assert_false(s->done);
    s->done = true;
    s->status = status;
}

static keel_messaging_notifier_t *notifier(keel_messaging_transport_t *t, const char *driver, const char *publisher)
{
    const char *drivers[] = {driver, NULL};
    keel_messaging_notifier_opts_t o = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    o.drivers = driver ? drivers : NULL;
    o.publisher_id = publisher;
    keel_messaging_notifier_t *n = NULL;
    assert_int_equal(keel_messaging_notifier_new(&n, t, &o), 0);
    return n;
}

static void notify(fx_t *f, keel_messaging_notifier_t *n, json_t *ctxt, keel_messaging_priority_t p, const char *event,
                   json_t *payload, int expect)
{
    sent_t s = {0};
    assert_int_equal(keel_messaging_notify(n, ctxt, p, event, payload, on_notified, &s), 0);
    assert_false(s.done);
    fx_wait(f, &s.done, 2000);
    assert_int_equal(s.status, expect);
}

/* Takes the next body from queue and returns its inner message (a new reference). */
static json_t *take(fx_t *f, const char *queue, bool enveloped)
{
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = keel_messaging_fake_broker_get(f->broker, queue, &b);
    if (rc != 0)
        fail_msg("queue %s: %s", queue, keel_messaging_strerror(rc));
    json_t *outer = json_loads(b.base, 0, NULL);
    assert_non_null(outer);
    json_t *inner = outer;
    if (enveloped) {
        assert_string_equal(json_string_value(json_object_get(outer, "oslo.version")), "2.0");
        inner = json_loads(json_string_value(json_object_get(outer, "oslo.message")), 0, NULL);
        json_decref(outer);
    } else {
        assert_null(json_object_get(outer, "oslo.version"));
    }
    keel_buf_free(&b);
    return inner;
}

static void test_notifier_messagingv2_sends_oslos_notification(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_notifier_t *n = notifier(f.t, "messagingv2", "compute.host1");
    assert_true(keel_messaging_notifier_is_enabled(n));
    json_t *ctxt = json_pack("{s:s,s:s,s:s,s:s,s:s}", "request_id", "req-n1", "user", "u1", "project_id", "p1", "auth_token",
                             "secret", "custom_key", "x");
    notify(&f, n, ctxt, KEEL_MESSAGING_INFO, "compute.instance.create.end",
           json_pack("{s:i,s:s}", "instance_id", 12, "state", "active"), 0);
    json_decref(ctxt);
    /* No listener yet: the notifier declared notifications.info itself, so the message waits. */
    json_t *m = take(&f, "notifications.info", true);
    const char *order[] = {"message_id",    "publisher_id",        "event_type", "priority",
                           "payload",       "timestamp",           "_unique_id", "_context_request_id",
                           "_context_user", "_context_project_id", NULL};
    void *it = json_object_iter(m);
    for (size_t i = 0; order[i]; i++, it = json_object_iter_next(m, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), order[i]);
    }
    assert_null(it); /* auth_token and custom_key were not whitelisted */
    const char *id = json_string_value(json_object_get(m, "message_id"));
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[8], '-');
    assert_string_equal(json_string_value(json_object_get(m, "publisher_id")), "compute.host1");
    assert_string_equal(json_string_value(json_object_get(m, "priority")), "INFO");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "payload"), "instance_id")), 12);
    const char *ts = json_string_value(json_object_get(m, "timestamp"));
    assert_true(strlen(ts) == 26 || strlen(ts) == 19);
    assert_int_equal(strlen(json_string_value(json_object_get(m, "_unique_id"))), 32);
    json_decref(m);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_string_equal(topo.base, "binding openstack -> notifications.info key notifications.info\n"
                                   "exchange openstack topic durable=0 auto_delete=0\n"
                                   "queue notifications.info durable=0 auto_delete=0 messages=0 unacked=0 consumers=0\n");
    keel_buf_free(&topo);
    keel_messaging_notifier_free(n);
    fx_finish(&f);
}

static void test_notifier_messaging_sends_the_bare_dict(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_notifier_t *n = notifier(f.t, "messaging", "compute.host1");
    notify(&f, n, NULL, KEEL_MESSAGING_ERROR, "compute.instance.delete.end", json_pack("{s:i}", "instance_id", 13), 0);
    json_t *m = take(&f, "notifications.error", false);
    assert_string_equal(json_string_value(json_object_get(m, "priority")), "ERROR");
    assert_non_null(json_object_get(m, "_unique_id"));
    json_decref(m);
    keel_messaging_notifier_free(n);
    fx_finish(&f);
}

static void test_notifier_without_a_driver_sends_nothing(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_notifier_t *n = notifier(f.t, NULL, "p");
    /* oslo's quirk: no driver at all still counts as enabled; only ["noop"] is not. */
    assert_true(keel_messaging_notifier_is_enabled(n));
    notify(&f, n, NULL, KEEL_MESSAGING_INFO, "e", json_object(), 0);
    keel_messaging_notifier_t *noop = notifier(f.t, "noop", "p");
    assert_false(keel_messaging_notifier_is_enabled(noop));
    notify(&f, noop, NULL, KEEL_MESSAGING_INFO, "e", NULL, 0);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_int_equal(topo.len, 0);
    keel_buf_free(&topo);
    keel_messaging_notifier_free(n);
    keel_messaging_notifier_free(noop);
    fx_finish(&f);
}

static void test_notifier_reads_drivers_topics_and_exchange_from_conf(void **state)
{
    fx_t f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(keel_messaging_fake_broker_new(&f.broker), 0);
    keel_conf_t *conf = fx_conf("[DEFAULT]\ncontrol_exchange = nova\n"
                                "[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = notifications, versioned\n");
    f.t = fx_transport_conf(&f, "fake://", conf, NULL);
    keel_conf_free(conf);
    keel_messaging_notifier_t *n = notifier(f.t, NULL, "net.host");
    notify(&f, n, NULL, KEEL_MESSAGING_SAMPLE, "port.create", json_string("s"), 0);
    json_t *a = take(&f, "notifications.sample", true), *b = take(&f, "versioned.sample", true);
    assert_string_equal(json_string_value(json_object_get(a, "priority")), "SAMPLE");
    assert_string_equal(json_string_value(json_object_get(b, "payload")), "s");
    json_decref(a);
    json_decref(b);
    keel_buf_t topo;
    keel_buf_init(&topo);
    keel_messaging_fake_broker_describe(f.broker, &topo);
    assert_non_null(strstr(topo.base, "binding nova -> versioned.sample key versioned.sample\n"));
    keel_buf_free(&topo);
    keel_messaging_notifier_free(n);
    fx_finish(&f);
}

static void test_notifier_log_driver_writes_one_json_line(void **state)
{
    fx_t f;
    fx_init(&f);
    char path[] = "/tmp/keel-msg-notify-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(keel_log_configure(&(keel_log_config_t){.log_file = path, .debug = true, .no_color = true}), 0);
    keel_log_set_level("oslo.messaging.notification", KEEL_LOG_LEVEL_DEBUG);
    keel_log_set_level("oslo.messaging.notify.notifier", KEEL_LOG_LEVEL_WARNING);
    keel_messaging_notifier_t *n = notifier(f.t, "log", "compute.host1");
    notify(&f, n, NULL, KEEL_MESSAGING_WARN, "compute.instance.exists",
           json_pack("{s:s,s:s}", "name", "vm1", "admin_password", "hunter2"), 0);
    notify(&f, n, NULL, KEEL_MESSAGING_AUDIT, "compute.audit", json_object(), 0); /* no logger method: a warning */
    keel_log_shutdown();
    keel_log_set_level("oslo.messaging.notification", KEEL_LOG_LEVEL_NOTSET);
    keel_log_set_level("oslo.messaging.notify.notifier", KEEL_LOG_LEVEL_NOTSET);
    keel_log_set_level("oslo.messaging", KEEL_LOG_LEVEL_CRITICAL); /* configure() applied default_log_levels */
    keel_buf_t text;
    keel_buf_init(&text);
    assert_int_equal(keel_read_file(path, &text), 0);
    unlink(path);
    assert_non_null(strstr(text.base, "WARNING oslo.messaging.notification.compute.instance.exists"));
    assert_non_null(strstr(text.base, "\"event_type\": \"compute.instance.exists\""));
    assert_non_null(strstr(text.base, "\"admin_password\": \"***\""));
    assert_null(strstr(text.base, "hunter2"));
    assert_non_null(strstr(text.base, "Unable to log message as notify cannot find a logger with the priority specified audit"));
    keel_buf_free(&text);
    keel_messaging_notifier_free(n);
    fx_finish(&f);
}

static int wrap_entity(void *data, json_t *ctxt, json_t *in, json_t **out)
{
    (*(int *)data)++;
    *out = json_pack("{s:O}", "obj", in);
    return 0;
}

static int check_context(void *data, json_t *ctxt, json_t **out)
{
    (*(int *)data)++;
    assert_null(json_object_get(ctxt, "auth_token"));
    *out = json_incref(ctxt);
    return 0;
}

static void test_notifier_prepare_retry_and_serializer(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_notifier_t *n = notifier(f.t, "messagingv2", "compute");
    keel_messaging_notifier_t *host = NULL;
    assert_int_equal(
        keel_messaging_notifier_prepare(
            n, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_PUBLISHER_ID, .publisher_id = "compute.h2"}, &host),
        0);
    notify(&f, host, NULL, KEEL_MESSAGING_DEBUG, "e", NULL, 0);
    notify(&f, n, NULL, KEEL_MESSAGING_DEBUG, "e", NULL, 0);
    json_t *a = take(&f, "notifications.debug", true), *b = take(&f, "notifications.debug", true);
    assert_string_equal(json_string_value(json_object_get(a, "publisher_id")), "compute.h2");
    assert_string_equal(json_string_value(json_object_get(b, "publisher_id")), "compute");
    assert_true(json_is_null(json_object_get(a, "payload")));
    json_decref(a);
    json_decref(b);
    /* retry=0 against a broker that is down: MessageDeliveryFailure, reported and logged. */
    keel_messaging_notifier_t *once = NULL;
    assert_int_equal(
        keel_messaging_notifier_prepare(n, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_RETRY, .retry = 0}, &once), 0);
    keel_messaging_fake_broker_set_down(f.broker, true);
    notify(&f, once, NULL, KEEL_MESSAGING_INFO, "e", NULL, KEEL_MESSAGING_EDELIVERY);
    keel_messaging_fake_broker_set_down(f.broker, false);
    assert_int_equal(keel_messaging_notify(n, NULL, KEEL_MESSAGING_PRIORITY_COUNT, "e", json_object(), NULL, NULL), KEEL_EINVAL);
    keel_messaging_notifier_free(once);
    keel_messaging_notifier_free(host);
    keel_messaging_notifier_free(n);

    /* The serializer sees the payload; the context it gets is already cut to the whitelist. */
    int calls = 0;
    keel_messaging_serializer_t ser = {.serialize_entity = wrap_entity, .serialize_context = check_context, .data = &calls};
    const char *drivers[] = {"messagingv2", NULL};
    keel_messaging_notifier_opts_t o = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    o.drivers = drivers;
    o.serializer = &ser;
    assert_int_equal(keel_messaging_notifier_new(&n, f.t, &o), 0);
    json_t *ctxt = json_pack("{s:s,s:s}", "request_id", "r", "auth_token", "t");
    notify(&f, n, ctxt, KEEL_MESSAGING_INFO, "e", json_integer(5), 0);
    json_decref(ctxt);
    json_t *m = take(&f, "notifications.info", true);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "payload"), "obj")), 5);
    assert_int_equal(calls, 2);
    json_decref(m);
    keel_messaging_notifier_free(n);
    fx_finish(&f);
}

typedef struct sync_ctx_s {
    keel_messaging_notifier_t *n;
    int rc;
    volatile bool done;
} sync_ctx_t;

static void sync_thread(void *arg)
{
    sync_ctx_t *x = arg;
    x->rc = keel_messaging_notify_sync(x->n, NULL, KEEL_MESSAGING_CRITICAL, "from.thread", json_string("p"));
    __atomic_store_n(&x->done, true, __ATOMIC_RELEASE);
}

static void test_notifier_notify_sync_from_a_thread(void **state)
{
    fx_t f;
    fx_init(&f);
    sync_ctx_t x = {.n = notifier(f.t, "messagingv2", "p")};
    assert_int_equal(keel_messaging_notify_sync(x.n, NULL, KEEL_MESSAGING_INFO, "e", NULL), KEEL_EINVAL);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, sync_thread, &x), 0);
    fx_wait(&f, (volatile bool *)&x.done, 5000);
    uv_thread_join(&th);
    assert_int_equal(x.rc, 0);
    json_t *m = take(&f, "notifications.critical", true);
    assert_string_equal(json_string_value(json_object_get(m, "event_type")), "from.thread");
    json_decref(m);
    keel_messaging_notifier_free(x.n);
    fx_finish(&f);
}

static void test_notifier_priority_names(void **state)
{
    keel_messaging_priority_t p;
    assert_int_equal(keel_messaging_priority_parse("WARN", &p), 0);
    assert_int_equal(p, KEEL_MESSAGING_WARN);
    assert_int_equal(keel_messaging_priority_parse("sample", &p), 0);
    assert_int_equal(p, KEEL_MESSAGING_SAMPLE);
    assert_int_equal(keel_messaging_priority_parse("warning", &p), KEEL_EINVAL);
    assert_string_equal(keel_messaging_priority_name(KEEL_MESSAGING_AUDIT), "audit");
    assert_null(keel_messaging_priority_name(KEEL_MESSAGING_PRIORITY_COUNT));
}

static void test_notifier_survives_running_out_of_memory(void **state)
{
    fx_t f;
    fx_init(&f);
    json_t *ctxt = json_pack("{s:s,s:s}", "request_id", "r", "auth_token", "t");
    const char *drivers[] = {"messagingv2", "messaging", NULL};
    keel_messaging_notifier_opts_t o = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    o.drivers = drivers;
    o.publisher_id = "p";
    int rc = KEEL_ENOMEM, status = KEEL_ENOMEM;
    for (long n = 0; (rc != 0 || status != 0) && n < 10000; n++) {
        keel_messaging_notifier_t *nt = NULL, *p = NULL;
        sent_t s = {0};
        oom_install(n);
        rc = keel_messaging_notifier_new(&nt, f.t, &o);
        if (rc == 0)
            rc = keel_messaging_notifier_prepare(
                nt, &(keel_messaging_prepare_t){.set = KEEL_MESSAGING_PREPARE_PUBLISHER_ID, .publisher_id = "q"}, &p);
        if (rc == 0)
            rc = keel_messaging_notify(p, ctxt, KEEL_MESSAGING_INFO, "e", json_pack("{s:i}", "x", 1), on_notified, &s);
        oom_uninstall();
        assert_true(rc == 0 || rc == KEEL_ENOMEM);
        status = rc;
        if (rc == 0) {
            fx_wait(&f, &s.done, 2000);
            status = s.status;
            assert_true(status == 0 || status == KEEL_ENOMEM);
        }
        keel_messaging_notifier_free(p);
        keel_messaging_notifier_free(nt);
    }
    assert_int_equal(status, 0);
    json_decref(ctxt);
    fx_finish(&f);
}

int main(void)
{
    keel_log_set_level("oslo.messaging", KEEL_LOG_LEVEL_CRITICAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notifier_messagingv2_sends_oslos_notification),
        cmocka_unit_test(test_notifier_messaging_sends_the_bare_dict),
        cmocka_unit_test(test_notifier_without_a_driver_sends_nothing),
        cmocka_unit_test(test_notifier_reads_drivers_topics_and_exchange_from_conf),
        cmocka_unit_test(test_notifier_log_driver_writes_one_json_line),
        cmocka_unit_test(test_notifier_prepare_retry_and_serializer),
        cmocka_unit_test(test_notifier_notify_sync_from_a_thread),
        cmocka_unit_test(test_notifier_priority_names),
        cmocka_unit_test(test_notifier_survives_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/notifier.c", tests, NULL, NULL);
}
