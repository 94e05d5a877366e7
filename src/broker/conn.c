/*
 * conn.c — one client connection: the protocol header, the handshake
 * (start/start-ok with PLAIN or AMQPLAIN, tune/tune-ok, open), frames in
 * and out, heartbeats both ways, and the close handshakes.
 *
 * Input is parsed in place from a per-connection buffer; every complete
 * frame is handled before the next read, and all output produced meanwhile
 * (replies, deliveries) accumulates in one buffer that goes out in a
 * single write. While a write is in flight the next batch accumulates, so
 * there is at most one uv_write per connection at a time and no per-frame
 * allocation. A connection whose unwritten output passes the high-water
 * mark stops receiving deliveries until it drains (its consumers report
 * not ready), which keeps a slow consumer from growing the broker without
 * bound.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker_int.h"
#include "keel/log.h"

#define READ_CHUNK 65536

static keel_log_t *log_(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("keel.broker.connection");
    return l;
}
#define KEEL_PRODUCT "keel"

static void conn_unref(conn_t *c);

/* ---- output ---- */

static void mark_output(conn_t *c)
{
    keel_broker_t *b = c->broker;
    if (!c->in_flush_list) {
        keel_list_push(&b->flush_conns, &c->flush_link);
        c->in_flush_list = true;
        uv_idle_start(&b->deliver_idle, keel__broker_idle_cb);
    }
    if (c->out.len > b->opts.output_high_water)
        c->blocked_by_output = true;
}

int keel__conn_send_method(conn_t *c, uint16_t channel, const keel_amqp_method_t *m)
{
    if (c->state == CONN_CLOSED)
        return 0;
    int rc = keel_amqp_method_encode(&c->out, channel, m);
    if (rc == 0)
        mark_output(c);
    return rc;
}

int keel__conn_send_content(conn_t *c, uint16_t channel, const keel_amqp_method_t *m, const keel__msg_t *msg)
{
    if (c->state == CONN_CLOSED)
        return 0;
    size_t mark = c->out.len;
    int rc = keel_amqp_method_encode(&c->out, channel, m);
    /* content header: class, weight, body size, then the publisher's
     * property bytes unchanged */
    size_t hsize = 12 + msg->props_len;
    uint32_t chunk = c->frame_max ? c->frame_max - KEEL_AMQP_FRAME_OVERHEAD : (uint32_t)msg->body_size;
    if (chunk == 0)
        chunk = 1;
    uint64_t nbody = msg->body_size ? (msg->body_size + chunk - 1) / chunk : 0;
    if (rc == 0)
        rc = keel_buf_reserve(&c->out, KEEL_AMQP_FRAME_OVERHEAD + hsize + msg->body_size + nbody * KEEL_AMQP_FRAME_OVERHEAD);
    if (rc != 0) {
        c->out.len = mark;
        return rc;
    }
    uint8_t *p = (uint8_t *)c->out.base + c->out.len;
    keel_amqp_frame_head(p, KEEL_AMQP_FRAME_HEADER, channel, (uint32_t)hsize);
    p += KEEL_AMQP_FRAME_HEAD_SIZE;
    *p++ = 0;
    *p++ = KEEL_AMQP_CLASS_BASIC;
    *p++ = 0;
    *p++ = 0;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(msg->body_size >> (56 - 8 * i));
    memcpy(p, msg->props, msg->props_len);
    p += msg->props_len;
    *p++ = KEEL_AMQP_FRAME_END;
    for (uint64_t off = 0; off < msg->body_size; off += chunk) {
        uint32_t n = (uint32_t)(msg->body_size - off < chunk ? msg->body_size - off : chunk);
        keel_amqp_frame_head(p, KEEL_AMQP_FRAME_BODY, channel, n);
        p += KEEL_AMQP_FRAME_HEAD_SIZE;
        memcpy(p, msg->body + off, n);
        p += n;
        *p++ = KEEL_AMQP_FRAME_END;
    }
    c->out.len = (size_t)(p - (uint8_t *)c->out.base);
    c->out.base[c->out.len] = '\0';
    mark_output(c);
    return 0;
}

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    c->write_pending = false;
    c->broker->tx_bytes += c->writing.len;
    keel_buf_reset(&c->writing);
    if (status < 0 || c->state == CONN_CLOSED) {
        if (c->state != CONN_CLOSED)
            keel__conn_close(c);
        conn_unref(c);
        return;
    }
    if (c->out.len > 0) {
        keel__conn_flush(c);
    } else if (c->close_after_flush) {
        keel__conn_close(c);
    }
    if (c->blocked_by_output && c->out.len < c->broker->opts.output_high_water / 2)
        keel__conn_unblock(c);
    conn_unref(c);
}

void keel__conn_flush(conn_t *c)
{
    if (c->in_flush_list) {
        keel_list_remove(&c->flush_link);
        c->in_flush_list = false;
    }
    if (c->write_pending || c->out.len == 0 || c->state == CONN_CLOSED)
        return;
    if (c->detached) {
        c->broker->tx_bytes += c->out.len;
        keel_buf_reset(&c->out);
        c->blocked_by_output = false;
        if (c->close_after_flush)
            keel__conn_close(c);
        return;
    }
    /* swap buffers: out becomes the write in flight, the old one refills */
    keel_buf_t tmp = c->writing;
    c->writing = c->out;
    c->out = tmp;
    keel_buf_reset(&c->out);
    uv_buf_t buf = uv_buf_init(c->writing.base, (unsigned)c->writing.len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
        keel__conn_close(c);
        return;
    }
    c->write_pending = true;
    c->refs++;
    c->last_write = (uint64_t)keel__now_ms(c->broker);
}

void keel__conn_unblock(conn_t *c)
{
    c->blocked_by_output = false;
    for (size_t i = 0; c->channels && i <= c->channel_max; i++) {
        channel_t *ch = c->channels[i];
        if (ch == NULL)
            continue;
        keel_link_t *pos, *tmp;
        keel_list_foreach_safe(pos, tmp, &ch->consumers)
        {
            consumer_t *cons = keel_container_of(pos, consumer_t, by_channel);
            if (cons->queue != NULL)
                keel__queue_kick(cons->queue);
        }
    }
}

/* ---- closing ---- */

static void free_channels(conn_t *c)
{
    if (c->channels == NULL)
        return;
    for (size_t i = 0; i <= c->channel_max; i++) {
        if (c->channels[i] != NULL) {
            keel__channel_free(c->channels[i]);
            c->channels[i] = NULL;
        }
    }
    c->n_channels = 0;
}

/* Exclusive queues go with the connection that declared them. */
static void delete_exclusive_queues(conn_t *c)
{
    if (c->vhost == NULL)
        return;
    keel_vec_t doomed;
    keel_vec_init(&doomed);
    size_t pos = 0;
    void *v;
    while (keel_map_next(&c->vhost->queues, &pos, NULL, NULL, &v)) {
        queue_t *q = v;
        if (q->exclusive && q->owner == c)
            keel_vec_push(&doomed, q);
    }
    for (size_t i = 0; i < doomed.len; i++)
        keel__queue_delete(doomed.items[i], false);
    keel_vec_free(&doomed);
}

static void conn_free(conn_t *c)
{
    keel_buf_free(&c->out);
    keel_buf_free(&c->writing);
    keel__free(c->in);
    keel__free(c->channels);
    keel__free(c->client_props);
    keel__free(c->user_name);
    keel__free(c);
}

static void conn_unref(conn_t *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

void keel__conn_close(conn_t *c)
{
    if (c->closing_handle)
        return;
    c->closing_handle = true;
    if (!c->detached)
        KEEL_LOG_INFO(log_(), "closing AMQP connection %llu (%s, vhost: '%s', user: '%s')", (unsigned long long)c->id, c->peer,
                      c->vhost ? c->vhost->name : "", c->user_name ? c->user_name : "");
    c->state = CONN_CLOSED;
    free_channels(c);
    delete_exclusive_queues(c);
    if (c->in_flush_list) {
        keel_list_remove(&c->flush_link);
        c->in_flush_list = false;
    }
    keel_list_remove(&c->link);
    c->broker->n_conns--;
    if (c->heartbeat_started) {
        uv_timer_stop(&c->heartbeat_timer);
        uv_close((uv_handle_t *)&c->heartbeat_timer, on_handle_closed);
    }
    if (c->close_timer_started) {
        uv_timer_stop(&c->close_timer);
        uv_close((uv_handle_t *)&c->close_timer, on_handle_closed);
    }
    if (c->detached)
        conn_unref(c); /* may free c */
    else
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

#define CLOSE_OK_TIMEOUT_MS 3000

static void on_close_timeout(uv_timer_t *t)
{
    keel__conn_close(t->data);
}

int keel__conn_error(conn_t *c, uint16_t code, uint32_t method_id, const char *fmt, ...)
{
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
        return KEEL_EPROTO;
    char text[512];
    int n = snprintf(text, sizeof(text), "%s - ", keel_amqp_reply_name(code) ? keel_amqp_reply_name(code) : "ERROR");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
    va_end(ap);
    keel__clip_shortstr(text);
    if (code != KEEL_AMQP_CONNECTION_FORCED && !c->detached)
        KEEL_LOG_ERROR(log_(), "closing AMQP connection %llu (%s): %s", (unsigned long long)c->id, c->peer, text);
    keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_CLOSE};
    m.connection_close.reply_code = code;
    m.connection_close.reply_text = keel_amqp_str(text);
    m.connection_close.class_id = (uint16_t)(method_id >> 16);
    m.connection_close.method_id = (uint16_t)method_id;
    keel__conn_send_method(c, 0, &m);
    /* resources go now; the socket waits for close-ok (or the peer's EOF),
     * but not for ever: RabbitMQ also drops a peer that never answers */
    free_channels(c);
    c->state = CONN_CLOSING;
    if (!c->detached && !c->close_timer_started) {
        uv_timer_init(c->broker->loop, &c->close_timer);
        c->close_timer.data = c;
        c->close_timer_started = true;
        c->refs++;
        uv_timer_start(&c->close_timer, on_close_timeout, CLOSE_OK_TIMEOUT_MS, 0);
    }
    keel__conn_flush(c);
    return KEEL_EPROTO;
}

/* ---- handshake ---- */

static int build_server_properties(keel_buf_t *buf, keel_amqp_table_t *out)
{
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, buf);
    keel_amqp_build_begin(&b, KEEL_AMQP_STR("capabilities"), KEEL_AMQP_FIELD_TABLE);
    static const char *const caps[] = {"publisher_confirms",           "exchange_exchange_bindings", "basic.nack",
                                       "consumer_cancel_notify",       "connection.blocked",         "consumer_priorities",
                                       "authentication_failure_close", "per_consumer_qos",           "direct_reply_to"};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        keel_amqp_build_bool(&b, caps[i], true);
    keel_amqp_build_end(&b);
    keel_amqp_build_str(&b, "cluster_name", "keel@localhost");
    keel_amqp_build_str(&b, "copyright", "Copyright (c) keel authors");
    keel_amqp_build_str(&b, "information", "Licensed under the Apache License 2.0");
    keel_amqp_build_str(&b, "platform", "C (libuv)");
    keel_amqp_build_str(&b, "product", KEEL_PRODUCT);
    keel_amqp_build_str(&b, "version", "0.1.0");
    return keel_amqp_builder_finish(&b, out);
}

static int send_start(conn_t *c)
{
    keel_buf_t props;
    keel_buf_init(&props);
    keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_START};
    m.connection_start.version_major = 0;
    m.connection_start.version_minor = 9;
    int rc = build_server_properties(&props, &m.connection_start.server_properties);
    m.connection_start.mechanisms = KEEL_AMQP_STR("PLAIN AMQPLAIN");
    m.connection_start.locales = KEEL_AMQP_STR("en_US");
    if (rc == 0)
        rc = keel__conn_send_method(c, 0, &m);
    keel_buf_free(&props);
    c->state = CONN_START;
    return rc;
}

static bool cap_enabled(keel_amqp_table_t client_props, const char *cap)
{
    keel_amqp_table_t caps;
    bool on = false;
    return keel_amqp_table_get_table(client_props, "capabilities", &caps) == 0 && keel_amqp_table_get_bool(caps, cap, &on) == 0 &&
           on;
}

/* Extracts user and password for PLAIN ("\0user\0pass") or AMQPLAIN (a
 * field table without its length: LOGIN and PASSWORD). */
static bool credentials(const keel_amqp_connection_start_ok_t *s, keel_amqp_str_t *user, keel_amqp_str_t *pass, bool *known)
{
    *known = true;
    if (keel_amqp_str_eq(s->mechanism, "PLAIN")) {
        const char *r = s->response.base;
        size_t len = s->response.len;
        const char *z1 = memchr(r, '\0', len);
        if (z1 == NULL)
            return false;
        const char *u = z1 + 1;
        const char *z2 = memchr(u, '\0', len - (size_t)(u - r));
        if (z2 == NULL)
            return false;
        *user = (keel_amqp_str_t){u, (size_t)(z2 - u)};
        *pass = (keel_amqp_str_t){z2 + 1, len - (size_t)(z2 + 1 - r)};
        return true;
    }
    if (keel_amqp_str_eq(s->mechanism, "AMQPLAIN")) {
        uint8_t *copy = keel__malloc(s->response.len + 4);
        if (copy == NULL)
            return false;
        size_t n = s->response.len;
        copy[0] = (uint8_t)(n >> 24), copy[1] = (uint8_t)(n >> 16), copy[2] = (uint8_t)(n >> 8), copy[3] = (uint8_t)n;
        memcpy(copy + 4, s->response.base, n);
        keel_amqp_table_t t;
        size_t used;
        bool ok = keel_amqp_table_parse(copy, n + 4, &t, &used, NULL) == 0;
        keel_amqp_str_t u = {0}, p = {0};
        ok = ok && keel_amqp_table_get_str(t, "LOGIN", &u) == 0 && keel_amqp_table_get_str(t, "PASSWORD", &p) == 0;
        /* the views point into copy, which we free: keep them in s's bytes */
        if (ok) {
            *user = (keel_amqp_str_t){s->response.base + (u.base - (const char *)copy - 4), u.len};
            *pass = (keel_amqp_str_t){s->response.base + (p.base - (const char *)copy - 4), p.len};
        }
        keel__free(copy);
        return ok;
    }
    *known = false;
    return false;
}

static int handle_start_ok(conn_t *c, const keel_amqp_connection_start_ok_t *s)
{
    keel_broker_t *b = c->broker;
    c->cap_consumer_cancel_notify = cap_enabled(s->client_properties, "consumer_cancel_notify");
    c->cap_auth_failure_close = cap_enabled(s->client_properties, "authentication_failure_close");
    c->cap_connection_blocked = cap_enabled(s->client_properties, "connection.blocked");
    if (s->client_properties.len > 0 && (c->client_props = keel__malloc(s->client_properties.len)) != NULL) {
        memcpy(c->client_props, s->client_properties.base, s->client_properties.len);
        c->client_props_len = s->client_properties.len;
    }
    keel_amqp_str_t user = {0}, pass = {0};
    bool known;
    bool ok = credentials(s, &user, &pass, &known);
    if (!known)
        return keel__conn_error(c, KEEL_AMQP_ACCESS_REFUSED, KEEL_AMQP_CONNECTION_START_OK,
                                "unsupported authentication mechanism '%.*s'", (int)s->mechanism.len, s->mechanism.base);
    user_t *u = ok ? keel__user_find(b, user.base, user.len) : NULL;
    bool refused = u == NULL || !keel__user_check_password(u, pass.base, pass.len);
    bool guest_remote = !refused && b->opts.loopback_only_guest && !c->loopback && strcmp(u->name, "guest") == 0;
    if (refused || guest_remote) {
        KEEL_LOG_WARNING(log_(), "connection %llu (%s): login refused for user '%.*s'%s", (unsigned long long)c->id, c->peer,
                         (int)user.len, user.base, guest_remote ? ": guest may connect from loopback only" : "");
        if (c->cap_auth_failure_close) {
            if (guest_remote)
                return keel__conn_error(c, KEEL_AMQP_ACCESS_REFUSED, KEEL_AMQP_CONNECTION_START_OK,
                                        "Login was refused using authentication mechanism %.*s. For details see the broker "
                                        "logfile.",
                                        (int)s->mechanism.len, s->mechanism.base);
            return keel__conn_error(c, KEEL_AMQP_ACCESS_REFUSED, KEEL_AMQP_CONNECTION_START_OK,
                                    "Login was refused using authentication mechanism %.*s. For details see the broker logfile.",
                                    (int)s->mechanism.len, s->mechanism.base);
        }
        /* clients that do not ask for a close just see the socket end */
        keel__conn_close(c);
        return KEEL_EACCES;
    }
    c->user = u;
    c->user_name = keel__strdup(u->name);
    keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_TUNE};
    m.connection_tune.channel_max = b->opts.channel_max;
    m.connection_tune.frame_max = b->opts.frame_max;
    m.connection_tune.heartbeat = b->opts.heartbeat;
    c->state = CONN_TUNE;
    return keel__conn_send_method(c, 0, &m);
}

static void on_heartbeat(uv_timer_t *t)
{
    conn_t *c = t->data;
    uint64_t now = (uint64_t)keel__now_ms(c->broker);
    uint64_t interval = (uint64_t)c->heartbeat * 1000;
    if (now - c->last_read > 2 * interval) {
        /* RabbitMQ: missed heartbeats from client, closes the socket */
        keel__conn_close(c);
        return;
    }
    if (now - c->last_write >= interval / 2 && !c->write_pending) {
        keel_amqp_frame_encode(&c->out, KEEL_AMQP_FRAME_HEARTBEAT, 0, NULL, 0);
        keel__conn_flush(c);
    }
}

static int handle_tune_ok(conn_t *c, const keel_amqp_connection_tune_ok_t *t)
{
    keel_broker_t *b = c->broker;
    uint16_t chmax = t->channel_max ? t->channel_max : b->opts.channel_max;
    if (chmax > b->opts.channel_max)
        return keel__conn_error(c, KEEL_AMQP_NOT_ALLOWED, KEEL_AMQP_CONNECTION_TUNE_OK,
                                "negotiated channel_max = %u is higher than the maximum allowed value (%u)", chmax,
                                b->opts.channel_max);
    uint32_t fmax = t->frame_max ? t->frame_max : b->opts.frame_max;
    if (fmax > b->opts.frame_max)
        return keel__conn_error(c, KEEL_AMQP_NOT_ALLOWED, KEEL_AMQP_CONNECTION_TUNE_OK,
                                "negotiated frame_max = %u is higher than the maximum allowed value (%u)", fmax, b->opts.frame_max);
    if (fmax < KEEL_AMQP_FRAME_MIN_SIZE)
        return keel__conn_error(c, KEEL_AMQP_NOT_ALLOWED, KEEL_AMQP_CONNECTION_TUNE_OK, "frame_max=%u < %u min size", fmax,
                                KEEL_AMQP_FRAME_MIN_SIZE);
    c->channel_max = chmax;
    c->frame_max = fmax;
    c->heartbeat = t->heartbeat;
    c->channels = keel__calloc((size_t)chmax + 1, sizeof(*c->channels));
    if (c->channels == NULL)
        return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, KEEL_AMQP_CONNECTION_TUNE_OK, "out of memory");
    if (c->heartbeat > 0) {
        uv_timer_init(b->loop, &c->heartbeat_timer);
        c->heartbeat_timer.data = c;
        c->heartbeat_started = true;
        c->refs++;
        uint64_t half = (uint64_t)c->heartbeat * 500;
        uv_timer_start(&c->heartbeat_timer, on_heartbeat, half, half);
    }
    c->state = CONN_OPEN_WAIT;
    return 0;
}

static int handle_open(conn_t *c, const keel_amqp_connection_open_t *o)
{
    vhost_t *v = keel__vhost_find(c->broker, o->virtual_host.base, o->virtual_host.len);
    if (v == NULL)
        return keel__conn_error(c, KEEL_AMQP_NOT_ALLOWED, KEEL_AMQP_CONNECTION_OPEN, "vhost %.*s not found",
                                (int)o->virtual_host.len, o->virtual_host.base);
    if (!keel__perm_vhost_access(c->user, v))
        return keel__conn_error(c, KEEL_AMQP_NOT_ALLOWED, KEEL_AMQP_CONNECTION_OPEN, "access to vhost '%s' refused for user '%s'",
                                v->name, c->user_name);
    c->vhost = v;
    c->state = CONN_OPEN;
    if (!c->detached)
        KEEL_LOG_INFO(log_(), "connection %llu (%s): user '%s' authenticated and granted access to vhost '%s'",
                      (unsigned long long)c->id, c->peer, c->user_name, v->name);
    keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_OPEN_OK};
    return keel__conn_send_method(c, 0, &ok);
}

/* ---- frames ---- */

static int channel0_method(conn_t *c, const keel_amqp_method_t *m)
{
    switch (m->id) {
    case KEEL_AMQP_CONNECTION_START_OK:
        if (c->state == CONN_START)
            return handle_start_ok(c, &m->connection_start_ok);
        break;
    case KEEL_AMQP_CONNECTION_SECURE_OK:
        break;
    case KEEL_AMQP_CONNECTION_TUNE_OK:
        if (c->state == CONN_TUNE)
            return handle_tune_ok(c, &m->connection_tune_ok);
        break;
    case KEEL_AMQP_CONNECTION_OPEN:
        if (c->state == CONN_OPEN_WAIT)
            return handle_open(c, &m->connection_open);
        break;
    case KEEL_AMQP_CONNECTION_CLOSE: {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_CLOSE_OK};
        free_channels(c);
        keel__conn_send_method(c, 0, &ok);
        c->close_after_flush = true;
        c->state = CONN_CLOSING;
        keel__conn_flush(c);
        if (!c->write_pending)
            keel__conn_close(c);
        return KEEL_EOF;
    }
    case KEEL_AMQP_CONNECTION_CLOSE_OK:
        if (c->state == CONN_CLOSING) {
            keel__conn_close(c);
            return KEEL_EOF;
        }
        break;
    case KEEL_AMQP_CONNECTION_UPDATE_SECRET:
        if (c->state == CONN_OPEN) {
            keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_UPDATE_SECRET_OK};
            return keel__conn_send_method(c, 0, &ok);
        }
        break;
    case KEEL_AMQP_CONNECTION_BLOCKED:
    case KEEL_AMQP_CONNECTION_UNBLOCKED:
        return 0;
    default:
        break;
    }
    if (c->state == CONN_CLOSING)
        return 0;
    const char *name = keel_amqp_method_name(m->id);
    return keel__conn_error(c, KEEL_AMQP_COMMAND_INVALID, m->id, "unexpected %s on channel 0", name ? name : "method");
}

static channel_t *channel_for(conn_t *c, uint16_t id, uint32_t method_id, bool opening)
{
    if (c->state != CONN_OPEN) {
        if (c->state != CONN_CLOSING)
            keel__conn_error(c, KEEL_AMQP_CHANNEL_ERROR, method_id, "expected connection.open before using channel %u", id);
        return NULL;
    }
    if (id > c->channel_max) {
        keel__conn_error(c, KEEL_AMQP_CHANNEL_ERROR, method_id, "channel number %u out of range (channel_max %u)", id,
                         c->channel_max);
        return NULL;
    }
    channel_t *ch = c->channels[id];
    if (ch == NULL && !opening)
        keel__conn_error(c, KEEL_AMQP_CHANNEL_ERROR, method_id, "expected 'channel.open'");
    return ch;
}

static int handle_method(conn_t *c, const keel_amqp_frame_t *f)
{
    keel_amqp_method_t m;
    keel_amqp_error_t err = {0};
    if (keel_amqp_method_decode(f->payload, f->size, &m, &err) != 0)
        return keel__conn_error(c, err.code, keel_amqp_method_id(err.class_id, err.method_id), "%s", err.text);
    const keel_amqp_method_info_t *info = keel_amqp_method_info(m.id);
    if (info != NULL && !(info->flags & KEEL_AMQP_METHOD_TO_SERVER) && c->state != CONN_CLOSING)
        return keel__conn_error(c, KEEL_AMQP_COMMAND_INVALID, m.id, "%s is a method only a server sends", info->name);
    if (f->channel == 0)
        return channel0_method(c, &m);
    if (c->state == CONN_CLOSING)
        return 0;
    channel_t *ch = channel_for(c, f->channel, m.id, m.id == KEEL_AMQP_CHANNEL_OPEN);
    if (c->state != CONN_OPEN)
        return KEEL_EPROTO;
    if (ch == NULL) {
        ch = keel__channel_new(c, f->channel);
        if (ch == NULL)
            return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, m.id, "out of memory");
        c->channels[f->channel] = ch;
        c->n_channels++;
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_OPEN_OK};
        return keel__conn_send_method(c, f->channel, &ok);
    }
    return keel__channel_method(ch, &m);
}

static int handle_frame(conn_t *c, const keel_amqp_frame_t *f)
{
    switch (f->type) {
    case KEEL_AMQP_FRAME_HEARTBEAT:
        return 0;
    case KEEL_AMQP_FRAME_METHOD:
        return handle_method(c, f);
    case KEEL_AMQP_FRAME_HEADER:
    case KEEL_AMQP_FRAME_BODY: {
        if (c->state == CONN_CLOSING)
            return 0;
        channel_t *ch = channel_for(c, f->channel, 0, false);
        if (ch == NULL)
            return KEEL_EPROTO;
        if (f->type == KEEL_AMQP_FRAME_BODY)
            return keel__channel_body(ch, f->payload, f->size);
        keel_amqp_header_t h;
        keel_amqp_error_t err = {0};
        if (keel_amqp_header_decode(f->payload, f->size, &h, &err) != 0) {
            /* a bad header belongs to the publish it follows (RabbitMQ: 60/40) */
            uint32_t mid = ch->pending.active ? KEEL_AMQP_BASIC_PUBLISH : keel_amqp_method_id(err.class_id, err.method_id);
            return keel__conn_error(c, err.code, mid, "%s", err.text);
        }
        return keel__channel_header(ch, &h);
    }
    default:
        return keel__conn_error(c, KEEL_AMQP_FRAME_ERROR, 0, "unknown frame type %u", f->type);
    }
}

static void process(conn_t *c)
{
    size_t off = 0;
    while (c->state != CONN_CLOSED && off < c->in_len) {
        if (c->state == CONN_HEADER) {
            keel_amqp_protocol_t proto;
            size_t used;
            int rc = keel_amqp_protocol_parse(c->in + off, c->in_len - off, &proto, &used);
            if (rc == KEEL_EAGAIN)
                break;
            off += used;
            if (proto.kind != KEEL_AMQP_PROTO_0_9_1 && proto.kind != KEEL_AMQP_PROTO_0_9) {
                /* answer with the protocol we speak, then close (AMQP 0-9-1 §4.2.2) */
                keel_buf_append(&c->out, KEEL_AMQP_PROTOCOL_HEADER, KEEL_AMQP_PROTOCOL_HEADER_SIZE);
                mark_output(c);
                c->close_after_flush = true;
                c->state = CONN_CLOSING;
                keel__conn_flush(c);
                break;
            }
            send_start(c);
            continue;
        }
        keel_amqp_frame_t f;
        size_t used;
        keel_amqp_error_t err = {0};
        uint32_t fmax = c->frame_max ? c->frame_max : KEEL_AMQP_FRAME_MIN_SIZE;
        int rc = keel_amqp_frame_parse(c->in + off, c->in_len - off, fmax, &f, &used, &err);
        if (rc == KEEL_EAGAIN)
            break;
        if (rc != 0) {
            keel__conn_error(c, err.code ? err.code : KEEL_AMQP_FRAME_ERROR, 0, "%s", err.text ? err.text : "malformed frame");
            off = c->in_len; /* the stream cannot be resynchronised */
            break;
        }
        off += used;
        rc = handle_frame(c, &f);
        if (rc == KEEL_EOF || c->state == CONN_CLOSED)
            break;
    }
    if (c->state == CONN_CLOSED) {
        c->in_len = 0;
        return;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

conn_t *keel__conn_new_detached(keel_broker_t *b)
{
    conn_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->broker = b;
    c->refs = 1;
    c->detached = true;
    c->loopback = true;
    c->id = ++b->next_conn_id;
    keel_buf_init(&c->out);
    keel_buf_init(&c->writing);
    keel_list_init(&c->flush_link);
    snprintf(c->peer, sizeof(c->peer), "detached:%llu", (unsigned long long)c->id);
    c->state = CONN_HEADER;
    keel_list_push(&b->conns, &c->link);
    b->n_conns++;
    return c;
}

void keel__conn_feed(conn_t *c, const uint8_t *data, size_t len)
{
    while (len > 0 && c->state != CONN_CLOSED) {
        size_t room = c->in_cap - c->in_len;
        if (room == 0) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
            uint8_t *p = keel__realloc(c->in, cap);
            if (p == NULL)
                return;
            c->in = p;
            c->in_cap = cap;
            continue;
        }
        size_t n = len < room ? len : room;
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        data += n;
        len -= n;
        c->refs++;
        process(c);
        if (c->state != CONN_CLOSED)
            keel__conn_flush(c);
        bool closed = c->state == CONN_CLOSED;
        conn_unref(c);
        if (closed)
            return;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    size_t need = c->in_len + READ_CHUNK;
    if (need > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : READ_CHUNK;
        while (cap < need)
            cap *= 2;
        uint8_t *p = keel__realloc(c->in, cap);
        if (p == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        keel__conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->in_len += (size_t)nread;
    c->broker->rx_bytes += (uint64_t)nread;
    c->last_read = (uint64_t)keel__now_ms(c->broker);
    c->refs++;
    process(c);
    if (c->state != CONN_CLOSED)
        keel__conn_flush(c);
    conn_unref(c);
}

void keel__conn_accept(keel_broker_t *b, uv_stream_t *server)
{
    conn_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->broker = b;
    c->refs = 1; /* the tcp handle */
    c->id = ++b->next_conn_id;
    keel_buf_init(&c->out);
    keel_buf_init(&c->writing);
    keel_list_init(&c->flush_link);
    uv_tcp_init(b->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing_handle = true;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char host[INET6_ADDRSTRLEN] = "";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            uv_ip4_name(in, host, sizeof(host));
            port = ntohs(in->sin_port);
            c->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(in6, host, sizeof(host));
            port = ntohs(in6->sin6_port);
            c->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                          (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    }
    c->state = CONN_HEADER;
    c->last_read = c->last_write = (uint64_t)keel__now_ms(b);
    KEEL_LOG_INFO(log_(), "accepting AMQP connection %llu (%s)", (unsigned long long)c->id, c->peer);
    keel_list_push(&b->conns, &c->link);
    b->n_conns++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}
