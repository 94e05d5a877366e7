/*
 * fake_server.h — a scripted AMQP server on the test's loop, for the peers
 * keeld will not be: one that accepts and never speaks, one that completes
 * the handshake and then goes silent (heartbeat detection), one that
 * answers with another protocol, one that sends connection.blocked. It
 * counts what the client sends (frames by type, heartbeats) so tests can
 * check the client's side of the conversation. Header-only.
 */
#ifndef KEEL_FAKE_SERVER_H
#define KEEL_FAKE_SERVER_H

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "keel/amqp.h"

typedef enum {
    FS_SILENT,      /* accept, never answer */
    FS_HANDSHAKE,   /* complete the handshake, then answer nothing but channel.open */
    FS_WRONG_PROTO, /* answer the protocol header with AMQP 0-10's */
    FS_BLOCKING,    /* after open-ok: connection.blocked, then unblocked */
    FS_CLOSE_320,   /* after open-ok: connection.close 320 */
    FS_BAD_LOGIN,   /* answer start-ok with connection.close 403 */
    FS_REORDER,     /* as RabbitMQ can: basic.consume-ok after the next method's reply */
} fs_mode_t;

typedef struct fs_conn_s fs_conn_t;

typedef struct {
    uv_loop_t *loop;
    uv_tcp_t listener;
    fs_mode_t mode;
    uint16_t port;
    uint16_t heartbeat; /* offered in connection.tune */
    int accepted;
    int heartbeats_in; /* heartbeat frames from the client */
    int frames_in;
    int close_ok_in;
    int open_conns;
    bool send_heartbeats; /* answer the client's heartbeats with ours (FS_HANDSHAKE) */
    char held_tag[256];   /* FS_REORDER: the consume-ok held back */
    bool holding;
    fs_conn_t *conns[16];
} fake_server_t;

struct fs_conn_s {
    fake_server_t *fs;
    uv_tcp_t tcp;
    uint8_t in[65536];
    size_t in_len;
    bool header_seen;
    keel_buf_t out;
    bool closed;
};

static inline void fs_conn_closed(uv_handle_t *h)
{
    fs_conn_t *fc = h->data;
    fc->fs->open_conns--;
    for (int i = 0; i < 16; i++)
        if (fc->fs->conns[i] == fc)
            fc->fs->conns[i] = NULL;
    keel_buf_free(&fc->out);
    free(fc);
}

static inline void fs_conn_close(fs_conn_t *fc)
{
    if (fc->closed)
        return;
    fc->closed = true;
    uv_close((uv_handle_t *)&fc->tcp, fs_conn_closed);
}

static inline void fs_written(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
}

static inline void fs_flush(fs_conn_t *fc)
{
    if (fc->out.len == 0 || fc->closed)
        return;
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = malloc(fc->out.len);
    memcpy(copy, fc->out.base, fc->out.len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)fc->out.len);
    uv_write(w, (uv_stream_t *)&fc->tcp, &b, 1, fs_written);
    keel_buf_reset(&fc->out);
}

static inline void fs_send(fs_conn_t *fc, uint16_t channel, const keel_amqp_method_t *m)
{
    keel_amqp_method_encode(&fc->out, channel, m);
}

static inline void fs_method(fs_conn_t *fc, uint16_t channel, const keel_amqp_method_t *m)
{
    fake_server_t *fs = fc->fs;
    switch (m->id) {
    case KEEL_AMQP_CONNECTION_START_OK: {
        if (fs->mode == FS_BAD_LOGIN) {
            keel_amqp_method_t cl = {.id = KEEL_AMQP_CONNECTION_CLOSE};
            cl.connection_close.reply_code = 403;
            cl.connection_close.reply_text = KEEL_AMQP_STR("ACCESS_REFUSED - Login was refused");
            cl.connection_close.class_id = 10;
            cl.connection_close.method_id = 11;
            fs_send(fc, 0, &cl);
            break;
        }
        keel_amqp_method_t t = {.id = KEEL_AMQP_CONNECTION_TUNE};
        t.connection_tune.channel_max = 100;
        t.connection_tune.frame_max = 8192;
        t.connection_tune.heartbeat = fs->heartbeat;
        fs_send(fc, 0, &t);
        break;
    }
    case KEEL_AMQP_CONNECTION_OPEN: {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_OPEN_OK};
        fs_send(fc, 0, &ok);
        if (fs->mode == FS_BLOCKING) {
            keel_amqp_method_t b = {.id = KEEL_AMQP_CONNECTION_BLOCKED};
            b.connection_blocked.reason = KEEL_AMQP_STR("low on memory");
            fs_send(fc, 0, &b);
            keel_amqp_method_t u = {.id = KEEL_AMQP_CONNECTION_UNBLOCKED};
            fs_send(fc, 0, &u);
        } else if (fs->mode == FS_CLOSE_320) {
            keel_amqp_method_t cl = {.id = KEEL_AMQP_CONNECTION_CLOSE};
            cl.connection_close.reply_code = 320;
            cl.connection_close.reply_text = KEEL_AMQP_STR("CONNECTION_FORCED - broker forced connection closure");
            fs_send(fc, 0, &cl);
        }
        break;
    }
    case KEEL_AMQP_CHANNEL_OPEN: {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_OPEN_OK};
        fs_send(fc, channel, &ok);
        break;
    }
    case KEEL_AMQP_CONNECTION_CLOSE: {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CONNECTION_CLOSE_OK};
        fs_send(fc, 0, &ok);
        break;
    }
    case KEEL_AMQP_CONNECTION_CLOSE_OK:
        fs->close_ok_in++;
        break;
    case KEEL_AMQP_BASIC_CONSUME:
        if (fs->mode == FS_REORDER) {
            snprintf(fs->held_tag, sizeof(fs->held_tag), "%.*s", (int)m->basic_consume.consumer_tag.len,
                     m->basic_consume.consumer_tag.base);
            fs->holding = true;
        }
        break;
    case KEEL_AMQP_CONFIRM_SELECT:
        if (fs->mode == FS_REORDER) {
            keel_amqp_method_t ok = {.id = KEEL_AMQP_CONFIRM_SELECT_OK};
            fs_send(fc, channel, &ok);
            if (fs->holding) {
                keel_amqp_method_t cok = {.id = KEEL_AMQP_BASIC_CONSUME_OK};
                cok.basic_consume_ok.consumer_tag = keel_amqp_str(fs->held_tag);
                fs_send(fc, channel, &cok);
                fs->holding = false;
            }
        }
        break;
    default:
        break;
    }
}

static inline void fs_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    fs_conn_t *fc = h->data;
    *b = uv_buf_init((char *)fc->in + fc->in_len, (unsigned)(sizeof(fc->in) - fc->in_len));
}

static inline void fs_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    fs_conn_t *fc = s->data;
    fake_server_t *fs = fc->fs;
    if (n < 0) {
        fs_conn_close(fc);
        return;
    }
    fc->in_len += (size_t)n;
    size_t off = 0;
    if (!fc->header_seen) {
        if (fc->in_len < 8)
            return;
        fc->header_seen = true;
        off = 8;
        if (fs->mode == FS_SILENT) {
            fc->in_len = 0;
            return;
        }
        if (fs->mode == FS_WRONG_PROTO) {
            keel_buf_append(&fc->out, "AMQP\x01\x01\x00\x0a", 8);
            fs_flush(fc);
            fc->in_len = 0;
            return;
        }
        keel_amqp_method_t st = {.id = KEEL_AMQP_CONNECTION_START};
        st.connection_start.version_minor = 9;
        st.connection_start.mechanisms = KEEL_AMQP_STR("PLAIN AMQPLAIN");
        st.connection_start.locales = KEEL_AMQP_STR("en_US");
        fs_send(fc, 0, &st);
    }
    if (fs->mode == FS_SILENT) {
        fc->in_len = 0;
        return;
    }
    for (;;) {
        keel_amqp_frame_t f;
        size_t used;
        if (keel_amqp_frame_parse(fc->in + off, fc->in_len - off, 0, &f, &used, NULL) != 0)
            break;
        off += used;
        fs->frames_in++;
        if (f.type == KEEL_AMQP_FRAME_HEARTBEAT) {
            fs->heartbeats_in++;
            if (fs->send_heartbeats)
                keel_amqp_frame_encode(&fc->out, KEEL_AMQP_FRAME_HEARTBEAT, 0, NULL, 0);
        } else if (f.type == KEEL_AMQP_FRAME_METHOD) {
            keel_amqp_method_t m;
            if (keel_amqp_method_decode(f.payload, f.size, &m, NULL) == 0)
                fs_method(fc, f.channel, &m);
        }
    }
    memmove(fc->in, fc->in + off, fc->in_len - off);
    fc->in_len -= off;
    fs_flush(fc);
}

static inline void fs_on_conn(uv_stream_t *server, int status)
{
    fake_server_t *fs = server->data;
    fs_conn_t *fc = calloc(1, sizeof(*fc));
    fc->fs = fs;
    keel_buf_init(&fc->out);
    uv_tcp_init(fs->loop, &fc->tcp);
    fc->tcp.data = fc;
    if (uv_accept(server, (uv_stream_t *)&fc->tcp) != 0) {
        fs_conn_close(fc);
        return;
    }
    fs->accepted++;
    fs->open_conns++;
    for (int i = 0; i < 16; i++)
        if (fs->conns[i] == NULL) {
            fs->conns[i] = fc;
            break;
        }
    uv_read_start((uv_stream_t *)&fc->tcp, fs_alloc, fs_read);
}

static inline void fs_start(fake_server_t *fs, uv_loop_t *loop, fs_mode_t mode)
{
    memset(fs, 0, sizeof(*fs));
    fs->loop = loop;
    fs->mode = mode;
    fs->heartbeat = 1;
    uv_tcp_init(loop, &fs->listener);
    fs->listener.data = fs;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&fs->listener, (const struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&fs->listener, 16, fs_on_conn);
    struct sockaddr_in got;
    int len = sizeof(got);
    uv_tcp_getsockname(&fs->listener, (struct sockaddr *)&got, &len);
    fs->port = ntohs(got.sin_port);
}

/* Stops listening and drops every connection (the client sees EOF). */
static inline void fs_stop(fake_server_t *fs)
{
    uv_close((uv_handle_t *)&fs->listener, NULL);
    for (int i = 0; i < 16; i++)
        if (fs->conns[i] != NULL)
            fs_conn_close(fs->conns[i]);
    for (int i = 0; i < 10; i++)
        uv_run(fs->loop, UV_RUN_NOWAIT);
}

/* A port nobody listens on (bound, then released). */
static inline uint16_t fs_dead_port(uv_loop_t *loop)
{
    uv_tcp_t t;
    uv_tcp_init(loop, &t);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    struct sockaddr_in got;
    int len = sizeof(got);
    uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ntohs(got.sin_port);
}

#endif /* KEEL_FAKE_SERVER_H */
