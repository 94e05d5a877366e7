/*
 * The consuming half of rabbit:// (rabbit.c has the connection and the
 * sends): RPC servers and notification listeners, each on a channel of its
 * own that declares the spec §4 topology in order and then consumes, and
 * what the upper layer does with a consumed message (ack, requeue, reply).
 *
 * A listener's declarations are pipelined on its channel, so its consumers
 * follow them in order; listen() returns before the broker answered, as
 * oslo's does before its consumer thread runs (a message sent before the
 * queues exist is dropped by the broker, as with oslo). Stopping cancels
 * the consumers and deletes an RPC server's fanout queue; the channel
 * itself is closed when the listener is freed, after its messages were
 * all released, so that acks of messages still being handled are sent.
 * Stopped while the client is not connected, the listener closes its
 * channel at once instead (a cancel would wait for the broker's return;
 * the acks it could still send would find no connection anyway).
 */
#include <string.h>

#include "rabbit_int.h"

#define MAX_CONSUMERS_RPC 3

typedef struct rabbit_listener_s {
    keel__messaging_listener_t base;
    keel__rabbit_driver_t *d;
    keel_client_channel_t *ch;
    keel__messaging_incoming_cb cb;
    void *data;
    keel_client_consumer_t **consumers;
    char **queues; /* what each consumer consumes (to consume a pool's queue once) */
    size_t nconsumers, live;
    char *fanout_q; /* RPC: deleted when the server stops */
    size_t outstanding;
    bool stopped, stop_reported;
    /* Stopped while the broker was away: the channel is closed at once (ch is then gone). */
    bool ch_closing, ch_closed, free_pending;
    keel__messaging_task_t stop_task;
    keel__messaging_listener_stop_cb stop_cb;
    void *stop_data;
} rabbit_listener_t;

typedef struct rabbit_incoming_s {
    keel__messaging_incoming_t in;
    uint64_t tag;
    bool settled;
} rabbit_incoming_t;

/* ---- decoding ---- */

static bool str_eq(keel_amqp_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.base, lit, n) == 0;
}

int keel__rabbit_decode(const keel_client_message_t *m, keel__messaging_unpacked_t *u)
{
    const keel_amqp_properties_t *p = &m->props;
    /* kombu decodes only what says application/json (spec §5.1). */
    if (!(p->flags & KEEL_AMQP_PROP_CONTENT_TYPE) || !str_eq(p->content_type, "application/json")) {
        KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to process message ... skipping it: content type %.*s",
                       (int)(p->flags & KEEL_AMQP_PROP_CONTENT_TYPE ? p->content_type.len : 4),
                       p->flags & KEEL_AMQP_PROP_CONTENT_TYPE ? p->content_type.base : "none");
        return KEEL_EPARSE;
    }
    keel_amqp_str_t comp;
    if ((p->flags & KEEL_AMQP_PROP_HEADERS) && keel_amqp_table_get_str(p->headers, "compression", &comp) == 0) {
        KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to process message ... skipping it: compression %.*s is not supported",
                       (int)comp.len, comp.base);
        return KEEL_EPARSE;
    }
    json_t *inner = NULL;
    int rc = keel__messaging_deserialize_msg((const char *)m->body, m->body_len, &inner);
    if (rc == 0)
        rc = keel__messaging_unpack(inner, u);
    if (rc != 0)
        KEEL_LOG_ERROR(keel__rabbit_log(), "Failed to process message ... skipping it: %s", keel_messaging_strerror(rc));
    return rc;
}

/* ---- listeners ---- */

static void report_stopped(keel__messaging_task_t *task)
{
    rabbit_listener_t *l = keel_container_of(task, rabbit_listener_t, stop_task);
    l->stop_cb(&l->base, l->stop_data);
}

/* Once stopped and every consumer had its final call: done, from the loop. */
static void maybe_stopped(rabbit_listener_t *l)
{
    if (!l->stopped || l->live > 0 || l->stop_reported || l->stop_cb == NULL)
        return;
    l->stop_reported = true;
    l->stop_task.run = report_stopped;
    if (keel__messaging_post(l->d->t, &l->stop_task) != 0)
        report_stopped(&l->stop_task);
}

static void on_delivery(keel_client_channel_t *ch, int status, const keel_client_message_t *m, void *data)
{
    rabbit_listener_t *l = data;
    if (status != 0) {
        l->live--;
        if (!l->stopped && !l->d->closing)
            KEEL_LOG_ERROR(keel__rabbit_log(), "A consumer of the listener ended: %s", keel_messaging_strerror(status));
        maybe_stopped(l);
        return;
    }
    if (l->stopped) {
        keel_client_reject(ch, m->delivery_tag, true); /* cancelled meanwhile: someone else takes it */
        return;
    }
    rabbit_incoming_t *ri = keel__calloc(1, sizeof(*ri));
    if (ri == NULL) {
        keel_client_reject(ch, m->delivery_tag, true);
        return;
    }
    if (keel__rabbit_decode(m, &ri->in.u) != 0) {
        /* kombu rejects what it cannot decode, without requeue: the message is lost (spec §5.1). */
        keel_client_reject(ch, m->delivery_tag, false);
        keel__free(ri);
        return;
    }
    ri->in.listener = &l->base;
    ri->tag = m->delivery_tag;
    l->outstanding++;
    l->cb(&l->base, &ri->in, l->data);
}

static int listener_new(keel__rabbit_driver_t *d, size_t max, keel__messaging_incoming_cb cb, void *data, rabbit_listener_t **out)
{
    if (d->closing)
        return KEEL_ECANCELED;
    rabbit_listener_t *l = keel__calloc(1, sizeof(*l));
    if (l == NULL)
        return KEEL_ENOMEM;
    l->consumers = keel__calloc(max ? max : 1, sizeof(*l->consumers));
    l->queues = keel__calloc(max ? max : 1, sizeof(*l->queues));
    if (l->consumers == NULL || l->queues == NULL) {
        keel__free(l->consumers);
        keel__free(l->queues);
        keel__free(l);
        return KEEL_ENOMEM;
    }
    l->base.ops = &keel__messaging_rabbit_driver;
    l->d = d;
    l->cb = cb;
    l->data = data;
    int rc = keel_client_channel_open(d->client, &l->ch, NULL, NULL);
    int64_t prefetch = d->t->opts.rabbit.rabbit_qos_prefetch_count;
    /* basic.qos(0, count, global=false) only when a count is set (spec §1). */
    if (rc == 0 && prefetch > 0)
        rc = keel_client_qos(l->ch, (uint16_t)(prefetch > 65535 ? 65535 : prefetch), false, NULL, NULL);
    if (rc != 0) {
        if (l->ch)
            keel_client_channel_close(l->ch, NULL, NULL);
        keel__free(l->consumers);
        keel__free(l->queues);
        keel__free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static void listener_release(rabbit_listener_t *l)
{
    for (size_t i = 0; i < l->nconsumers; i++)
        keel__free(l->queues[i]);
    keel__free(l->queues);
    keel__free(l->consumers);
    keel__free(l->fanout_q);
    keel__free(l);
}

static void on_channel_closed(keel_client_channel_t *ch, int status, void *data)
{
    (void)ch;
    (void)status;
    listener_release(data);
}

/* Gives up a listener whose setup failed: its consumers end, then the channel closes. */
static void listener_abort(rabbit_listener_t *l)
{
    l->stopped = true;
    if (keel_client_channel_close(l->ch, on_channel_closed, l) != 0)
        listener_release(l);
}

static int declare_exchange(rabbit_listener_t *l, const char *name, bool fanout)
{
    keel_client_exchange_t x = {.name = name, .type = fanout ? "fanout" : "topic"};
    if (fanout)
        x.auto_delete = true;
    else
        keel__messaging_topic_exchange_spec(&l->d->t->opts.rabbit, &x.durable, &x.auto_delete);
    return keel_client_exchange_declare(l->ch, &x, NULL, NULL);
}

static int declare_queue(rabbit_listener_t *l, const char *name, keel__messaging_queue_kind_t kind)
{
    keel__messaging_queue_spec_t spec;
    keel__messaging_queue_spec(&l->d->t->opts.rabbit, kind, &spec);
    keel_client_queue_t q = {.name = name, .durable = spec.durable, .auto_delete = spec.auto_delete};
    int rc = keel__rabbit_queue_args(l->d, &spec, &q.arguments);
    return rc ? rc : keel_client_queue_declare(l->ch, &q, NULL, NULL);
}

static int consume(rabbit_listener_t *l, const char *queue)
{
    for (size_t i = 0; i < l->nconsumers; i++)
        if (strcmp(l->queues[i], queue) == 0)
            return 0;
    char *name = keel__strdup(queue);
    if (name == NULL)
        return KEEL_ENOMEM;
    keel_buf_t *args = &l->d->scratch;
    keel_buf_reset(args);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, args);
    if (l->d->t->opts.rabbit.enable_cancel_on_failover)
        keel_amqp_build_bool(&b, "x-cancel-on-ha-failover", true);
    keel_client_consume_t co = {.queue = queue};
    int rc = keel_amqp_builder_finish(&b, &co.arguments);
    if (rc == 0)
        rc = keel_client_consume(l->ch, &co, on_delivery, NULL, l, &l->consumers[l->nconsumers]);
    if (rc != 0) {
        keel__free(name);
        return rc;
    }
    l->queues[l->nconsumers++] = name;
    l->live++;
    return 0;
}

int keel__rabbit_listen(void *driver, const keel_messaging_target_t *target, keel__messaging_incoming_cb cb, void *data,
                        keel__messaging_listener_t **out)
{
    keel__rabbit_driver_t *d = driver;
    rabbit_listener_t *l;
    int rc = listener_new(d, MAX_CONSUMERS_RPC, cb, data, &l);
    if (rc != 0)
        return rc;
    keel_buf_t name, fanout;
    keel_buf_init(&name);
    keel_buf_init(&fanout);
    char hex[33];
    /* X (topic) with T and T.S bound by their names; T_fanout with a private queue (spec §4). */
    rc = declare_exchange(l, target->exchange, false);
    if (rc == 0)
        rc = declare_queue(l, target->topic, KEEL__MESSAGING_QUEUE_TOPIC);
    if (rc == 0)
        rc = keel_client_queue_bind(l->ch, target->topic, target->exchange, target->topic, (keel_amqp_table_t){0}, NULL, NULL);
    if (rc == 0)
        rc = keel_buf_printf(&name, "%s.%s", target->topic, target->server);
    if (rc == 0)
        rc = declare_queue(l, name.base, KEEL__MESSAGING_QUEUE_TOPIC);
    if (rc == 0)
        rc = keel_client_queue_bind(l->ch, name.base, target->exchange, name.base, (keel_amqp_table_t){0}, NULL, NULL);
    if (rc == 0)
        rc = keel_buf_printf(&fanout, "%s_fanout", target->topic);
    if (rc == 0)
        rc = declare_exchange(l, fanout.base, true);
    if (rc == 0)
        rc = keel__messaging_uuid_hex(hex);
    if (rc == 0) {
        keel_buf_reset(&name);
        rc = keel_buf_printf(&name, "%s_%s", fanout.base, hex);
    }
    if (rc == 0)
        rc = (l->fanout_q = keel__strdup(name.base)) ? 0 : KEEL_ENOMEM;
    if (rc == 0)
        rc = declare_queue(l, l->fanout_q, KEEL__MESSAGING_QUEUE_FANOUT);
    if (rc == 0)
        rc = keel_client_queue_bind(l->ch, l->fanout_q, fanout.base, target->topic, (keel_amqp_table_t){0}, NULL, NULL);
    if (rc == 0)
        rc = consume(l, target->topic);
    keel_buf_reset(&name);
    if (rc == 0)
        rc = keel_buf_printf(&name, "%s.%s", target->topic, target->server);
    if (rc == 0)
        rc = consume(l, name.base);
    if (rc == 0)
        rc = consume(l, l->fanout_q);
    keel_buf_free(&name);
    keel_buf_free(&fanout);
    if (rc != 0) {
        listener_abort(l);
        return rc;
    }
    *out = &l->base;
    return 0;
}

int keel__rabbit_listen_for_notifications(void *driver, const keel__messaging_target_priority_t *pairs, size_t n,
                                          const char *pool, keel__messaging_incoming_cb cb, void *data,
                                          keel__messaging_listener_t **out)
{
    keel__rabbit_driver_t *d = driver;
    rabbit_listener_t *l;
    int rc = listener_new(d, n, cb, data, &l);
    if (rc != 0)
        return rc;
    keel_buf_t key;
    keel_buf_init(&key);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const keel_messaging_target_t *tg = pairs[i].target;
        keel_buf_reset(&key);
        rc = keel_buf_printf(&key, "%s.%s", tg->topic, pairs[i].priority);
        const char *queue = pool && *pool ? pool : key.base;
        if (rc == 0)
            rc = declare_exchange(l, tg->exchange, false);
        if (rc == 0)
            rc = declare_queue(l, queue, KEEL__MESSAGING_QUEUE_NOTIFY);
        if (rc == 0)
            rc = keel_client_queue_bind(l->ch, queue, tg->exchange, key.base, (keel_amqp_table_t){0}, NULL, NULL);
        if (rc == 0)
            rc = consume(l, queue);
    }
    keel_buf_free(&key);
    if (rc != 0) {
        listener_abort(l);
        return rc;
    }
    *out = &l->base;
    return 0;
}

static void on_stop_channel_closed(keel_client_channel_t *ch, int status, void *data)
{
    rabbit_listener_t *l = data;
    (void)ch;
    (void)status;
    l->ch = NULL;
    l->ch_closed = true;
    if (l->free_pending)
        listener_release(l);
}

void keel__rabbit_listener_stop(keel__messaging_listener_t *base, keel__messaging_listener_stop_cb done, void *data)
{
    rabbit_listener_t *l = (rabbit_listener_t *)base;
    l->stop_cb = done;
    l->stop_data = data;
    l->stop_reported = false;
    if (!l->stopped && !keel_client_is_connected(l->d->client)) {
        l->stopped = true;
        l->ch_closing = true;
        if (keel_client_channel_close(l->ch, on_stop_channel_closed, l) != 0) {
            l->ch = NULL;
            l->ch_closed = true;
        }
    }
    if (!l->stopped) {
        l->stopped = true;
        for (size_t i = 0; i < l->nconsumers; i++)
            keel_client_cancel(l->consumers[i], NULL, NULL); /* KEEL_EPIPE: it already ended */
        /* oslo deletes the server's fanout queue on a clean shutdown. */
        if (l->fanout_q)
            keel_client_queue_delete(l->ch, l->fanout_q, false, false, NULL, NULL);
    }
    maybe_stopped(l);
}

void keel__rabbit_listener_free(keel__messaging_listener_t *base)
{
    rabbit_listener_t *l = (rabbit_listener_t *)base;
    KEEL_ASSERT(l->stopped && l->outstanding == 0);
    if (l->ch_closing) {
        if (l->ch_closed)
            listener_release(l);
        else
            l->free_pending = true;
        return;
    }
    if (keel_client_channel_close(l->ch, on_channel_closed, l) != 0)
        listener_release(l);
}

/* ---- consumed messages ---- */

void keel__rabbit_ack(keel__messaging_incoming_t *in)
{
    rabbit_incoming_t *ri = (rabbit_incoming_t *)in;
    if (ri->settled)
        return;
    ri->settled = true;
    rabbit_listener_t *l = (rabbit_listener_t *)in->listener;
    /* KEEL_ECONNRESET: delivered on a connection since lost; the broker redelivers it. */
    if (!l->ch_closing)
        keel_client_ack(l->ch, ri->tag, false);
}

void keel__rabbit_requeue(keel__messaging_incoming_t *in)
{
    rabbit_incoming_t *ri = (rabbit_incoming_t *)in;
    if (ri->settled)
        return;
    ri->settled = true;
    rabbit_listener_t *l = (rabbit_listener_t *)in->listener;
    if (!l->ch_closing)
        keel_client_reject(l->ch, ri->tag, true);
}

void keel__rabbit_reply(keel__messaging_incoming_t *in, json_t *result, const char *failure, bool ending)
{
    rabbit_listener_t *l = (rabbit_listener_t *)in->listener;
    if (in->u.msg_id == NULL || in->u.reply_q == NULL || l->d->closing)
        return;
    keel__rabbit_publish_reply(l->d, in->u.reply_q, in->u.msg_id, result, failure, ending);
}

void keel__rabbit_release(keel__messaging_incoming_t *in)
{
    rabbit_incoming_t *ri = (rabbit_incoming_t *)in;
    rabbit_listener_t *l = (rabbit_listener_t *)in->listener;
    if (!ri->settled)
        keel__rabbit_requeue(in);
    keel__messaging_unpacked_clear(&in->u);
    keel__free(ri);
    l->outstanding--;
}
