/*
 * Tests for src/messaging/url.c: transport URLs as oslo's TransportURL
 * parses them (the spec's examples and the quirks), str() of a URL, the
 * broker defaults the rabbit driver fills in, and out-of-memory handling.
 * tests/interop/messaging_url_diff.py compares thousands more with oslo.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "keel/messaging.h"
#include "messaging_int.h"
#include "test_helpers.h"

static keel_messaging_url_t *parse_ok(const char *text)
{
    keel_messaging_url_t *url = NULL;
    const char *why = NULL;
    int rc = keel_messaging_url_parse(text, &url, &why);
    if (rc != 0)
        fail_msg("%s: %s (%s)", text, keel_messaging_strerror(rc), why ? why : "");
    return url;
}

static const char *format(const keel_messaging_url_t *url, bool mask)
{
    static char text[512];
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_url_format(url, mask, &b), 0);
    snprintf(text, sizeof(text), "%s", b.base);
    keel_buf_free(&b);
    return text;
}

static void test_url_parse_splits_hosts_credentials_and_vhost(void **state)
{
    keel_messaging_url_t *url = parse_ok("rabbit://user:pass@host1:5672,host2:5673/vhost?amqp_durable_queues=true");
    assert_string_equal(url->transport, "rabbit");
    assert_string_equal(url->virtual_host, "vhost");
    assert_int_equal(url->nhosts, 2);
    assert_string_equal(url->hosts[0].hostname, "host1");
    assert_string_equal(url->hosts[0].username, "user");
    assert_string_equal(url->hosts[0].password, "pass");
    assert_true(url->hosts[0].has_port);
    assert_int_equal(url->hosts[0].port, 5672);
    assert_string_equal(url->hosts[1].hostname, "host2");
    assert_null(url->hosts[1].username);
    assert_null(url->hosts[1].password);
    assert_int_equal(url->hosts[1].port, 5673);
    assert_int_equal(url->nquery, 1);
    assert_string_equal(keel_messaging_url_query_get(url, "amqp_durable_queues"), "true");
    assert_null(keel_messaging_url_query_get(url, "ssl"));
    keel_messaging_url_free(url);
}

static void test_url_parse_takes_ipv6_out_of_brackets_and_format_puts_them_back(void **state)
{
    keel_messaging_url_t *url = parse_ok("rabbit://a:b@h1,c:d@[::1]:5674/vh");
    assert_int_equal(url->nhosts, 2);
    assert_string_equal(url->hosts[1].hostname, "::1");
    assert_int_equal(url->hosts[1].port, 5674);
    assert_string_equal(format(url, false), "rabbit://a:b@h1,c:d@[::1]:5674/vh");
    keel_messaging_url_free(url);

    url = parse_ok("rabbit://[fe80::1%25eth0]");
    assert_string_equal(url->hosts[0].hostname, "fe80::1%25eth0");
    assert_false(url->hosts[0].has_port);
    keel_messaging_url_free(url);
}

static void test_url_parse_splits_credentials_at_the_last_at_then_the_first_colon(void **state)
{
    keel_messaging_url_t *url = parse_ok("rabbit://a@b:c:d@h");
    assert_string_equal(url->hosts[0].username, "a@b");
    assert_string_equal(url->hosts[0].password, "c:d");
    assert_string_equal(url->hosts[0].hostname, "h");
    keel_messaging_url_free(url);

    /* An empty user is "", a missing host is NULL. */
    url = parse_ok("rabbit://:@h,u@");
    assert_string_equal(url->hosts[0].username, "");
    assert_string_equal(url->hosts[0].password, "");
    assert_string_equal(url->hosts[1].username, "u");
    assert_null(url->hosts[1].password);
    assert_null(url->hosts[1].hostname);
    keel_messaging_url_free(url);
}

static void test_url_parse_percent_decodes_credentials_and_vhost(void **state)
{
    keel_messaging_url_t *url = parse_ok("rabbit://us%40er:p%3Ass@h/v%2Fh");
    assert_string_equal(url->hosts[0].username, "us@er");
    assert_string_equal(url->hosts[0].password, "p:ss");
    assert_string_equal(url->virtual_host, "v/h");
    assert_string_equal(format(url, false), "rabbit://us%40er:p%3Ass@h/v/h");
    assert_string_equal(format(url, true), "rabbit://us%40er:****@h/v/h");
    keel_messaging_url_free(url);

    /* Escapes that are not UTF-8 decode to U+FFFD as Python's 'replace' does; bad escapes stay. */
    url = parse_ok("rabbit://h/%C3%28%ff%2");
    assert_string_equal(url->virtual_host, "\xef\xbf\xbd(\xef\xbf\xbd%2");
    keel_messaging_url_free(url);
    url = parse_ok("rabbit://h/%E2%82%AC");
    assert_string_equal(url->virtual_host, "\xe2\x82\xac");
    keel_messaging_url_free(url);
}

static void test_url_parse_follows_the_vhost_rules(void **state)
{
    keel_messaging_url_t *url = parse_ok("rabbit://h:5672");
    assert_null(url->virtual_host);
    keel_messaging_url_free(url);
    url = parse_ok("rabbit://h:5672/");
    assert_string_equal(url->virtual_host, "");
    keel_messaging_url_free(url);
    url = parse_ok("rabbit://h:5672//");
    assert_string_equal(url->virtual_host, "/");
    keel_messaging_url_free(url);
    url = parse_ok("rabbit://h/oslo_wirespec#fragment");
    assert_string_equal(url->virtual_host, "oslo_wirespec");
    keel_messaging_url_free(url);
}

static void test_url_parse_joins_repeated_query_keys_and_drops_blank_ones(void **state)
{
    keel_messaging_url_t *url = parse_ok("rabbit://h/?a=1&b=&c&a=2&d+e=f+g&&x=%41");
    assert_int_equal(url->nquery, 3);
    assert_string_equal(url->query[0].key, "a");
    assert_string_equal(url->query[0].value, "1,2");
    assert_string_equal(url->query[1].key, "d e");
    assert_string_equal(url->query[1].value, "f g");
    assert_string_equal(url->query[2].value, "A");
    assert_string_equal(format(url, false), "rabbit://h/?a=1%2C2&d+e=f+g&x=A");
    keel_messaging_url_free(url);
}

static void test_url_parse_lowercases_the_scheme_and_strips_what_urlsplit_strips(void **state)
{
    keel_messaging_url_t *url = parse_ok("  RABBIT://h\t1/v\nh");
    assert_string_equal(url->transport, "rabbit");
    assert_string_equal(url->hosts[0].hostname, "h1");
    assert_string_equal(url->virtual_host, "vh");
    keel_messaging_url_free(url);
    url = parse_ok("fake://");
    assert_string_equal(url->transport, "fake");
    assert_int_equal(url->nhosts, 0);
    assert_string_equal(format(url, false), "fake:///");
    keel_messaging_url_free(url);
}

static void test_url_parse_reads_ports_as_python_int_does(void **state)
{
    static const struct {
        const char *url;
        int64_t port;
    } cases[] = {{"rabbit://h: 5672", 5672},
                 {"rabbit://h:+5", 5},
                 {"rabbit://h:1_000", 1000},
                 {"rabbit://h:-1", -1},
                 {"rabbit://h:0005", 5}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel_messaging_url_t *url = parse_ok(cases[i].url);
        assert_true(url->hosts[0].has_port);
        assert_int_equal(url->hosts[0].port, cases[i].port);
        keel_messaging_url_free(url);
    }
    keel_messaging_url_t *url = parse_ok("rabbit://h:");
    assert_false(url->hosts[0].has_port);
    keel_messaging_url_free(url);
}

static void test_url_parse_refuses_what_oslo_refuses(void **state)
{
    static const struct {
        const char *url;
        const char *why;
    } cases[] = {
        {"://h", "No scheme specified"},
        {"1abc://h", "No scheme specified"},
        {"rabbit://[::1", "Invalid IPv6 URL"},
        {"rabbit://::1]", "Invalid IPv6 URL"},
        {"rabbit://h,[::1]", "Invalid IPv6 URL"},
        {"rabbit://[::1]x", "Invalid IPv6 URL"},
        {"rabbit://[1.2.3.4]", "An IPv4 address cannot be in brackets"},
        {"rabbit://[zz]", "Bracketed host does not appear to be an IPv4 or IPv6 address"},
        {"rabbit://[1::2::3]", "Bracketed host does not appear to be an IPv4 or IPv6 address"},
        {"rabbit://[v1.]", "IPvFuture address is invalid"},
        {"rabbit://h:x", "Invalid port"},
        {"rabbit://h:5672:1", "Invalid port"},
        {"rabbit://h:1__0", "Invalid port"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        keel_messaging_url_t *url = NULL;
        const char *why = NULL;
        assert_int_equal(keel_messaging_url_parse(cases[i].url, &url, &why), KEEL_MESSAGING_EURL);
        assert_null(url);
        assert_non_null(why);
        if (strcmp(why, cases[i].why) != 0)
            fail_msg("%s: %s, expected %s", cases[i].url, why, cases[i].why);
    }
    assert_int_equal(keel_messaging_url_parse(NULL, &(keel_messaging_url_t *){NULL}, NULL), KEEL_EINVAL);
}

static void test_url_broker_fills_in_kombus_defaults(void **state)
{
    keel_messaging_broker_t b;
    keel_messaging_url_t *url = parse_ok("rabbit://");
    assert_int_equal(keel_messaging_url_broker(url, 0, &b), 0);
    assert_string_equal(b.hostname, "localhost");
    assert_int_equal(b.port, 5672);
    assert_string_equal(b.username, "guest");
    assert_string_equal(b.password, "guest");
    assert_string_equal(b.virtual_host, "/");
    assert_int_equal(keel_messaging_url_broker(url, 1, &b), KEEL_ERANGE);
    keel_messaging_url_free(url);

    url = parse_ok("rabbit://u:p@[::1]:0,h2:70000/vh");
    assert_int_equal(keel_messaging_url_broker(url, 0, &b), 0);
    assert_string_equal(b.hostname, "::1");
    assert_int_equal(b.port, 5672);
    assert_string_equal(b.username, "u");
    assert_string_equal(b.virtual_host, "vh");
    assert_int_equal(keel_messaging_url_broker(url, 1, &b), KEEL_ERANGE);
    keel_messaging_url_free(url);
}

static void test_pyint_follows_pythons_grammar(void **state)
{
    int64_t v;
    assert_int_equal(keel__messaging_pyint(" \t-1_2\x1f", 7, &v), 0);
    assert_int_equal(v, -12);
    assert_int_equal(keel__messaging_pyint("9223372036854775807", 19, &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(keel__messaging_pyint("-9223372036854775808", 20, &v), 0);
    assert_int_equal(v, INT64_MIN);
    assert_int_equal(keel__messaging_pyint("9223372036854775808", 19, &v), KEEL_ERANGE);
    assert_int_equal(keel__messaging_pyint("1_", 2, &v), KEEL_EVALUE);
    assert_int_equal(keel__messaging_pyint("_1", 2, &v), KEEL_EVALUE);
    assert_int_equal(keel__messaging_pyint("", 0, &v), KEEL_EVALUE);
    assert_int_equal(keel__messaging_pyint("+", 1, &v), KEEL_EVALUE);
    assert_int_equal(keel__messaging_pyint("0x10", 4, &v), KEEL_EVALUE);
}

static void test_url_parse_and_format_survive_running_out_of_memory(void **state)
{
    const char *text = "rabbit://us%40er:p@h1:1,u:p@[::1]:2,h3/v%2Fh?a=1&a=2&b=3";
    int rc = KEEL_ENOMEM;
    long n;
    for (n = 0; rc == KEEL_ENOMEM && n < 1000; n++) {
        keel_messaging_url_t *url = NULL;
        oom_install(n);
        rc = keel_messaging_url_parse(text, &url, NULL);
        if (rc == 0) {
            keel_buf_t b;
            keel_buf_init(&b);
            rc = keel_messaging_url_format(url, false, &b);
            keel_buf_free(&b);
        }
        oom_uninstall();
        keel_messaging_url_free(url);
        if (rc != 0 && rc != KEEL_ENOMEM)
            fail_msg("allocation %ld: %s", n, keel_messaging_err_name(rc));
    }
    assert_int_equal(rc, 0);
    assert_true(n > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse_splits_hosts_credentials_and_vhost),
        cmocka_unit_test(test_url_parse_takes_ipv6_out_of_brackets_and_format_puts_them_back),
        cmocka_unit_test(test_url_parse_splits_credentials_at_the_last_at_then_the_first_colon),
        cmocka_unit_test(test_url_parse_percent_decodes_credentials_and_vhost),
        cmocka_unit_test(test_url_parse_follows_the_vhost_rules),
        cmocka_unit_test(test_url_parse_joins_repeated_query_keys_and_drops_blank_ones),
        cmocka_unit_test(test_url_parse_lowercases_the_scheme_and_strips_what_urlsplit_strips),
        cmocka_unit_test(test_url_parse_reads_ports_as_python_int_does),
        cmocka_unit_test(test_url_parse_refuses_what_oslo_refuses),
        cmocka_unit_test(test_url_broker_fills_in_kombus_defaults),
        cmocka_unit_test(test_pyint_follows_pythons_grammar),
        cmocka_unit_test(test_url_parse_and_format_survive_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/url.c", tests, NULL, NULL);
}
