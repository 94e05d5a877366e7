/*
 * Tests for src/messaging/dispatcher.c: RPCDispatcher's rules as a table —
 * endpoint order, namespaces (with legacy ones), version compatibility,
 * access policies, and the NoSuchMethod / UnsupportedVersion / ValueError
 * failures with oslo's class, module and message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "server.h"

static void nop(keel_messaging_request_t *req, void *data)
{
}

static const keel_messaging_method_t m_a[] = {{.name = "get", .fn = nop}, {.name = "_secret", .fn = nop}, {0}};
static const keel_messaging_method_t m_b[] = {{.name = "get", .fn = nop}, {.name = "put", .fn = nop, .exposed = true}, {0}};
static const char *const legacy[] = {"old", NULL};

static const keel_messaging_endpoint_t eps[] = {
    {.target = {.version = "1.3"}, .methods = m_a, .data = "A"},
    {.target = {.namespace_ = "ns", .version = "2.1", .legacy_namespaces = legacy}, .methods = m_b, .data = "B"},
    {.methods = m_b, .data = "C"}, /* no target: null namespace, 1.0 */
};

static void test_dispatch_follows_oslos_rules(void **state)
{
    static const struct {
        const char *method, *ns, *version;
        keel_messaging_access_policy_t policy;
        const char *expect; /* endpoint data, or the failure class */
        const char *message;
    } cases[] = {
        {"get", NULL, "1.0", KEEL_MESSAGING_ACCESS_DEFAULT, "A", NULL},
        {"get", NULL, "1.3", KEEL_MESSAGING_ACCESS_DEFAULT, "A", NULL},
        /* A is compatible but has no put: the search goes on to C. */
        {"put", NULL, "1.0", KEEL_MESSAGING_ACCESS_DEFAULT, "C", NULL},
        {"put", NULL, "1.2", KEEL_MESSAGING_ACCESS_DEFAULT, "NoSuchMethod", "Endpoint does not support RPC method put"},
        {"get", NULL, "1.4", KEEL_MESSAGING_ACCESS_DEFAULT, "UnsupportedVersion",
         "Endpoint does not support RPC version 1.4. Attempted method: get"},
        {"get", "ns", "2.0", KEEL_MESSAGING_ACCESS_DEFAULT, "B", NULL},
        {"get", "old", "2.1", KEEL_MESSAGING_ACCESS_DEFAULT, "B", NULL},
        {"get", "ns", "2.2", KEEL_MESSAGING_ACCESS_DEFAULT, "UnsupportedVersion", NULL},
        {"get", "other", "1.0", KEEL_MESSAGING_ACCESS_DEFAULT, "UnsupportedVersion",
         "Endpoint does not support RPC version 1.0. Attempted method: get"},
        {"get", NULL, NULL, KEEL_MESSAGING_ACCESS_DEFAULT, "UnsupportedVersion",
         "Endpoint does not support RPC version None. Attempted method: get"},
        {"", NULL, "1.0", KEEL_MESSAGING_ACCESS_DEFAULT, "NoSuchMethod", "Endpoint does not support RPC method "},
        {"_secret", NULL, "1.0", KEEL_MESSAGING_ACCESS_DEFAULT, "NoSuchMethod", NULL},
        {"_secret", NULL, "1.0", KEEL_MESSAGING_ACCESS_LEGACY, "A", NULL},
        {"get", NULL, "1.0", KEEL_MESSAGING_ACCESS_EXPLICIT, "NoSuchMethod", NULL},
        {"put", NULL, "1.0", KEEL_MESSAGING_ACCESS_EXPLICIT, "C", NULL},
        {"get", NULL, "1.x", KEEL_MESSAGING_ACCESS_DEFAULT, "ValueError", "invalid literal for int() with base 10: 'x'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const keel_messaging_endpoint_t *ep = NULL;
        const keel_messaging_method_t *m = NULL;
        keel_messaging_error_t *failure = NULL;
        int rc = keel__messaging_dispatch_find(eps, 3, cases[i].policy, cases[i].method, cases[i].ns, true, cases[i].version, &ep,
                                               &m, &failure);
        if (rc == 0) {
            if (strcmp(ep->data, cases[i].expect) != 0)
                fail_msg("case %zu: endpoint %s, expected %s", i, (const char *)ep->data, cases[i].expect);
            assert_string_equal(m->name, cases[i].method);
            assert_null(failure);
            continue;
        }
        if (failure == NULL || strcmp(failure->exc_class, cases[i].expect) != 0)
            fail_msg("case %zu: %s, expected %s", i, failure ? failure->exc_class : keel_messaging_err_name(rc), cases[i].expect);
        if (strcmp(failure->exc_class, "ValueError") != 0)
            assert_string_equal(failure->exc_module, "oslo_messaging.rpc.dispatcher");
        if (cases[i].message)
            assert_string_equal(failure->message, cases[i].message);
        assert_int_equal(rc, strcmp(cases[i].expect, "NoSuchMethod") == 0         ? KEEL_MESSAGING_ENOSUCHMETHOD
                             : strcmp(cases[i].expect, "UnsupportedVersion") == 0 ? KEEL_MESSAGING_EUNSUPPORTEDVERSION
                                                                                  : KEEL_EVALUE);
        keel_messaging_error_free(failure);
    }
}

static void test_dispatch_refuses_a_namespace_that_is_not_a_string(void **state)
{
    const keel_messaging_endpoint_t *ep = NULL;
    const keel_messaging_method_t *m = NULL;
    keel_messaging_error_t *failure = NULL;
    assert_int_equal(
        keel__messaging_dispatch_find(eps, 3, KEEL_MESSAGING_ACCESS_DEFAULT, "get", NULL, false, "1.0", &ep, &m, &failure),
        KEEL_MESSAGING_EUNSUPPORTEDVERSION);
    keel_messaging_error_free(failure);
    /* No endpoints at all: UnsupportedVersion, as oslo. */
    assert_int_equal(
        keel__messaging_dispatch_find(NULL, 0, KEEL_MESSAGING_ACCESS_DEFAULT, "get", NULL, true, "1.0", &ep, &m, &failure),
        KEEL_MESSAGING_EUNSUPPORTEDVERSION);
    keel_messaging_error_free(failure);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_follows_oslos_rules),
        cmocka_unit_test(test_dispatch_refuses_a_namespace_that_is_not_a_string),
    };
    return cmocka_run_group_tests_name("messaging/dispatcher.c", tests, NULL, NULL);
}
