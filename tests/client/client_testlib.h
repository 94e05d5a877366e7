/*
 * client_testlib.h — what the client's unit tests share: a keeld on the
 * test's own loop (so stopping and restarting it is deterministic), running
 * the loop until a condition holds or a deadline passes, and small records
 * of callbacks. Header-only, static functions, one copy per test program.
 */
#ifndef KEEL_CLIENT_TESTLIB_H
#define KEEL_CLIENT_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "keel/broker.h"
#include "keel/client.h"
#include "keel/log.h"

/* ---- the loop ---- */

static inline void tl_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag is true or ms pass; returns whether it became true. */
static inline bool tl_run_until(uv_loop_t *loop, const bool *flag, uint64_t ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tl_tick, 5, 5);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + ms;
    while (!*flag && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

/* Runs the loop for ms milliseconds. */
static inline void tl_run_for(uv_loop_t *loop, uint64_t ms)
{
    bool never = false;
    tl_run_until(loop, &never, ms);
}

/* Runs until a counter reaches n. */
static inline bool tl_run_until_count(uv_loop_t *loop, const int *counter, int n, uint64_t ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tl_tick, 5, 5);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + ms;
    while (*counter < n && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *counter >= n;
}

/* Closes the loop after its handles are gone; asserts none leaked. */
static inline void tl_loop_close(uv_loop_t *loop)
{
    for (int i = 0; i < 50 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- keeld ---- */

static inline void tl_quiet(void)
{
    keel_log_set_level("keel.broker", KEEL_LOG_LEVEL_CRITICAL);
}

/* Starts keeld on loop at port (0: any free one). */
static inline keel_broker_t *tl_broker_start_opts(uv_loop_t *loop, uint16_t port, const keel_broker_opts_t *base)
{
    keel_broker_opts_t o;
    if (base)
        o = *base;
    else
        keel_broker_opts_init(&o);
    o.port = port;
    keel_broker_t *b = NULL;
    assert_int_equal(keel_broker_new(&b, loop, &o), 0);
    int rc = keel_broker_listen(b);
    if (rc != 0) {
        /* a port still held by the previous broker's closing listener: let it go */
        keel_broker_close(b, NULL, NULL);
        for (int i = 0; i < 10; i++)
            uv_run(loop, UV_RUN_NOWAIT);
        keel_broker_free(b);
        return NULL;
    }
    return b;
}

static inline keel_broker_t *tl_broker_start(uv_loop_t *loop, uint16_t port)
{
    return tl_broker_start_opts(loop, port, NULL);
}

/* Stops keeld: closes every connection (320 CONNECTION_FORCED) and frees it. */
static inline void tl_broker_stop(uv_loop_t *loop, keel_broker_t *b)
{
    if (b == NULL)
        return;
    keel_broker_close(b, NULL, NULL);
    /* the broker's handles finish closing on the next turns */
    for (int i = 0; i < 10; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    keel_broker_free(b);
}

/* ---- clients ---- */

typedef struct {
    int connected, reconnected, disconnected, connect_failed, failed, blocked, unblocked, renamed, recovery_failed;
    int last_status;
    char last_text[256];
    char renamed_from[256], renamed_to[256];
} tl_events_t;

static inline void tl_on_event(keel_client_t *c, int status, const keel_client_event_t *ev, void *data)
{
    tl_events_t *e = data;
    e->last_status = status;
    snprintf(e->last_text, sizeof(e->last_text), "%.*s", (int)ev->reply_text.len, ev->reply_text.base);
    switch (ev->type) {
    case KEEL_CLIENT_EVENT_CONNECTED:
        e->connected++;
        break;
    case KEEL_CLIENT_EVENT_RECONNECTED:
        e->reconnected++;
        break;
    case KEEL_CLIENT_EVENT_DISCONNECTED:
        e->disconnected++;
        break;
    case KEEL_CLIENT_EVENT_CONNECT_FAILED:
        e->connect_failed++;
        break;
    case KEEL_CLIENT_EVENT_FAILED:
        e->failed++;
        break;
    case KEEL_CLIENT_EVENT_BLOCKED:
        e->blocked++;
        break;
    case KEEL_CLIENT_EVENT_UNBLOCKED:
        e->unblocked++;
        break;
    case KEEL_CLIENT_EVENT_QUEUE_RENAMED:
        e->renamed++;
        snprintf(e->renamed_from, sizeof(e->renamed_from), "%.*s", (int)ev->name.len, ev->name.base);
        snprintf(e->renamed_to, sizeof(e->renamed_to), "%.*s", (int)ev->new_name.len, ev->new_name.base);
        break;
    case KEEL_CLIENT_EVENT_RECOVERY_FAILED:
        e->recovery_failed++;
        break;
    }
}

/* Options for one keeld on 127.0.0.1:port, quick retries, events into ev. */
static inline void tl_opts(keel_client_opts_t *o, keel_client_host_t *host, uint16_t port, tl_events_t *ev)
{
    keel_client_opts_init(o);
    host->host = "127.0.0.1";
    host->port = port;
    o->hosts = host;
    o->n_hosts = 1;
    o->retry_interval_ms = 20;
    o->retry_backoff_ms = 20;
    o->retry_interval_max_ms = 100;
    o->connect_timeout_ms = 2000;
    o->on_event = tl_on_event;
    o->event_data = ev;
}

typedef struct {
    bool done;
    int status;
} tl_done_t;

static inline void tl_client_cb(keel_client_t *c, int status, void *data)
{
    tl_done_t *d = data;
    d->done = true;
    d->status = status;
}

static inline void tl_channel_cb(keel_client_channel_t *ch, int status, void *data)
{
    tl_done_t *d = data;
    d->done = true;
    d->status = status;
}

/* Closes a client and waits for its close callback; then frees it. */
static inline void tl_client_close(uv_loop_t *loop, keel_client_t *c)
{
    tl_done_t d = {0};
    assert_int_equal(keel_client_close(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(loop, &d.done, 5000));
    keel_client_free(c);
}

/* Makes a client to port and waits until it is connected. */
static inline keel_client_t *tl_client_connect(uv_loop_t *loop, uint16_t port, tl_events_t *ev)
{
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, port, ev);
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(loop, &d.done, 5000));
    assert_int_equal(d.status, 0);
    return c;
}

/* Opens a channel and waits for it. */
static inline keel_client_channel_t *tl_channel(uv_loop_t *loop, keel_client_t *c)
{
    keel_client_channel_t *ch = NULL;
    tl_done_t d = {0};
    assert_int_equal(keel_client_channel_open(c, &ch, tl_channel_cb, &d), 0);
    assert_true(tl_run_until(loop, &d.done, 5000));
    assert_int_equal(d.status, 0);
    return ch;
}

/* An operation's completion. */
typedef struct {
    int calls;
    int status;
    char name[256];
    uint32_t count;
} tl_op_t;

static inline void tl_op_cb(keel_client_channel_t *ch, int status, void *data)
{
    tl_op_t *o = data;
    o->calls++;
    o->status = status;
}

static inline void tl_queue_cb(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data)
{
    tl_op_t *o = data;
    o->calls++;
    o->status = status;
    if (ok != NULL) {
        snprintf(o->name, sizeof(o->name), "%.*s", (int)ok->name.len, ok->name.base);
        o->count = ok->message_count;
    }
}

/* Runs an operation's completion to its end and returns its status. */
static inline int tl_wait_op(uv_loop_t *loop, tl_op_t *o)
{
    assert_true(tl_run_until_count(loop, &o->calls, 1, 5000));
    return o->status;
}

/* Deliveries kept by a consumer. */
#define TL_MAX_MSGS 4096
typedef struct {
    int count;
    int final_calls;
    int final_status;
    int ok_calls;
    int ok_status;
    bool ack;
    keel_client_message_t *msgs[TL_MAX_MSGS];
} tl_consumer_t;

static inline void tl_deliver_cb(keel_client_channel_t *ch, int status, const keel_client_message_t *msg, void *data)
{
    tl_consumer_t *t = data;
    if (status != 0) {
        assert_null(msg);
        t->final_calls++;
        t->final_status = status;
        return;
    }
    if (t->count < TL_MAX_MSGS)
        assert_int_equal(keel_client_message_copy(msg, &t->msgs[t->count]), 0);
    t->count++;
    if (t->ack)
        assert_int_equal(keel_client_ack(ch, msg->delivery_tag, false), 0);
}

static inline void tl_consume_ok_cb(keel_client_channel_t *ch, int status, void *data)
{
    tl_consumer_t *t = data;
    t->ok_calls++;
    t->ok_status = status;
}

static inline void tl_consumer_free(tl_consumer_t *t)
{
    for (int i = 0; i < t->count && i < TL_MAX_MSGS; i++)
        keel_client_message_free(t->msgs[i]);
    memset(t, 0, sizeof(*t));
}

/* Publish confirmations. */
typedef struct {
    int acked, nacked, reset, canceled, other;
} tl_confirms_t;

static inline void tl_confirm_cb(keel_client_channel_t *ch, int status, void *data)
{
    tl_confirms_t *t = data;
    if (status == 0)
        t->acked++;
    else if (status == KEEL_EIO)
        t->nacked++;
    else if (status == KEEL_ECONNRESET)
        t->reset++;
    else if (status == KEEL_ECANCELED)
        t->canceled++;
    else
        t->other++;
}

static inline int tl_confirmed(const tl_confirms_t *t)
{
    return t->acked + t->nacked + t->reset + t->canceled + t->other;
}

static inline int tl_publish(keel_client_channel_t *ch, const char *exchange, const char *key, const char *body, bool mandatory,
                             keel_client_confirm_cb cb, void *data)
{
    keel_client_publish_t p = {
        .exchange = exchange, .routing_key = key, .mandatory = mandatory, .body = body, .body_len = strlen(body)};
    return keel_client_publish(ch, &p, cb, data);
}

#endif /* KEEL_CLIENT_TESTLIB_H */
