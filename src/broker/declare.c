/*
 * declare.c — the exchange and queue classes: declare (with RabbitMQ's
 * equivalence checks and reserved names), delete, bind, unbind, purge.
 * Each method checks permissions first, as RabbitMQ does, and reports
 * failures as channel exceptions with RabbitMQ's codes and texts, except
 * an unknown exchange type, which RabbitMQ makes a connection error.
 */
#include <stdio.h>
#include <string.h>

#include "broker_int.h"

#define STR(s) (int)(s).len, (s).base

static bool is_amq_prefixed(keel_amqp_str_t s)
{
    return s.len >= 4 && memcmp(s.base, "amq.", 4) == 0;
}

static const char *yes(bool b)
{
    return b ? "true" : "false";
}

static int refuse(channel_t *ch, uint32_t mid, const char *what, keel_amqp_str_t name)
{
    conn_t *c = ch->conn;
    return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "access to %s '%.*s' in vhost '%s' refused for user '%s'", what,
                               STR(name), c->vhost->name, c->user_name);
}

static bool may(channel_t *ch, perm_kind_t kind, keel_amqp_str_t name)
{
    return keel__perm_check(ch->conn->user, ch->conn->vhost, kind, name.base, name.len);
}

static bool args_equal(const uint8_t *a, size_t alen, keel_amqp_table_t b)
{
    return alen == b.len && (alen == 0 || memcmp(a, b.base, alen) == 0);
}

/* ---- exchanges ---- */

static int exchange_declare(channel_t *ch, const keel_amqp_exchange_declare_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_EXCHANGE_DECLARE;
    exchange_t *x = keel__exchange_find(c->vhost, d->exchange.base, d->exchange.len);
    if (d->passive) {
        if (x == NULL)
            return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no exchange '%.*s' in vhost '%s'", STR(d->exchange),
                                       c->vhost->name);
    } else {
        if (d->exchange.len == 0)
            return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "operation not permitted on the default exchange");
        ex_type_t type;
        if (keel__exchange_type_parse(d->type.base, d->type.len, &type) != 0)
            return keel__conn_error(c, KEEL_AMQP_COMMAND_INVALID, mid, "unknown exchange type '%.*s'", STR(d->type));
        if (!may(ch, PERM_CONFIGURE, d->exchange))
            return refuse(ch, mid, "exchange", d->exchange);
        if (x == NULL) {
            if (is_amq_prefixed(d->exchange))
                return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid,
                                           "exchange name '%.*s' contains reserved prefix 'amq.*'", STR(d->exchange));
            keel_amqp_value_t ae;
            if (keel_amqp_table_get(d->arguments, "alternate-exchange", &ae) == 0 && ae.type != KEEL_AMQP_FIELD_LONGSTR)
                return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid,
                                           "invalid arg 'alternate-exchange' for exchange '%.*s' in vhost '%s'", STR(d->exchange),
                                           c->vhost->name);
            int rc = keel__exchange_new(c->vhost, d->exchange.base, d->exchange.len, type, d->durable, d->auto_delete, d->internal,
                                        d->arguments.base, d->arguments.len, &x);
            if (rc != 0)
                return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, mid, "out of memory");
        } else {
            const char *field = NULL, *got = NULL, *cur = NULL;
            if (x->type != type)
                field = "type", got = keel__exchange_type_name(type), cur = keel__exchange_type_name(x->type);
            else if (x->durable != d->durable)
                field = "durable", got = yes(d->durable), cur = yes(x->durable);
            else if (x->auto_delete != d->auto_delete)
                field = "auto_delete", got = yes(d->auto_delete), cur = yes(x->auto_delete);
            else if (x->internal != d->internal)
                field = "internal", got = yes(d->internal), cur = yes(x->internal);
            if (field != NULL)
                return keel__channel_error(
                    ch, KEEL_AMQP_PRECONDITION_FAILED, mid,
                    "inequivalent arg '%s' for exchange '%.*s' in vhost '%s': received '%s' but current is '%s'", field,
                    STR(d->exchange), c->vhost->name, got, cur);
            keel_amqp_str_t ae = {0};
            bool has_ae = keel_amqp_table_get_str(d->arguments, "alternate-exchange", &ae) == 0;
            if (has_ae != (x->alternate != NULL) ||
                (has_ae && (ae.len != x->alternate_len || memcmp(ae.base, x->alternate, ae.len) != 0)))
                return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid,
                                           "inequivalent arg 'alternate-exchange' for exchange '%.*s' in vhost '%s'",
                                           STR(d->exchange), c->vhost->name);
        }
    }
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_EXCHANGE_DECLARE_OK};
    return keel__conn_send_method(c, ch->id, &ok);
}

static int exchange_delete(channel_t *ch, const keel_amqp_exchange_delete_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_EXCHANGE_DELETE;
    if (d->exchange.len == 0 || is_amq_prefixed(d->exchange))
        return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "operation not permitted on the default exchange");
    if (!may(ch, PERM_CONFIGURE, d->exchange))
        return refuse(ch, mid, "exchange", d->exchange);
    exchange_t *x = keel__exchange_find(c->vhost, d->exchange.base, d->exchange.len);
    if (x != NULL) {
        if (d->if_unused && x->n_bindings > 0)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "exchange '%.*s' in vhost '%s' in use",
                                       STR(d->exchange), c->vhost->name);
        keel__exchange_delete(x);
    }
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_EXCHANGE_DELETE_OK};
    return keel__conn_send_method(c, ch->id, &ok);
}

/* exchange.bind / exchange.unbind: write on the destination, read on the source. */
static int exchange_bind(channel_t *ch, const keel_amqp_exchange_bind_t *d, bool bind)
{
    conn_t *c = ch->conn;
    uint32_t mid = bind ? KEEL_AMQP_EXCHANGE_BIND : KEEL_AMQP_EXCHANGE_UNBIND;
    if (d->source.len == 0 || d->destination.len == 0)
        return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "operation not permitted on the default exchange");
    if (!may(ch, PERM_WRITE, d->destination))
        return refuse(ch, mid, "exchange", d->destination);
    if (!may(ch, PERM_READ, d->source))
        return refuse(ch, mid, "exchange", d->source);
    exchange_t *src = keel__exchange_find(c->vhost, d->source.base, d->source.len);
    exchange_t *dst = keel__exchange_find(c->vhost, d->destination.base, d->destination.len);
    if (src == NULL || dst == NULL) {
        keel_amqp_str_t missing = src == NULL ? d->source : d->destination;
        if (!bind) /* unbinding what is not there is fine */
            goto ok;
        return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no exchange '%.*s' in vhost '%s'", STR(missing), c->vhost->name);
    }
    int rc =
        bind ? keel__bind(src, DEST_EXCHANGE, dst, d->routing_key.base, d->routing_key.len, d->arguments.base, d->arguments.len)
             : keel__unbind(src, DEST_EXCHANGE, dst, d->routing_key.base, d->routing_key.len, d->arguments.base, d->arguments.len);
    if (rc == KEEL_ENOMEM)
        return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, mid, "out of memory");
ok:
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = bind ? KEEL_AMQP_EXCHANGE_BIND_OK : KEEL_AMQP_EXCHANGE_UNBIND_OK};
    return keel__conn_send_method(c, ch->id, &ok);
}

/* ---- queues ---- */

/* The queue "" names the channel's last declared queue (AMQP 0-9-1). */
static keel_amqp_str_t queue_name(channel_t *ch, keel_amqp_str_t name)
{
    if (name.len == 0)
        return (keel_amqp_str_t){ch->last_queue, ch->last_queue_len};
    return name;
}

static void remember_queue(channel_t *ch, const queue_t *q)
{
    memcpy(ch->last_queue, q->name, q->name_len);
    ch->last_queue_len = q->name_len;
}

static int locked(channel_t *ch, uint32_t mid, keel_amqp_str_t name)
{
    return keel__channel_error(ch, KEEL_AMQP_RESOURCE_LOCKED, mid,
                               "cannot obtain exclusive access to locked queue '%.*s' in vhost '%s'. It could be originally "
                               "declared on another connection or the exclusive property value does not match that of the "
                               "original declaration.",
                               STR(name), ch->conn->vhost->name);
}

/* Finds a queue the channel may use; 404/405 as RabbitMQ reports them. */
static queue_t *usable_queue(channel_t *ch, uint32_t mid, keel_amqp_str_t name, int *rc)
{
    queue_t *q = keel__queue_find(ch->conn->vhost, name.base, name.len);
    if (q == NULL) {
        *rc = keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no queue '%.*s' in vhost '%s'", STR(name), ch->conn->vhost->name);
        return NULL;
    }
    if (q->exclusive && q->owner != ch->conn) {
        *rc = locked(ch, mid, name);
        return NULL;
    }
    *rc = 0;
    return q;
}

static void server_name(char *out, size_t size, const char *prefix)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[22];
    keel_random_bytes(raw, sizeof(raw));
    size_t n = (size_t)snprintf(out, size, "%s", prefix);
    for (size_t i = 0; i < sizeof(raw) && n + 1 < size; i++)
        out[n++] = alphabet[raw[i] & 63];
    out[n] = '\0';
}

static int queue_declare(channel_t *ch, const keel_amqp_queue_declare_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_QUEUE_DECLARE;
    char generated[64];
    keel_amqp_str_t name = d->queue;
    if (name.len == 0 && !d->passive) {
        server_name(generated, sizeof(generated), "amq.gen-");
        name = keel_amqp_str(generated);
    } else if (name.len == 0) {
        name = queue_name(ch, name);
    }
    queue_t *q = keel__queue_find(c->vhost, name.base, name.len);
    if (d->passive) {
        if (q == NULL)
            return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no queue '%.*s' in vhost '%s'", STR(name), c->vhost->name);
        if (q->exclusive && q->owner != c)
            return locked(ch, mid, name);
    } else {
        if (!may(ch, PERM_CONFIGURE, name))
            return refuse(ch, mid, "queue", name);
        if (q == NULL) {
            if (is_amq_prefixed(d->queue))
                return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "queue name '%.*s' contains reserved prefix 'amq.*'",
                                           STR(name));
            char why[512];
            int rc = keel__queue_new(c->vhost, name.base, name.len, d->durable, d->exclusive, d->auto_delete, c, d->arguments.base,
                                     d->arguments.len, &q, why, sizeof(why));
            if (rc == KEEL_EVALUE)
                return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "%s", why);
            if (rc != 0)
                return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, mid, "out of memory");
        } else {
            if (q->exclusive && q->owner != c)
                return locked(ch, mid, name);
            const char *field = NULL;
            bool got = false, cur = false;
            if (q->durable != d->durable)
                field = "durable", got = d->durable, cur = q->durable;
            else if (q->auto_delete != d->auto_delete)
                field = "auto_delete", got = d->auto_delete, cur = q->auto_delete;
            else if (q->exclusive != d->exclusive)
                return locked(ch, mid, name);
            if (field != NULL)
                return keel__channel_error(
                    ch, KEEL_AMQP_PRECONDITION_FAILED, mid,
                    "inequivalent arg '%s' for queue '%.*s' in vhost '%s': received '%s' but current is '%s'", field, STR(name),
                    c->vhost->name, yes(got), yes(cur));
            if (!args_equal(q->args, q->args_len, d->arguments)) {
                /* compare what matters, as RabbitMQ does, not the bytes */
                queue_t probe = {0};
                char why[512];
                int rc = keel__queue_parse_args(name.base, name.len, c->vhost->name, d->arguments, &probe, why, sizeof(why));
                bool same = rc == 0 && probe.message_ttl == q->message_ttl && probe.expires == q->expires &&
                            probe.max_length == q->max_length && probe.max_length_bytes == q->max_length_bytes &&
                            probe.overflow == q->overflow && probe.max_priority == q->max_priority &&
                            probe.single_active == q->single_active && ((probe.dlx == NULL) == (q->dlx == NULL)) &&
                            (probe.dlx == NULL || strcmp(probe.dlx, q->dlx) == 0) && ((probe.dlrk == NULL) == (q->dlrk == NULL)) &&
                            (probe.dlrk == NULL || strcmp(probe.dlrk, q->dlrk) == 0);
                keel__free(probe.dlx);
                keel__free(probe.dlrk);
                if (rc == KEEL_EVALUE)
                    return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "%s", why);
                if (!same)
                    return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid,
                                               "inequivalent arg for queue '%.*s' in vhost '%s': the arguments differ from those "
                                               "of the existing queue",
                                               STR(name), c->vhost->name);
            }
            keel__queue_touch(q);
        }
    }
    remember_queue(ch, q);
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_QUEUE_DECLARE_OK};
    ok.queue_declare_ok.queue = (keel_amqp_str_t){q->name, q->name_len};
    ok.queue_declare_ok.message_count = (uint32_t)keel__queue_ready(q);
    ok.queue_declare_ok.consumer_count = (uint32_t)q->n_consumers;
    return keel__conn_send_method(c, ch->id, &ok);
}

static int queue_bind(channel_t *ch, keel_amqp_str_t qname, keel_amqp_str_t xname, keel_amqp_str_t key, keel_amqp_table_t args,
                      bool nowait, bool bind)
{
    conn_t *c = ch->conn;
    uint32_t mid = bind ? KEEL_AMQP_QUEUE_BIND : KEEL_AMQP_QUEUE_UNBIND;
    qname = queue_name(ch, qname);
    if (xname.len == 0)
        return keel__channel_error(ch, KEEL_AMQP_ACCESS_REFUSED, mid, "operation not permitted on the default exchange");
    if (!may(ch, PERM_WRITE, qname))
        return refuse(ch, mid, "queue", qname);
    if (!may(ch, PERM_READ, xname))
        return refuse(ch, mid, "exchange", xname);
    int rc;
    queue_t *q = usable_queue(ch, mid, qname, &rc);
    if (q == NULL && (bind || rc != 0)) {
        if (!bind && keel__queue_find(c->vhost, qname.base, qname.len) == NULL)
            goto ok; /* unbinding from a missing queue succeeds */
        return rc;
    }
    exchange_t *x = keel__exchange_find(c->vhost, xname.base, xname.len);
    if (x == NULL) {
        if (!bind)
            goto ok;
        return keel__channel_error(ch, KEEL_AMQP_NOT_FOUND, mid, "no exchange '%.*s' in vhost '%s'", STR(xname), c->vhost->name);
    }
    rc = bind ? keel__bind(x, DEST_QUEUE, q, key.base, key.len, args.base, args.len)
              : keel__unbind(x, DEST_QUEUE, q, key.base, key.len, args.base, args.len);
    if (rc == KEEL_ENOMEM)
        return keel__conn_error(c, KEEL_AMQP_INTERNAL_ERROR, mid, "out of memory");
ok:
    if (nowait)
        return 0;
    keel_amqp_method_t ok = {.id = bind ? KEEL_AMQP_QUEUE_BIND_OK : KEEL_AMQP_QUEUE_UNBIND_OK};
    return keel__conn_send_method(c, ch->id, &ok);
}

static int queue_purge(channel_t *ch, const keel_amqp_queue_purge_t *d)
{
    uint32_t mid = KEEL_AMQP_QUEUE_PURGE;
    keel_amqp_str_t name = queue_name(ch, d->queue);
    if (!may(ch, PERM_READ, name))
        return refuse(ch, mid, "queue", name);
    int rc;
    queue_t *q = usable_queue(ch, mid, name, &rc);
    if (q == NULL)
        return rc;
    size_t n = keel__queue_purge(q);
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_QUEUE_PURGE_OK};
    ok.queue_purge_ok.message_count = (uint32_t)n;
    return keel__conn_send_method(ch->conn, ch->id, &ok);
}

static int queue_delete(channel_t *ch, const keel_amqp_queue_delete_t *d)
{
    conn_t *c = ch->conn;
    uint32_t mid = KEEL_AMQP_QUEUE_DELETE;
    keel_amqp_str_t name = queue_name(ch, d->queue);
    if (!may(ch, PERM_CONFIGURE, name))
        return refuse(ch, mid, "queue", name);
    queue_t *q = keel__queue_find(c->vhost, name.base, name.len);
    size_t n = 0;
    if (q != NULL) {
        if (q->exclusive && q->owner != c)
            return locked(ch, mid, name);
        if (d->if_unused && q->n_consumers > 0)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "queue '%.*s' in vhost '%s' in use", STR(name),
                                       c->vhost->name);
        if (d->if_empty && keel__queue_ready(q) > 0)
            return keel__channel_error(ch, KEEL_AMQP_PRECONDITION_FAILED, mid, "queue '%.*s' in vhost '%s' is not empty", STR(name),
                                       c->vhost->name);
        n = keel__queue_ready(q);
        keel__queue_delete(q, true);
    }
    if (d->nowait)
        return 0;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_QUEUE_DELETE_OK};
    ok.queue_delete_ok.message_count = (uint32_t)n;
    return keel__conn_send_method(c, ch->id, &ok);
}

int keel__channel_declare_method(channel_t *ch, const keel_amqp_method_t *m)
{
    switch (m->id) {
    case KEEL_AMQP_EXCHANGE_DECLARE:
        return exchange_declare(ch, &m->exchange_declare);
    case KEEL_AMQP_EXCHANGE_DELETE:
        return exchange_delete(ch, &m->exchange_delete);
    case KEEL_AMQP_EXCHANGE_BIND:
        return exchange_bind(ch, &m->exchange_bind, true);
    case KEEL_AMQP_EXCHANGE_UNBIND:
        return exchange_bind(ch, (const keel_amqp_exchange_bind_t *)&m->exchange_unbind, false);
    case KEEL_AMQP_QUEUE_DECLARE:
        return queue_declare(ch, &m->queue_declare);
    case KEEL_AMQP_QUEUE_BIND: {
        const keel_amqp_queue_bind_t *b = &m->queue_bind;
        return queue_bind(ch, b->queue, b->exchange, b->routing_key, b->arguments, b->nowait, true);
    }
    case KEEL_AMQP_QUEUE_UNBIND: {
        const keel_amqp_queue_unbind_t *u = &m->queue_unbind;
        return queue_bind(ch, u->queue, u->exchange, u->routing_key, u->arguments, false, false);
    }
    case KEEL_AMQP_QUEUE_PURGE:
        return queue_purge(ch, &m->queue_purge);
    case KEEL_AMQP_QUEUE_DELETE:
        return queue_delete(ch, &m->queue_delete);
    default:
        return 1; /* not ours */
    }
}
