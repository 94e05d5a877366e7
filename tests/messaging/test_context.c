/*
 * Tests for src/messaging/context.c: the dict oslo.context's to_dict()
 * makes (compared with the text oslo.context 5.0 printed for the same
 * values) and a context dict becoming the thread's keel_log context.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "keel/log.h"
#include "keel/messaging.h"
#include "messaging_int.h"

static void test_context_from_log_is_oslo_contexts_to_dict(void **state)
{
    const char *roles[] = {"a", "b", NULL};
    keel_log_context_t lc = KEEL_LOG_CONTEXT_INIT;
    lc.user_id = "u";
    lc.project_id = "p";
    lc.domain_id = "d";
    lc.user_domain_id = "ud";
    lc.project_domain_id = "pd";
    lc.roles = roles;
    lc.request_id = "req-1";
    lc.global_request_id = "g";
    lc.is_admin = true;
    lc.auth_token = "tok";
    lc.system_scope = "all";
    lc.resource_uuid = "r";
    json_t *d = NULL;
    assert_int_equal(keel_messaging_context_from_log(&lc, &d), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__messaging_json_dump(&b, d), 0);
    /* python3 -c 'RequestContext(user_id="u", ...).to_dict()' with the same values, through json.dumps. */
    assert_string_equal(b.base,
                        "{\"user\": \"u\", \"project_id\": \"p\", \"system_scope\": \"all\", \"project\": \"p\", \"domain\": "
                        "\"d\", \"user_domain\": \"ud\", \"project_domain\": \"pd\", \"is_admin\": true, \"read_only\": "
                        "false, \"show_deleted\": false, \"auth_token\": \"tok\", \"request_id\": \"req-1\", "
                        "\"global_request_id\": \"g\", \"resource_uuid\": \"r\", \"roles\": [\"a\", \"b\"], "
                        "\"user_identity\": \"u p d ud pd\", \"is_admin_project\": true}");
    keel_buf_free(&b);
    json_decref(d);

    keel_log_context_t empty = KEEL_LOG_CONTEXT_INIT;
    assert_int_equal(keel_messaging_context_from_log(&empty, &d), 0);
    assert_string_equal(json_string_value(json_object_get(d, "user_identity")), "- - - - -");
    assert_true(json_is_null(json_object_get(d, "request_id")));
    assert_int_equal(json_array_size(json_object_get(d, "roles")), 0);
    json_decref(d);
}

static void test_context_apply_log_sets_the_threads_log_context(void **state)
{
    json_t *ctxt = json_pack("{s:s,s:s,s:s,s:[s,s],s:b,s:n}", "request_id", "req-42", "user", "u1", "project_id", "p1", "roles",
                             "admin", "member", "is_admin", 1, "auth_token");
    assert_int_equal(keel_messaging_context_apply_log(ctxt), 0);
    json_decref(ctxt);
    const keel_log_context_t *lc = keel_log_context_get();
    assert_non_null(lc);
    assert_string_equal(lc->request_id, "req-42");
    assert_string_equal(lc->user_id, "u1");
    assert_string_equal(lc->project_id, "p1");
    assert_string_equal(lc->roles[1], "member");
    assert_null(lc->roles[2]);
    assert_true(lc->is_admin);
    assert_true(lc->is_admin_project);
    assert_null(lc->auth_token);
    keel_log_context_clear();
    assert_int_equal(keel_messaging_context_apply_log(NULL), KEEL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context_from_log_is_oslo_contexts_to_dict),
        cmocka_unit_test(test_context_apply_log_sets_the_threads_log_context),
    };
    return cmocka_run_group_tests_name("messaging/context.c", tests, NULL, NULL);
}
