/*
 * test_http.c — tests of src/policy/http.c: URL preparation as
 * python-requests does it (expected URLs are requests' PreparedRequest.url),
 * and HttpCheck decisions against a one-connection server in a thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy_int.h"

static void prepares(const char *raw, const char *expect)
{
    char *out = NULL;
    const char *why = NULL;
    int rc = keel__pol_http_prepare_url(raw, &out, &why);
    if (expect == NULL) {
        assert_int_equal(rc, KEEL_EVALUE);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(out, expect);
    keel__free(out);
}

static void test_urls_are_prepared_as_requests_does(void **state)
{
    prepares("http://127.0.0.1:8080/a b", "http://127.0.0.1:8080/a%20b");
    prepares("http://HOST:80/x/../y/./z", "http://host:80/y/z");
    prepares("http://h/%7Ex%2fy%zz", "http://h/%257Ex%252Fy%25zz");
    prepares("http://h/\xc3\xa9?q=a b#f g", "http://h/%C3%A9?q=a%20b#f%20g");
    prepares("http://h", "http://h/");
    prepares("http://h:0080/p", "http://h:80/p");
    prepares("http://u:p@h/p", "http://u:p@h/p");
    prepares("http://h/a%41b", "http://h/aAb");
    prepares("http://h/p?", "http://h/p");
    prepares("http://h/./", "http://h/");
    prepares("http://h/a/..", "http://h/");
    prepares("http:foo", NULL);
    prepares("http://[::1/x", NULL);
    prepares("http://h:99999/", NULL);
}

/* A server that accepts one connection, records the request and answers. */
typedef struct {
    int fd;
    const char *response;
    char request[8192];
} server_t;

static void *serve(void *arg)
{
    server_t *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t n = 0;
    /* Read the head and the body announced by Content-Length. */
    for (;;) {
        ssize_t r = recv(c, s->request + n, sizeof(s->request) - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        s->request[n] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        if (end) {
            char *cl = strstr(s->request, "Content-Length: ");
            size_t want = cl ? (size_t)atoi(cl + 16) : 0;
            if (n >= (size_t)(end + 4 - s->request) + want)
                break;
        }
    }
    if (s->response)
        send(c, s->response, strlen(s->response), MSG_NOSIGNAL);
    close(c);
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

static int run_check(const char *response, const char *content_type, const char *rule_fmt, server_t *s, double timeout)
{
    int port;
    s->fd = listen_any(&port);
    s->response = response;
    pthread_t th;
    pthread_create(&th, NULL, serve, s);
    char rules[256];
    char check[128];
    snprintf(check, sizeof(check), rule_fmt, port);
    snprintf(rules, sizeof(rules), "{\"h\": \"%s\"}", check);
    keel_policy_opts_t o;
    keel_policy_opts_init(&o);
    o.remote_content_type = content_type;
    o.remote_timeout = timeout;
    keel_policy_enforcer_t *e;
    assert_int_equal(keel_policy_enforcer_new(&e, &o), 0);
    assert_int_equal(keel_policy_set_rules_text(e, rules, strlen(rules), true), 0);
    json_t *t = json_pack("{s:s,s:f}", "name", "a b", "n", 1.5);
    json_t *c = json_pack("{s:[s],s:s}", "roles", "member", "system_scope", "all");
    keel_policy_result_t res = {0};
    int rc = keel_policy_enforce(e, "h", t, c, &res);
    if (!response)
        shutdown(s->fd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(s->fd);
    json_decref(t);
    json_decref(c);
    keel_policy_enforcer_free(e);
    return rc;
}

static void test_http_check_posts_the_form_oslo_policy_builds(void **state)
{
    server_t s = {0};
    int rc = run_check("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\"True\"", NULL, "http://127.0.0.1:%d/c/%%(name)s", &s, 5);
    assert_int_equal(rc, 0);
    assert_true(strncmp(s.request, "POST /c/a%20b HTTP/1.1\r\n", 24) == 0);
    assert_non_null(strstr(s.request, "Content-Type: application/x-www-form-urlencoded\r\n"));
    const char *body = strstr(s.request, "\r\n\r\n") + 4;
    assert_string_equal(body,
                        "rule=%22h%22&target=%7B%22name%22%3A+%22a+b%22%2C+%22n%22%3A+1.5%7D&credentials=%7B%22roles%22%3A+%5B%22"
                        "member%22%5D%2C+%22system_scope%22%3A+%22all%22%2C+%22system%22%3A+%22all%22%7D");
}

static void test_http_check_json_payload_and_status_does_not_matter(void **state)
{
    server_t s = {0};
    int rc = run_check("HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nTrue", "application/json", "http://127.0.0.1:%d/", &s, 5);
    assert_int_equal(rc, 0);
    const char *body = strstr(s.request, "\r\n\r\n") + 4;
    assert_string_equal(body,
                        "{\"rule\": \"h\", \"target\": {\"name\": \"a b\", \"n\": 1.5}, \"credentials\": {\"roles\": [\"member\"], "
                        "\"system_scope\": \"all\", \"system\": \"all\"}}");
}

static void test_http_check_denies_anything_but_true(void **state)
{
    server_t s = {0};
    assert_int_equal(run_check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nFalse", NULL, "http://127.0.0.1:%d/", &s, 5),
                     KEEL_EACCES);
    assert_int_equal(run_check("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nTr\r\n2\r\nue\r\n0\r\n\r\n", NULL,
                               "http://127.0.0.1:%d/", &s, 5),
                     0);
    assert_int_equal(run_check("HTTP/1.1 200 OK\r\n\r\nTrue", NULL, "http://127.0.0.1:%d/", &s, 5), 0); /* until close */
}

static void test_http_check_raises_on_missing_key_and_timeout(void **state)
{
    server_t s = {0};
    /* The server never answers: remote_timeout gives up. */
    assert_int_equal(run_check(NULL, NULL, "http://127.0.0.1:%d/", &s, 0.3), KEEL_EVALUE);
    keel_policy_enforcer_t *e;
    assert_int_equal(keel_policy_enforcer_new(&e, NULL), 0);
    const char *rules = "{\"h\": \"http://127.0.0.1:1/%(missing)s\", \"r\": \"http://127.0.0.1:1/\"}";
    assert_int_equal(keel_policy_set_rules_text(e, rules, strlen(rules), true), 0);
    json_t *t = json_object(), *c = json_object();
    assert_int_equal(keel_policy_enforce(e, "h", t, c, NULL), KEEL_EVALUE); /* HttpCheck lets KeyError out */
    assert_int_equal(keel_policy_enforce(e, "r", t, c, NULL), KEEL_EVALUE); /* connection refused */
    json_decref(t);
    json_decref(c);
    keel_policy_enforcer_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls_are_prepared_as_requests_does),
        cmocka_unit_test(test_http_check_posts_the_form_oslo_policy_builds),
        cmocka_unit_test(test_http_check_json_payload_and_status_does_not_matter),
        cmocka_unit_test(test_http_check_denies_anything_but_true),
        cmocka_unit_test(test_http_check_raises_on_missing_key_and_timeout),
    };
    return cmocka_run_group_tests_name("policy/http.c", tests, NULL, NULL);
}
