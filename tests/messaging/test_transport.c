/*
 * Tests for src/messaging/transport.c: which URL a transport takes (its
 * argument, transport_url, the notifications group's), the errors oslo
 * raises at get_transport() (bad URL, unknown driver, bad query option),
 * close refusing while servers live, work posted from other threads, and
 * running out of memory while making one.
 */
#include "fixture.h"

#include "driver.h"

static void test_transport_takes_the_url_from_its_argument_or_conf(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    keel_conf_t *conf = fx_conf("[DEFAULT]\ntransport_url = fake://rpc-host/\n"
                                "[oslo_messaging_notifications]\ntransport_url = fake://notify-host/\n");
    keel_messaging_transport_t *t = NULL;
    assert_int_equal(keel_messaging_transport_new(&t, &loop, conf, NULL), 0);
    assert_string_equal(keel_messaging_transport_url(t)->hosts[0].hostname, "rpc-host");
    assert_ptr_equal(keel_messaging_transport_loop(t), &loop);
    assert_int_equal(keel_messaging_transport_close(t, NULL, NULL), 0);
    assert_int_equal(keel_messaging_transport_new(&t, &loop, conf, &(keel_messaging_transport_opts_t){.notifications = true}), 0);
    assert_string_equal(keel_messaging_transport_url(t)->hosts[0].hostname, "notify-host");
    assert_int_equal(keel_messaging_transport_close(t, NULL, NULL), 0);
    assert_int_equal(keel_messaging_transport_new(&t, &loop, conf, &(keel_messaging_transport_opts_t){.url = "fake://arg/"}), 0);
    assert_string_equal(keel_messaging_transport_url(t)->hosts[0].hostname, "arg");
    assert_int_equal(keel_messaging_transport_close(t, NULL, NULL), 0);
    keel_conf_free(conf);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_transport_refuses_what_get_transport_refuses(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    static const struct {
        const char *url;
        int rc;
        const char *msg;
    } cases[] = {
        {"://x", KEEL_MESSAGING_EURL, "invalid transport URL: No scheme specified"},
        {"rabbit://h:0x1/", KEEL_MESSAGING_EURL, "invalid transport URL: "},
        {"bogus://", KEEL_MESSAGING_EDRIVER, "Failed to load transport driver \"bogus\""},
        {"fake:///?bogus_option=1", KEEL_ENOOPT, "no such option bogus_option in group [oslo_messaging_rabbit]"},
        {"fake:///?heartbeat_rate=x", KEEL_EVALUE, "transport URL option heartbeat_rate=x: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel_messaging_transport_t *t = NULL;
        keel_buf_t err;
        keel_buf_init(&err);
        int rc =
            keel_messaging_transport_new(&t, &loop, NULL, &(keel_messaging_transport_opts_t){.url = cases[i].url, .error = &err});
        assert_int_equal(rc, cases[i].rc);
        assert_null(t);
        if (err.base == NULL || strncmp(err.base, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("%s: %s", cases[i].url, err.base ? err.base : "(no message)");
        keel_buf_free(&err);
    }
    /* With no URL and no conf: oslo's default rabbit://, which opens at once and connects in the background. */
    keel_messaging_transport_t *t = NULL;
    assert_int_equal(keel_messaging_transport_new(&t, &loop, NULL, NULL), 0);
    assert_string_equal(keel_messaging_transport_url(t)->transport, "rabbit");
    assert_int_equal(keel_messaging_transport_close(t, NULL, NULL), 0);
    assert_int_equal(keel_messaging_transport_new(NULL, &loop, NULL, NULL), KEEL_EINVAL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

typedef struct posted_s {
    keel__messaging_task_t task;
    uv_thread_t ran_on;
    volatile bool ran;
} posted_t;

static void run_posted(keel__messaging_task_t *task)
{
    posted_t *p = keel_container_of(task, posted_t, task);
    p->ran_on = uv_thread_self();
    p->ran = true;
}

static posted_t posted;

static void post_from_thread(void *arg)
{
    keel_messaging_transport_t *t = arg;
    posted.task.run = run_posted;
    if (keel__messaging_post(t, &posted.task) != 0 || keel__messaging_on_loop_thread(t))
        abort();
}

static void test_transport_runs_work_posted_from_other_threads_on_the_loop(void **state)
{
    fx_t f;
    fx_init(&f);
    assert_true(keel__messaging_on_loop_thread(f.t));
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, post_from_thread, f.t), 0);
    uv_thread_join(&th);
    fx_wait(&f, (volatile bool *)&posted.ran, 2000);
    uv_thread_t self = uv_thread_self();
    assert_true(uv_thread_equal(&self, &posted.ran_on));
    fx_finish(&f);
}

static void test_transport_close_waits_for_servers_to_go(void **state)
{
    fx_t f;
    fx_init(&f);
    keel_messaging_rpc_server_t *s = NULL;
    keel_messaging_endpoint_t ep = {0};
    assert_int_equal(keel_messaging_rpc_server_new(&s, f.t, &(keel_messaging_target_t){.topic = "t", .server = "s"}, &ep, 0, NULL),
                     0);
    assert_int_equal(keel_messaging_transport_close(f.t, NULL, NULL), KEEL_EBUSY);
    assert_int_equal(keel_messaging_rpc_server_free(s), 0);
    fx_finish(&f);
}

static void test_transport_new_survives_running_out_of_memory(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int rc = KEEL_ENOMEM;
    long n;
    for (n = 0; rc == KEEL_ENOMEM && n < 100000; n++) {
        keel_messaging_transport_t *t = NULL;
        oom_install(n);
        rc = keel_messaging_transport_new(&t, &loop, NULL, &(keel_messaging_transport_opts_t){.url = "fake:///?heartbeat_rate=3"});
        oom_uninstall();
        if (rc == 0)
            assert_int_equal(keel_messaging_transport_close(t, NULL, NULL), 0);
        else
            assert_int_equal(rc, KEEL_ENOMEM);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 20);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_takes_the_url_from_its_argument_or_conf),
        cmocka_unit_test(test_transport_refuses_what_get_transport_refuses),
        cmocka_unit_test(test_transport_runs_work_posted_from_other_threads_on_the_loop),
        cmocka_unit_test(test_transport_close_waits_for_servers_to_go),
        cmocka_unit_test(test_transport_new_survives_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/transport.c", tests, NULL, NULL);
}
