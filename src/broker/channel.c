/*
 * channel.c — a channel's life and its consuming side: method dispatch,
 * channel.flow/close, basic.qos with RabbitMQ's meaning of global,
 * consumers, basic.get, deliveries and their acknowledgements.
 *
 * Unacknowledged deliveries are kept in tag order in a ring buffer: acks
 * normally arrive in order, so settling the oldest is O(1), and "multiple"
 * acks take a prefix. A delivery holds a reference on its queue so an ack
 * after the queue was deleted is still answered correctly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker_int.h"
#include "keel/log.h"

#define STR(s) (int)(s).len, (s).base

channel_t *keel__channel_new(conn_t *c, uint16_t id)
{
    channel_t *ch = keel__calloc(1, sizeof(*ch));
    if (ch == NULL)
        return NULL;
    ch->conn = c;
    ch->id = id;
    ch->flow_active = true;
    keel_list_init(&ch->consumers);
    keel_vec_init(&ch->tx_publishes);
    keel_vec_init(&ch->tx_acks);
    return ch;
}

/* ---- unacked ring ---- */

static delivery_t *unacked_at(channel_t *ch, size_t i)
{
    return &ch->unacked[(ch->unacked_head + i) & (ch->unacked_cap - 1)];
}

static int unacked_push(channel_t *ch, const delivery_t *d)
{
    if (ch->unacked_len == ch->unacked_cap) {
        size_t cap = ch->unacked_cap ? ch->unacked_cap * 2 : 64;
        delivery_t *ring = keel__malloc(cap * sizeof(*ring));
        if (ring == NULL)
            return KEEL_ENOMEM;
        for (size_t i = 0; i < ch->unacked_len; i++)
            ring[i] = *unacked_at(ch, i);
        keel__free(ch->unacked);
        ch->unacked = ring;
        ch->unacked_cap = cap;
        ch->unacked_head = 0;
    }
    *unacked_at(ch, ch->unacked_len++) = *d;
    return 0;
}

/* Removes delivery i (0 = oldest), keeping tag order. */
static delivery_t unacked_take(channel_t *ch, size_t i)
{
    delivery_t d = *unacked_at(ch, i);
    if (i == 0) {
        ch->unacked_head = (ch->unacked_head + 1) & (ch->unacked_cap - 1);
    } else {
        for (size_t k = i; k + 1 < ch->unacked_len; k++)
            *unacked_at(ch, k) = *unacked_at(ch, k + 1);
    }
    ch->unacked_len--;
    return d;
}

static bool unacked_find(channel_t *ch, uint64_t tag, size_t *index)
{
    size_t lo = 0, hi = ch->unacked_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t t = unacked_at(ch, mid)->tag;
        if (t < tag)
            lo = mid + 1;
        else if (t > tag)
            hi = mid;
        else {
            *index = mid;
            return true;
        }
    }
    return false;
}

/* Capacity changed: the queues this channel consumes from may deliver. */
static void kick_consumer_queues(channel_t *ch)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &ch->consumers)
    {
        consumer_t *c = keel_container_of(pos, consumer_t, by_channel);
        if (c->queue != NULL)
            keel__queue_kick(c->queue);
    }
}

typedef enum { SETTLE_ACK, SETTLE_REQUEUE, SETTLE_REJECT } settle_t;

static void settle(channel_t *ch, delivery_t *d, settle_t how)
{
    queue_t *q = d->queue;
    if (d->consumer != NULL)
        d->consumer->unacked--;
    q->unacked--;
    switch (how) {
    case SETTLE_ACK:
        keel__queue_settle(q, &d->entry);
        break;
    case SETTLE_REQUEUE:
        keel__queue_requeue(q, &d->entry);
        break;
    case SETTLE_REJECT:
        keel__queue_reject(q, &d->entry);
        break;
    }
    keel__queue_unref(q);
}

/* Settles one tag, or with multiple every tag up to it (tag 0: all), as
 * rabbit_channel:collect_acks: the tag itself must be outstanding.
 * Returns false for an unknown tag, with nothing settled. */
static bool settle_tags(channel_t *ch, uint64_t tag, bool multiple, settle_t how)
{
    size_t last;
    if (multiple && tag == 0) {
        if (ch->unacked_len == 0)
            return true;
        last = ch->unacked_len - 1;
    } else if (!unacked_find(ch, tag, &last)) {
        return false;
    }
    if (!multiple) {
        delivery_t d = unacked_take(ch, last);
        settle(ch, &d, how);
        return true;
    }
    for (size_t n = 0; n <= last; n++) {
        delivery_t d = unacked_take(ch, 0);
        settle(ch, &d, how);
    }
    return true;
}

/* ---- consumers ---- */

bool keel__consumer_ready(const consumer_t *c)
{
    const channel_t *ch = c->channel;
    if (ch->closing || !ch->flow_active || ch->conn->blocked_by_output || ch->conn->state != CONN_OPEN)
        return false;
    if (c->no_ack)
        return true;
    if (c->prefetch != 0 && c->unacked >= c->prefetch)
        return false;
    if (ch->prefetch_global != 0 && ch->unacked_len >= ch->prefetch_global)
        return false;
    return true;
}

int keel__consumer_deliver(consumer_t *c, queue_t *q, keel__qentry_t *e)
{
    channel_t *ch = c->channel;
    uint64_t tag = ++ch->next_delivery_tag;
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_DELIVER};
    m.basic_deliver.consumer_tag = (keel_amqp_str_t){c->tag, c->tag_len};
    m.basic_deliver.delivery_tag = tag;
    m.basic_deliver.redelivered = e->deliveries > 1;
    m.basic_deliver.exchange = (keel_amqp_str_t){e->msg->exchange, e->msg->exchange_len};
    m.basic_deliver.routing_key = (keel_amqp_str_t){e->msg->rkey, e->msg->rkey_len};
    int rc = keel__conn_send_content(ch->conn, ch->id, &m, e->msg);
    if (rc != 0) {
        keel__queue_requeue(q, e);
        return rc;
    }
    if (c->no_ack) {
        keel__queue_settle(q, e);
        keel__queue_unref(q);
        return 0;
    }
    delivery_t d = {.tag = tag, .queue = q, .consumer = c, .entry = *e};
    if (unacked_push(ch, &d) != 0) {
        keel__queue_settle(q, e); /* out of memory: it went out; count it delivered */
        keel__queue_unref(q);
        return 0;
    }
    c->unacked++;
    q->unacked++;
    return 0;
}

static consumer_t *find_consumer(channel_t *ch, keel_amqp_str_t tag)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &ch->consumers)
    {
        consumer_t *c = keel_container_of(pos, consumer_t, by_channel);
        if (c->tag_len == tag.len && memcmp(c->tag, tag.base, tag.len) == 0)
            return c;
    }
    return NULL;
}

/* Unlinks a consumer from its channel and frees it; deliveries it made
 * stay unacked on the channel and lose their pointer to it. */
static void consumer_free(consumer_t *c)
{
    channel_t *ch = c->channel;
    for (size_t i = 0; i < ch->unacked_len; i++)
        if (unacked_at(ch, i)->consumer == c)
            unacked_at(ch, i)->consumer = NULL;
    if (ch->reply_consumer == c)
        ch->reply_consumer = NULL;
    keel_list_remove(&c->by_channel);
    keel__free(c->args);
    keel__free(c);
}

void keel__consumer_cancelled(consumer_t *c)
{
    channel_t *ch = c->channel;
    queue_t *q = c->queue;
    keel_list_remove(&c->by_queue);
    q->n_consumers--;
    if (q->active == c)
        q->active = NULL;
    c->queue = NULL;
    if (ch->conn->cap_consumer_cancel_notify && !ch->closing) {
        keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_CANCEL};
        m.basic_cancel.consumer_tag = (keel_amqp_str_t){c->tag, c->tag_len};
        m.basic_cancel.nowait = true;
        keel__conn_send_method(ch->conn, ch->id, &m);
        keel__conn_flush(ch->conn);
    }
    consumer_free(c);
}

static int basic_consume(channel_t *ch, const keel_amqp_basic_consume_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_BASIC_CONSUME;
    keel_amqp_str_t qname = d->queue.len ? d->queue : (keel_amqp_str_t){ch->last_queue, ch->last_queue_len};
    char tagbuf[64];
    keel_amqp_str_t tag = d->consumer_tag;
    if (tag.len == 0) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t raw[22];
        keel_random_bytes(raw, sizeof(raw));
        memcpy(tagbuf, "amq.ctag-", 9);
        for (size_t i = 0; i < sizeof(raw); i++)
            tagbuf[9 + i] = alphabet[raw[i] & 63];
        tag = (keel_amqp_str_t){tagbuf, 9 + sizeof(raw)};
    }
    if (find_consumer(ch, tag) != NULL)
        return keel__conn_error(c, KEEL_AMQP_NOT_ALLOWED, mid, "attempt to reuse consumer tag '%.*s'", STR(tag));
    bool reply_to = qname.len == 21 && memcmp(qname.base, "amq.rabbitmq.reply-to", 21) == 0;
    queue_t *q = NULL;
    if (reply_to) {
        if (!d->no_ack)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "reply consumer cannot acknowledge");
        if (ch->reply_consumer != NULL)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "reply consumer already set");
    } else {
        if (!keel__perm_check(c->user, c->vhost, PERM_READ, qname.base, qname.len))
            return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid,
                                       "access to queue '%.*s' in vhost '%s' refused for user '%s'", STR(qname), c->vhost->name,
                                       c->user_name);
        q = keel__queue_find(c->vhost, qname.base, qname.len);
        if (q == NULL)
            return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no queue '%.*s' in vhost '%s'", STR(qname), c->vhost->name);
        if (q->exclusive && q->owner != c)
            return keel__channel_error(ch, KEEL_AMQP_RESOURCE_LOCKED, mid,
                                       "cannot obtain exclusive access to locked queue '%.*s' in vhost '%s'. It could be "
                                       "originally declared on another connection or the exclusive property value does not "
                                       "match that of the original declaration.",
                                       STR(qname), c->vhost->name);
        bool exclusive_taken = false;
        keel_link_t *pos, *tmp;
        keel_list_foreach_safe(pos, tmp, &q->consumers)
        {
            exclusive_taken = exclusive_taken || keel_container_of(pos, consumer_t, by_queue)->exclusive;
        }
        if (exclusive_taken || (d->exclusive && q->n_consumers > 0))
            return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "queue '%.*s' in vhost '%s' in exclusive use", STR(qname),
                                       c->vhost->name);
    }
    consumer_t *cons = keel__calloc(1, sizeof(*cons));
    if (cons == NULL)
        return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, mid, "out of memory");
    cons->channel = ch;
    cons->queue = q;
    memcpy(cons->tag, tag.base, tag.len);
    cons->tag_len = tag.len;
    cons->no_ack = d->no_ack;
    cons->exclusive = d->exclusive;
    cons->prefetch = ch->prefetch_consumer;
    keel_list_init(&cons->by_queue);
    keel_list_push(&ch->consumers, &cons->by_channel);
    if (!d->nowait) {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_BASIC_CONSUME_OK};
        ok.basic_consume_ok.consumer_tag = tag;
        int rc = keel__conn_send_method(c, ch->id, &ok);
        if (rc != 0)
            return rc;
    }
    if (reply_to) {
        ch->reply_consumer = cons;
        if (ch->reply_token[0] == '\0')
            snprintf(ch->reply_token, sizeof(ch->reply_token), "%llu.%u", (unsigned long long)c->id, (unsigned)ch->id);
        return 0;
    }
    return keel__queue_add_consumer(q, cons);
}

static void cancel_consumer(consumer_t *cons)
{
    if (cons->queue != NULL)
        keel__queue_remove_consumer(cons->queue, cons);
    consumer_free(cons);
}

static int basic_cancel(channel_t *ch, const keel_amqp_basic_cancel_t *d)
{
    consumer_t *cons = find_consumer(ch, d->consumer_tag);
    if (cons != NULL)
        cancel_consumer(cons);
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_BASIC_CANCEL_OK};
    ok.basic_cancel_ok.consumer_tag = d->consumer_tag;
    return keel__conn_send_method(ch->conn, ch->id, &ok);
}

static int basic_get(channel_t *ch, const keel_amqp_basic_get_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_BASIC_GET;
    keel_amqp_str_t qname = d->queue.len ? d->queue : (keel_amqp_str_t){ch->last_queue, ch->last_queue_len};
    if (!keel__perm_check(c->user, c->vhost, PERM_READ, qname.base, qname.len))
        return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "access to queue '%.*s' in vhost '%s' refused for user '%s'",
                                   STR(qname), c->vhost->name, c->user_name);
    queue_t *q = keel__queue_find(c->vhost, qname.base, qname.len);
    if (q == NULL)
        return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no queue '%.*s' in vhost '%s'", STR(qname), c->vhost->name);
    if (q->exclusive && q->owner != c)
        return keel__channel_error(ch, KEEL_AMQP_RESOURCE_LOCKED, mid,
                                   "cannot obtain exclusive access to locked queue '%.*s' in vhost '%s'. It could be originally "
                                   "declared on another connection or the exclusive property value does not match that of the "
                                   "original declaration.",
                                   STR(qname), c->vhost->name);
    keel__qentry_t e;
    if (!keel__queue_get(q, &e)) {
        keel_amqp_method_t empty = {.id = KEEL_AMQP_BASIC_GET_EMPTY};
        return keel__conn_send_method(c, ch->id, &empty);
    }
    uint64_t tag = ++ch->next_delivery_tag;
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_GET_OK};
    m.basic_get_ok.delivery_tag = tag;
    m.basic_get_ok.redelivered = e.deliveries > 1;
    m.basic_get_ok.exchange = (keel_amqp_str_t){e.msg->exchange, e.msg->exchange_len};
    m.basic_get_ok.routing_key = (keel_amqp_str_t){e.msg->rkey, e.msg->rkey_len};
    m.basic_get_ok.message_count = (uint32_t)keel__queue_ready(q);
    int rc = keel__conn_send_content(c, ch->id, &m, e.msg);
    if (rc != 0) {
        keel__queue_requeue(q, &e);
        return rc;
    }
    if (d->no_ack) {
        keel__queue_settle(q, &e);
        return 0;
    }
    keel__queue_ref(q);
    delivery_t dl = {.tag = tag, .queue = q, .consumer = NULL, .entry = e};
    if (unacked_push(ch, &dl) != 0) {
        keel__queue_settle(q, &e);
        keel__queue_unref(q);
        return 0;
    }
    q->unacked++;
    return 0;
}

static int unknown_tag(channel_t *ch, uint32_t mid, uint64_t tag)
{
    return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "unknown delivery tag %llu", (unsigned long long)tag);
}

/* Acks are applied at commit on a transactional channel. */
typedef struct {
    uint64_t tag;
    bool multiple;
    uint8_t how;
} tx_ack_t;

static int settle_or_queue(channel_t *ch, uint32_t mid, uint64_t tag, bool multiple, settle_t how)
{
    if (ch->tx) {
        tx_ack_t *a = keel__malloc(sizeof(*a));
        if (a == NULL || keel_vec_push(&ch->tx_acks, a) != 0) {
            keel__free(a);
            return keel__conn_error(ch->conn, KEEL_AMQP_INTERNAL_ERROR, mid, "out of memory");
        }
        *a = (tx_ack_t){tag, multiple, (uint8_t)how};
        return 0;
    }
    if (!settle_tags(ch, tag, multiple, how))
        return unknown_tag(ch, mid, tag);
    kick_consumer_queues(ch);
    return 0;
}

int keel__channel_apply_tx_acks(channel_t *ch)
{
    int rc = 0;
    for (size_t i = 0; i < ch->tx_acks.len; i++) {
        tx_ack_t *a = ch->tx_acks.items[i];
        if (rc == 0 && !settle_tags(ch, a->tag, a->multiple, (settle_t)a->how))
            rc = unknown_tag(ch, KEEL_AMQP_TX_COMMIT, a->tag);
        keel__free(a);
    }
    ch->tx_acks.len = 0;
    kick_consumer_queues(ch);
    return rc;
}

void keel__channel_drop_tx_acks(channel_t *ch)
{
    for (size_t i = 0; i < ch->tx_acks.len; i++)
        keel__free(ch->tx_acks.items[i]);
    ch->tx_acks.len = 0;
}

/* basic.recover: every unacked delivery goes back to its queue. */
static void requeue_all(channel_t *ch)
{
    while (ch->unacked_len > 0) {
        delivery_t d = unacked_take(ch, ch->unacked_len - 1);
        settle(ch, &d, SETTLE_REQUEUE);
    }
}

static int basic_qos(channel_t *ch, const keel_amqp_basic_qos_t *d)
{
    if (d->prefetch_size != 0)
        return keel__conn_error(ch->conn, KEEL_AMQP_NOT_IMPLEMENTED, KEEL_AMQP_BASIC_QOS, "prefetch_size!=0 (%u)",
                                d->prefetch_size);
    /* RabbitMQ: global=false limits each consumer created from now on;
     * global=true limits the channel as a whole. */
    if (d->global)
        ch->prefetch_global = d->prefetch_count;
    else
        ch->prefetch_consumer = d->prefetch_count;
    kick_consumer_queues(ch);
    keel_amqp_method_t ok = {.id = KEEL_AMQP_BASIC_QOS_OK};
    return keel__conn_send_method(ch->conn, ch->id, &ok);
}

/* ---- channel life ---- */

void keel__channel_free(channel_t *ch)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &ch->consumers)
    {
        cancel_consumer(keel_container_of(pos, consumer_t, by_channel));
    }
    requeue_all(ch);
    keel__free(ch->unacked);
    keel__channel_drop_tx_acks(ch);
    keel_vec_free(&ch->tx_acks);
    keel__channel_drop_tx_publishes(ch);
    keel_vec_free(&ch->tx_publishes);
    keel__msg_unref(ch->pending.msg);
    keel__free(ch);
}

/* Frees the channel's resources but keeps the slot until close-ok. */
static void channel_quiesce(channel_t *ch)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &ch->consumers)
    {
        cancel_consumer(keel_container_of(pos, consumer_t, by_channel));
    }
    requeue_all(ch);
    keel__channel_drop_tx_acks(ch);
    keel__channel_drop_tx_publishes(ch);
    keel__msg_unref(ch->pending.msg);
    ch->pending = (pending_t){0};
}

int keel__channel_error(channel_t *ch, uint16_t code, uint32_t method_id, const char *fmt, ...)
{
    char text[512];
    int n = snprintf(text, sizeof(text), "%s - ", keel_amqp_reply_name(code) ? keel_amqp_reply_name(code) : "ERROR");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
    va_end(ap);
    keel__clip_shortstr(text);
    if (!ch->conn->detached) {
        const char *op = keel_amqp_method_name(method_id);
        KEEL_LOG_WARNING(keel_log_get("keel.broker.channel"), "channel error on connection %llu (%s), channel %u: operation %s: %s",
                         (unsigned long long)ch->conn->id, ch->conn->peer, ch->id, op ? op : "none", text);
    }
    keel_amqp_method_t m = {.id = KEEL_AMQP_CHANNEL_CLOSE};
    m.channel_close.reply_code = code;
    m.channel_close.reply_text = keel_amqp_str(text);
    m.channel_close.class_id = (uint16_t)(method_id >> 16);
    m.channel_close.method_id = (uint16_t)method_id;
    ch->closing = true;
    channel_quiesce(ch);
    keel__conn_send_method(ch->conn, ch->id, &m);
    return 0;
}

static int channel_flow(channel_t *ch, const keel_amqp_channel_flow_t *d)
{
    ch->flow_active = d->active;
    if (d->active)
        kick_consumer_queues(ch);
    keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_FLOW_OK};
    ok.channel_flow_ok.active = d->active;
    return keel__conn_send_method(ch->conn, ch->id, &ok);
}

int keel__channel_method(channel_t *ch, const keel_amqp_method_t *m)
{
    conn_t *c = ch->conn;
    if (ch->closing) {
        /* after our channel.close only close and close-ok count */
        if (m->id == KEEL_AMQP_CHANNEL_CLOSE_OK || m->id == KEEL_AMQP_CHANNEL_CLOSE) {
            if (m->id == KEEL_AMQP_CHANNEL_CLOSE) {
                keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_CLOSE_OK};
                keel__conn_send_method(c, ch->id, &ok);
            }
            c->channels[ch->id] = NULL;
            c->n_channels--;
            keel__channel_free(ch);
        }
        return 0;
    }
    if (ch->pending.active) {
        /* a method in the middle of a publish's content: 505, naming the
         * method whose content was interrupted, as RabbitMQ does */
        return keel__conn_error(c, KEEL_AMQP_UNEXPECTED_FRAME, KEEL_AMQP_BASIC_PUBLISH,
                                "expected content header for class 60, got non content header frame instead");
    }
    int rc = keel__channel_declare_method(ch, m);
    if (rc <= 0)
        return rc;
    rc = keel__channel_publish_method(ch, m);
    if (rc <= 0)
        return rc;
    switch (m->id) {
    case KEEL_AMQP_CHANNEL_OPEN:
        return keel__conn_error(c, KEEL_AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
    case KEEL_AMQP_CHANNEL_FLOW:
        return channel_flow(ch, &m->channel_flow);
    case KEEL_AMQP_CHANNEL_FLOW_OK:
        return 0;
    case KEEL_AMQP_CHANNEL_CLOSE: {
        uint16_t id = ch->id;
        c->channels[id] = NULL;
        c->n_channels--;
        keel__channel_free(ch);
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_CLOSE_OK};
        return keel__conn_send_method(c, id, &ok);
    }
    case KEEL_AMQP_CHANNEL_CLOSE_OK:
        return 0;
    case KEEL_AMQP_ACCESS_REQUEST: {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_ACCESS_REQUEST_OK};
        ok.access_request_ok.ticket = 1;
        return keel__conn_send_method(c, ch->id, &ok);
    }
    case KEEL_AMQP_BASIC_QOS:
        return basic_qos(ch, &m->basic_qos);
    case KEEL_AMQP_BASIC_CONSUME:
        return basic_consume(ch, &m->basic_consume);
    case KEEL_AMQP_BASIC_CANCEL:
        return basic_cancel(ch, &m->basic_cancel);
    case KEEL_AMQP_BASIC_GET:
        return basic_get(ch, &m->basic_get);
    case KEEL_AMQP_BASIC_ACK:
        return settle_or_queue(ch, m->id, m->basic_ack.delivery_tag, m->basic_ack.multiple, SETTLE_ACK);
    case KEEL_AMQP_BASIC_REJECT:
        return settle_or_queue(ch, m->id, m->basic_reject.delivery_tag, false,
                               m->basic_reject.requeue ? SETTLE_REQUEUE : SETTLE_REJECT);
    case KEEL_AMQP_BASIC_NACK:
        return settle_or_queue(ch, m->id, m->basic_nack.delivery_tag, m->basic_nack.multiple,
                               m->basic_nack.requeue ? SETTLE_REQUEUE : SETTLE_REJECT);
    case KEEL_AMQP_BASIC_RECOVER_ASYNC:
    case KEEL_AMQP_BASIC_RECOVER: {
        bool requeue = m->id == KEEL_AMQP_BASIC_RECOVER ? m->basic_recover.requeue : m->basic_recover_async.requeue;
        if (!requeue)
            return keel__conn_error(c, KEEL_AMQP_NOT_IMPLEMENTED, m->id, "requeue=false");
        requeue_all(ch);
        kick_consumer_queues(ch);
        if (m->id == KEEL_AMQP_BASIC_RECOVER_ASYNC)
            return 0;
        keel_amqp_method_t ok = {.id = KEEL_AMQP_BASIC_RECOVER_OK};
        return keel__conn_send_method(c, ch->id, &ok);
    }
    default: {
        const keel_amqp_method_info_t *info = keel_amqp_method_info(m->id);
        return keel__conn_error(c, KEEL_AMQP_COMMAND_INVALID, m->id, "%s is not a method a server accepts",
                                info ? info->name : "unknown method");
    }
    }
}
