/*
 * Tests for src/messaging/opts.c: oslo.messaging's options in keel_conf
 * with oslo's defaults and deprecated names, set_transport_defaults(), and
 * URL query options overriding [oslo_messaging_rabbit] with the option's
 * type (NoSuchOptError and ValueError as oslo raises them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/conf.h"
#include "keel/messaging.h"
#include "messaging_int.h"
#include "test_helpers.h"

static const char *const no_files[] = {NULL};

static keel_conf_t *conf_from(const char *ini)
{
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_messaging_register_opts(c), 0);
    char path[] = "/tmp/keel-msg-opts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
    close(fd);
    char *argv[] = {"test", "--config-file", path, NULL};
    int rc = keel_conf_parse(c, 3, argv, &(keel_conf_setup_t){.default_config_dirs = no_files, .no_env = true});
    unlink(path);
    if (rc != 0)
        fail_msg("%s", keel_conf_error(c));
    return c;
}

static keel_messaging_url_t *url_of(const char *text)
{
    keel_messaging_url_t *url;
    assert_int_equal(keel_messaging_url_parse(text, &url, NULL), 0);
    return url;
}

static void test_opts_load_without_conf_gives_oslos_defaults(void **state)
{
    keel__messaging_opts_t o;
    assert_int_equal(keel__messaging_opts_load(&o, NULL, NULL, NULL), 0);
    assert_string_equal(o.transport_url, "rabbit://");
    assert_string_equal(o.control_exchange, "openstack");
    assert_int_equal(o.rpc_response_timeout, 60);
    assert_int_equal(o.executor_thread_pool_size, 64);
    assert_false(o.rpc_ping_enabled);
    assert_int_equal(o.rpc_conn_pool_size, 30);
    assert_null(o.notify_drivers[0]);
    assert_null(o.notify_transport_url);
    assert_string_equal(o.notify_topics[0], "notifications");
    assert_null(o.notify_topics[1]);
    assert_int_equal(o.notify_retry, -1);
    assert_false(o.rabbit.amqp_durable_queues);
    assert_false(o.rabbit.amqp_auto_delete);
    assert_int_equal(o.rabbit.rabbit_transient_queues_ttl, 1800);
    assert_int_equal(o.rabbit.heartbeat_timeout_threshold, 60);
    assert_int_equal(o.rabbit.heartbeat_rate, 2);
    assert_string_equal(o.rabbit.rabbit_login_method, "AMQPLAIN");
    assert_string_equal(o.rabbit.kombu_failover_strategy, "round-robin");
    assert_null(o.rabbit.kombu_compression);
    assert_string_equal(o.rabbit.ssl_ca_file, "");
    assert_true(o.rabbit.direct_mandatory_flag);
    assert_true(o.rabbit.kombu_reconnect_delay == 1.0);
    keel__messaging_opts_clear(&o);
}

static void test_opts_load_reads_config_files_with_deprecated_names(void **state)
{
    keel_conf_t *c = conf_from("[DEFAULT]\n"
                               "transport_url = fake://\n"
                               "control_exchange = nova\n"
                               "rpc_thread_pool_size = 8\n"
                               "notification_driver = messagingv2\n"
                               "notification_driver = log\n"
                               "[oslo_messaging_rabbit]\n"
                               "rabbit_use_ssl = true\n"
                               "heartbeat_rate = 5\n"
                               "[oslo_messaging_notifications]\n"
                               "topics = notifications,audit\n");
    keel__messaging_opts_t o;
    assert_int_equal(keel__messaging_opts_load(&o, c, NULL, NULL), 0);
    assert_string_equal(o.transport_url, "fake://");
    assert_string_equal(o.control_exchange, "nova");
    assert_int_equal(o.executor_thread_pool_size, 8);
    assert_string_equal(o.notify_drivers[0], "messagingv2");
    assert_string_equal(o.notify_drivers[1], "log");
    assert_null(o.notify_drivers[2]);
    assert_string_equal(o.notify_topics[1], "audit");
    assert_true(o.rabbit.ssl);
    assert_int_equal(o.rabbit.heartbeat_rate, 5);
    keel__messaging_opts_clear(&o);
    keel_conf_free(c);
}

static void test_opts_set_transport_defaults_changes_control_exchange(void **state)
{
    keel_conf_t *c = conf_from("");
    assert_int_equal(keel_messaging_set_transport_defaults(c, "neutron"), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "control_exchange"), "neutron");
    keel_conf_free(c);
    c = conf_from("[DEFAULT]\ncontrol_exchange = mine\n");
    assert_int_equal(keel_messaging_set_transport_defaults(c, "neutron"), 0);
    assert_string_equal(keel_conf_get_str(c, NULL, "control_exchange"), "mine");
    keel_conf_free(c);
}

static void test_opts_url_query_overrides_the_rabbit_group_with_its_types(void **state)
{
    keel_conf_t *c = conf_from("[oslo_messaging_rabbit]\nheartbeat_rate = 5\nrabbit_ha_queues = true\n");
    keel_messaging_url_t *url = url_of("rabbit://h/?amqp_durable_queues=yes&heartbeat_rate=%203%20&rabbit_transient_queues_ttl=60"
                                       "&kombu_failover_strategy=shuffle&ssl_ca_file=/x/$HOME&kombu_reconnect_delay=2.5");
    keel__messaging_opts_t o;
    assert_int_equal(keel__messaging_opts_load(&o, c, url, NULL), 0);
    assert_true(o.rabbit.amqp_durable_queues);
    assert_int_equal(o.rabbit.heartbeat_rate, 3);
    assert_int_equal(o.rabbit.rabbit_transient_queues_ttl, 60);
    assert_string_equal(o.rabbit.kombu_failover_strategy, "shuffle");
    /* Query values are literal: no $interpolation as in config files. */
    assert_string_equal(o.rabbit.ssl_ca_file, "/x/$HOME");
    assert_true(o.rabbit.kombu_reconnect_delay == 2.5);
    /* What the URL does not name comes from conf. */
    assert_true(o.rabbit.rabbit_ha_queues);
    keel__messaging_opts_clear(&o);
    keel_messaging_url_free(url);
    keel_conf_free(c);
}

static void test_opts_url_query_refuses_unknown_names_and_bad_values(void **state)
{
    static const struct {
        const char *url;
        int rc;
        const char *why;
    } cases[] = {
        {"rabbit://h/?bogus_option=1", KEEL_ENOOPT, "no such option bogus_option in group [oslo_messaging_rabbit]"},
        {"rabbit://h/?control_exchange=x", KEEL_ENOOPT, "no such option control_exchange in group [oslo_messaging_rabbit]"},
        {"rabbit://h/?heartbeat_rate=x", KEEL_EVALUE, "transport URL option heartbeat_rate=x: "},
        {"rabbit://h/?rabbit_transient_queues_ttl=0", KEEL_EVALUE, "transport URL option rabbit_transient_queues_ttl=0: "},
        {"rabbit://h/?kombu_failover_strategy=random", KEEL_EVALUE, "transport URL option kombu_failover_strategy=random: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel_messaging_url_t *url = url_of(cases[i].url);
        keel__messaging_opts_t o;
        char *why = NULL;
        assert_int_equal(keel__messaging_opts_load(&o, NULL, url, &why), cases[i].rc);
        assert_non_null(why);
        if (strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
            fail_msg("%s: %s", cases[i].url, why);
        keel__free(why);
        keel_messaging_url_free(url);
    }
}

static void test_opts_load_survives_running_out_of_memory(void **state)
{
    keel_messaging_url_t *url = url_of("rabbit://h/?heartbeat_rate=3&ssl_ca_file=x");
    int rc = KEEL_ENOMEM;
    for (long n = 0; rc == KEEL_ENOMEM && n < 100000; n++) {
        keel__messaging_opts_t o;
        oom_install(n);
        rc = keel__messaging_opts_load(&o, NULL, url, NULL);
        oom_uninstall();
        if (rc == 0) {
            assert_int_equal(o.rabbit.heartbeat_rate, 3);
            keel__messaging_opts_clear(&o);
        }
    }
    assert_int_equal(rc, 0);
    keel_messaging_url_free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_load_without_conf_gives_oslos_defaults),
        cmocka_unit_test(test_opts_load_reads_config_files_with_deprecated_names),
        cmocka_unit_test(test_opts_set_transport_defaults_changes_control_exchange),
        cmocka_unit_test(test_opts_url_query_overrides_the_rabbit_group_with_its_types),
        cmocka_unit_test(test_opts_url_query_refuses_unknown_names_and_bad_values),
        cmocka_unit_test(test_opts_load_survives_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/opts.c", tests, NULL, NULL);
}
