/*
 * Tests for src/messaging/error.c: the error codes' names, failures
 * written as serialize_remote_exception() writes them and read as
 * deserialize_remote_exception() reads them (the captured failure of the
 * wire spec, "exceptions" as builtins, allowed_remote_exmods, the _Remote
 * suffix), and str() as a Python client would show it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "keel/messaging.h"
#include "messaging_int.h"
#include "test_helpers.h"

/* The failure text of spec Appendix A.7 (NoSuchMethod from a Python server), one tb line shortened. */
static const char nosuch[] =
    "{\"class\": \"NoSuchMethod\", \"module\": \"oslo_messaging.rpc.dispatcher\", \"message\": \"Endpoint does not "
    "support RPC method nope\", \"tb\": [\"Traceback (most recent call last):\\n\", \"  File \\\"dispatcher.py\\\", line "
    "318, in dispatch\\n    raise NoSuchMethod(method)\\n\", \"oslo_messaging.rpc.dispatcher.NoSuchMethod: Endpoint "
    "does not support RPC method nope\\n\"], \"args\": [\"Endpoint does not support RPC method nope\"], \"kwargs\": {}}";

static void test_error_names_cover_messaging_and_core_codes(void **state)
{
    assert_string_equal(keel_messaging_err_name(KEEL_MESSAGING_EREMOTE), "EREMOTE");
    assert_string_equal(keel_messaging_strerror(KEEL_MESSAGING_EVERSIONCAP),
                        "requested version is incompatible with the version cap");
    assert_string_equal(keel_messaging_err_name(KEEL_ETIMEDOUT), "ETIMEDOUT");
    assert_string_equal(keel_messaging_strerror(KEEL_ENOMEM), "out of memory");
}

static void test_error_deserialize_reads_a_python_failure(void **state)
{
    keel_messaging_error_t *e = NULL;
    assert_int_equal(keel_messaging_error_deserialize(nosuch, strlen(nosuch), NULL, &e), 0);
    assert_string_equal(e->exc_class, "NoSuchMethod");
    assert_string_equal(e->exc_module, "oslo_messaging.rpc.dispatcher");
    assert_string_equal(e->message, "Endpoint does not support RPC method nope");
    /* oslo joins the tb lines with "\n" although each ends with one. */
    assert_non_null(strstr(e->traceback, "(most recent call last):\n\n  File"));
    assert_int_equal(json_array_size(e->args), 1);
    assert_int_equal(json_object_size(e->kwargs), 0);
    /* Not builtins and not allowed: a Python client raises RemoteError. */
    assert_false(e->allowed);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_error_format(e, &b), 0);
    assert_int_equal(strncmp(b.base, "Remote error: NoSuchMethod Endpoint does not support RPC method nope\nTraceback", 76), 0);
    keel_buf_free(&b);
    keel_messaging_error_free(e);

    const char *const allowed[] = {"nova.exception", "oslo_messaging.rpc.dispatcher", NULL};
    assert_int_equal(keel_messaging_error_deserialize(nosuch, strlen(nosuch), allowed, &e), 0);
    assert_true(e->allowed);
    keel_messaging_error_free(e);
}

static void test_error_deserialize_treats_exceptions_as_builtins_and_fills_gaps(void **state)
{
    const char *text = "{\"class\": \"KeyError\", \"module\": \"exceptions\", \"args\": []}";
    keel_messaging_error_t *e = NULL;
    assert_int_equal(keel_messaging_error_deserialize(text, strlen(text), NULL, &e), 0);
    assert_string_equal(e->exc_module, "builtins");
    assert_true(e->allowed);
    assert_string_equal(e->message, "");
    assert_string_equal(e->traceback, "");
    assert_int_equal(json_array_size(e->args), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_error_format(e, &b), 0);
    assert_string_equal(b.base, "\n");
    keel_buf_free(&b);
    keel_messaging_error_free(e);
    assert_int_equal(keel_messaging_error_deserialize("[1]", 3, NULL, &e), KEEL_EPARSE);
    assert_int_equal(keel_messaging_error_deserialize("{", 1, NULL, &e), KEEL_EPARSE);
}

static void test_error_serialize_writes_what_a_python_server_writes(void **state)
{
    keel_messaging_error_t *e = NULL;
    assert_int_equal(keel_messaging_error_new(&e, "ValueError", NULL, "raised in %s", "C"), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_error_serialize(e, &b), 0);
    assert_string_equal(b.base, "{\"class\": \"ValueError\", \"module\": \"builtins\", \"message\": \"raised in C\", \"tb\": "
                                "[\"ValueError: raised in C\\n\"], \"args\": [\"raised in C\"], \"kwargs\": {}}");
    keel_buf_reset(&b);
    keel__free(e->traceback);
    e->traceback = keel__strdup("line 1\nline 2\n");
    keel__free(e->exc_module);
    e->exc_module = keel__strdup("nova.exception");
    assert_int_equal(keel_messaging_error_serialize(e, &b), 0);
    assert_non_null(strstr(b.base, "\"tb\": [\"line 1\\n\", \"line 2\\n\"]"));
    keel_buf_free(&b);
    keel_messaging_error_free(e);
}

static void test_error_serialize_drops_the_remote_suffix(void **state)
{
    keel_messaging_error_t *e = NULL;
    assert_int_equal(keel_messaging_error_new(&e, "Invalid_Remote", "nova.exception_Remote", "x"), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_error_serialize(e, &b), 0);
    assert_non_null(strstr(b.base, "\"class\": \"Invalid\", \"module\": \"nova.exception\""));
    keel_buf_free(&b);
    keel_messaging_error_free(e);
    /* Only when both carry it. */
    assert_int_equal(keel_messaging_error_new(&e, "Invalid_Remote", "nova.exception", "x"), 0);
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_error_serialize(e, &b), 0);
    assert_non_null(strstr(b.base, "\"class\": \"Invalid_Remote\""));
    keel_buf_free(&b);
    keel_messaging_error_free(e);
}

static void test_error_round_trips_and_copies(void **state)
{
    keel_messaging_error_t *e = NULL, *back = NULL, *copy = NULL;
    assert_int_equal(keel_messaging_error_new(&e, "InstanceNotFound", "nova.exception", "Instance %d could not be found.", 7), 0);
    json_object_set_new(e->kwargs, "instance_id", json_integer(7));
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel_messaging_error_serialize(e, &b), 0);
    const char *const allowed[] = {"nova.exception", NULL};
    assert_int_equal(keel_messaging_error_deserialize(b.base, b.len, allowed, &back), 0);
    assert_string_equal(back->exc_class, "InstanceNotFound");
    assert_string_equal(back->message, "Instance 7 could not be found.");
    assert_int_equal(json_integer_value(json_object_get(back->kwargs, "instance_id")), 7);
    assert_true(back->allowed);
    keel_buf_reset(&b);
    assert_int_equal(keel_messaging_error_format(back, &b), 0);
    assert_string_equal(b.base,
                        "Instance 7 could not be found.\nnova.exception.InstanceNotFound: Instance 7 could not be found.\n");
    assert_int_equal(keel_messaging_error_copy(back, &copy), 0);
    assert_string_equal(copy->traceback, back->traceback);
    assert_true(json_equal(copy->kwargs, back->kwargs));
    keel_buf_free(&b);
    keel_messaging_error_free(e);
    keel_messaging_error_free(back);
    keel_messaging_error_free(copy);
    keel_messaging_error_free(NULL);
    assert_int_equal(keel_messaging_error_new(&e, NULL, NULL, "x"), KEEL_EINVAL);
}

static void test_error_functions_survive_running_out_of_memory(void **state)
{
    int rc = KEEL_ENOMEM;
    for (long n = 0; rc == KEEL_ENOMEM; n++) {
        keel_messaging_error_t *e = NULL;
        keel_buf_t b;
        keel_buf_init(&b);
        oom_install(n);
        rc = keel_messaging_error_deserialize(nosuch, strlen(nosuch), NULL, &e);
        if (rc == 0)
            rc = keel_messaging_error_serialize(e, &b);
        oom_uninstall();
        keel_buf_free(&b);
        keel_messaging_error_free(e);
        assert_true(rc == 0 || rc == KEEL_ENOMEM);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_names_cover_messaging_and_core_codes),
        cmocka_unit_test(test_error_deserialize_reads_a_python_failure),
        cmocka_unit_test(test_error_deserialize_treats_exceptions_as_builtins_and_fills_gaps),
        cmocka_unit_test(test_error_serialize_writes_what_a_python_server_writes),
        cmocka_unit_test(test_error_serialize_drops_the_remote_suffix),
        cmocka_unit_test(test_error_round_trips_and_copies),
        cmocka_unit_test(test_error_functions_survive_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/error.c", tests, NULL, NULL);
}
