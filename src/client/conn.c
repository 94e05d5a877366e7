/*
 * conn.c — one connection attempt: resolving the host, TCP, TLS, the AMQP
 * handshake (start/start-ok with PLAIN, tune/tune-ok, open), reading and
 * parsing frames, writing, heartbeats and the connection close handshake.
 *
 * Each attempt has its own xport_t holding the libuv handle and requests,
 * so that a connection that ended can finish closing while the client
 * already tries the next one: a late callback finds its xport detached
 * (x->client == NULL) and only drops its reference. The input and output
 * buffers belong to the client and are reused by every connection.
 *
 * Output is batched as in keeld: frames accumulate in client->out and go
 * out in one write per loop turn, at most one write in flight; with TLS
 * the batch is encrypted as a whole just before it is written.
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

#define READ_CHUNK 65536

struct keel__cxport_s {
    keel_client_t *client; /* NULL once detached */
    keel_client_t *owner;  /* for the count of live attempts */
    size_t host;
    int refs; /* attachment, handle, requests in flight */
    bool tcp_open;
    bool connected;
    bool closing;
    bool close_after_write;
    bool tls_done;
    bool write_pending;
    uv_getaddrinfo_t gai;
    bool gai_pending;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    keel_buf_t writing;
    keel__ctls_t *tls;
    uint8_t *raw; /* TLS: ciphertext as read */
};

void keel__cconn_xport_unref(xport_t *x)
{
    if (--x->refs > 0)
        return;
    keel_client_t *owner = x->owner;
    keel__ctls_free(x->tls);
    keel_buf_free(&x->writing);
    keel__free(x->raw);
    keel__free(x);
    keel__client_xport_gone(owner);
}

static void on_tcp_closed(uv_handle_t *h)
{
    keel__cconn_xport_unref(h->data);
}

static void close_tcp(xport_t *x)
{
    if (!x->tcp_open || x->closing)
        return;
    x->closing = true;
    uv_read_stop((uv_stream_t *)&x->tcp);
    uv_close((uv_handle_t *)&x->tcp, on_tcp_closed);
}

static void detach(keel_client_t *c, bool graceful)
{
    xport_t *x = c->x;
    if (x == NULL)
        return;
    c->x = NULL;
    c->gen++;
    c->hs = HS_NONE;
    c->blocked = false;
    keel_buf_reset(&c->out);
    c->in_len = 0;
    x->client = NULL;
    if (x->gai_pending)
        uv_cancel((uv_req_t *)&x->gai);
    if (graceful && x->write_pending)
        x->close_after_write = true; /* close-ok goes out first */
    else
        close_tcp(x);
    keel__cconn_xport_unref(x); /* the attachment */
}

void keel__cconn_detach(keel_client_t *c)
{
    detach(c, false);
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
    xport_t *x = req->data;
    x->write_pending = false;
    keel_buf_reset(&x->writing);
    keel_client_t *c = x->client;
    if (c == NULL) {
        if (x->close_after_write)
            close_tcp(x);
    } else if (status < 0) {
        keel__client_conn_lost(c, status, 0, (keel_amqp_str_t){0});
    } else if (c->out.len > 0) {
        keel__cconn_flush(c);
    }
    keel__cconn_xport_unref(x);
}

void keel__cconn_flush(keel_client_t *c)
{
    xport_t *x = c->x;
    if (x == NULL || !x->connected || x->write_pending)
        return;
    if (x->tls != NULL) {
        int rc = 0;
        if (x->tls_done && c->out.len > 0) {
            rc = keel__ctls_write(x->tls, c->out.base, c->out.len);
            keel_buf_reset(&c->out);
        }
        if (rc == 0)
            rc = keel__ctls_drain(x->tls, &x->writing);
        if (rc != 0) {
            keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
            return;
        }
    } else {
        if (c->out.len == 0)
            return;
        keel_buf_t tmp = x->writing;
        x->writing = c->out;
        c->out = tmp;
        keel_buf_reset(&c->out);
    }
    if (x->writing.len == 0)
        return;
    uv_buf_t buf = uv_buf_init(x->writing.base, (unsigned)x->writing.len);
    x->wreq.data = x;
    int rc = uv_write(&x->wreq, (uv_stream_t *)&x->tcp, &buf, 1, on_write);
    if (rc != 0) {
        keel_buf_reset(&x->writing);
        keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
        return;
    }
    x->write_pending = true;
    x->refs++;
    c->last_write = (uint64_t)keel__client_now(c);
}

int keel__cconn_send(keel_client_t *c, uint16_t channel, const keel_amqp_method_t *m)
{
    int rc = keel_amqp_method_encode(&c->out, channel, m);
    if (rc == 0)
        keel__client_wake(c);
    return rc;
}

/* ---- heartbeats ---- */

static void on_heartbeat(uv_timer_t *t)
{
    keel_client_t *c = t->data;
    if (c->state != CL_OPEN || c->x == NULL || c->heartbeat == 0)
        return;
    uint64_t now = (uint64_t)keel__client_now(c);
    uint64_t interval = (uint64_t)c->heartbeat * 1000;
    if (now - c->last_read > 2 * interval) {
        /* two intervals without a byte: the peer is gone (py-amqp, RabbitMQ) */
        keel__client_conn_lost(c, KEEL_ETIMEDOUT, 0, KEEL_AMQP_STR("missed heartbeats from server"));
        return;
    }
    if (now - c->last_write >= interval / 2 && c->out.len == 0) {
        if (keel_amqp_frame_encode(&c->out, KEEL_AMQP_FRAME_HEARTBEAT, 0, NULL, 0) == 0)
            keel__cconn_flush(c);
    }
}

void keel__cconn_heartbeat_start(keel_client_t *c)
{
    if (c->heartbeat == 0)
        return;
    c->last_read = c->last_write = (uint64_t)keel__client_now(c);
    uint64_t tick = (uint64_t)c->heartbeat * 1000 / 4;
    uv_timer_start(&c->heartbeat_timer, on_heartbeat, tick, tick);
}

/* ---- handshake ---- */

static int build_client_properties(keel_client_t *c, keel_buf_t *buf, keel_amqp_table_t *out)
{
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, buf);
    keel_amqp_build_str(&b, "product", c->opts.product);
    keel_amqp_build_str(&b, "version", c->opts.version);
    keel_amqp_build_str(&b, "platform", "C (libuv)");
    keel_amqp_build_str(&b, "information", "keel: OpenStack's common plumbing in C");
    if (c->opts.connection_name != NULL)
        keel_amqp_build_str(&b, "connection_name", c->opts.connection_name);
    keel_amqp_build_begin(&b, KEEL_AMQP_STR("capabilities"), KEEL_AMQP_FIELD_TABLE);
    static const char *const caps[] = {"publisher_confirms",     "exchange_exchange_bindings", "basic.nack",
                                       "consumer_cancel_notify", "connection.blocked",         "authentication_failure_close"};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        keel_amqp_build_bool(&b, caps[i], true);
    keel_amqp_build_end(&b);
    return keel_amqp_builder_finish(&b, out);
}

/* Whether the space-separated list holds word. */
static bool has_word(keel_amqp_str_t list, const char *word)
{
    size_t wl = strlen(word);
    size_t i = 0;
    while (i < list.len) {
        size_t j = i;
        while (j < list.len && list.base[j] != ' ')
            j++;
        if (j - i == wl && memcmp(list.base + i, word, wl) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

static int handle_start(keel_client_t *c, const keel_amqp_connection_start_t *s)
{
    if (s->version_major != 0 || s->version_minor != 9)
        return KEEL_EPROTO;
    if (!has_word(s->mechanisms, "PLAIN"))
        return KEEL_ENOTSUP;
    keel_buf_reset(&c->server_props);
    c->server_product = c->server_version = (keel_amqp_str_t){0};
    if (keel_buf_append(&c->server_props, s->server_properties.base, s->server_properties.len) == 0) {
        keel_amqp_table_t t = {(const uint8_t *)c->server_props.base, c->server_props.len};
        keel_amqp_table_get_str(t, "product", &c->server_product);
        keel_amqp_table_get_str(t, "version", &c->server_version);
    }
    keel_buf_t props, resp;
    keel_buf_init(&props);
    keel_buf_init(&resp);
    keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_START_OK};
    int rc = build_client_properties(c, &props, &m.connection_start_ok.client_properties);
    /* PLAIN: authzid, authcid and password separated by NULs (RFC 4616) */
    if (rc == 0)
        rc = keel_buf_putc(&resp, '\0');
    if (rc == 0)
        rc = keel_buf_puts(&resp, c->opts.user);
    if (rc == 0)
        rc = keel_buf_putc(&resp, '\0');
    if (rc == 0)
        rc = keel_buf_puts(&resp, c->opts.password);
    if (rc == 0) {
        m.connection_start_ok.mechanism = KEEL_AMQP_STR("PLAIN");
        m.connection_start_ok.response = (keel_amqp_str_t){resp.base, resp.len};
        m.connection_start_ok.locale = KEEL_AMQP_STR("en_US");
        rc = keel__cconn_send(c, 0, &m);
    }
    keel_buf_free(&props);
    keel_buf_free(&resp);
    if (rc == 0)
        c->hs = HS_TUNE;
    return rc;
}

/* The smaller of two limits where 0 means none. */
static uint32_t negotiate(uint32_t ours, uint32_t theirs)
{
    if (ours == 0)
        return theirs;
    if (theirs == 0)
        return ours;
    return ours < theirs ? ours : theirs;
}

static int handle_tune(keel_client_t *c, const keel_amqp_connection_tune_t *t)
{
    uint32_t chmax = negotiate(c->opts.channel_max, t->channel_max);
    c->channel_max = (uint16_t)(chmax == 0 || chmax > 65535 ? 65535 : chmax);
    uint32_t fmax = negotiate(c->opts.frame_max, t->frame_max);
    c->frame_max = fmax == 0 ? 0 : (fmax < KEEL_AMQP_FRAME_MIN_SIZE ? KEEL_AMQP_FRAME_MIN_SIZE : fmax);
    /* py-amqp's rule: our 0 turns heartbeats off; the server's 0 takes ours; else the smaller */
    uint16_t hb = c->opts.heartbeat;
    if (hb != 0 && t->heartbeat != 0 && t->heartbeat < hb)
        hb = t->heartbeat;
    c->heartbeat = hb;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_TUNE_OK};
    ok.connection_tune_ok.channel_max = c->channel_max;
    ok.connection_tune_ok.frame_max = c->frame_max;
    ok.connection_tune_ok.heartbeat = c->heartbeat;
    keel_amqp_method_t open = {.id = KEEL_AMQP_CONNECTION_OPEN};
    open.connection_open.virtual_host = keel_amqp_str(c->opts.vhost);
    int rc = keel__cconn_send(c, 0, &ok);
    if (rc == 0)
        rc = keel__cconn_send(c, 0, &open);
    if (rc == 0)
        c->hs = HS_OPEN_OK;
    return rc;
}

/* The server closed the connection: answer close-ok, then end or give up. */
static void handle_close(keel_client_t *c, const keel_amqp_connection_close_t *cl)
{
    keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_CLOSE_OK};
    keel__cconn_send(c, 0, &ok);
    keel__cconn_flush(c);
    if (c->state == CL_CLOSING) {
        keel__client_close_done(c);
        return;
    }
    /* Copy the text: the input buffer goes with the connection. */
    char text[256];
    size_t n = cl->reply_text.len < sizeof(text) ? cl->reply_text.len : sizeof(text);
    memcpy(text, cl->reply_text.base, n);
    keel_amqp_str_t t = {text, n};
    int status = keel__client_reply_status(cl->reply_code);
    bool in_handshake = c->hs != HS_DONE;
    detach(c, true);
    if (in_handshake && (cl->reply_code == KEEL_AMQP_ACCESS_REFUSED || cl->reply_code == KEEL_AMQP_NOT_ALLOWED)) {
        /* a refused login or vhost: connecting again cannot mend it */
        keel__client_fail(c, KEEL_EACCES, cl->reply_code, t);
        return;
    }
    if (status == 0)
        status = KEEL_ECONNRESET;
    keel__client_conn_lost(c, status, cl->reply_code, t);
}

static int connection_method(keel_client_t *c, const keel_amqp_method_t *m)
{
    switch (m->id) {
    case KEEL_AMQP_CONNECTION_START:
        if (c->hs != HS_START)
            break;
        return handle_start(c, &m->connection_start);
    case KEEL_AMQP_CONNECTION_TUNE:
        if (c->hs != HS_TUNE)
            break;
        return handle_tune(c, &m->connection_tune);
    case KEEL_AMQP_CONNECTION_OPEN_OK:
        if (c->hs != HS_OPEN_OK)
            break;
        c->hs = HS_DONE;
        keel__client_opened(c);
        return 0;
    case KEEL_AMQP_CONNECTION_CLOSE:
        handle_close(c, &m->connection_close);
        return 0;
    case KEEL_AMQP_CONNECTION_CLOSE_OK:
        if (c->state == CL_CLOSING) {
            keel__client_close_done(c);
            return 0;
        }
        break;
    case KEEL_AMQP_CONNECTION_BLOCKED: {
        c->blocked = true;
        keel_client_event_t ev = {.host = c->order[c->order_pos], .reply_text = m->connection_blocked.reason};
        keel__client_event(c, KEEL_CLIENT_EVENT_BLOCKED, 0, &ev);
        return 0;
    }
    case KEEL_AMQP_CONNECTION_UNBLOCKED:
        c->blocked = false;
        keel__client_event(c, KEEL_CLIENT_EVENT_UNBLOCKED, 0, NULL);
        return 0;
    case KEEL_AMQP_CONNECTION_UPDATE_SECRET_OK:
        return 0;
    default:
        break;
    }
    return KEEL_EPROTO;
}

/* ---- input ---- */

/* Ends the connection because the server broke the protocol (we tell it why). */
static void protocol_error(keel_client_t *c, uint16_t code, const char *text)
{
    if (c->hs == HS_DONE) {
        keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_CLOSE};
        m.connection_close.reply_code = code;
        m.connection_close.reply_text = keel_amqp_str(text);
        keel__cconn_send(c, 0, &m);
        keel__cconn_flush(c);
    }
    keel__client_conn_lost(c, KEEL_EPROTO, code, keel_amqp_str(text));
}

static int handle_frame(keel_client_t *c, const keel_amqp_frame_t *f)
{
    if (f->type == KEEL_AMQP_FRAME_HEARTBEAT)
        return 0;
    keel_client_channel_t *ch = NULL;
    if (f->channel != 0) {
        if (c->hs != HS_DONE || c->state != CL_OPEN)
            return 0; /* closing: only channel 0 matters */
        ch = f->channel < c->n_slots ? c->channels[f->channel] : NULL;
        if (ch == NULL)
            return 0; /* a channel we already let go */
    }
    if (f->type == KEEL_AMQP_FRAME_METHOD) {
        keel_amqp_method_t m;
        keel_amqp_error_t err = {0};
        if (keel_amqp_method_decode(f->payload, f->size, &m, &err) != 0) {
            protocol_error(c, err.code ? err.code : KEEL_AMQP_FRAME_ERROR, err.text ? err.text : "malformed method");
            return KEEL_EPROTO;
        }
        if (f->channel == 0) {
            int rc = connection_method(c, &m);
            if (rc == KEEL_EPROTO)
                protocol_error(c, KEEL_AMQP_COMMAND_INVALID, "unexpected method on channel 0");
            else if (rc != 0)
                keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
            return rc;
        }
        int rc = keel__cchan_method(ch, f, &m);
        if (rc != 0) {
            char text[128];
            const char *name = keel_amqp_method_name(m.id);
            snprintf(text, sizeof(text),
                     rc == KEEL_ENOMEM ? "client out of memory handling %s on channel %u" : "unexpected %s on channel %u",
                     name ? name : "method", f->channel);
            protocol_error(c, rc == KEEL_ENOMEM ? KEEL_AMQP_INTERNAL_ERROR : KEEL_AMQP_UNEXPECTED_FRAME, text);
        }
        return rc;
    }
    if (ch == NULL) {
        protocol_error(c, KEEL_AMQP_UNEXPECTED_FRAME, "content frame on channel 0");
        return KEEL_EPROTO;
    }
    int rc = f->type == KEEL_AMQP_FRAME_HEADER ? keel__cchan_header(ch, f) : keel__cchan_body(ch, f);
    if (rc != 0)
        protocol_error(c, rc == KEEL_ENOMEM ? KEEL_AMQP_INTERNAL_ERROR : KEEL_AMQP_UNEXPECTED_FRAME,
                       rc == KEEL_ENOMEM ? "client out of memory" : "unexpected content frame");
    return rc;
}

/* Handles every complete frame in the input buffer. */
static void process(keel_client_t *c)
{
    uint64_t gen = c->gen;
    size_t off = 0;
    while (off < c->in_len) {
        if (c->hs == HS_START && c->in_len - off >= 4 && memcmp(c->in + off, "AMQP", 4) == 0) {
            /* the server answered with the protocol it speaks instead */
            keel__client_conn_lost(c, KEEL_EPROTO, 0, KEEL_AMQP_STR("protocol version mismatch"));
            return;
        }
        keel_amqp_frame_t f;
        size_t used;
        keel_amqp_error_t err = {0};
        uint32_t fmax = c->frame_max ? c->frame_max : 1u << 20;
        int rc = keel_amqp_frame_parse(c->in + off, c->in_len - off, fmax, &f, &used, &err);
        if (rc == KEEL_EAGAIN)
            break;
        if (rc != 0) {
            protocol_error(c, err.code ? err.code : KEEL_AMQP_FRAME_ERROR, err.text ? err.text : "malformed frame");
            return;
        }
        off += used;
        handle_frame(c, &f);
        if (c->gen != gen)
            return; /* the connection ended; its input went with it */
    }
    /* Content still being assembled points into the input: copy it before
     * the buffer moves. */
    while (!keel_list_empty(&c->assembling)) {
        keel_client_channel_t *ch = keel_container_of(c->assembling.next, keel_client_channel_t, as.link);
        if (keel__cchan_stabilize(ch) != 0) {
            protocol_error(c, KEEL_AMQP_INTERNAL_ERROR, "client out of memory");
            return;
        }
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static int in_reserve(keel_client_t *c, size_t extra)
{
    size_t need = c->in_len + extra;
    if (need <= c->in_cap)
        return 0;
    size_t cap = c->in_cap ? c->in_cap : READ_CHUNK;
    while (cap < need)
        cap *= 2;
    uint8_t *p = keel__realloc(c->in, cap);
    if (p == NULL)
        return KEEL_ENOMEM;
    c->in = p;
    c->in_cap = cap;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    xport_t *x = h->data;
    keel_client_t *c = x->client;
    if (c == NULL) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (x->tls != NULL) {
        if (x->raw == NULL)
            x->raw = keel__malloc(READ_CHUNK);
        *buf = uv_buf_init((char *)x->raw, x->raw ? READ_CHUNK : 0);
        return;
    }
    if (in_reserve(c, READ_CHUNK) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void send_protocol_header(keel_client_t *c)
{
    if (keel_buf_append(&c->out, KEEL_AMQP_PROTOCOL_HEADER, KEEL_AMQP_PROTOCOL_HEADER_SIZE) != 0) {
        keel__client_conn_lost(c, KEEL_ENOMEM, 0, (keel_amqp_str_t){0});
        return;
    }
    c->hs = HS_START;
    keel__cconn_flush(c);
}

/* Drives the TLS handshake; then decrypts what came in. Returns 0 or ends the connection. */
static int tls_input(keel_client_t *c, xport_t *x)
{
    uint64_t gen = c->gen;
    if (!x->tls_done) {
        char why[256] = "";
        int rc = keel__ctls_handshake(x->tls, why, sizeof(why));
        if (rc == KEEL_EAGAIN) {
            keel__cconn_flush(c);
            return KEEL_EAGAIN;
        }
        if (rc != 0) {
            keel__client_conn_lost(c, rc, 0, keel_amqp_str(why));
            return rc;
        }
        x->tls_done = true;
        send_protocol_header(c);
        if (c->gen != gen)
            return KEEL_ECONNRESET;
    }
    for (;;) {
        if (in_reserve(c, 16384) != 0) {
            keel__client_conn_lost(c, KEEL_ENOMEM, 0, (keel_amqp_str_t){0});
            return KEEL_ENOMEM;
        }
        long n = keel__ctls_read(x->tls, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0)
            break;
        if (n < 0) {
            keel__client_conn_lost(c, n == KEEL_EOF ? KEEL_ECONNRESET : (int)n, 0, (keel_amqp_str_t){0});
            return (int)n;
        }
        c->in_len += (size_t)n;
    }
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    xport_t *x = s->data;
    keel_client_t *c = x->client;
    if (c == NULL || nread == 0)
        return;
    if (nread < 0) {
        int st = nread == UV_EOF ? KEEL_ECONNRESET : (nread == UV_ENOBUFS ? KEEL_ENOMEM : (int)nread);
        keel__client_conn_lost(c, st, 0, (keel_amqp_str_t){0});
        return;
    }
    c->last_read = (uint64_t)keel__client_now(c);
    if (x->tls != NULL) {
        if (keel__ctls_feed(x->tls, buf->base, (size_t)nread) != 0) {
            keel__client_conn_lost(c, KEEL_ENOMEM, 0, (keel_amqp_str_t){0});
            return;
        }
        if (tls_input(c, x) != 0)
            return;
    } else {
        c->in_len += (size_t)nread;
    }
    uint64_t gen = c->gen;
    process(c);
    if (c->gen == gen)
        keel__cconn_flush(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    xport_t *x = req->data;
    keel_client_t *c = x->client;
    if (c != NULL) {
        if (status < 0) {
            keel__client_conn_lost(c, status, 0, (keel_amqp_str_t){0});
        } else {
            x->connected = true;
            uv_tcp_nodelay(&x->tcp, 1);
            int rc = uv_read_start((uv_stream_t *)&x->tcp, on_alloc, on_read);
            if (rc != 0)
                keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
            else if (x->tls != NULL)
                tls_input(c, x); /* sends the ClientHello */
            else
                send_protocol_header(c);
        }
    }
    keel__cconn_xport_unref(x);
}

static int do_connect(xport_t *x, const struct sockaddr *addr)
{
    keel_client_t *c = x->client;
    int rc = uv_tcp_init(c->loop, &x->tcp);
    if (rc != 0)
        return rc;
    x->tcp.data = x;
    x->tcp_open = true;
    x->refs++; /* the handle */
    x->creq.data = x;
    rc = uv_tcp_connect(&x->creq, &x->tcp, addr, on_connect);
    if (rc != 0)
        return rc;
    x->refs++; /* the request */
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    xport_t *x = req->data;
    x->gai_pending = false;
    keel_client_t *c = x->client;
    if (c != NULL) {
        int rc = status;
        if (rc == 0)
            rc = res != NULL ? do_connect(x, res->ai_addr) : KEEL_ENOENT;
        if (rc != 0)
            keel__client_conn_lost(c, rc == UV_EAI_NONAME ? KEEL_ENOENT : rc, 0, (keel_amqp_str_t){0});
    }
    if (res != NULL)
        uv_freeaddrinfo(res);
    keel__cconn_xport_unref(x);
}

int keel__cconn_start(keel_client_t *c, size_t h)
{
    xport_t *x = keel__calloc(1, sizeof(*x));
    if (x == NULL)
        return KEEL_ENOMEM;
    x->client = c;
    x->owner = c;
    x->host = h;
    x->refs = 1; /* the attachment */
    keel_buf_init(&x->writing);
    c->live_xports++;
    c->x = x;
    c->hs = HS_NONE;
    c->in_len = 0;
    c->frame_max = 0;
    keel_buf_reset(&c->out);
    const keel_client_host_t *host = &c->hosts[h];
    if (c->tls_ctx != NULL) {
        const char *name = c->opts.ssl_server_name ? c->opts.ssl_server_name : host->host;
        int rc = keel__ctls_new(&x->tls, c->tls_ctx, name, c->opts.ssl_verify);
        if (rc != 0)
            return rc; /* the caller's conn_lost detaches x */
    }
    struct sockaddr_storage addr;
    if (uv_ip4_addr(host->host, host->port, (struct sockaddr_in *)&addr) == 0 ||
        uv_ip6_addr(host->host, host->port, (struct sockaddr_in6 *)&addr) == 0)
        return do_connect(x, (const struct sockaddr *)&addr);
    char port[8];
    snprintf(port, sizeof(port), "%u", host->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    x->gai.data = x;
    int rc = uv_getaddrinfo(c->loop, &x->gai, on_resolved, host->host, port, &hints);
    if (rc != 0)
        return rc;
    x->gai_pending = true;
    x->refs++;
    return 0;
}
