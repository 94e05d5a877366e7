/*
 * Tests for src/messaging/envelope.c: bodies captured from Python
 * oslo.messaging 14.0.3 on RabbitMQ (spec/oslo-peers/captured-messages.jsonl)
 * are read, taken apart and rebuilt byte for byte; the 1.0 format, broken
 * envelopes and versions; ids, timestamps; the serializer hooks.
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

static const struct {
    const char *name;
    int version;
    const char *body;
} captured[] = {
    {"rpc_call_request", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"echo_args\\\", \\\"args\\\": {\\\"a\\\": 1, \\\"b\\\": "
     "\\\"x\\\"}, \\\"_msg_id\\\": \\\"8b12e23de33f4aea8180ee8ea282a689\\\", \\\"_reply_q\\\": "
     "\\\"reply_82499b74a21d4b9d9820c1a20e848baf\\\", \\\"_timeout\\\": null, \\\"_unique_id\\\": "
     "\\\"c4b7113369134546b14204234036eb1b\\\", \\\"_context_request_id\\\": \\\"req-123\\\", \\\"_context_user_id\\\": "
     "\\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\", \\\"_context_roles\\\": [\\\"admin\\\"]}\"}"},
    {"rpc_reply_result", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"result\\\": {\\\"a\\\": 1, \\\"b\\\": \\\"x\\\"}, \\\"failure\\\": "
     "null, \\\"ending\\\": true, \\\"_msg_id\\\": \\\"8b12e23de33f4aea8180ee8ea282a689\\\", \\\"_unique_id\\\": "
     "\\\"d567946b51f2488d9edc9aece2929f55\\\"}\"}"},
    {"rpc_cast_request", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"record\\\", \\\"args\\\": {\\\"c\\\": 3}, "
     "\\\"_unique_id\\\": \\\"6d098726689040b39041ece7fcf5a70f\\\", \\\"_context_request_id\\\": \\\"req-peer-0001\\\", "
     "\\\"_context_user_id\\\": \\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\", \\\"_context_roles\\\": [\\\"admin\\\"]}\"}"},
    {"rpc_call_to_server_with_version", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"echo\\\", \\\"args\\\": {\\\"value\\\": "
     "\\\"h\\\\u00e9llo \\\\u2603\\\"}, \\\"version\\\": \\\"1.2\\\", \\\"_msg_id\\\": \\\"f6bc2f6d5c2a416bb0a48ddeee452ab5\\\", "
     "\\\"_reply_q\\\": \\\"reply_134822106ddc482383340c764f0891c8\\\", \\\"_timeout\\\": null, \\\"_unique_id\\\": "
     "\\\"d5919bc76d1f4cc88b29631b5fbc1252\\\", \\\"_context_request_id\\\": \\\"req-peer-0001\\\", \\\"_context_user_id\\\": "
     "\\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\", \\\"_context_roles\\\": [\\\"admin\\\"]}\"}"},
    {"rpc_reply_non_ascii", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"result\\\": \\\"h\\\\u00e9llo \\\\u2603\\\", \\\"failure\\\": null, "
     "\\\"ending\\\": true, \\\"_msg_id\\\": \\\"f6bc2f6d5c2a416bb0a48ddeee452ab5\\\", \\\"_unique_id\\\": "
     "\\\"b3b1b2dd389945b5b502fa27289b5a14\\\"}\"}"},
    {"rpc_fanout_cast", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"record\\\", \\\"args\\\": {\\\"d\\\": 4}, "
     "\\\"_unique_id\\\": \\\"c7ba0369c42c434a8c8a0163214603c3\\\", \\\"_context_request_id\\\": \\\"req-peer-0001\\\", "
     "\\\"_context_user_id\\\": \\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\", \\\"_context_roles\\\": [\\\"admin\\\"]}\"}"},
    {"rpc_reply_failure", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"result\\\": null, \\\"failure\\\": \\\"{\\\\\\\"class\\\\\\\": "
     "\\\\\\\"ValueError\\\\\\\", \\\\\\\"module\\\\\\\": \\\\\\\"builtins\\\\\\\", \\\\\\\"message\\\\\\\": \\\\\\\"boom\\\\\\\", "
     "\\\\\\\"tb\\\\\\\": [\\\\\\\"Traceback (most recent call last):\\\\\\\\n\\\\\\\", \\\\\\\"  File "
     "\\\\\\\\\\\\\\\"/usr/lib/python3/dist-packages/oslo_messaging/rpc/server.py\\\\\\\\\\\\\\\", line 165, in "
     "_process_incoming\\\\\\\\n    res = self.dispatcher.dispatch(message)\\\\\\\\n          "
     "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\\\\\\\\n\\\\\\\", \\\\\\\"  File "
     "\\\\\\\\\\\\\\\"/usr/lib/python3/dist-packages/oslo_messaging/rpc/dispatcher.py\\\\\\\\\\\\\\\", line 309, in "
     "dispatch\\\\\\\\n    return self._do_dispatch(endpoint, method, ctxt, args)\\\\\\\\n           "
     "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\\\\\\\\n\\\\\\\", \\\\\\\"  File "
     "\\\\\\\\\\\\\\\"/usr/lib/python3/dist-packages/oslo_messaging/rpc/dispatcher.py\\\\\\\\\\\\\\\", line 229, in "
     "_do_dispatch\\\\\\\\n    result = func(ctxt, **new_args)\\\\\\\\n             ^^^^^^^^^^^^^^^^^^^^^^\\\\\\\\n\\\\\\\", "
     "\\\\\\\"  File \\\\\\\\\\\\\\\"oslo-peer-scripts/rpc_server.py\\\\\\\\\\\\\\\", line 81, in fail\\\\\\\\n    raise "
     "ValueError(message)\\\\\\\\n\\\\\\\", \\\\\\\"ValueError: boom\\\\\\\\n\\\\\\\"], \\\\\\\"args\\\\\\\": "
     "[\\\\\\\"boom\\\\\\\"], \\\\\\\"kwargs\\\\\\\": {}}\\\", \\\"ending\\\": true, \\\"_msg_id\\\": "
     "\\\"fd845bb31db446c29aa55751b80b3bf4\\\", \\\"_unique_id\\\": \\\"c8f47dddc52b42fea1020fa6f91af53d\\\"}\"}"},
    {"rpc_call_with_call_monitor", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"sleep\\\", \\\"args\\\": {\\\"seconds\\\": 3.2}, "
     "\\\"_msg_id\\\": \\\"619d978c05e4414ea4c2f14d06b5c89d\\\", \\\"_reply_q\\\": \\\"reply_a51ce8b8033b4a49a73224a356d93027\\\", "
     "\\\"_timeout\\\": 2, \\\"_unique_id\\\": \\\"b32c095e79ef4e17b5b1355cbc0adfc1\\\", \\\"_context_request_id\\\": "
     "\\\"req-peer-0001\\\", \\\"_context_user_id\\\": \\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\", "
     "\\\"_context_roles\\\": [\\\"admin\\\"]}\"}"},
    {"rpc_reply_call_monitor_heartbeat", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"result\\\": null, \\\"failure\\\": null, \\\"ending\\\": false, "
     "\\\"_msg_id\\\": \\\"619d978c05e4414ea4c2f14d06b5c89d\\\", \\\"_unique_id\\\": \\\"2dd823e4e9644a36b11932348fdb49fa\\\"}\"}"},
    {"notification_messagingv2", 2,
     "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"message_id\\\": \\\"1fe2d79c-2c2c-4b27-b8b3-478e4759b53f\\\", "
     "\\\"publisher_id\\\": \\\"compute.host1\\\", \\\"event_type\\\": \\\"compute.instance.create.end\\\", \\\"priority\\\": "
     "\\\"INFO\\\", \\\"payload\\\": {\\\"instance_id\\\": 12, \\\"name\\\": \\\"vm\\\\u00e9\\\"}, \\\"timestamp\\\": "
     "\\\"2026-11-26 21:04:32.252598\\\", \\\"_unique_id\\\": \\\"9e2e6b72afbe4f119b4556736e53cf9f\\\", "
     "\\\"_context_request_id\\\": \\\"req-n1\\\", \\\"_context_user_id\\\": \\\"u1\\\", \\\"_context_project_id\\\": \\\"p1\\\", "
     "\\\"_context_roles\\\": [\\\"admin\\\"], \\\"_context_is_admin\\\": false}\"}"},
    {"notification_messaging_v1", 1,
     "{\"message_id\": \"e3444448-e57d-4c13-91eb-9a2ecdee7c26\", \"publisher_id\": \"pypeer.host1\", \"event_type\": "
     "\"compute.instance.delete.error\", \"priority\": \"ERROR\", \"payload\": {\"x\": [1, 2]}, \"timestamp\": \"2026-11-26 "
     "21:04:33.226324\", \"_unique_id\": \"5dde57854c82446d937bf4e92981bcea\", \"_context_request_id\": \"req-peer-0001\", "
     "\"_context_user_id\": \"u1\", \"_context_project_id\": \"p1\", \"_context_roles\": [\"admin\"]}"},
};

static void test_envelope_rewrites_captured_python_bodies_byte_for_byte(void **state)
{
    for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
        json_t *inner = NULL;
        assert_int_equal(keel__messaging_deserialize_msg(captured[i].body, strlen(captured[i].body), &inner), 0);
        keel_buf_t b;
        keel_buf_init(&b);
        assert_int_equal(keel__messaging_serialize_msg(inner, captured[i].version, &b), 0);
        if (strcmp(b.base, captured[i].body) != 0)
            fail_msg("%s:\n keel %s\n oslo %s", captured[i].name, b.base, captured[i].body);
        keel_buf_free(&b);
        json_decref(inner);
    }
}

/* Unpacks a captured request and packs it again from its parts, as a keel client would send it. */
static void test_envelope_unpack_then_pack_gives_the_request_python_sent(void **state)
{
    for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
        if (strstr(captured[i].name, "reply") != NULL)
            continue;
        json_t *inner = NULL;
        assert_int_equal(keel__messaging_deserialize_msg(captured[i].body, strlen(captured[i].body), &inner), 0);
        keel__messaging_unpacked_t u;
        assert_int_equal(keel__messaging_unpack(inner, &u), 0);
        assert_non_null(u.unique_id);
        assert_null(json_object_get(u.message, "_unique_id"));
        keel__messaging_ids_t ids = {.is_call = u.msg_id != NULL,
                                     .msg_id = u.msg_id,
                                     .reply_q = u.reply_q,
                                     .call_monitor_timeout =
                                         json_is_number(u.client_timeout) ? json_number_value(u.client_timeout) : 0,
                                     .unique_id = u.unique_id};
        json_t *again = NULL;
        assert_int_equal(keel__messaging_pack(u.message, u.ctxt, &ids, &again), 0);
        keel_buf_t b;
        keel_buf_init(&b);
        assert_int_equal(keel__messaging_serialize_msg(again, captured[i].version, &b), 0);
        if (strcmp(b.base, captured[i].body) != 0)
            fail_msg("%s:\n keel %s\n oslo %s", captured[i].name, b.base, captured[i].body);
        keel_buf_free(&b);
        json_decref(again);
        keel__messaging_unpacked_clear(&u);
    }
}

static void test_envelope_unpack_takes_the_context_and_ids_out(void **state)
{
    json_t *inner = NULL;
    assert_int_equal(keel__messaging_deserialize_msg(captured[0].body, strlen(captured[0].body), &inner), 0);
    keel__messaging_unpacked_t u;
    assert_int_equal(keel__messaging_unpack(inner, &u), 0);
    assert_string_equal(u.msg_id, "8b12e23de33f4aea8180ee8ea282a689");
    assert_string_equal(u.reply_q, "reply_82499b74a21d4b9d9820c1a20e848baf");
    assert_string_equal(u.unique_id, "c4b7113369134546b14204234036eb1b");
    assert_true(json_is_null(u.client_timeout));
    assert_string_equal(json_string_value(json_object_get(u.ctxt, "request_id")), "req-123");
    assert_int_equal(json_object_size(u.ctxt), 4);
    assert_int_equal(json_object_size(u.message), 2);
    assert_string_equal(json_string_value(json_object_get(u.message, "method")), "echo_args");
    keel__messaging_unpacked_clear(&u);
}

/* What deserialize_msg must give for a 2.0 envelope: the outer document
 * parsed by jansson, then its message string parsed again. */
static int slow_deserialize(const char *body, json_t **out)
{
    json_t *outer = json_loads(body, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *msg = json_object_get(outer, "oslo.message");
    json_t *inner = json_is_string(msg) ? json_loadb(json_string_value(msg), json_string_length(msg),
                                                     JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                        : NULL;
    json_decref(outer);
    *out = inner;
    return inner ? 0 : KEEL_EPARSE;
}

/* Bodies on both sides of the fast path's edges decode as the general path does. */
static void test_envelope_fast_path_decodes_as_the_general_path(void **state)
{
    static const char *const bodies[] = {
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"echo\\\", \\\"args\\\": {\\\"s\\\": \\\"a\\\\\\\\b\\\"}}\"}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"s\\\": \\\"\\\\u00e9\\\\n\\\"}\"}",  /* inner escapes */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"s\\\": \\u0022x\\u0022}\"}",       /* outer \u */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"[1, 2.5, null, true]\"}  \n",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\/\\t{}\\r\\n\"}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"s\\\": \\\"\xc3\xa9\\\"}\"}",       /* raw UTF-8 */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"s\\\": \\\"\xff\\\"}\"}",           /* invalid UTF-8 */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}\", \"oslo.message\": \"[]\"}",       /* duplicate key */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}\"} x",                               /* trailing data */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}\"",                                  /* cut short */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\q{}\"}",                              /* bad escape */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\"}",                                   /* empty */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"a\\\":\t1}\"}",                    /* raw tab */
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        json_t *fast = NULL, *slow = NULL;
        int rc_fast = keel__messaging_deserialize_msg(bodies[i], strlen(bodies[i]), &fast);
        int rc_slow = slow_deserialize(bodies[i], &slow);
        if (rc_fast != rc_slow || (rc_fast == 0 && !json_equal(fast, slow)))
            fail_msg("body %zu: fast rc %d, general rc %d", i, rc_fast, rc_slow);
        if (rc_fast == 0) {
            json_decref(fast);
            json_decref(slow);
        }
    }
}

static void test_envelope_reads_bare_dicts_and_refuses_other_versions(void **state)
{
    json_t *v = NULL;
    const char *bare = "{\"method\": \"echo\", \"args\": {}}";
    assert_int_equal(keel__messaging_deserialize_msg(bare, strlen(bare), &v), 0);
    assert_string_equal(json_string_value(json_object_get(v, "method")), "echo");
    json_decref(v);
    /* Only one of the two envelope keys: still the 1.0 format. */
    const char *half = "{\"oslo.version\": \"2.0\", \"method\": \"m\"}";
    assert_int_equal(keel__messaging_deserialize_msg(half, strlen(half), &v), 0);
    json_decref(v);
    const char *v21 = "{\"oslo.version\": \"2.1\", \"oslo.message\": \"{}\"}";
    assert_int_equal(keel__messaging_deserialize_msg(v21, strlen(v21), &v), KEEL_MESSAGING_EENVELOPE);
    const char *v30 = "{\"oslo.version\": \"3.0\", \"oslo.message\": \"{}\"}";
    assert_int_equal(keel__messaging_deserialize_msg(v30, strlen(v30), &v), KEEL_MESSAGING_EENVELOPE);
    const char *v20 = "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"a\\\": 1}\"}";
    assert_int_equal(keel__messaging_deserialize_msg(v20, strlen(v20), &v), 0);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    const char *broken = "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{nope\"}";
    assert_int_equal(keel__messaging_deserialize_msg(broken, strlen(broken), &v), KEEL_EPARSE);
    assert_int_equal(keel__messaging_deserialize_msg("{", 1, &v), KEEL_EPARSE);
    /* Not an object: handed over as it is; unpack refuses it. */
    assert_int_equal(keel__messaging_deserialize_msg("[1]", 3, &v), 0);
    keel__messaging_unpacked_t u;
    assert_int_equal(keel__messaging_unpack(v, &u), KEEL_EPARSE);
}

static void test_envelope_escapes_non_ascii_as_kombu_does(void **state)
{
    json_t *m = json_pack("{s:s}", "result", "h\xc3\xa9llo \xe2\x82\xac");
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__messaging_serialize_msg(m, 1, &b), 0);
    assert_string_equal(b.base, "{\"result\": \"h\\u00e9llo \\u20ac\"}");
    keel_buf_free(&b);
    json_decref(m);
}

static void test_envelope_writes_floats_and_escapes_as_python_json_dumps(void **state)
{
    static const struct {
        double v;
        const char *text;
    } reals[] = {{3.2, "3.2"},
                 {1e16, "1e+16"},
                 {1e15, "1000000000000000.0"},
                 {0.0001, "0.0001"},
                 {1e-05, "1e-05"},
                 {2.0, "2.0"},
                 {-0.5, "-0.5"},
                 {123456789.123, "123456789.123"},
                 {1.5e300, "1.5e+300"},
                 {5e-324, "5e-324"},
                 {0.1 + 0.2, "0.30000000000000004"},
                 {-0.0, "-0.0"},
                 {1e22, "1e+22"},
                 {12345678901234567890.0, "1.2345678901234567e+19"},
                 {0.000123, "0.000123"}};
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *r = json_real(reals[i].v);
        keel_buf_t b;
        keel_buf_init(&b);
        assert_int_equal(keel__messaging_json_dump(&b, r), 0);
        assert_string_equal(b.base, reals[i].text);
        keel_buf_free(&b);
        json_decref(r);
    }
    json_t *o = json_pack("{s:s}", "s", "a\x7f\x01/\xf0\x9f\x98\x80\"\\\n");
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__messaging_json_dump(&b, o), 0);
    assert_string_equal(b.base, "{\"s\": \"a\\u007f\\u0001/\\ud83d\\ude00\\\"\\\\\\n\"}");
    keel_buf_free(&b);
    json_decref(o);
}

static void test_envelope_pack_reply_orders_keys_as_oslo(void **state)
{
    json_t *r = NULL, *result = json_integer(7);
    assert_int_equal(keel__messaging_pack_reply(result, NULL, true, "m1", "u1", &r), 0);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__messaging_serialize_msg(r, 1, &b), 0);
    assert_string_equal(b.base,
                        "{\"result\": 7, \"failure\": null, \"ending\": true, \"_msg_id\": \"m1\", \"_unique_id\": \"u1\"}");
    keel_buf_free(&b);
    json_decref(r);
    json_decref(result);
}

static void test_envelope_ids_and_timestamps_have_oslos_shapes(void **state)
{
    char hex[33], str[37], ts[32], hex2[33];
    assert_int_equal(keel__messaging_uuid_hex(hex), 0);
    assert_int_equal(keel__messaging_uuid_hex(hex2), 0);
    assert_int_equal(strlen(hex), 32);
    assert_string_not_equal(hex, hex2);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
    assert_int_equal(hex[12], '4');
    assert_int_equal(keel__messaging_uuid_str(str), 0);
    assert_int_equal(strlen(str), 36);
    assert_true(str[8] == '-' && str[13] == '-' && str[18] == '-' && str[23] == '-');
    keel__messaging_timestamp(ts);
    /* "2026-11-26 21:04:45.515517" or, on a whole second, without the fraction. */
    assert_true(strlen(ts) == 26 || strlen(ts) == 19);
    assert_true(ts[4] == '-' && ts[10] == ' ' && ts[13] == ':');
}

static int upper_entity(void *data, json_t *ctxt, json_t *in, json_t **out)
{
    (*(int *)data)++;
    if (json_is_string(in) && strcmp(json_string_value(in), "fail") == 0)
        return KEEL_EINVAL;
    *out = json_is_string(in) ? json_sprintf("<%s>", json_string_value(in)) : json_incref(in);
    return 0;
}

static int ctx_to_list(void *data, json_t *ctxt, json_t **out)
{
    *out = json_array(); /* not an object: refused */
    return 0;
}

static void test_envelope_serializer_hooks_default_to_identity_and_report_failure(void **state)
{
    json_t *out = NULL, *in = json_string("x");
    assert_int_equal(keel__messaging_ser_entity(NULL, false, NULL, in, &out), 0);
    assert_ptr_equal(out, in);
    json_decref(out);
    int calls = 0;
    keel_messaging_serializer_t s = {.serialize_entity = upper_entity, .serialize_context = ctx_to_list, .data = &calls};
    assert_int_equal(keel__messaging_ser_entity(&s, false, NULL, in, &out), 0);
    assert_string_equal(json_string_value(out), "<x>");
    json_decref(out);
    /* deserialize_entity is not set: identity. */
    assert_int_equal(keel__messaging_ser_entity(&s, true, NULL, in, &out), 0);
    assert_ptr_equal(out, in);
    json_decref(out);
    json_t *bad = json_string("fail");
    assert_int_equal(keel__messaging_ser_entity(&s, false, NULL, bad, &out), KEEL_MESSAGING_ESERIALIZE);
    assert_null(out);
    assert_int_equal(calls, 2);
    assert_int_equal(keel__messaging_ser_context(&s, false, NULL, &out), KEEL_MESSAGING_ESERIALIZE);
    assert_int_equal(keel__messaging_ser_context(NULL, false, NULL, &out), 0);
    assert_true(json_is_object(out));
    json_decref(out);
    json_decref(bad);
    json_decref(in);
}

static void test_envelope_pack_survives_running_out_of_memory(void **state)
{
    int rc = KEEL_ENOMEM;
    for (long n = 0; rc == KEEL_ENOMEM && n < 1000; n++) {
        json_t *inner = NULL;
        keel__messaging_unpacked_t u;
        rc = keel__messaging_deserialize_msg(captured[0].body, strlen(captured[0].body), &inner);
        assert_int_equal(rc, 0);
        oom_install(n);
        rc = keel__messaging_unpack(inner, &u);
        json_t *again = NULL;
        keel_buf_t b;
        keel_buf_init(&b);
        if (rc == 0) {
            keel__messaging_ids_t ids = {.is_call = true, .msg_id = u.msg_id, .reply_q = u.reply_q, .unique_id = u.unique_id};
            rc = keel__messaging_pack(u.message, u.ctxt, &ids, &again);
            if (rc == 0)
                rc = keel__messaging_serialize_msg(again, 2, &b);
            keel__messaging_unpacked_clear(&u);
        }
        oom_uninstall();
        if (rc == 0)
            assert_string_equal(b.base, captured[0].body);
        keel_buf_free(&b);
        json_decref(again);
        assert_true(rc == 0 || rc == KEEL_ENOMEM);
    }
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_rewrites_captured_python_bodies_byte_for_byte),
        cmocka_unit_test(test_envelope_unpack_then_pack_gives_the_request_python_sent),
        cmocka_unit_test(test_envelope_unpack_takes_the_context_and_ids_out),
        cmocka_unit_test(test_envelope_fast_path_decodes_as_the_general_path),
        cmocka_unit_test(test_envelope_reads_bare_dicts_and_refuses_other_versions),
        cmocka_unit_test(test_envelope_escapes_non_ascii_as_kombu_does),
        cmocka_unit_test(test_envelope_writes_floats_and_escapes_as_python_json_dumps),
        cmocka_unit_test(test_envelope_pack_reply_orders_keys_as_oslo),
        cmocka_unit_test(test_envelope_ids_and_timestamps_have_oslos_shapes),
        cmocka_unit_test(test_envelope_serializer_hooks_default_to_identity_and_report_failure),
        cmocka_unit_test(test_envelope_pack_survives_running_out_of_memory),
    };
    return cmocka_run_group_tests_name("messaging/envelope.c", tests, NULL, NULL);
}
