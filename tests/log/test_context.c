/*
 * Tests for src/log/context.c: the per-thread request context (a copy that
 * outlives the caller's strings, one per thread), oslo.context's to_dict()
 * user_identity, the get_logging_values() view, and request ids.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log_int.h"

static void test_context_get_is_null_until_set(void **state)
{
    keel_log_context_clear();
    assert_null(keel_log_context_get());
}

static void test_context_set_copies_strings_and_roles(void **state)
{
    char user[16], role[16];
    snprintf(user, sizeof(user), "alice");
    snprintf(role, sizeof(role), "admin");
    const char *roles[] = {role, "member", NULL};
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = "req-1";
    c.user_id = user;
    c.roles = roles;
    c.is_admin = true;
    assert_int_equal(keel_log_context_set(&c), 0);
    /* The caller's buffers change; the thread's copy does not. */
    snprintf(user, sizeof(user), "mallory");
    snprintf(role, sizeof(role), "nobody");
    roles[1] = "changed";
    const keel_log_context_t *got = keel_log_context_get();
    assert_non_null(got);
    assert_string_equal(got->request_id, "req-1");
    assert_string_equal(got->user_id, "alice");
    assert_string_equal(got->roles[0], "admin");
    assert_string_equal(got->roles[1], "member");
    assert_null(got->roles[2]);
    assert_null(got->project_id);
    assert_true(got->is_admin);
    assert_true(got->is_admin_project);
    keel_log_context_clear();
    assert_null(keel_log_context_get());
}

static void test_context_set_replaces_and_reuses(void **state)
{
    keel_log_context_t big = KEEL_LOG_CONTEXT_INIT;
    big.request_id = "req-a-rather-long-request-id-to-grow-the-block";
    big.user_name = "someone with a long name";
    assert_int_equal(keel_log_context_set(&big), 0);
    keel_log_context_t small = KEEL_LOG_CONTEXT_INIT;
    small.request_id = "req-2";
    assert_int_equal(keel_log_context_set(&small), 0);
    const keel_log_context_t *got = keel_log_context_get();
    assert_string_equal(got->request_id, "req-2");
    assert_null(got->user_name);
    assert_null(got->roles[0]);
    assert_int_equal(keel_log_context_set(NULL), 0);
    assert_null(keel_log_context_get());
}

static const char *value_str(const keel_log_context_t *c, int key)
{
    static char out[256];
    keel__log_val_t v;
    keel__log_context_lookup((void *)c, key, &v);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__log_val_str(&v, &b), 0);
    snprintf(out, sizeof(out), "%s", b.base);
    keel_buf_free(&b);
    return out;
}

static void test_context_lookup_gives_logging_values(void **state)
{
    const char *roles[] = {"reader", NULL};
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = "req-1";
    c.user_id = "u1";
    c.project_id = "p1";
    c.user_domain_id = "ud";
    c.auth_token = "secret";
    c.roles = roles;
    assert_int_equal(keel_log_context_set(&c), 0);
    const keel_log_context_t *t = keel_log_context_get();
    assert_string_equal(value_str(t, KEEL__LOG_K_USER), "u1");
    assert_string_equal(value_str(t, KEEL__LOG_K_PROJECT), "p1");
    assert_string_equal(value_str(t, KEEL__LOG_K_PROJECT_ID), "p1");
    assert_string_equal(value_str(t, KEEL__LOG_K_DOMAIN), "None");
    /* The token is never logged: '***' stands for it. */
    assert_string_equal(value_str(t, KEEL__LOG_K_AUTH_TOKEN), "***");
    assert_string_equal(value_str(t, KEEL__LOG_K_ROLES), "['reader']");
    assert_string_equal(value_str(t, KEEL__LOG_K_IS_ADMIN), "False");
    assert_string_equal(value_str(t, KEEL__LOG_K_IS_ADMIN_PROJECT), "True");
    /* RequestContext.to_dict(): '{user} {project_id} {domain} {user_domain} {p_domain}', None as '-'. */
    assert_string_equal(value_str(t, KEEL__LOG_K_USER_IDENTITY), "u1 p1 - ud -");
    keel_log_context_clear();
}

typedef struct worker_s {
    const char *request_id;
    pthread_barrier_t *barrier;
    char seen_before[64], seen_after[64];
    bool empty_at_start;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    w->empty_at_start = keel_log_context_get() == NULL;
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = w->request_id;
    if (keel_log_context_set(&c) != 0)
        return NULL;
    /* Both threads have set their context before either reads it again. */
    pthread_barrier_wait(w->barrier);
    snprintf(w->seen_before, sizeof(w->seen_before), "%s", keel_log_context_get()->request_id);
    pthread_barrier_wait(w->barrier);
    snprintf(w->seen_after, sizeof(w->seen_after), "%s", keel_log_context_get()->request_id);
    return NULL;
}

static void test_context_is_per_thread(void **state)
{
    keel_log_context_t mine = KEEL_LOG_CONTEXT_INIT;
    mine.request_id = "req-main";
    assert_int_equal(keel_log_context_set(&mine), 0);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    worker_t a = {.request_id = "req-a", .barrier = &barrier}, b = {.request_id = "req-b", .barrier = &barrier};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, worker, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, worker, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    assert_true(a.empty_at_start);
    assert_true(b.empty_at_start);
    assert_string_equal(a.seen_before, "req-a");
    assert_string_equal(a.seen_after, "req-a");
    assert_string_equal(b.seen_before, "req-b");
    assert_string_equal(b.seen_after, "req-b");
    assert_string_equal(keel_log_context_get()->request_id, "req-main");
    keel_log_context_clear();
}

static void test_request_id_is_req_uuid4(void **state)
{
    char a[KEEL_LOG_REQUEST_ID_LEN + 1], b[KEEL_LOG_REQUEST_ID_LEN + 1];
    assert_int_equal(keel_log_request_id_generate(a), 0);
    assert_int_equal(keel_log_request_id_generate(b), 0);
    assert_int_equal(strlen(a), KEEL_LOG_REQUEST_ID_LEN);
    assert_memory_equal(a, "req-", 4);
    assert_int_equal(a[12], '-');
    assert_int_equal(a[17], '-');
    assert_int_equal(a[18], '4'); /* version nibble */
    assert_true(strchr("89ab", a[23]) != NULL);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context_get_is_null_until_set),   cmocka_unit_test(test_context_set_copies_strings_and_roles),
        cmocka_unit_test(test_context_set_replaces_and_reuses), cmocka_unit_test(test_context_lookup_gives_logging_values),
        cmocka_unit_test(test_context_is_per_thread),           cmocka_unit_test(test_request_id_is_req_uuid4),
    };
    return cmocka_run_group_tests_name("log/context.c", tests, NULL, NULL);
}
