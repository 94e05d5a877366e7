/*
 * rabbit:// — oslo's rabbit driver over keel's AMQP client
 * (include/keel/client.h), with the topology of spec §4 (topology.c) and
 * the bodies of envelope.c, shaped like fake.c.
 *
 * One keel_client_t per transport, where oslo keeps a pool of send
 * connections and one listen connection per server: the client already
 * multiplexes channels, reconnects with kombu's pacing and puts back every
 * exchange, queue, binding and consumer it had. On it:
 *
 *   send_ch   confirm mode (oslo's confirm_publish): calls, casts, fanout
 *             casts, notifications and replies. The exchanges (and a
 *             notifier's N.P queues) are declared on it before the first
 *             publish that needs them, pipelined: a channel runs its
 *             methods in order, so the declare is done before the publish.
 *             The reply queue is declared on it too, for the same reason.
 *   reply_ch  consumes reply_<hex32> once its declare-ok came.
 *   one channel per listener (rabbit_listen.c), with basic.qos when
 *             rabbit_qos_prefetch_count > 0.
 *
 * Sends. A publish completes on its confirm: a cast or notification
 * reports 0 on basic.ack, KEEL_MESSAGING_EDELIVERY on basic.nack. When the
 * connection is lost before the confirm (the outcome is unknown) or the
 * client is not connected, the send is parked and published again once
 * the client is back, as kombu's ensure() does; `retry` bounds that: each
 * failed connection attempt and each lost publish counts one try, and a
 * send that used up retry + 1 of them fails with KEEL_MESSAGING_EDELIVERY
 * (retry -1: never). A call registers its waiter (waiter.c) before its
 * first publish, so its timeout covers the time spent parked: it returns
 * or times out within its timeout, never later.
 *
 * Replies (rabbit_reply.c) go out on send_ch too, and are sent again
 * while their queue is missing, as oslo does.
 *
 * Differences from oslo: one connection (so one heartbeat and one
 * reconnect for everything); a URL's hosts share the first host's
 * credentials and vhost; kombu_compression is neither sent
 * nor accepted (compressed messages are rejected, as kombu rejects what it
 * cannot decode).
 */
#include <errno.h> /* program_invocation_short_name */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rabbit_int.h"

#define JSON_CONTENT_TYPE "application/json"
#define RABBIT_FAST_RETRY_MS 250 /* rabbit_retry_interval = 0 */

keel_log_t *keel__rabbit_log(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging._drivers.impl_rabbit");
    return l;
}

struct rabbit_send_s {
    keel__messaging_task_t task; /* completion, posted to the loop */
    keel__rabbit_driver_t *d;
    rabbit_send_t *prev, *next; /* d->parked */
    bool parked;
    /* at_least_once: published mandatory; while its confirm is due it is on d->returnable. */
    bool mandatory, returnable, returned;
    rabbit_send_t *rprev, *rnext;
    int refs; /* the send, its waiter, its publish in flight */
    char *exchange, *key;
    bool fanout;
    char *notify_queue; /* notifications declare and bind N.P first */
    keel_buf_t body;
    char expiration[24]; /* calls: the timeout in ms; "" otherwise */
    int retry, tries;
    bool is_call, finished, waiter_done;
    char msg_id[33];
    keel__messaging_sent_cb cb;
    void *data;
    int status;
};

/* ---- topology ---- */

int keel__rabbit_queue_args(keel__rabbit_driver_t *d, const keel__messaging_queue_spec_t *spec, keel_amqp_table_t *out)
{
    keel_buf_reset(&d->scratch);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &d->scratch);
    if (spec->x_expires_ms > 0)
        keel_amqp_build_int(&b, "x-expires", spec->x_expires_ms);
    if (spec->ha)
        keel_amqp_build_str(&b, "x-ha-policy", "all");
    if (spec->quorum) {
        keel_amqp_build_str(&b, "x-queue-type", "quorum");
        if (spec->delivery_limit > 0)
            keel_amqp_build_int(&b, "x-delivery-limit", spec->delivery_limit);
        if (spec->max_memory_length > 0)
            keel_amqp_build_int(&b, "x-max-in-memory-length", spec->max_memory_length);
        if (spec->max_memory_bytes > 0)
            keel_amqp_build_int(&b, "x-max-in-memory-bytes", spec->max_memory_bytes);
    }
    return keel_amqp_builder_finish(&b, out);
}

static void cache_clear(keel_map_t *m)
{
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (keel_map_next(m, &pos, &k, &kl, &v)) {
        keel_map_remove(m, k, kl);
        keel__free(v);
    }
}

static int cache_add(keel_map_t *m, const char *name)
{
    char *copy = keel__strdup(name);
    if (copy == NULL)
        return KEEL_ENOMEM;
    int rc = keel_map_put(m, copy, strlen(copy), copy, NULL);
    if (rc != 0)
        keel__free(copy);
    return rc;
}

/* What a send's declarations report to: the driver and the send's exchange. */
typedef struct declare_ctx_s {
    keel__rabbit_driver_t *d;
    char exchange[];
} declare_ctx_t;

/*
 * A declaration's answer. A refused one (406: the entity exists with other
 * flags; 403) closes the send channel; the client reports it here first,
 * then fails the publishes in flight with KEEL_ECONNRESET, then calls
 * on_send_channel_error(). In between, d->refused names the exchange whose
 * sends must fail with this status instead of being published again (into
 * the same refusal, for ever with retry -1).
 */
static void on_declared(keel_client_channel_t *ch, int status, void *data)
{
    declare_ctx_t *ctx = data;
    keel__rabbit_driver_t *d = ctx->d;
    (void)ch;
    if (status != 0 && !d->closing) {
        KEEL_LOG_DEBUG(keel__rabbit_log(), "declare failed: %s", keel_messaging_strerror(status));
        /* The caches are wrong now: the next sends declare again. */
        cache_clear(&d->exchanges);
        cache_clear(&d->notify_queues);
        if (status != KEEL_ECONNRESET && status != KEEL_ECANCELED && d->refused == NULL) {
            d->refused = ctx;
            d->refused_status = status;
            return; /* freed by on_send_channel_error() */
        }
    }
    keel__free(ctx);
}

static declare_ctx_t *declare_ctx(keel__rabbit_driver_t *d, const char *exchange)
{
    size_t n = strlen(exchange);
    declare_ctx_t *ctx = keel__malloc(sizeof(*ctx) + n + 1);
    if (ctx != NULL) {
        ctx->d = d;
        memcpy(ctx->exchange, exchange, n + 1);
    }
    return ctx;
}

/* Declares with on_declared() as callback; ctx is taken (freed on error). */
static int declare_exchange(keel__rabbit_driver_t *d, const keel_client_exchange_t *x, declare_ctx_t *ctx)
{
    int rc = ctx ? keel_client_exchange_declare(d->send_ch, x, on_declared, ctx) : KEEL_ENOMEM;
    if (rc != 0)
        keel__free(ctx);
    return rc;
}

static int declare_queue(keel__rabbit_driver_t *d, const keel_client_queue_t *q, declare_ctx_t *ctx);

/* exchange.declare of the send's exchange, once per channel (oslo caches them per channel too). */
static int declare_for(keel__rabbit_driver_t *d, const rabbit_send_t *s)
{
    const keel__messaging_rabbit_opts_t *ro = &d->t->opts.rabbit;
    int rc = 0;
    if (keel_map_get(&d->exchanges, s->exchange, strlen(s->exchange)) == NULL) {
        keel_client_exchange_t x = {.name = s->exchange, .type = s->fanout ? "fanout" : "topic"};
        if (s->fanout)
            x.auto_delete = true;
        else
            keel__messaging_topic_exchange_spec(ro, &x.durable, &x.auto_delete);
        rc = declare_exchange(d, &x, declare_ctx(d, s->exchange));
        if (rc == 0)
            rc = cache_add(&d->exchanges, s->exchange);
    }
    if (rc == 0 && s->notify_queue && keel_map_get(&d->notify_queues, s->notify_queue, strlen(s->notify_queue)) == NULL) {
        keel__messaging_queue_spec_t spec;
        keel__messaging_queue_spec(ro, KEEL__MESSAGING_QUEUE_NOTIFY, &spec);
        keel_client_queue_t q = {.name = s->notify_queue, .durable = spec.durable, .auto_delete = spec.auto_delete};
        rc = keel__rabbit_queue_args(d, &spec, &q.arguments);
        if (rc == 0)
            rc = declare_queue(d, &q, declare_ctx(d, s->exchange));
        declare_ctx_t *ctx = rc == 0 ? declare_ctx(d, s->exchange) : NULL;
        if (rc == 0 && ctx == NULL)
            rc = KEEL_ENOMEM;
        if (rc == 0 &&
            (rc = keel_client_queue_bind(d->send_ch, s->notify_queue, s->exchange, s->key, (keel_amqp_table_t){0}, on_declared,
                                         ctx)) != 0)
            keel__free(ctx);
        if (rc == 0)
            rc = cache_add(&d->notify_queues, s->notify_queue);
    }
    return rc;
}

static void on_queue_declared(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data)
{
    (void)ok;
    on_declared(ch, status, data);
}

static int declare_queue(keel__rabbit_driver_t *d, const keel_client_queue_t *q, declare_ctx_t *ctx)
{
    int rc = ctx ? keel_client_queue_declare(d->send_ch, q, on_queue_declared, ctx) : KEEL_ENOMEM;
    if (rc != 0)
        keel__free(ctx);
    return rc;
}

/* ---- the reply queue (spec §6.1 step 1) ---- */

static void on_reply_delivery(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    keel__rabbit_driver_t *d = data;
    if (status != 0) {
        /* The consumer ended: closing, or its queue went (declare it again on the next call). */
        d->reply_consuming = false;
        if (!d->closing) {
            KEEL_LOG_WARNING(keel__rabbit_log(), "reply queue %s consumer ended: %s", d->reply_q, keel_messaging_strerror(status));
            d->reply_state = RABBIT_REPLY_NONE;
        }
        return;
    }
    keel__messaging_unpacked_t u;
    if (keel__rabbit_decode(m, &u) != 0) {
        keel_client_reject(ch, m->delivery_tag, false);
        return;
    }
    keel_client_ack(ch, m->delivery_tag, false);
    json_t *msg_id = json_object_get(u.message, "_msg_id");
    const char *id = u.msg_id ? u.msg_id : json_string_value(msg_id);
    if (!keel__messaging_waiters_reply(&d->waiters, id, u.message))
        KEEL_LOG_INFO(keel__rabbit_log(), "No calling threads waiting for msg_id : %s", id ? id : "(none)");
    keel__messaging_unpacked_clear(&u);
}

static void on_reply_declared(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data)
{
    keel__rabbit_driver_t *d = data;
    (void)ch;
    (void)ok;
    if (d->closing)
        return;
    if (status != 0) {
        KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to declare reply queue %s: %s", d->reply_q, keel_messaging_strerror(status));
        d->reply_state = RABBIT_REPLY_NONE;
        return;
    }
    d->reply_state = RABBIT_REPLY_DECLARED;
    if (d->reply_consuming)
        return;
    /* Like every consumer of oslo's: x-cancel-on-ha-failover when enable_cancel_on_failover. */
    keel_client_consume_t co = {.queue = d->reply_q};
    keel_buf_reset(&d->scratch);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &d->scratch);
    if (d->t->opts.rabbit.enable_cancel_on_failover)
        keel_amqp_build_bool(&b, "x-cancel-on-ha-failover", true);
    int rc = keel_amqp_builder_finish(&b, &co.arguments);
    if (rc == 0)
        rc = keel_client_consume(d->reply_ch, &co, on_reply_delivery, NULL, d, NULL);
    if (rc == 0)
        d->reply_consuming = true;
    else
        KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to consume reply queue %s: %s", d->reply_q, keel_messaging_strerror(rc));
}

/* Declared on send_ch, so it exists before the call's publish that follows on the same channel. */
static int ensure_reply_queue(keel__rabbit_driver_t *d)
{
    if (d->reply_state != RABBIT_REPLY_NONE)
        return 0;
    keel__messaging_queue_spec_t spec;
    keel__messaging_queue_spec(&d->t->opts.rabbit, KEEL__MESSAGING_QUEUE_REPLY, &spec);
    keel_client_queue_t q = {.name = d->reply_q, .durable = spec.durable, .auto_delete = spec.auto_delete};
    int rc = keel__rabbit_queue_args(d, &spec, &q.arguments);
    if (rc == 0)
        rc = keel_client_queue_declare(d->send_ch, &q, on_reply_declared, d);
    if (rc == 0)
        d->reply_state = RABBIT_REPLY_DECLARING;
    return rc;
}

/* ---- sends ---- */

static void send_unref(rabbit_send_t *s)
{
    if (--s->refs > 0)
        return;
    keel__free(s->exchange);
    keel__free(s->key);
    keel__free(s->notify_queue);
    keel_buf_free(&s->body);
    keel__free(s);
}

static void park(rabbit_send_t *s)
{
    keel__rabbit_driver_t *d = s->d;
    if (s->parked)
        return;
    s->parked = true;
    s->prev = NULL;
    s->next = d->parked;
    if (d->parked)
        d->parked->prev = s;
    d->parked = s;
}

static void unpark(rabbit_send_t *s)
{
    if (!s->parked)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->d->parked = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->parked = false;
}

/*
 * Runs on the loop after a send failed or a cast or notification finished:
 * a call ends through its waiter (unless it ended meanwhile), others
 * through their callback. It may run after the driver is gone (tasks
 * queued when a transport closes run last): then only for sends that are
 * not calls, and it touches nothing but the send.
 */
static void run_finish(keel__messaging_task_t *task)
{
    rabbit_send_t *s = keel_container_of(task, rabbit_send_t, task);
    if (s->is_call) {
        if (!s->waiter_done) /* else the driver may be gone: its waiters ended before it closed */
            keel__messaging_waiters_fail(&s->d->waiters, s->msg_id, s->status);
    } else {
        s->cb(s->data, s->status, NULL, NULL);
    }
    send_unref(s);
}

/* Ends a send with status, from the loop, never inside the call that made it. */
static void finish(rabbit_send_t *s, int status)
{
    if (s->finished)
        return;
    unpark(s);
    s->finished = true;
    s->status = status;
    s->task.run = run_finish;
    s->refs++;
    if (keel__messaging_post(s->d->t, &s->task) != 0)
        run_finish(&s->task); /* only while the transport closes: callbacks still run once */
    if (!s->is_call)
        send_unref(s); /* the send's own reference; a call's goes in on_call_done */
}

static void attempt(rabbit_send_t *s);

/* A try failed without an answer: try again (parked until connected) unless retry is used up. */
static void failed_try(rabbit_send_t *s, int status)
{
    s->tries++;
    if (s->retry >= 0 && s->tries > s->retry) {
        KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to publish message to topic '%s': %s after %d tries", s->key,
                       keel_messaging_strerror(status), s->tries);
        finish(s, KEEL_MESSAGING_EDELIVERY);
        return;
    }
    attempt(s);
}

static void returnable_remove(rabbit_send_t *s)
{
    if (!s->returnable)
        return;
    if (s->rprev)
        s->rprev->rnext = s->rnext;
    else
        s->d->returnable = s->rnext;
    if (s->rnext)
        s->rnext->rprev = s->rprev;
    s->rprev = s->rnext = NULL;
    s->returnable = false;
}

static void on_confirm(keel_client_channel_t *ch, int status, void *data)
{
    rabbit_send_t *s = data;
    (void)ch;
    returnable_remove(s);
    bool returned = s->returned;
    s->returned = false;
    if (!s->finished) {
        if (status == 0 && returned) {
            /* basic.return came before this ack: no queue took it (oslo's MessageUndeliverable). */
            KEEL_LOG_ERROR(keel__rabbit_log(), "Message to topic '%s' is undeliverable: no queue is bound", s->key);
            finish(s, KEEL_MESSAGING_EDELIVERY);
        } else if (status == 0) {
            if (!s->is_call)
                finish(s, 0);
        } else if ((status == KEEL_ECONNRESET || status == KEEL_ECANCELED) && s->d->refused &&
                   strcmp(s->d->refused->exchange, s->exchange) == 0) {
            /* Its declaration was refused: publishing again would be refused again. */
            KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to declare exchange '%s' for topic '%s': %s", s->exchange, s->key,
                           keel_messaging_strerror(s->d->refused_status));
            finish(s, s->d->refused_status);
        } else if (status == KEEL_ECONNRESET) {
            failed_try(s, status); /* unknown outcome: publish again, as kombu does */
        } else if (status == KEEL_EIO) {
            KEEL_LOG_ERROR(keel__rabbit_log(), "Message to topic '%s' was nacked by the broker", s->key);
            finish(s, KEEL_MESSAGING_EDELIVERY);
        } else {
            finish(s, s->d->closing ? KEEL_ECANCELED : status);
        }
    }
    send_unref(s);
}

static keel_amqp_str_t str_view(const char *s)
{
    return (keel_amqp_str_t){.base = s, .len = strlen(s)};
}

/* One publish; or parks the send while the client is not connected. */
static void attempt(rabbit_send_t *s)
{
    keel__rabbit_driver_t *d = s->d;
    if (s->finished)
        return;
    if (d->failed) {
        finish(s, KEEL_MESSAGING_EDELIVERY);
        return;
    }
    if (!keel_client_is_connected(d->client)) {
        park(s);
        return;
    }
    int rc = declare_for(d, s);
    if (rc == 0 && s->is_call)
        rc = ensure_reply_queue(d);
    if (rc != 0) {
        finish(s, rc);
        return;
    }
    keel_amqp_properties_t props = {
        .flags = KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_CONTENT_ENCODING | KEEL_AMQP_PROP_HEADERS |
                 KEEL_AMQP_PROP_DELIVERY_MODE | KEEL_AMQP_PROP_PRIORITY,
        .content_type = str_view(JSON_CONTENT_TYPE),
        .content_encoding = str_view("utf-8"),
        .delivery_mode = 2,
    };
    if (s->expiration[0]) {
        props.flags |= KEEL_AMQP_PROP_EXPIRATION;
        props.expiration = str_view(s->expiration);
    }
    keel_client_publish_t p = {.exchange = s->exchange,
                               .routing_key = s->key,
                               .mandatory = s->mandatory,
                               .props = &props,
                               .body = s->body.base,
                               .body_len = s->body.len};
    s->refs++;
    rc = keel_client_publish(d->send_ch, &p, on_confirm, s);
    if (rc == 0) {
        if (s->mandatory) {
            s->returnable = true;
            s->rprev = NULL;
            s->rnext = d->returnable;
            if (d->returnable)
                d->returnable->rprev = s;
            d->returnable = s;
        }
        return;
    }
    s->refs--;
    if (rc == KEEL_ECONNRESET || rc == KEEL_EAGAIN)
        park(s); /* lost the connection just now: wait for it */
    else
        finish(s, rc);
}

static void on_call_done(void *data, int status, json_t *result, const char *failure)
{
    rabbit_send_t *s = data;
    unpark(s);
    s->finished = true;
    s->waiter_done = true;
    s->cb(s->data, status, result, failure);
    send_unref(s); /* the waiter's */
    send_unref(s); /* the send's */
}

static int dup_into(char **dst, const char *src)
{
    return (*dst = keel__strdup(src)) ? 0 : KEEL_ENOMEM;
}

static int send_new(keel__rabbit_driver_t *d, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data,
                    rabbit_send_t **out)
{
    if (d->closing)
        return KEEL_ECANCELED;
    rabbit_send_t *s = keel__calloc(1, sizeof(*s));
    if (s == NULL)
        return KEEL_ENOMEM;
    keel_buf_init(&s->body);
    s->d = d;
    s->refs = 1;
    s->cb = cb;
    s->data = data;
    s->retry = msg->retry;
    s->mandatory = msg->mandatory;
    *out = s;
    return 0;
}

/* Packs and serializes the body; ids as envelope.c wants them. */
static int make_body(rabbit_send_t *s, const keel__messaging_send_t *msg, const char *reply_q, int version)
{
    char unique[33];
    int rc = keel__messaging_uuid_hex(unique);
    json_t *inner = NULL;
    if (rc == 0) {
        keel__messaging_ids_t ids = {.is_call = s->is_call,
                                     .msg_id = s->msg_id,
                                     .reply_q = reply_q,
                                     .call_monitor_timeout = msg->call_monitor_timeout,
                                     .unique_id = unique};
        rc = keel__messaging_pack(msg->message, msg->ctxt, &ids, &inner);
    }
    if (rc == 0)
        rc = keel__messaging_serialize_msg(inner, version, &s->body);
    json_decref(inner);
    return rc;
}

static int rabbit_send(void *driver, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data)
{
    keel__rabbit_driver_t *d = driver;
    rabbit_send_t *s;
    int rc = send_new(d, msg, cb, data, &s);
    if (rc != 0)
        return rc;
    const keel_messaging_target_t *tg = msg->target;
    s->is_call = msg->wait_for_reply;
    keel_buf_t name;
    keel_buf_init(&name);
    if (tg->fanout) {
        /* Fanout: exchange T_fanout, routing key "" (spec §6.3). */
        s->fanout = true;
        rc = keel_buf_printf(&name, "%s_fanout", tg->topic);
        if (rc == 0)
            rc = dup_into(&s->exchange, name.base);
        if (rc == 0)
            rc = dup_into(&s->key, "");
    } else {
        rc = tg->server && *tg->server ? keel_buf_printf(&name, "%s.%s", tg->topic, tg->server) : keel_buf_puts(&name, tg->topic);
        if (rc == 0)
            rc = dup_into(&s->exchange, tg->exchange);
        if (rc == 0)
            rc = dup_into(&s->key, name.base);
    }
    keel_buf_free(&name);
    if (rc == 0 && s->is_call) {
        rc = keel__messaging_uuid_hex(s->msg_id);
        /* The AMQP expiration of a request: its timeout in ms (spec §5.1). */
        if (msg->timeout > 0)
            snprintf(s->expiration, sizeof(s->expiration), "%lld", (long long)(msg->timeout * 1000.0));
    }
    if (rc == 0)
        rc = make_body(s, msg, d->reply_q, 2);
    if (rc == 0 && s->is_call) {
        rc = keel__messaging_waiters_add(&d->waiters, s->msg_id, msg->timeout, msg->call_monitor_timeout, on_call_done, s);
        if (rc == 0)
            s->refs++;
    }
    if (rc != 0) {
        send_unref(s);
        return rc;
    }
    attempt(s);
    return 0;
}

static int rabbit_send_notification(void *driver, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data)
{
    keel__rabbit_driver_t *d = driver;
    rabbit_send_t *s;
    int rc = send_new(d, msg, cb, data, &s);
    if (rc != 0)
        return rc;
    /* The target's topic is already "N.P"; the notifier declares that queue too (spec §6.5). */
    rc = dup_into(&s->exchange, msg->target->exchange);
    if (rc == 0)
        rc = dup_into(&s->key, msg->target->topic);
    if (rc == 0)
        rc = dup_into(&s->notify_queue, msg->target->topic);
    if (rc == 0)
        rc = make_body(s, msg, NULL, msg->notify_version == 1 ? 1 : 2);
    if (rc != 0) {
        send_unref(s);
        return rc;
    }
    attempt(s);
    return 0;
}

/* ---- the connection ---- */

/* Publishes what waited for the connection, oldest first. */
static void resume_parked(keel__rabbit_driver_t *d)
{
    rabbit_send_t *list = d->parked, *last = NULL;
    d->parked = NULL;
    for (rabbit_send_t *s = list; s; s = s->next) {
        s->parked = false;
        last = s;
    }
    for (rabbit_send_t *s = last, *prev; s; s = prev) {
        prev = s->prev;
        s->prev = s->next = NULL;
        s->refs++;
        attempt(s);
        send_unref(s);
    }
}

/* A connection attempt failed: one try for every parked send. */
static void count_failed_try(keel__rabbit_driver_t *d, int status)
{
    rabbit_send_t *list = d->parked;
    d->parked = NULL;
    for (rabbit_send_t *s = list, *next; s; s = next) {
        next = s->next;
        s->parked = false;
        s->prev = s->next = NULL;
        s->refs++;
        s->tries++;
        if (s->retry >= 0 && s->tries > s->retry) {
            KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to publish message to topic '%s': %s after %d tries", s->key,
                           keel_messaging_strerror(status), s->tries);
            finish(s, KEEL_MESSAGING_EDELIVERY);
        } else {
            park(s);
        }
        send_unref(s);
    }
}

static void on_client_event(keel_client_t *c, int status, const keel_client_event_t *ev, void *data)
{
    keel__rabbit_driver_t *d = data;
    (void)c;
    if (d->closing)
        return;
    keel_client_host_t b = ev->host < d->nhosts ? d->hosts[ev->host] : (keel_client_host_t){0};
    switch (ev->type) {
    case KEEL_CLIENT_EVENT_CONNECTED:
    case KEEL_CLIENT_EVENT_RECONNECTED:
        if (ev->type == KEEL_CLIENT_EVENT_RECONNECTED)
            KEEL_LOG_INFO(keel__rabbit_log(), "Reconnected to AMQP server on %s:%u", b.host ? b.host : "?", b.port);
        else
            KEEL_LOG_DEBUG(keel__rabbit_log(), "Connected to AMQP server on %s:%u", b.host ? b.host : "?", b.port);
        resume_parked(d);
        break;
    case KEEL_CLIENT_EVENT_DISCONNECTED:
        KEEL_LOG_ERROR(keel__rabbit_log(), "AMQP server on %s:%u is unreachable: %s. Trying again.", b.host ? b.host : "?",
                       b.port, keel_messaging_strerror(status));
        /* Declarations unanswered when it dropped are not recovered: declare again. */
        cache_clear(&d->exchanges);
        cache_clear(&d->notify_queues);
        if (d->reply_state == RABBIT_REPLY_DECLARING)
            d->reply_state = RABBIT_REPLY_NONE;
        break;
    case KEEL_CLIENT_EVENT_CONNECT_FAILED:
        count_failed_try(d, status);
        break;
    case KEEL_CLIENT_EVENT_FAILED:
        KEEL_LOG_ERROR(keel__rabbit_log(), "Giving up on the AMQP server: %s", keel_messaging_strerror(status));
        d->failed = status ? status : KEEL_MESSAGING_EDELIVERY;
        while (d->parked)
            finish(d->parked, KEEL_MESSAGING_EDELIVERY);
        break;
    default:
        break;
    }
}

static void on_connect(keel_client_t *c, int status, void *data)
{
    (void)c;
    (void)data;
    if (status != 0 && status != KEEL_ECANCELED)
        KEEL_LOG_ERROR(keel__rabbit_log(), "Could not connect to the AMQP server: %s", keel_messaging_strerror(status));
}

static void on_send_channel_error(keel_client_channel_t *ch, int status, const keel_client_error_t *err, void *data)
{
    keel__rabbit_driver_t *d = data;
    (void)ch;
    KEEL_LOG_ERROR(keel__rabbit_log(), "Channel error %u on the send channel: %.*s", err->reply_code, (int)err->reply_text.len,
                   err->reply_text.base);
    (void)status;
    cache_clear(&d->exchanges);
    cache_clear(&d->notify_queues);
    if (d->reply_state == RABBIT_REPLY_DECLARING)
        d->reply_state = RABBIT_REPLY_NONE;
    keel__free(d->refused);
    d->refused = NULL;
}

static bool view_eq(keel_amqp_str_t v, const char *s, size_t len)
{
    return v.len == len && (len == 0 || memcmp(v.base, s, len) == 0);
}

static void on_return(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    keel__rabbit_driver_t *d = data;
    (void)ch;
    (void)status;
    /* A mandatory send: found by its body (each has its own _unique_id); its ack follows. */
    for (rabbit_send_t *s = d->returnable; s; s = s->rnext)
        if (!s->returned && view_eq(m->routing_key, s->key, strlen(s->key)) &&
            view_eq((keel_amqp_str_t){.base = (const char *)m->body, .len = m->body_len}, s->body.base, s->body.len)) {
            s->returned = true;
            return;
        }
    /* Else a reply: its queue is gone (spec §6.1, reply-queue-missing); it is sent again. */
    if (keel__rabbit_reply_returned(d, m))
        return;
    KEEL_LOG_WARNING(keel__rabbit_log(), "A message to %.*s came back (%u %.*s)", (int)m->routing_key.len, m->routing_key.base,
                     m->reply_code, (int)m->reply_text.len, m->reply_text.base);
}

/* kombu's failover list from the URL; hosts are shuffled once, as oslo's Connection does. */
static int client_opts(keel__rabbit_driver_t *d, keel_client_opts_t *o, keel_client_host_t **hosts_out)
{
    const keel_messaging_url_t *url = d->t->url;
    const keel__messaging_rabbit_opts_t *ro = &d->t->opts.rabbit;
    size_t n = url->nhosts ? url->nhosts : 1;
    keel_client_host_t *hosts = keel__calloc(n, sizeof(*hosts));
    if (hosts == NULL)
        return KEEL_ENOMEM;
    keel_messaging_broker_t first = {0};
    for (size_t i = 0; i < n; i++) {
        keel_messaging_broker_t b;
        int rc = keel_messaging_url_broker(url, i, &b);
        if (rc != 0) {
            keel__free(hosts);
            return rc;
        }
        if (i == 0)
            first = b;
        hosts[i] = (keel_client_host_t){.host = b.hostname, .port = b.port};
    }
    for (size_t i = n; i > 1; i--) {
        char hex[33];
        if (keel__messaging_uuid_hex(hex) != 0)
            break;
        size_t j = (size_t)(strtoul(hex + 24, NULL, 16) % i);
        keel_client_host_t tmp = hosts[i - 1];
        hosts[i - 1] = hosts[j];
        hosts[j] = tmp;
    }
    keel_client_opts_init(o);
    o->hosts = hosts;
    o->n_hosts = n;
    o->user = first.username;
    o->password = first.password;
    o->vhost = first.virtual_host;
    int64_t hb = ro->heartbeat_timeout_threshold;
    o->heartbeat = (uint16_t)(hb < 0 ? 0 : hb > 65535 ? 65535 : hb);
    o->failover = ro->kombu_failover_strategy && strcmp(ro->kombu_failover_strategy, "shuffle") == 0
                      ? KEEL_CLIENT_FAILOVER_SHUFFLE
                      : KEEL_CLIENT_FAILOVER_ROUND_ROBIN;
    /*
     * oslo's ensure_connection(interval_start=rabbit_retry_interval or 1,
     * interval_step=rabbit_retry_backoff, interval_max=rabbit_interval_max),
     * in seconds. keel reads rabbit_retry_interval = 0, which oslo turns
     * into 1 s, as RABBIT_FAST_RETRY_MS: a way to come back within a
     * fraction of a second that an integer option has no other way to say.
     */
    uint64_t start = ro->rabbit_retry_interval > 0 ? (uint64_t)ro->rabbit_retry_interval * 1000 : RABBIT_FAST_RETRY_MS;
    uint64_t step = ro->rabbit_retry_backoff > 0 ? (uint64_t)ro->rabbit_retry_backoff * 1000 : 0;
    uint64_t max = ro->rabbit_interval_max > 0 ? (uint64_t)ro->rabbit_interval_max * 1000 : start;
    o->retry_interval_ms = (uint32_t)(start > UINT32_MAX ? UINT32_MAX : start);
    o->retry_backoff_ms = (uint32_t)(step > UINT32_MAX ? UINT32_MAX : step);
    o->retry_interval_max_ms = (uint32_t)(max > UINT32_MAX ? UINT32_MAX : max);
    /* Sends wait in the driver, which counts their tries, not in the client's offline queue. */
    o->offline_publish = KEEL_CLIENT_OFFLINE_FAIL;
    o->ssl = ro->ssl;
    o->ssl_ca_file = ro->ssl_ca_file && *ro->ssl_ca_file ? ro->ssl_ca_file : NULL;
    o->ssl_cert_file = ro->ssl_cert_file && *ro->ssl_cert_file ? ro->ssl_cert_file : NULL;
    o->ssl_key_file = ro->ssl_key_file && *ro->ssl_key_file ? ro->ssl_key_file : NULL;
    /* oslo verifies the peer only when given a CA (cert_reqs CERT_REQUIRED). */
    o->ssl_verify = o->ssl_ca_file != NULL;
    o->on_event = on_client_event;
    o->event_data = d;
    *hosts_out = hosts;
    return 0;
}

static void on_open_failed_closed(keel_client_t *c, int status, void *data)
{
    keel__rabbit_driver_t *d = data;
    (void)status;
    keel_client_free(c);
    keel__free(d->hosts);
    keel_buf_free(&d->scratch);
    keel__free(d);
}

static int rabbit_open(keel_messaging_transport_t *t, void **out)
{
    keel__rabbit_driver_t *d = keel__calloc(1, sizeof(*d));
    if (d == NULL)
        return KEEL_ENOMEM;
    d->t = t;
    keel_map_init(&d->exchanges);
    keel_map_init(&d->notify_queues);
    keel_buf_init(&d->scratch);
    char hex[33];
    keel_client_host_t *hosts = NULL;
    keel_client_opts_t o;
    int rc = keel__messaging_uuid_hex(hex);
    if (rc != 0)
        goto fail_opts;
    snprintf(d->reply_q, sizeof(d->reply_q), "reply_%s", hex);
    if ((rc = client_opts(d, &o, &hosts)) != 0)
        goto fail_opts;
    /* oslo's connection_name: "<program>:<pid>:<uuid4>" (spec §1). */
    char name[128], uuid[37];
    if ((rc = keel__messaging_uuid_str(uuid)) != 0) {
        keel__free(hosts);
        goto fail_opts;
    }
    snprintf(name, sizeof(name), "%s:%ld:%s", program_invocation_short_name, (long)getpid(), uuid);
    o.connection_name = name;
    rc = keel_client_new(&d->client, t->loop, &o);
    if (rc != 0) {
        keel__free(hosts);
        goto fail_opts;
    }
    d->hosts = hosts; /* for the log lines: the names are the URL's, which outlives the driver */
    d->nhosts = o.n_hosts;
    if ((rc = keel_client_channel_open(d->client, &d->send_ch, NULL, NULL)) != 0)
        goto fail_client;
    keel_client_channel_on_error(d->send_ch, on_send_channel_error, d);
    keel_client_channel_on_return(d->send_ch, on_return, d);
    if ((rc = keel_client_confirm_select(d->send_ch, NULL, NULL)) != 0)
        goto fail_client;
    if ((rc = keel_client_channel_open(d->client, &d->reply_ch, NULL, NULL)) != 0)
        goto fail_client;
    /* oslo sets basic.qos on the channel of every connection, the reply listener's too. */
    int64_t prefetch = t->opts.rabbit.rabbit_qos_prefetch_count;
    if (prefetch > 0 && (rc = keel_client_qos(d->reply_ch, (uint16_t)(prefetch > 65535 ? 65535 : prefetch), false, NULL, NULL)) != 0)
        goto fail_client;
    if ((rc = keel_client_connect(d->client, on_connect, d)) != 0)
        goto fail_client;
    keel__messaging_waiters_init(&d->waiters, t->loop);
    uv_timer_init(t->loop, &d->reply_timer);
    d->reply_timer.data = d;
    *out = d;
    return 0;

fail_client:
    /* The client holds handles: it and the driver go once it is closed. */
    keel_client_close(d->client, on_open_failed_closed, d);
    return rc;
fail_opts:
    keel_buf_free(&d->scratch);
    keel__free(d);
    return rc;
}

/* ---- close ---- */

static void maybe_closed(keel__rabbit_driver_t *d)
{
    if (!d->client_closed || !d->waiters_drained || !d->reply_timer_closed)
        return;
    keel_messaging_transport_t *t = d->t;
    void (*done)(keel_messaging_transport_t *) = d->close_done;
    keel_client_free(d->client);
    keel__free(d->hosts);
    keel__free(d->refused);
    cache_clear(&d->exchanges);
    cache_clear(&d->notify_queues);
    keel_map_free(&d->exchanges);
    keel_map_free(&d->notify_queues);
    keel_buf_free(&d->scratch);
    keel__free(d);
    done(t);
}

static void on_client_closed(keel_client_t *c, int status, void *data)
{
    keel__rabbit_driver_t *d = data;
    (void)c;
    (void)status;
    d->client_closed = true;
    maybe_closed(d);
}

static void on_waiters_drained(keel__messaging_waiters_t *w)
{
    keel__rabbit_driver_t *d = keel_container_of(w, keel__rabbit_driver_t, waiters);
    d->waiters_drained = true;
    maybe_closed(d);
}

static void on_reply_timer_closed(uv_handle_t *h)
{
    keel__rabbit_driver_t *d = h->data;
    d->reply_timer_closed = true;
    maybe_closed(d);
}

static void rabbit_close(void *driver, void (*done)(keel_messaging_transport_t *t))
{
    keel__rabbit_driver_t *d = driver;
    d->closing = true;
    d->close_done = done;
    keel__rabbit_replies_close(d);
    uv_close((uv_handle_t *)&d->reply_timer, on_reply_timer_closed);
    while (d->parked)
        finish(d->parked, KEEL_ECANCELED);
    keel__messaging_waiters_cancel_all(&d->waiters, KEEL_ECANCELED, on_waiters_drained);
    /* Publishes in flight get KEEL_ECANCELED from their confirm callbacks. */
    if (keel_client_close(d->client, on_client_closed, d) != 0)
        on_client_closed(d->client, 0, d);
}

const keel__messaging_driver_ops_t keel__messaging_rabbit_driver = {
    .name = "rabbit",
    .open = rabbit_open,
    .close = rabbit_close,
    .send = rabbit_send,
    .send_notification = rabbit_send_notification,
    .listen = keel__rabbit_listen,
    .listen_for_notifications = keel__rabbit_listen_for_notifications,
    .listener_stop = keel__rabbit_listener_stop,
    .listener_free = keel__rabbit_listener_free,
    .ack = keel__rabbit_ack,
    .requeue = keel__rabbit_requeue,
    .reply = keel__rabbit_reply,
    .release = keel__rabbit_release,
};
