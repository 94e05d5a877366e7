/*
 * ops.c — the operations an application calls on channels: open and close,
 * declare, delete, bind, qos, confirm.select, consume, cancel, get, ack and
 * publish. Each checks its arguments, builds its method (and, for what is
 * recorded for recovery, the record it commits on -ok) and hands it to the
 * channel, which sends it or defers it. None runs a callback or frees
 * anything itself: that happens when the reply comes, or in the client's
 * prepare callback.
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

static bool name_ok(const char *s)
{
    return s == NULL || strlen(s) <= 255;
}

static int client_usable(const keel_client_t *c)
{
    if (c->state == CL_CLOSING || c->state == CL_CLOSED)
        return KEEL_ECANCELED;
    if (c->state == CL_FAILED)
        return c->fail_status;
    return 0;
}

/* ---- channels ---- */

int keel_client_channel_open(keel_client_t *c, keel_client_channel_t **out, keel_client_channel_cb cb, void *data)
{
    if (c == NULL || out == NULL)
        return KEEL_EINVAL;
    int rc = client_usable(c);
    if (rc != 0)
        return rc;
    keel_client_channel_t *ch;
    if ((rc = keel__cchan_new(c, false, &ch)) != 0)
        return rc;
    ch->open_cb = cb;
    ch->open_data = data;
    /* the prepare callback opens it once the connection can take it */
    keel__client_wake(c);
    *out = ch;
    return 0;
}

int keel_client_channel_close(keel_client_channel_t *ch, keel_client_channel_cb cb, void *data)
{
    if (ch == NULL || ch->internal)
        return KEEL_EINVAL;
    if (ch->close_requested)
        return KEEL_EPIPE;
    keel_client_t *c = ch->client;
    if ((ch->state == CH_READY || ch->state == CH_OPENING) && c->state == CL_OPEN) {
        keel_amqp_method_t m = {.id = KEEL_AMQP_CHANNEL_CLOSE};
        m.channel_close.reply_code = KEEL_AMQP_REPLY_SUCCESS;
        m.channel_close.reply_text = KEEL_AMQP_STR("Goodbye");
        op_t o = {.method = m.id, .kind = OP_CLOSE};
        int rc = keel__cchan_op_now(ch, &m, &o);
        if (rc != 0)
            return rc;
        ch->state = CH_CLOSING;
        if (ch->in_client_recovery) {
            ch->in_client_recovery = false;
            c->rec_channels--;
        }
    } else if (c->state != CL_CLOSING && c->state != CL_CLOSED) {
        /* not open on the server: nothing to say to it */
        keel__cchan_zombify(ch, 0);
    }
    ch->close_requested = true;
    ch->close_cb = cb;
    ch->close_data = data;
    keel__client_wake(c);
    return 0;
}

/* ---- declarations ---- */

int keel_client_exchange_declare(keel_client_channel_t *ch, const keel_client_exchange_t *x, keel_client_op_cb cb, void *data)
{
    if (ch == NULL || x == NULL || x->name == NULL || !name_ok(x->name) || !name_ok(x->type))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    const char *type = x->type ? x->type : "direct";
    topo_t *rec = NULL;
    if (!x->passive) {
        rec = keel__ctopo_new(TOPO_EXCHANGE, x->name, type, NULL, x->arguments);
        if (rec == NULL)
            return KEEL_ENOMEM;
        rec->durable = x->durable;
        rec->auto_delete = x->auto_delete;
        rec->internal = x->internal;
    }
    keel_amqp_method_t m = {.id = KEEL_AMQP_EXCHANGE_DECLARE};
    m.exchange_declare.exchange = keel_amqp_str(x->name);
    m.exchange_declare.type = keel_amqp_str(type);
    m.exchange_declare.passive = x->passive;
    m.exchange_declare.durable = x->durable;
    m.exchange_declare.auto_delete = x->auto_delete;
    m.exchange_declare.internal = x->internal;
    m.exchange_declare.arguments = x->arguments;
    op_t o = {.method = m.id, .kind = OP_USER, .cb.op = cb, .data = data, .rec = rec};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        keel__ctopo_free(rec);
    return rc;
}

int keel_client_exchange_delete(keel_client_channel_t *ch, const char *name, bool if_unused, keel_client_op_cb cb, void *data)
{
    if (ch == NULL || name == NULL || !name_ok(name))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    topo_t *rec = keel__ctopo_new(TOPO_EXCHANGE, name, NULL, NULL, (keel_amqp_table_t){0});
    if (rec == NULL)
        return KEEL_ENOMEM;
    keel_amqp_method_t m = {.id = KEEL_AMQP_EXCHANGE_DELETE};
    m.exchange_delete.exchange = keel_amqp_str(name);
    m.exchange_delete.if_unused = if_unused;
    op_t o = {.method = m.id, .kind = OP_USER, .cb.op = cb, .data = data, .rec = rec};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        keel__ctopo_free(rec);
    return rc;
}

int keel_client_queue_declare(keel_client_channel_t *ch, const keel_client_queue_t *q, keel_client_queue_cb cb, void *data)
{
    if (ch == NULL || q == NULL || !name_ok(q->name))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    const char *name = q->name ? q->name : "";
    topo_t *rec = NULL;
    if (!q->passive) {
        rec = keel__ctopo_new(TOPO_QUEUE, name, NULL, NULL, q->arguments);
        if (rec == NULL)
            return KEEL_ENOMEM;
        rec->durable = q->durable;
        rec->exclusive = q->exclusive;
        rec->auto_delete = q->auto_delete;
    }
    keel_amqp_method_t m = {.id = KEEL_AMQP_QUEUE_DECLARE};
    m.queue_declare.queue = keel_amqp_str(name);
    m.queue_declare.passive = q->passive;
    m.queue_declare.durable = q->durable;
    m.queue_declare.exclusive = q->exclusive;
    m.queue_declare.auto_delete = q->auto_delete;
    m.queue_declare.arguments = q->arguments;
    op_t o = {.method = m.id, .kind = OP_QUEUE, .cb.queue = cb, .data = data, .rec = rec};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        keel__ctopo_free(rec);
    return rc;
}

int keel_client_queue_delete(keel_client_channel_t *ch, const char *name, bool if_unused, bool if_empty, keel_client_op_cb cb,
                             void *data)
{
    if (ch == NULL || name == NULL || !name_ok(name))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    topo_t *rec = keel__ctopo_new(TOPO_QUEUE, name, NULL, NULL, (keel_amqp_table_t){0});
    if (rec == NULL)
        return KEEL_ENOMEM;
    keel_amqp_method_t m = {.id = KEEL_AMQP_QUEUE_DELETE};
    m.queue_delete.queue = keel_amqp_str(name);
    m.queue_delete.if_unused = if_unused;
    m.queue_delete.if_empty = if_empty;
    op_t o = {.method = m.id, .kind = OP_USER, .cb.op = cb, .data = data, .rec = rec};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        keel__ctopo_free(rec);
    return rc;
}

/* queue.bind/unbind and exchange.bind/unbind share their fields' shape. */
static int binding_op(keel_client_channel_t *ch, uint32_t id, const char *dest, const char *source, const char *key,
                      keel_amqp_table_t args, keel_client_op_cb cb, void *data)
{
    if (ch == NULL || dest == NULL || source == NULL || !name_ok(dest) || !name_ok(source) || !name_ok(key))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    bool queue = id == KEEL_AMQP_QUEUE_BIND || id == KEEL_AMQP_QUEUE_UNBIND;
    topo_t *rec = keel__ctopo_new(queue ? TOPO_QBIND : TOPO_XBIND, dest, source, key ? key : "", args);
    if (rec == NULL)
        return KEEL_ENOMEM;
    keel_amqp_method_t m = {.id = id};
    keel_amqp_str_t d = keel_amqp_str(dest), s = keel_amqp_str(source), k = keel_amqp_str(key);
    switch (id) {
    case KEEL_AMQP_QUEUE_BIND:
        m.queue_bind = (keel_amqp_queue_bind_t){.queue = d, .exchange = s, .routing_key = k, .arguments = args};
        break;
    case KEEL_AMQP_QUEUE_UNBIND:
        m.queue_unbind = (keel_amqp_queue_unbind_t){.queue = d, .exchange = s, .routing_key = k, .arguments = args};
        break;
    case KEEL_AMQP_EXCHANGE_BIND:
        m.exchange_bind = (keel_amqp_exchange_bind_t){.destination = d, .source = s, .routing_key = k, .arguments = args};
        break;
    default:
        m.exchange_unbind = (keel_amqp_exchange_unbind_t){.destination = d, .source = s, .routing_key = k, .arguments = args};
        break;
    }
    op_t o = {.method = id, .kind = OP_USER, .cb.op = cb, .data = data, .rec = rec};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        keel__ctopo_free(rec);
    return rc;
}

int keel_client_queue_bind(keel_client_channel_t *ch, const char *queue, const char *exchange, const char *routing_key,
                           keel_amqp_table_t arguments, keel_client_op_cb cb, void *data)
{
    return binding_op(ch, KEEL_AMQP_QUEUE_BIND, queue, exchange, routing_key, arguments, cb, data);
}

int keel_client_queue_unbind(keel_client_channel_t *ch, const char *queue, const char *exchange, const char *routing_key,
                             keel_amqp_table_t arguments, keel_client_op_cb cb, void *data)
{
    return binding_op(ch, KEEL_AMQP_QUEUE_UNBIND, queue, exchange, routing_key, arguments, cb, data);
}

int keel_client_exchange_bind(keel_client_channel_t *ch, const char *destination, const char *source, const char *routing_key,
                              keel_amqp_table_t arguments, keel_client_op_cb cb, void *data)
{
    return binding_op(ch, KEEL_AMQP_EXCHANGE_BIND, destination, source, routing_key, arguments, cb, data);
}

int keel_client_exchange_unbind(keel_client_channel_t *ch, const char *destination, const char *source, const char *routing_key,
                                keel_amqp_table_t arguments, keel_client_op_cb cb, void *data)
{
    return binding_op(ch, KEEL_AMQP_EXCHANGE_UNBIND, destination, source, routing_key, arguments, cb, data);
}

/* ---- channel settings ---- */

int keel_client_qos(keel_client_channel_t *ch, uint16_t prefetch_count, bool global, keel_client_op_cb cb, void *data)
{
    if (ch == NULL)
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_QOS};
    m.basic_qos.prefetch_count = prefetch_count;
    m.basic_qos.global = global;
    op_t o = {.method = m.id, .kind = OP_USER, .cb.op = cb, .data = data};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        return rc;
    /* recorded at once: recovery applies the latest asked for */
    ch->qos_set = true;
    ch->prefetch = prefetch_count;
    ch->qos_global = global;
    return 0;
}

int keel_client_confirm_select(keel_client_channel_t *ch, keel_client_op_cb cb, void *data)
{
    if (ch == NULL)
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    keel_amqp_method_t m = {.id = KEEL_AMQP_CONFIRM_SELECT};
    op_t o = {.method = m.id, .kind = OP_USER, .cb.op = cb, .data = data};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        return rc;
    ch->confirm = true;
    return 0;
}

/* ---- consuming ---- */

int keel_client_consume(keel_client_channel_t *ch, const keel_client_consume_t *opts, keel_client_deliver_cb on_message,
                        keel_client_op_cb on_ok, void *data, keel_client_consumer_t **out)
{
    if (ch == NULL || opts == NULL || opts->queue == NULL || on_message == NULL || !name_ok(opts->queue) || !name_ok(opts->tag))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    keel_client_t *c = ch->client;
    char made[48];
    const char *tag = opts->tag;
    if (tag == NULL || tag[0] == '\0') {
        snprintf(made, sizeof(made), "keel.ctag-%llu", (unsigned long long)++c->next_tag);
        tag = made;
    }
    if (keel_map_get(&c->consumers, tag, strlen(tag)) != NULL)
        return KEEL_EEXIST;
    keel_client_consumer_t *cons = keel__calloc(1, sizeof(*cons));
    if (cons == NULL)
        return KEEL_ENOMEM;
    rc = KEEL_ENOMEM;
    cons->ch = ch;
    cons->tag = keel__strdup(tag);
    cons->queue = keel__strdup(opts->queue);
    if (cons->tag == NULL || cons->queue == NULL)
        goto fail_alloc;
    cons->tag_len = strlen(cons->tag);
    if (opts->arguments.len > 0) {
        if ((cons->args = keel__malloc(opts->arguments.len)) == NULL)
            goto fail_alloc;
        memcpy(cons->args, opts->arguments.base, opts->arguments.len);
        cons->args_len = opts->arguments.len;
    }
    cons->no_ack = opts->no_ack;
    cons->exclusive = opts->exclusive;
    cons->on_message = on_message;
    cons->on_ok = on_ok;
    cons->data = data;
    if ((rc = keel_map_put(&c->consumers, cons->tag, cons->tag_len, cons, NULL)) != 0)
        goto fail_alloc;
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_CONSUME};
    m.basic_consume.queue = keel_amqp_str(cons->queue);
    m.basic_consume.consumer_tag = (keel_amqp_str_t){cons->tag, cons->tag_len};
    m.basic_consume.no_ack = cons->no_ack;
    m.basic_consume.exclusive = cons->exclusive;
    m.basic_consume.arguments = (keel_amqp_table_t){cons->args, cons->args_len};
    op_t o = {.method = m.id, .kind = OP_CONSUME, .rec = cons};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        goto fail_op;
    /* made by its own queued consume, not by a recovery that runs before it is sent */
    cons->deferred = ch->state != CH_READY;
    keel_list_push(&ch->consumers, &cons->link);
    if (out != NULL)
        *out = cons;
    return 0;

fail_op:
    keel_map_remove(&c->consumers, cons->tag, cons->tag_len);
fail_alloc:
    keel__ccons_free(cons);
    return rc;
}

const char *keel_client_consumer_tag(const keel_client_consumer_t *cons)
{
    return cons->tag;
}

int keel_client_cancel(keel_client_consumer_t *cons, keel_client_op_cb cb, void *data)
{
    if (cons == NULL)
        return KEEL_EINVAL;
    keel_client_channel_t *ch = cons->ch;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    if (cons->ending)
        return KEEL_EPIPE;
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_CANCEL};
    m.basic_cancel.consumer_tag = (keel_amqp_str_t){cons->tag, cons->tag_len};
    op_t o = {.method = m.id, .kind = OP_CANCEL, .rec = cons};
    if ((rc = keel__cchan_op(ch, &m, &o)) != 0)
        return rc;
    cons->ending = true;
    cons->cancel_cb = cb;
    cons->cancel_data = data;
    return 0;
}

/* ack, nack and reject: no reply, so nothing is deferred — a tag is only
 * valid on the channel incarnation that delivered it. */
static int settle(keel_client_channel_t *ch, uint64_t tag, bool multiple, keel_amqp_method_t *m, uint64_t *field)
{
    if (ch == NULL)
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    keel_client_t *c = ch->client;
    if (tag == 0 && !multiple)
        return KEEL_EINVAL;
    if (tag > ch->max_tag)
        return KEEL_EINVAL;
    if (c->state != CL_OPEN || (ch->state != CH_READY && ch->state != CH_OPENING))
        return KEEL_ECONNRESET;
    if (tag != 0 && tag <= ch->tag_offset)
        return KEEL_ECONNRESET;
    *field = tag == 0 ? 0 : tag - ch->tag_offset;
    return keel__cconn_send(c, ch->id, m);
}

int keel_client_ack(keel_client_channel_t *ch, uint64_t delivery_tag, bool multiple)
{
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_ACK};
    m.basic_ack.multiple = multiple;
    return settle(ch, delivery_tag, multiple, &m, &m.basic_ack.delivery_tag);
}

int keel_client_nack(keel_client_channel_t *ch, uint64_t delivery_tag, bool multiple, bool requeue)
{
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_NACK};
    m.basic_nack.multiple = multiple;
    m.basic_nack.requeue = requeue;
    return settle(ch, delivery_tag, multiple, &m, &m.basic_nack.delivery_tag);
}

int keel_client_reject(keel_client_channel_t *ch, uint64_t delivery_tag, bool requeue)
{
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_REJECT};
    m.basic_reject.requeue = requeue;
    if (delivery_tag == 0)
        return KEEL_EINVAL;
    return settle(ch, delivery_tag, false, &m, &m.basic_reject.delivery_tag);
}

int keel_client_get(keel_client_channel_t *ch, const char *queue, bool no_ack, keel_client_get_cb cb, void *data)
{
    if (ch == NULL || queue == NULL || cb == NULL || !name_ok(queue))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_GET};
    m.basic_get.queue = keel_amqp_str(queue);
    m.basic_get.no_ack = no_ack;
    op_t o = {.method = m.id, .kind = OP_GET, .cb.get = cb, .data = data};
    return keel__cchan_op(ch, &m, &o);
}

/* ---- publishing ---- */

int keel_client_publish(keel_client_channel_t *ch, const keel_client_publish_t *p, keel_client_confirm_cb cb, void *data)
{
    if (ch == NULL || p == NULL || (p->body == NULL && p->body_len > 0) || !name_ok(p->exchange) || !name_ok(p->routing_key))
        return KEEL_EINVAL;
    int rc = keel__cchan_usable(ch);
    if (rc != 0)
        return rc;
    if (cb != NULL && !ch->confirm)
        return KEEL_EINVAL;
    keel_client_t *c = ch->client;
    bool now = ch->state == CH_READY;
    if (!now) {
        if (!keel__client_connected(c) && c->opts.offline_publish == KEEL_CLIENT_OFFLINE_FAIL)
            return KEEL_ECONNRESET;
        /* method and header frames are at most a few hundred octets more */
        size_t need = p->body_len + 600;
        if (c->deferred_publish_bytes + need > c->opts.offline_queue_max)
            return KEEL_EAGAIN;
    }
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_PUBLISH};
    m.basic_publish.exchange = keel_amqp_str(p->exchange);
    m.basic_publish.routing_key = keel_amqp_str(p->routing_key);
    m.basic_publish.mandatory = p->mandatory;
    keel_amqp_properties_t none = {0};
    const keel_amqp_properties_t *props = p->props ? p->props : &none;
    if (ch->confirm) {
        confirm_t e = {.cb = cb, .data = data};
        if ((rc = keel__cring_push(&ch->confirms, &e)) != 0)
            return rc;
    }
    rc = keel__cchan_publish(ch, &m, props, p->body, p->body_len, !now);
    if (rc != 0) {
        if (ch->confirm)
            keel__cring_pop_back(&ch->confirms);
        return rc;
    }
    if (ch->confirm && now)
        ch->conf_sent++;
    return 0;
}

size_t keel_client_unconfirmed(const keel_client_channel_t *ch)
{
    size_t n = 0;
    for (size_t i = 0; i < ch->confirms.len; i++)
        if (!((const confirm_t *)keel__cring_at(&ch->confirms, i))->done)
            n++;
    return n;
}
