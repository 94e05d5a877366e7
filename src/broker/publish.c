/*
 * publish.c — a channel's publishing side: basic.publish and its content
 * frames assembled into one message block, routing, mandatory returns,
 * publisher confirms, transactions and direct reply-to.
 *
 * The message is allocated once, when its content header announces the
 * body size, and body frames are copied straight into it; routing happens
 * when the last body octet arrives. Confirms are sent as each message is
 * routed: with messages in memory, a message is "safe" once it is in its
 * queues, which is what RabbitMQ's confirm means for transient messages.
 */
#include <stdio.h>
#include <string.h>

#include "broker_int.h"
#include "props.h"

#define STR(s) (int)(s).len, (s).base
#define REPLY_TO "amq.rabbitmq.reply-to"
#define REPLY_TO_LEN 21

/* A transactional publish waiting for tx.commit. */
typedef struct {
    keel__msg_t *msg;
    bool mandatory;
    bool default_exchange;
} tx_publish_t;

void keel__channel_drop_tx_publishes(channel_t *ch)
{
    for (size_t i = 0; i < ch->tx_publishes.len; i++) {
        tx_publish_t *p = ch->tx_publishes.items[i];
        keel__msg_unref(p->msg);
        keel__free(p);
    }
    ch->tx_publishes.len = 0;
}

static int basic_publish(channel_t *ch, const keel_amqp_basic_publish_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_BASIC_PUBLISH;
    if (d->immediate)
        return keel__conn_error(c, KEEL_AMQP_NOT_IMPLEMENTED, mid, "immediate=true");
    exchange_t *x = NULL;
    if (d->exchange.len > 0) {
        x = keel__exchange_find(c->vhost, d->exchange.base, d->exchange.len);
        if (x == NULL)
            return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no exchange '%.*s' in vhost '%s'", STR(d->exchange),
                                       c->vhost->name);
        if (x->internal)
            return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid,
                                       "cannot publish to internal exchange '%.*s' in vhost '%s'", STR(d->exchange),
                                       c->vhost->name);
    }
    /* RabbitMQ checks the default exchange as "amq.default" */
    keel_amqp_str_t resource = d->exchange.len ? d->exchange : KEEL_AMQP_STR("amq.default");
    if (!keel__perm_check(c->user, c->vhost, PERM_WRITE, resource.base, resource.len))
        return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid,
                                   "access to exchange '%.*s' in vhost '%s' refused for user '%s'", STR(d->exchange),
                                   c->vhost->name, c->user_name);
    pending_t *p = &ch->pending;
    *p = (pending_t){.active = true, .exchange = x, .mandatory = d->mandatory};
    memcpy(p->exchange_name, d->exchange.base, d->exchange.len);
    p->exchange_len = d->exchange.len;
    memcpy(p->rkey, d->routing_key.base, d->routing_key.len);
    p->rkey_len = d->routing_key.len;
    if (ch->confirm)
        p->seq = ++ch->next_publish_seq;
    return 0;
}

static channel_t *reply_channel(keel_broker_t *b, const char *token, size_t len)
{
    /* the token is "<connection id>.<channel id>" (see basic_consume) */
    unsigned long long cid = 0;
    unsigned chid = 0;
    char buf[48];
    if (len >= sizeof(buf))
        return NULL;
    memcpy(buf, token, len);
    buf[len] = '\0';
    if (sscanf(buf, "%llu.%u", &cid, &chid) != 2)
        return NULL;
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &b->conns)
    {
        conn_t *c = keel_container_of(pos, conn_t, link);
        if (c->id == cid && chid < (unsigned)c->channel_max + 1 && c->channels != NULL && c->channels[chid] != NULL &&
            c->channels[chid]->reply_consumer != NULL)
            return c->channels[chid];
    }
    return NULL;
}

static int send_return(channel_t *ch, keel__msg_t *msg)
{
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_RETURN};
    m.basic_return.reply_code = KEEL_AMQP_NO_ROUTE;
    m.basic_return.reply_text = KEEL_AMQP_STR("NO_ROUTE");
    m.basic_return.exchange = (keel_amqp_str_t){msg->exchange, msg->exchange_len};
    m.basic_return.routing_key = (keel_amqp_str_t){msg->rkey, msg->rkey_len};
    return keel__conn_send_content(ch->conn, ch->id, &m, msg);
}

static int send_confirm(channel_t *ch, uint64_t seq, bool ack)
{
    keel_amqp_method_t m = {.id = ack ? KEEL_AMQP_BASIC_ACK : KEEL_AMQP_BASIC_NACK};
    if (ack)
        m.basic_ack.delivery_tag = seq;
    else
        m.basic_nack.delivery_tag = seq;
    return keel__conn_send_method(ch->conn, ch->id, &m);
}

/* Routes a complete message; returns whether every queue accepted it. */
static int route_message(channel_t *ch, keel__msg_t *msg, exchange_t *x, bool mandatory, bool *accepted)
{
    conn_t *c = ch->conn;
    *accepted = true;
    route_t r;
    keel__route_init(&r);
    bool routed = false;
    int rc = 0;
    if (x == NULL) {
        if (msg->rkey_len > REPLY_TO_LEN + 1 && memcmp(msg->rkey, REPLY_TO ".", REPLY_TO_LEN + 1) == 0) {
            channel_t *target = reply_channel(c->broker, msg->rkey + REPLY_TO_LEN + 1, msg->rkey_len - REPLY_TO_LEN - 1);
            if (target != NULL) {
                consumer_t *rc_ = target->reply_consumer;
                keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_DELIVER};
                m.basic_deliver.consumer_tag = (keel_amqp_str_t){rc_->tag, rc_->tag_len};
                m.basic_deliver.delivery_tag = ++target->next_delivery_tag;
                m.basic_deliver.exchange = (keel_amqp_str_t){msg->exchange, msg->exchange_len};
                m.basic_deliver.routing_key = (keel_amqp_str_t){msg->rkey, msg->rkey_len};
                rc = keel__conn_send_content(target->conn, target->id, &m, msg);
                routed = true;
            }
        } else {
            /* the default exchange routes to the queue named by the key */
            queue_t *q = keel__queue_find(c->vhost, msg->rkey, msg->rkey_len);
            if (q != NULL) {
                int pr = keel__queue_publish(q, msg);
                if (pr == 1)
                    *accepted = false;
                else if (pr < 0)
                    rc = pr;
                routed = true;
            }
        }
    } else {
        keel_amqp_table_t headers = {0};
        keel_buf_t scratch;
        keel_buf_init(&scratch);
        /* the property flags are the first two octets: decode only messages
         * that carry headers */
        if (msg->props_len >= 2 && (((unsigned)msg->props[0] << 8 | msg->props[1]) & KEEL_AMQP_PROP_HEADERS)) {
            keel_amqp_properties_t p;
            if (keel__msg_props(msg, &scratch, &p) == 0)
                headers = p.headers;
        }
        rc = keel__route(x, msg->rkey, msg->rkey_len, headers, &r);
        for (size_t i = 0; rc == 0 && i < r.len; i++) {
            int pr = keel__queue_publish(r.queues[i], msg);
            if (pr == 1)
                *accepted = false;
            else if (pr < 0)
                rc = pr;
        }
        routed = r.len > 0;
        keel_buf_free(&scratch);
    }
    keel__route_free(&r);
    if (rc == 0 && !routed && mandatory)
        rc = send_return(ch, msg);
    return rc;
}

static int finish_publish(channel_t *ch)
{
    pending_t *p = &ch->pending;
    keel__msg_t *msg = p->msg;
    bool mandatory = p->mandatory, default_exchange = p->exchange_len == 0;
    uint64_t seq = p->seq;
    /* look the exchange up again: another connection may have deleted it
     * while the body was arriving; then the message has nowhere to go */
    exchange_t *x = default_exchange ? NULL : keel__exchange_find(ch->conn->vhost, p->exchange_name, p->exchange_len);
    bool gone = !default_exchange && x == NULL;
    *p = (pending_t){0};
    if (ch->tx) {
        tx_publish_t *t = keel__malloc(sizeof(*t));
        if (t == NULL || keel_vec_push(&ch->tx_publishes, t) != 0) {
            keel__free(t);
            keel__msg_unref(msg);
            return keel__conn_error(ch->conn, KEEL_AMQP_INTERNAL_ERROR, KEEL_AMQP_BASIC_PUBLISH, "out of memory");
        }
        *t = (tx_publish_t){msg, mandatory, default_exchange};
        return 0;
    }
    bool accepted = true;
    int rc = gone ? 0 : route_message(ch, msg, x, mandatory, &accepted);
    keel__msg_unref(msg);
    if (rc == 0 && ch->confirm)
        rc = send_confirm(ch, seq, accepted);
    return rc;
}

/* Rewrites reply_to "amq.rabbitmq.reply-to" to this channel's address. */
static int reply_to_props(channel_t *ch, keel_amqp_properties_t *props, char *addr, size_t addr_size)
{
    if (!(props->flags & KEEL_AMQP_PROP_REPLY_TO) || props->reply_to.len != REPLY_TO_LEN ||
        memcmp(props->reply_to.base, REPLY_TO, REPLY_TO_LEN) != 0)
        return 0;
    if (ch->reply_consumer == NULL)
        return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, KEEL_AMQP_BASIC_PUBLISH,
                                   "fast reply consumer does not exist");
    snprintf(addr, addr_size, "%s.%s", REPLY_TO, ch->reply_token);
    props->reply_to = keel_amqp_str(addr);
    return 1;
}

int keel__channel_header(channel_t *ch, const keel_amqp_header_t *h)
{
    conn_t *c = ch->conn;
    pending_t *p = &ch->pending;
    if (ch->closing)
        return 0;
    if (!p->active || p->msg != NULL)
        return keel__conn_error(c, KEEL_AMQP_UNEXPECTED_FRAME, 0, "expected method frame, got non method frame instead");
    uint64_t max = c->broker->opts.max_message_size;
    if (h->body_size > max) {
        *p = (pending_t){0};
        return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, KEEL_AMQP_BASIC_PUBLISH,
                                   "message size %llu is larger than configured max size %llu", (unsigned long long)h->body_size,
                                   (unsigned long long)max);
    }
    keel_amqp_properties_t props = h->props;
    if ((props.flags & KEEL_AMQP_PROP_USER_ID) &&
        !(props.user_id.len == strlen(c->user_name) && memcmp(props.user_id.base, c->user_name, props.user_id.len) == 0)) {
        *p = (pending_t){0};
        return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, KEEL_AMQP_BASIC_PUBLISH,
                                   "user_id property set to '%.*s' but authenticated user was '%s'", STR(props.user_id),
                                   c->user_name);
    }
    char addr[96];
    int rewrite = reply_to_props(ch, &props, addr, sizeof(addr));
    if (rewrite < 0 || ch->closing)
        return rewrite < 0 ? rewrite : 0;
    keel__msg_t *msg = NULL;
    if (rewrite) {
        keel_buf_t frame;
        keel_buf_init(&frame);
        if (keel_amqp_header_encode(&frame, ch->id, h->body_size, &props) == 0)
            msg = keel__msg_new(p->exchange_name, p->exchange_len, p->rkey, p->rkey_len, (const uint8_t *)frame.base + 19,
                                frame.len - 20, h->body_size);
        keel_buf_free(&frame);
    } else {
        msg = keel__msg_new(p->exchange_name, p->exchange_len, p->rkey, p->rkey_len, h->props_raw, h->props_raw_len, h->body_size);
    }
    if (msg == NULL)
        return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, KEEL_AMQP_BASIC_PUBLISH, "out of memory");
    if (keel__msg_set_props_cache(msg, &h->props) != 0) {
        keel__msg_unref(msg);
        *p = (pending_t){0};
        return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, KEEL_AMQP_BASIC_PUBLISH,
                                   "invalid expiration '%.*s' for message", STR(h->props.expiration));
    }
    p->msg = msg;
    if (h->body_size == 0)
        return finish_publish(ch);
    return 0;
}

int keel__channel_body(channel_t *ch, const uint8_t *data, size_t len)
{
    pending_t *p = &ch->pending;
    if (ch->closing)
        return 0;
    if (!p->active || p->msg == NULL)
        return keel__conn_error(ch->conn, KEEL_AMQP_UNEXPECTED_FRAME, 0, "expected method frame, got non method frame instead");
    keel__msg_t *m = p->msg;
    if (len > m->body_size - m->body_filled)
        return keel__conn_error(ch->conn, KEEL_AMQP_FRAME_ERROR, KEEL_AMQP_BASIC_PUBLISH,
                                "content body exceeds the size the content header announced (%llu)",
                                (unsigned long long)m->body_size);
    memcpy(m->body + m->body_filled, data, len);
    m->body_filled += len;
    if (m->body_filled == m->body_size)
        return finish_publish(ch);
    return 0;
}

static int tx_commit(channel_t *ch)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ch->tx_publishes.len; i++) {
        tx_publish_t *t = ch->tx_publishes.items[i];
        exchange_t *x = NULL;
        if (!t->default_exchange) {
            x = keel__exchange_find(ch->conn->vhost, t->msg->exchange, t->msg->exchange_len);
            if (x == NULL)
                continue; /* deleted since: nowhere to go */
        }
        bool accepted;
        rc = route_message(ch, t->msg, x, t->mandatory, &accepted);
    }
    keel__channel_drop_tx_publishes(ch);
    if (rc == 0)
        rc = keel__channel_apply_tx_acks(ch);
    if (rc != 0 || ch->closing)
        return rc;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_TX_COMMIT_OK};
    return keel__conn_send_method(ch->conn, ch->id, &ok);
}

int keel__channel_publish_method(channel_t *ch, const keel_amqp_method_t *m)
{
    conn_t *c = ch->conn;
    switch (m->id) {
    case KEEL_AMQP_BASIC_PUBLISH:
        return basic_publish(ch, &m->basic_publish);
    case KEEL_AMQP_CONFIRM_SELECT:
        if (ch->tx)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, m->id, "cannot switch from tx to confirm mode");
        ch->confirm = true;
        if (m->confirm_select.nowait)
            return 0;
        return keel__conn_send_method(c, ch->id, &(keel_amqp_method_t){.id = KEEL_AMQP_CONFIRM_SELECT_OK});
    case KEEL_AMQP_TX_SELECT:
        if (ch->confirm)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, m->id, "cannot switch from confirm to tx mode");
        ch->tx = true;
        return keel__conn_send_method(c, ch->id, &(keel_amqp_method_t){.id = KEEL_AMQP_TX_SELECT_OK});
    case KEEL_AMQP_TX_COMMIT:
        if (!ch->tx)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, m->id, "channel is not transactional");
        return tx_commit(ch);
    case KEEL_AMQP_TX_ROLLBACK:
        if (!ch->tx)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, m->id, "channel is not transactional");
        keel__channel_drop_tx_publishes(ch);
        keel__channel_drop_tx_acks(ch);
        return keel__conn_send_method(c, ch->id, &(keel_amqp_method_t){.id = KEEL_AMQP_TX_ROLLBACK_OK});
    default:
        return 1;
    }
}
