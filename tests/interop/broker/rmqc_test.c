/*
 * rabbitmq-c (librabbitmq 0.11, Debian's librabbitmq-dev) against a broker:
 * the C client many non-Python services use. Each case opens its own
 * connection, so one failure does not hide the next, and prints one line
 *
 *   RESULT pass|fail|skip CASE-NAME message
 *
 * which tests/interop/broker/run.py parses like the Python suites' output.
 * Every blocking call is bounded: sockets open with a timeout, RPCs use
 * amqp_set_rpc_timeout(), waits for frames pass a timeval, and an alarm()
 * ends the whole program if the library still blocks somewhere.
 *
 * usage: rmqc_test HOST PORT [CASE...]
 *        rmqc_test --list
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static const char *host;
static int port;

/* The failure message of the running case; empty while it passes. */
static char failure[512];
/* What a helper saw go wrong, for the case's failure message. */
static char detail[256];

#define FAIL(...)                                                                                                                  \
    do {                                                                                                                           \
        snprintf(failure, sizeof(failure), __VA_ARGS__);                                                                           \
        goto out;                                                                                                                  \
    } while (0)

#define CHECK(cond, ...)                                                                                                           \
    do {                                                                                                                           \
        if (!(cond))                                                                                                               \
            FAIL(__VA_ARGS__);                                                                                                     \
    } while (0)

/* Describes an RPC reply that was not normal, for failure messages. */
static const char *reply_text(amqp_rpc_reply_t r)
{
    static char buf[300];
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return "normal reply";
    case AMQP_RESPONSE_NONE:
        return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(buf, sizeof(buf), "library error: %s", amqp_error_string2(r.library_error));
        return buf;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const amqp_connection_close_t *c = r.reply.decoded;
            snprintf(buf, sizeof(buf), "connection.close %u %.*s", c->reply_code, (int)c->reply_text.len,
                     (const char *)c->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            const amqp_channel_close_t *c = r.reply.decoded;
            snprintf(buf, sizeof(buf), "channel.close %u %.*s", c->reply_code, (int)c->reply_text.len,
                     (const char *)c->reply_text.bytes);
        } else {
            snprintf(buf, sizeof(buf), "server method 0x%08x", r.reply.id);
        }
        return buf;
    }
    return "?";
}

/* Channel-close reply code of a server exception, or -1. */
static int channel_close_code(amqp_rpc_reply_t r)
{
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
        return -1;
    return ((const amqp_channel_close_t *)r.reply.decoded)->reply_code;
}

/* Opens a logged-in connection with channel 1 open, or NULL with detail set.
 * If login_close is not NULL it receives the reply code of a connection.close
 * answering the login, 0 if the login failed otherwise, -1 if it was never
 * tried (the reply itself dies with the connection). */
static amqp_connection_state_t connect_as(const char *user, const char *password, int *login_close)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {5, 0};
    if (login_close)
        *login_close = -1;
    if (sock == NULL) {
        snprintf(detail, sizeof(detail), "amqp_tcp_socket_new failed");
        goto fail;
    }
    int rc = amqp_socket_open_noblock(sock, host, port, &tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(detail, sizeof(detail), "connect to %s:%d: %s", host, port, amqp_error_string2(rc));
        goto fail;
    }
    amqp_set_rpc_timeout(conn, &tv);
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password);
    if (login_close)
        *login_close = r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD
                           ? ((const amqp_connection_close_t *)r.reply.decoded)->reply_code
                           : 0;
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(detail, sizeof(detail), "login: %s", reply_text(r));
        goto fail;
    }
    amqp_channel_open(conn, 1);
    r = amqp_get_rpc_reply(conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(detail, sizeof(detail), "channel.open: %s", reply_text(r));
        goto fail;
    }
    return conn;
fail:
    amqp_destroy_connection(conn);
    return NULL;
}

static amqp_connection_state_t connect_guest(void)
{
    return connect_as("guest", "guest", NULL);
}

static void disconnect(amqp_connection_state_t conn)
{
    if (conn == NULL)
        return;
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Declares a server-named exclusive queue; copies its name into name. */
static int temp_queue(amqp_connection_state_t conn, amqp_channel_t ch, char *name, size_t size)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(conn, ch, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    if (ok == NULL) {
        snprintf(detail, sizeof(detail), "queue.declare: %s", reply_text(amqp_get_rpc_reply(conn)));
        return -1;
    }
    snprintf(name, size, "%.*s", (int)ok->queue.len, (const char *)ok->queue.bytes);
    return 0;
}

static int publish(amqp_connection_state_t conn, const char *exchange, const char *key, const void *body, size_t len,
                   const amqp_basic_properties_t *props)
{
    amqp_bytes_t b = {len, (void *)body};
    int rc = amqp_basic_publish(conn, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), 0, 0, props, b);
    if (rc != AMQP_STATUS_OK)
        snprintf(detail, sizeof(detail), "basic.publish: %s", amqp_error_string2(rc));
    return rc;
}

/* basic.get: 1 with *msg filled (free with amqp_destroy_message), 0 for
 * get-empty, -1 on error. */
static int get(amqp_connection_state_t conn, const char *queue, int no_ack, amqp_message_t *msg, uint64_t *tag, int *redelivered)
{
    amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue), no_ack);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(detail, sizeof(detail), "basic.get: %s", reply_text(r));
        return -1;
    }
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
        return 0;
    if (r.reply.id != AMQP_BASIC_GET_OK_METHOD) {
        snprintf(detail, sizeof(detail), "basic.get answered method 0x%08x", r.reply.id);
        return -1;
    }
    const amqp_basic_get_ok_t *ok = r.reply.decoded;
    if (tag)
        *tag = ok->delivery_tag;
    if (redelivered)
        *redelivered = ok->redelivered;
    r = amqp_read_message(conn, 1, msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(detail, sizeof(detail), "reading the message: %s", reply_text(r));
        return -1;
    }
    return 1;
}

static int bytes_eq(amqp_bytes_t b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0;
}

static const amqp_field_value_t *table_get(const amqp_table_t *t, const char *key)
{
    for (int i = 0; i < t->num_entries; i++)
        if (bytes_eq(t->entries[i].key, key))
            return &t->entries[i].value;
    return NULL;
}

/* ------------------------------------------------------------------------- */

static void case_login(void)
{
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    const amqp_table_t *props = amqp_get_server_properties(conn);
    const amqp_field_value_t *caps = table_get(props, "capabilities");
    CHECK(caps && caps->kind == AMQP_FIELD_KIND_TABLE, "server_properties has a capabilities table");
    const amqp_field_value_t *pc = table_get(&caps->value.table, "publisher_confirms");
    CHECK(pc && pc->kind == AMQP_FIELD_KIND_BOOLEAN && pc->value.boolean, "publisher_confirms capability");
    CHECK(amqp_get_frame_max(conn) >= 4096, "frame_max %d", amqp_get_frame_max(conn));
out:
    disconnect(conn);
}

static void case_login_refused(void)
{
    int code;
    amqp_connection_state_t conn = connect_as("guest", "wrong-password", &code);
    CHECK(conn == NULL, "login with a wrong password succeeded");
    CHECK(code >= 0, "%s", detail);
    /* rabbitmq-c announces authentication_failure_close, so the broker
     * must say 403 ACCESS_REFUSED before it closes. */
    CHECK(code == 403, "login failure: %s (want connection.close 403)", detail);
out:
    disconnect(conn);
}

static void case_declare_bind_publish_get(void)
{
    char q[256];
    amqp_message_t msg;
    int have_msg = 0;
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    char x[64];
    snprintf(x, sizeof(x), "keeltest.rmqc.x.%d", (int)getpid());
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(x), amqp_cstring_bytes("topic"), 0, 0, 1, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "exchange.declare: %s", reply_text(r));
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);
    CHECK(strncmp(q, "amq.gen-", 8) == 0, "server-named queue %s", q);
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x), amqp_cstring_bytes("logs.#"), amqp_empty_table);
    r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "queue.bind: %s", reply_text(r));
    CHECK(publish(conn, x, "logs.error.disk", "routed", 6, NULL) == 0, "%s", detail);
    CHECK(publish(conn, x, "metrics.cpu", "not routed", 10, NULL) == 0, "%s", detail);
    int got = get(conn, q, 1, &msg, NULL, NULL);
    CHECK(got == 1, "basic.get of the routed message: %s", got == 0 ? "get-empty" : detail);
    have_msg = 1;
    CHECK(bytes_eq(msg.body, "routed"), "body %.*s", (int)msg.body.len, (const char *)msg.body.bytes);
    amqp_destroy_message(&msg);
    have_msg = 0;
    got = get(conn, q, 1, &msg, NULL, NULL);
    CHECK(got == 0, "the unrouted message must not arrive (get returned %d)", got);
    amqp_exchange_delete(conn, 1, amqp_cstring_bytes(x), 0);
    r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "exchange.delete: %s", reply_text(r));
out:
    if (have_msg)
        amqp_destroy_message(&msg);
    disconnect(conn);
}

static void case_properties_and_headers(void)
{
    char q[256];
    amqp_message_t msg;
    int have_msg = 0;
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);

    amqp_table_entry_t inner[1];
    inner[0].key = amqp_cstring_bytes("depth");
    inner[0].value.kind = AMQP_FIELD_KIND_I32;
    inner[0].value.value.i32 = 2;
    amqp_table_entry_t h[5];
    h[0].key = amqp_cstring_bytes("text");
    h[0].value.kind = AMQP_FIELD_KIND_UTF8;
    h[0].value.value.bytes = amqp_cstring_bytes("value");
    h[1].key = amqp_cstring_bytes("i32");
    h[1].value.kind = AMQP_FIELD_KIND_I32;
    h[1].value.value.i32 = -12345;
    h[2].key = amqp_cstring_bytes("i64");
    h[2].value.kind = AMQP_FIELD_KIND_I64;
    h[2].value.value.i64 = INT64_C(1) << 40;
    h[3].key = amqp_cstring_bytes("flag");
    h[3].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    h[3].value.value.boolean = 1;
    h[4].key = amqp_cstring_bytes("nested");
    h[4].value.kind = AMQP_FIELD_KIND_TABLE;
    h[4].value.value.table.num_entries = 1;
    h[4].value.value.table.entries = inner;

    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
               AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
               AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
    p.content_type = amqp_cstring_bytes("application/octet-stream");
    p.delivery_mode = 2;
    p.correlation_id = amqp_cstring_bytes("corr-42");
    p.reply_to = amqp_cstring_bytes("reply.queue");
    p.message_id = amqp_cstring_bytes("msg-1");
    p.priority = 7;
    p.timestamp = 1700000000;
    p.type = amqp_cstring_bytes("kind");
    p.app_id = amqp_cstring_bytes("rmqc_test");
    p.headers.num_entries = 5;
    p.headers.entries = h;
    CHECK(publish(conn, "", q, "with-props", 10, &p) == 0, "%s", detail);

    int got = get(conn, q, 1, &msg, NULL, NULL);
    CHECK(got == 1, "basic.get: %s", got == 0 ? "get-empty" : detail);
    have_msg = 1;
    amqp_basic_properties_t *g = &msg.properties;
    CHECK(bytes_eq(msg.body, "with-props"), "body");
    CHECK((g->_flags & p._flags) == p._flags, "property flags 0x%04x, want at least 0x%04x", g->_flags, p._flags);
    CHECK(bytes_eq(g->content_type, "application/octet-stream"), "content_type");
    CHECK(g->delivery_mode == 2 && g->priority == 7 && g->timestamp == 1700000000, "delivery_mode/priority/timestamp");
    CHECK(bytes_eq(g->correlation_id, "corr-42") && bytes_eq(g->reply_to, "reply.queue") && bytes_eq(g->message_id, "msg-1") &&
              bytes_eq(g->type, "kind") && bytes_eq(g->app_id, "rmqc_test"),
          "string properties");
    const amqp_field_value_t *v = table_get(&g->headers, "text");
    CHECK(v && v->kind == AMQP_FIELD_KIND_UTF8 && bytes_eq(v->value.bytes, "value"), "header text");
    v = table_get(&g->headers, "i32");
    CHECK(v && v->kind == AMQP_FIELD_KIND_I32 && v->value.i32 == -12345, "header i32");
    v = table_get(&g->headers, "i64");
    CHECK(v && v->kind == AMQP_FIELD_KIND_I64 && v->value.i64 == (INT64_C(1) << 40), "header i64");
    v = table_get(&g->headers, "flag");
    CHECK(v && v->kind == AMQP_FIELD_KIND_BOOLEAN && v->value.boolean, "header flag");
    v = table_get(&g->headers, "nested");
    CHECK(v && v->kind == AMQP_FIELD_KIND_TABLE, "header nested is a table");
    v = table_get(&v->value.table, "depth");
    CHECK(v && v->kind == AMQP_FIELD_KIND_I32 && v->value.i32 == 2, "nested header depth");
out:
    if (have_msg)
        amqp_destroy_message(&msg);
    disconnect(conn);
}

static void case_large_body(void)
{
    char q[256];
    amqp_message_t msg;
    int have_msg = 0;
    size_t len = 1000 * 1000;
    unsigned char *body = malloc(len);
    amqp_connection_state_t conn = connect_guest();
    CHECK(body, "out of memory");
    CHECK(conn, "%s", detail);
    for (size_t i = 0; i < len; i++)
        body[i] = (unsigned char)(i * 7 + i / 251);
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);
    CHECK(publish(conn, "", q, body, len, NULL) == 0, "%s", detail);
    int got = get(conn, q, 1, &msg, NULL, NULL);
    CHECK(got == 1, "basic.get: %s", got == 0 ? "get-empty" : detail);
    have_msg = 1;
    CHECK(msg.body.len == len && memcmp(msg.body.bytes, body, len) == 0, "1 MB body intact (%zu bytes back)", msg.body.len);
out:
    if (have_msg)
        amqp_destroy_message(&msg);
    free(body);
    disconnect(conn);
}

static void case_consume_ack(void)
{
    char q[256];
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);
    amqp_basic_qos(conn, 1, 0, 10, 0);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "basic.qos: %s", reply_text(r));
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(conn, 1, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    CHECK(ok != NULL, "basic.consume: %s", reply_text(amqp_get_rpc_reply(conn)));
    CHECK(ok->consumer_tag.len > 0, "broker-generated consumer tag");
    for (int i = 0; i < 3; i++) {
        char b[8];
        snprintf(b, sizeof(b), "c%d", i);
        CHECK(publish(conn, "", q, b, strlen(b), NULL) == 0, "%s", detail);
    }
    for (int i = 0; i < 3; i++) {
        amqp_envelope_t env;
        struct timeval tv = {5, 0};
        amqp_maybe_release_buffers(conn);
        r = amqp_consume_message(conn, &env, &tv, 0);
        CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "delivery %d: %s", i, reply_text(r));
        char want[8];
        snprintf(want, sizeof(want), "c%d", i);
        int body_ok = bytes_eq(env.message.body, want);
        uint64_t tag = env.delivery_tag;
        amqp_destroy_envelope(&env);
        CHECK(body_ok, "delivery %d body, want %s", i, want);
        CHECK(tag == (uint64_t)i + 1, "delivery tag %llu, want %d", (unsigned long long)tag, i + 1);
        CHECK(amqp_basic_ack(conn, 1, tag, 0) == 0, "basic.ack");
    }
    amqp_queue_declare_ok_t *d = amqp_queue_declare(conn, 1, amqp_cstring_bytes(q), 1, 0, 1, 1, amqp_empty_table);
    CHECK(d != NULL, "passive declare: %s", reply_text(amqp_get_rpc_reply(conn)));
    CHECK(d->message_count == 0 && d->consumer_count == 1, "after acks: %u messages, %u consumers", d->message_count,
          d->consumer_count);
out:
    disconnect(conn);
}

static void case_reject_requeue(void)
{
    char q[256];
    amqp_message_t msg;
    uint64_t tag;
    int redelivered = -1;
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);
    CHECK(publish(conn, "", q, "again", 5, NULL) == 0, "%s", detail);
    CHECK(get(conn, q, 0, &msg, &tag, &redelivered) == 1, "first get: %s", detail);
    amqp_destroy_message(&msg);
    CHECK(redelivered == 0, "first delivery not redelivered");
    CHECK(amqp_basic_reject(conn, 1, tag, 1) == 0, "basic.reject");
    CHECK(get(conn, q, 0, &msg, &tag, &redelivered) == 1, "get after reject: %s", detail);
    amqp_destroy_message(&msg);
    CHECK(redelivered == 1, "redelivered flag after reject with requeue");
    CHECK(amqp_basic_nack(conn, 1, tag, 0, 0) == 0, "basic.nack");
    int got = get(conn, q, 1, &msg, NULL, NULL);
    if (got == 1)
        amqp_destroy_message(&msg);
    CHECK(got == 0, "nack without requeue drops the message (get returned %d)", got);
out:
    disconnect(conn);
}

static void case_confirms(void)
{
    char q[256];
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);
    CHECK(amqp_confirm_select(conn, 1) != NULL, "confirm.select: %s", reply_text(amqp_get_rpc_reply(conn)));
    for (int i = 0; i < 5; i++)
        CHECK(publish(conn, "", q, "confirm-me", 10, NULL) == 0, "%s", detail);
    uint64_t acked = 0;
    while (acked < 5) {
        amqp_frame_t f;
        struct timeval tv = {5, 0};
        int rc = amqp_simple_wait_frame_noblock(conn, &f, &tv);
        CHECK(rc == AMQP_STATUS_OK, "waiting for basic.ack: %s (acked up to %llu)", amqp_error_string2(rc),
              (unsigned long long)acked);
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        CHECK(f.payload.method.id == AMQP_BASIC_ACK_METHOD, "expected basic.ack, got method 0x%08x", f.payload.method.id);
        const amqp_basic_ack_t *ack = f.payload.method.decoded;
        CHECK(ack->delivery_tag > acked && ack->delivery_tag <= 5, "ack tag %llu after %llu", (unsigned long long)ack->delivery_tag,
              (unsigned long long)acked);
        CHECK(ack->multiple || ack->delivery_tag == acked + 1, "single ack %llu skips a tag",
              (unsigned long long)ack->delivery_tag);
        acked = ack->delivery_tag;
    }
out:
    disconnect(conn);
}

static void case_tx(void)
{
    char q[256];
    amqp_message_t msg;
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "%s", detail);
    CHECK(amqp_tx_select(conn, 1) != NULL, "tx.select: %s", reply_text(amqp_get_rpc_reply(conn)));
    CHECK(publish(conn, "", q, "rollback", 8, NULL) == 0, "%s", detail);
    CHECK(amqp_tx_rollback(conn, 1) != NULL, "tx.rollback: %s", reply_text(amqp_get_rpc_reply(conn)));
    CHECK(publish(conn, "", q, "commit", 6, NULL) == 0, "%s", detail);
    CHECK(amqp_tx_commit(conn, 1) != NULL, "tx.commit: %s", reply_text(amqp_get_rpc_reply(conn)));
    CHECK(get(conn, q, 1, &msg, NULL, NULL) == 1, "get committed: %s", detail);
    int ok = bytes_eq(msg.body, "commit");
    amqp_destroy_message(&msg);
    CHECK(ok, "only the committed message arrives");
    int got = get(conn, q, 1, &msg, NULL, NULL);
    if (got == 1)
        amqp_destroy_message(&msg);
    CHECK(got == 0, "rolled-back message absent");
out:
    disconnect(conn);
}

static void case_channel_error_404(void)
{
    char q[256];
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    amqp_queue_declare_ok_t *d =
        amqp_queue_declare(conn, 1, amqp_cstring_bytes("keeltest.rmqc.no-such-queue"), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    CHECK(d == NULL, "passive declare of a missing queue succeeded");
    CHECK(channel_close_code(r) == 404, "expected channel.close 404, got %s", reply_text(r));
    amqp_channel_close_ok_t close_ok = {0};
    CHECK(amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok) == 0, "channel.close-ok");
    amqp_channel_open(conn, 1);
    r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "reopening channel 1: %s", reply_text(r));
    CHECK(temp_queue(conn, 1, q, sizeof(q)) == 0, "connection usable after the channel error: %s", detail);
out:
    disconnect(conn);
}

static void case_two_channels(void)
{
    char q[256];
    amqp_message_t msg;
    amqp_connection_state_t conn = connect_guest();
    CHECK(conn, "%s", detail);
    amqp_channel_open(conn, 2);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "channel.open 2: %s", reply_text(r));
    CHECK(temp_queue(conn, 2, q, sizeof(q)) == 0, "%s", detail);
    CHECK(publish(conn, "", q, "cross-channel", 13, NULL) == 0, "%s", detail);
    CHECK(get(conn, q, 1, &msg, NULL, NULL) == 1, "get on channel 1 of a queue declared on 2: %s", detail);
    amqp_destroy_message(&msg);
    amqp_channel_close(conn, 2, AMQP_REPLY_SUCCESS);
    r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "channel.close 2: %s", reply_text(r));
out:
    disconnect(conn);
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"login", case_login},
    {"login_refused", case_login_refused},
    {"declare_bind_publish_get", case_declare_bind_publish_get},
    {"properties_and_headers", case_properties_and_headers},
    {"large_body", case_large_body},
    {"consume_ack", case_consume_ack},
    {"reject_requeue_nack", case_reject_requeue},
    {"confirms", case_confirms},
    {"tx", case_tx},
    {"channel_error_404", case_channel_error_404},
    {"two_channels", case_two_channels},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [CASE...] | --list\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    alarm(120); /* the last resort if the library blocks somewhere unbounded */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (argc > 3) {
            int wanted = 0;
            for (int a = 3; a < argc; a++)
                wanted |= strcmp(argv[a], cases[i].name) == 0;
            if (!wanted)
                continue;
        }
        failure[0] = 0;
        cases[i].fn();
        for (char *p = failure; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        printf("RESULT %s %s %s\n", failure[0] ? "fail" : "pass", cases[i].name, failure);
        failed |= failure[0] != 0;
    }
    return failed;
}
