/*
 * Tests for src/messaging/target.c: version_is_compatible() against the
 * answers oslo 14.0.3 gives for the same pairs (errors included), target
 * copies, namespaces with legacy ones, and the role checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "keel/messaging.h"
#include "messaging_int.h"
#include "test_helpers.h"

/* Expected: 1 true, 0 false, 'V' ValueError, 'I' IndexError — as printed by oslo_messaging._utils. */
static const struct {
    const char *imp, *version;
    int expect;
    const char *message;
} pairs[] = {
    {"1.3", "1.0", 1, NULL},
    {"1.3", "1.3", 1, NULL},
    {"1.3", "1.4", 0, NULL},
    {"1.3", "2.0", 0, NULL},
    {"1.3.2", "1.3.3", 0, NULL},
    {"1.3.2", "1.3.1", 1, NULL},
    {"1.3", "1.3.1", 0, NULL},
    {"1.3.1", "1.3", 1, NULL},
    {NULL, "x", 1, NULL},
    {"1.0", NULL, 0, NULL},
    {"2.x", "1.0", 0, NULL},
    {"1.x", "1.0", 'V', "invalid literal for int() with base 10: 'x'"},
    {"1", "1.0", 'I', "list index out of range"},
    {"1.0", "1", 'I', "list index out of range"},
    {" 1 . 2", "1.2", 1, NULL},
    {"1.2.x", "1.2", 'V', "invalid literal for int() with base 10: 'x'"},
    {"1.2.x", "1.1", 1, NULL},
    {"1.0.0.5", "1.0.0.9", 1, NULL},
    {"1.0", "1.x", 'V', "invalid literal for int() with base 10: 'x'"},
    {"1_0.1", "10.0", 1, NULL},
    {"1.0", "+1.0", 1, NULL},
};

static void test_version_is_compatible_answers_as_oslo(void **state)
{
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        bool ok = false;
        keel__messaging_pyerr_t err;
        int rc = keel__messaging_version_check(pairs[i].imp, pairs[i].version, &ok, &err);
        if (pairs[i].expect == 0 || pairs[i].expect == 1) {
            if (rc != 0 || ok != (pairs[i].expect == 1))
                fail_msg("%s vs %s: rc %d ok %d", pairs[i].imp, pairs[i].version, rc, ok);
        } else {
            assert_int_equal(rc, KEEL_EVALUE);
            assert_string_equal(err.exc_class, pairs[i].expect == 'V' ? "ValueError" : "IndexError");
            assert_string_equal(err.message, pairs[i].message);
        }
        assert_int_equal(keel_messaging_version_is_compatible(pairs[i].imp, pairs[i].version, &ok), rc);
    }
}

static void test_target_copy_owns_every_string(void **state)
{
    char topic[] = "compute";
    const char *legacy[] = {"old", "older", NULL};
    keel_messaging_target_t src = {.exchange = "nova",
                                   .topic = topic,
                                   .namespace_ = "ns",
                                   .version = "1.2",
                                   .server = "h1",
                                   .fanout = true,
                                   .legacy_namespaces = legacy};
    keel_messaging_target_t dst;
    assert_int_equal(keel__messaging_target_copy(&dst, &src), 0);
    topic[0] = 'X';
    assert_string_equal(dst.topic, "compute");
    assert_string_equal(dst.exchange, "nova");
    assert_string_equal(dst.legacy_namespaces[1], "older");
    assert_null(dst.legacy_namespaces[2]);
    assert_true(dst.fanout);
    keel__messaging_target_clear(&dst);
    assert_null(dst.topic);

    int rc = KEEL_ENOMEM;
    for (long n = 0; rc == KEEL_ENOMEM; n++) {
        oom_install(n);
        rc = keel__messaging_target_copy(&dst, &src);
        oom_uninstall();
    }
    keel__messaging_target_clear(&dst);
}

static void test_target_accepts_its_namespace_and_legacy_ones(void **state)
{
    const char *legacy[] = {"old", NULL};
    keel_messaging_target_t t = {.namespace_ = "new", .legacy_namespaces = legacy};
    assert_true(keel__messaging_target_accepts_namespace(&t, "new"));
    assert_true(keel__messaging_target_accepts_namespace(&t, "old"));
    assert_false(keel__messaging_target_accepts_namespace(&t, NULL));
    assert_false(keel__messaging_target_accepts_namespace(&t, "other"));
    /* An endpoint without a target accepts only the null namespace. */
    assert_true(keel__messaging_target_accepts_namespace(NULL, NULL));
    assert_false(keel__messaging_target_accepts_namespace(NULL, "new"));
}

static void test_target_checks_what_each_role_requires(void **state)
{
    assert_int_equal(keel__messaging_target_check_send(&(keel_messaging_target_t){.topic = "t"}), 0);
    assert_int_equal(keel__messaging_target_check_send(&(keel_messaging_target_t){.topic = ""}), KEEL_MESSAGING_ETARGET);
    assert_int_equal(keel__messaging_target_check_send(&(keel_messaging_target_t){.server = "s"}), KEEL_MESSAGING_ETARGET);
    assert_int_equal(keel__messaging_target_check_listen(&(keel_messaging_target_t){.topic = "t", .server = "s"}), 0);
    assert_int_equal(keel__messaging_target_check_listen(&(keel_messaging_target_t){.topic = "t"}), KEEL_MESSAGING_ETARGET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_is_compatible_answers_as_oslo),
        cmocka_unit_test(test_target_copy_owns_every_string),
        cmocka_unit_test(test_target_accepts_its_namespace_and_legacy_ones),
        cmocka_unit_test(test_target_checks_what_each_role_requires),
    };
    return cmocka_run_group_tests_name("messaging/target.c", tests, NULL, NULL);
}
