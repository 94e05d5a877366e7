/*
 * topology.c — what the application declared, and putting it back after a
 * reconnect.
 *
 * Records are made when the server confirms a declaration (-ok), so a
 * record always describes something the server once accepted; deletes and
 * unbinds remove them the same way. A declaration of a name already
 * recorded replaces the record in place, keeping its place in the order.
 *
 * Recovery runs in phases on the new connection, each pipelined:
 *   RP_DECLARE  exchanges and queues, in the order first declared, on a
 *               private channel; a server-named queue is declared with an
 *               empty name again and takes the name the server gives;
 *   RP_BIND     bindings, with queue names as renamed above;
 *   RP_CHANNELS every application channel re-opens with its qos, confirm
 *               mode and consumers (channel.c);
 * and the client reports itself connected when the last channel is back.
 * A record the server refuses (406 because a durable queue came back with
 * other arguments, say) is reported and dropped, and the phase goes on
 * with the rest on a re-opened channel: the server discarded whatever
 * followed the refused one.
 */
#include <string.h>

#include "client_int.h"

void keel__ctopo_free(topo_t *t)
{
    if (t == NULL)
        return;
    keel__free(t->name);
    keel__free(t->source);
    keel__free(t->key);
    keel__free(t->args);
    keel__free(t);
}

topo_t *keel__ctopo_new(uint8_t kind, const char *name, const char *source, const char *key, keel_amqp_table_t args)
{
    topo_t *t = keel__calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->kind = kind;
    keel_list_init(&t->link);
    t->name = keel__strdup(name ? name : "");
    if (t->name == NULL)
        goto fail;
    if (source != NULL && (t->source = keel__strdup(source)) == NULL)
        goto fail;
    if (key != NULL && (t->key = keel__strdup(key)) == NULL)
        goto fail;
    if (args.len > 0) {
        if ((t->args = keel__malloc(args.len)) == NULL)
            goto fail;
        memcpy(t->args, args.base, args.len);
        t->args_len = args.len;
    }
    return t;

fail:
    keel__ctopo_free(t);
    return NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_binding(const topo_t *a, const topo_t *b)
{
    return a->kind == b->kind && str_eq(a->name, b->name) && str_eq(a->source, b->source) && str_eq(a->key, b->key) &&
           a->args_len == b->args_len && (a->args_len == 0 || memcmp(a->args, b->args, a->args_len) == 0);
}

static topo_t *find(keel_client_t *c, uint8_t kind, const char *name)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->topo)
    {
        topo_t *t = keel_container_of(pos, topo_t, link);
        if (t->kind == kind && str_eq(t->name, name))
            return t;
    }
    return NULL;
}

static void drop(topo_t *t)
{
    keel_list_remove(&t->link);
    keel__ctopo_free(t);
}

/* Drops the bindings that end or start at an exchange or end at a queue. */
static void drop_bindings_of(keel_client_t *c, bool queue, const char *name)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->topo)
    {
        topo_t *t = keel_container_of(pos, topo_t, link);
        bool hit = queue ? (t->kind == TOPO_QBIND && str_eq(t->name, name))
                         : ((t->kind == TOPO_QBIND || t->kind == TOPO_XBIND) && str_eq(t->source, name)) ||
                               (t->kind == TOPO_XBIND && str_eq(t->name, name));
        if (hit)
            drop(t);
    }
}

/* Puts rec in the records, replacing a record of the same entity in its place. */
static void record(keel_client_t *c, topo_t *rec)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->topo)
    {
        topo_t *t = keel_container_of(pos, topo_t, link);
        bool same = (rec->kind == TOPO_EXCHANGE || rec->kind == TOPO_QUEUE) ? t->kind == rec->kind && str_eq(t->name, rec->name)
                                                                            : same_binding(t, rec);
        if (same) {
            /* insert where the old one was */
            rec->link.prev = t->link.prev;
            rec->link.next = t->link.next;
            t->link.prev->next = &rec->link;
            t->link.next->prev = &rec->link;
            keel_list_init(&t->link);
            keel__ctopo_free(t);
            return;
        }
    }
    keel_list_push(&c->topo, &rec->link);
}

void keel__ctopo_commit(keel_client_t *c, uint32_t method, topo_t *rec, keel_amqp_str_t queue_name)
{
    switch (method) {
    case KEEL_AMQP_EXCHANGE_DECLARE:
    case KEEL_AMQP_QUEUE_BIND:
    case KEEL_AMQP_EXCHANGE_BIND:
        record(c, rec);
        return;
    case KEEL_AMQP_QUEUE_DECLARE:
        if (rec->name[0] == '\0') {
            char *name = keel__strndup(queue_name.base, queue_name.len);
            if (name == NULL) {
                keel__ctopo_free(rec); /* out of memory: this queue will not be recovered */
                return;
            }
            keel__free(rec->name);
            rec->name = name;
            rec->server_named = true;
        }
        record(c, rec);
        return;
    case KEEL_AMQP_QUEUE_UNBIND:
    case KEEL_AMQP_EXCHANGE_UNBIND: {
        keel_link_t *pos, *tmp;
        keel_list_foreach_safe(pos, tmp, &c->topo)
        {
            topo_t *t = keel_container_of(pos, topo_t, link);
            if (same_binding(t, rec)) {
                drop(t);
                break;
            }
        }
        break;
    }
    case KEEL_AMQP_EXCHANGE_DELETE: {
        topo_t *t = find(c, TOPO_EXCHANGE, rec->name);
        if (t != NULL)
            drop(t);
        drop_bindings_of(c, false, rec->name);
        break;
    }
    case KEEL_AMQP_QUEUE_DELETE: {
        topo_t *t = find(c, TOPO_QUEUE, rec->name);
        if (t != NULL)
            drop(t);
        drop_bindings_of(c, true, rec->name);
        break;
    }
    default:
        break;
    }
    keel__ctopo_free(rec);
}

void keel__ctopo_consumer_gone(keel_client_t *c, const char *queue)
{
    size_t pos = 0;
    void *v;
    while (keel_map_next(&c->consumers, &pos, NULL, NULL, &v))
        if (str_eq(((keel_client_consumer_t *)v)->queue, queue))
            return;
    /* the server deletes an auto-delete queue with its last consumer: forget it too */
    topo_t *t = find(c, TOPO_QUEUE, queue);
    if (t != NULL && t->auto_delete) {
        drop(t);
        drop_bindings_of(c, true, queue);
    }
}

int keel__ctopo_redeclare_for(keel_client_channel_t *ch, const char *queue)
{
    keel_client_t *c = ch->client;
    topo_t *q = find(c, TOPO_QUEUE, queue);
    /* a server-named queue cannot be declared by name (amq.*): its consumers fail with 404 */
    if (q == NULL || !q->auto_delete || q->server_named)
        return 0;
    keel_amqp_method_t m = {.id = KEEL_AMQP_QUEUE_DECLARE};
    m.queue_declare.queue = keel_amqp_str(q->name);
    m.queue_declare.durable = q->durable;
    m.queue_declare.exclusive = q->exclusive;
    m.queue_declare.auto_delete = q->auto_delete;
    m.queue_declare.arguments = (keel_amqp_table_t){q->args, q->args_len};
    op_t o = {.method = m.id, .kind = OP_REC};
    int rc = keel__cchan_op_now(ch, &m, &o);
    if (rc != 0)
        return rc;
    ch->recovery_ops++;
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->topo)
    {
        topo_t *t = keel_container_of(pos, topo_t, link);
        if (t->kind != TOPO_QBIND || !str_eq(t->name, queue))
            continue;
        keel_amqp_method_t b = {.id = KEEL_AMQP_QUEUE_BIND};
        b.queue_bind.queue = keel_amqp_str(t->name);
        b.queue_bind.exchange = keel_amqp_str(t->source);
        b.queue_bind.routing_key = keel_amqp_str(t->key);
        b.queue_bind.arguments = (keel_amqp_table_t){t->args, t->args_len};
        op_t ob = {.method = b.id, .kind = OP_REC};
        if ((rc = keel__cchan_op_now(ch, &b, &ob)) != 0)
            return rc;
        ch->recovery_ops++;
    }
    return 0;
}

void keel__ctopo_clear(keel_client_t *c)
{
    while (!keel_list_empty(&c->topo))
        drop(keel_container_of(c->topo.next, topo_t, link));
}

/* ---- recovery ---- */

void keel__crecov_reset(keel_client_t *c)
{
    c->recovering = false;
    c->rec_phase = RP_NONE;
    c->rec_batch.len = 0;
    c->rec_done = 0;
    c->rec_channels = 0;
    if (c->rec_ch != NULL)
        keel__cchan_free(c->rec_ch);
}

static int send_record(keel_client_t *c, topo_t *t)
{
    keel_amqp_method_t m = {0};
    keel_amqp_table_t args = {t->args, t->args_len};
    switch (t->kind) {
    case TOPO_EXCHANGE:
        m.id = KEEL_AMQP_EXCHANGE_DECLARE;
        m.exchange_declare.exchange = keel_amqp_str(t->name);
        m.exchange_declare.type = keel_amqp_str(t->source);
        m.exchange_declare.durable = t->durable;
        m.exchange_declare.auto_delete = t->auto_delete;
        m.exchange_declare.internal = t->internal;
        m.exchange_declare.arguments = args;
        break;
    case TOPO_QUEUE:
        m.id = KEEL_AMQP_QUEUE_DECLARE;
        m.queue_declare.queue = t->server_named ? KEEL_AMQP_STR("") : keel_amqp_str(t->name);
        m.queue_declare.durable = t->durable;
        m.queue_declare.exclusive = t->exclusive;
        m.queue_declare.auto_delete = t->auto_delete;
        m.queue_declare.arguments = args;
        break;
    case TOPO_QBIND:
        m.id = KEEL_AMQP_QUEUE_BIND;
        m.queue_bind.queue = keel_amqp_str(t->name);
        m.queue_bind.exchange = keel_amqp_str(t->source);
        m.queue_bind.routing_key = keel_amqp_str(t->key);
        m.queue_bind.arguments = args;
        break;
    default:
        m.id = KEEL_AMQP_EXCHANGE_BIND;
        m.exchange_bind.destination = keel_amqp_str(t->name);
        m.exchange_bind.source = keel_amqp_str(t->source);
        m.exchange_bind.routing_key = keel_amqp_str(t->key);
        m.exchange_bind.arguments = args;
        break;
    }
    op_t o = {.method = m.id, .kind = OP_TOPO, .rec = t};
    return keel__cchan_op_now(c->rec_ch, &m, &o);
}

/* Sends what is left of the batch, after (re)opening the recovery channel if asked. */
static int send_batch(keel_client_t *c, bool open_first)
{
    int rc = 0;
    if (open_first) {
        keel_amqp_method_t open = {.id = KEEL_AMQP_CHANNEL_OPEN};
        op_t o = {.method = open.id, .kind = OP_OPEN};
        rc = keel__cchan_op_now(c->rec_ch, &open, &o);
    }
    for (size_t i = c->rec_done; rc == 0 && i < c->rec_batch.len; i++)
        rc = send_record(c, c->rec_batch.items[i]);
    return rc;
}

static void next_phase(keel_client_t *c);

/* Collects the records of the phase into the batch: their count, or KEEL_ENOMEM. */
static int collect(keel_client_t *c, bool declarations)
{
    c->rec_batch.len = 0;
    c->rec_done = 0;
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->topo)
    {
        topo_t *t = keel_container_of(pos, topo_t, link);
        bool decl = t->kind == TOPO_EXCHANGE || t->kind == TOPO_QUEUE;
        if (decl == declarations && keel_vec_push(&c->rec_batch, t) != 0)
            return KEEL_ENOMEM;
    }
    return (int)c->rec_batch.len;
}

static void close_rec_channel(keel_client_t *c)
{
    keel_client_channel_t *ch = c->rec_ch;
    if (ch == NULL)
        return;
    c->rec_ch = NULL;
    keel_amqp_method_t m = {.id = KEEL_AMQP_CHANNEL_CLOSE};
    m.channel_close.reply_code = KEEL_AMQP_REPLY_SUCCESS;
    m.channel_close.reply_text = KEEL_AMQP_STR("recovered");
    op_t o = {.method = m.id, .kind = OP_CLOSE};
    ch->state = CH_CLOSING;
    /* Its number stays taken until close-ok; if the close cannot be sent the
     * channel stays open on the server, unused, until the connection ends. */
    if (keel__cchan_op_now(ch, &m, &o) != 0)
        ch->state = CH_DEAD;
}

static void next_phase(keel_client_t *c)
{
    for (;;) {
        int n = 0;
        if (c->rec_phase == RP_NONE) {
            c->rec_phase = RP_DECLARE;
            n = collect(c, true);
        } else if (c->rec_phase == RP_DECLARE) {
            c->rec_phase = RP_BIND;
            n = collect(c, false);
        } else {
            close_rec_channel(c);
            c->rec_phase = RP_CHANNELS;
            keel__crecov_check(c);
            return;
        }
        if (n < 0) {
            keel__client_conn_lost(c, n, 0, (keel_amqp_str_t){0});
            return;
        }
        if (n > 0)
            break;
    }
    bool open_first = c->rec_ch == NULL;
    if (open_first) {
        keel_client_channel_t *ch;
        int rc = keel__cchan_new(c, true, &ch);
        if (rc != 0) {
            keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
            return;
        }
        c->rec_ch = ch;
        ch->state = CH_OPENING;
    }
    if (send_batch(c, open_first) != 0)
        keel__client_conn_lost(c, KEEL_ENOMEM, 0, (keel_amqp_str_t){0});
}

void keel__crecov_start(keel_client_t *c)
{
    c->recovering = true;
    c->rec_phase = RP_NONE;
    c->rec_channels = 0;
    next_phase(c);
}

/* Gives a server-named queue its new name everywhere it is used. */
static void rename_queue(keel_client_t *c, topo_t *q, keel_amqp_str_t name)
{
    char *old = q->name;
    char *fresh = keel__strndup(name.base, name.len);
    if (fresh == NULL)
        return; /* out of memory: bindings and consumers fail with 404 and are dropped */
    q->name = fresh;
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->topo)
    {
        topo_t *t = keel_container_of(pos, topo_t, link);
        if (t->kind == TOPO_QBIND && str_eq(t->name, old)) {
            char *n = keel__strdup(fresh);
            if (n != NULL) {
                keel__free(t->name);
                t->name = n;
            }
        }
    }
    size_t at = 0;
    void *v;
    while (keel_map_next(&c->consumers, &at, NULL, NULL, &v)) {
        keel_client_consumer_t *cons = v;
        if (str_eq(cons->queue, old)) {
            char *n = keel__strdup(fresh);
            if (n != NULL) {
                keel__free(cons->queue);
                cons->queue = n;
            }
        }
    }
    keel_client_event_t ev = {.host = c->order[c->order_pos], .name = keel_amqp_str(old), .new_name = name};
    keel__client_event(c, KEEL_CLIENT_EVENT_QUEUE_RENAMED, 0, &ev);
    keel__free(old);
}

void keel__crecov_topo_ok(keel_client_t *c, topo_t *rec, const keel_amqp_method_t *reply)
{
    uint64_t gen = c->gen;
    if (reply->id == KEEL_AMQP_QUEUE_DECLARE_OK && rec->server_named && !keel_amqp_str_eq(reply->queue_declare_ok.queue, rec->name))
        rename_queue(c, rec, reply->queue_declare_ok.queue);
    if (c->gen != gen || !c->recovering)
        return;
    if (++c->rec_done >= c->rec_batch.len)
        next_phase(c);
}

void keel__crecov_topo_failed(keel_client_t *c, const keel_client_error_t *err)
{
    keel_client_channel_t *ch = c->rec_ch;
    if (ch == NULL)
        return;
    topo_t *failed = NULL;
    uint32_t method = keel_amqp_method_id(err->class_id, err->method_id);
    for (size_t i = 0; i < ch->ops.len && failed == NULL; i++) {
        op_t *o = keel__cring_at(&ch->ops, i);
        if (o->kind == OP_TOPO && o->method == method)
            failed = o->rec;
    }
    /* the server discarded everything after the refused method */
    while (ch->ops.len > 0)
        keel__cring_shift(&ch->ops, NULL);
    if (failed == NULL) {
        /* not a record's fault: the channel itself failed; give up on this connection */
        keel__client_conn_lost(c, KEEL_EPROTO, err->reply_code, err->reply_text);
        return;
    }
    uint64_t gen = c->gen;
    keel_client_event_t ev = {.host = c->order[c->order_pos],
                              .reply_code = err->reply_code,
                              .reply_text = err->reply_text,
                              .name = keel_amqp_str(failed->name)};
    keel__client_event(c, KEEL_CLIENT_EVENT_RECOVERY_FAILED, keel__client_reply_status(err->reply_code), &ev);
    if (c->gen != gen || !c->recovering)
        return;
    /* which batch entry failed: the first one not yet answered */
    if (c->rec_done < c->rec_batch.len && c->rec_batch.items[c->rec_done] == failed)
        c->rec_done++;
    /* Its bindings stay: they are tried, and dropped in turn if they fail. */
    drop(failed);
    if (c->rec_done >= c->rec_batch.len) {
        next_phase(c);
        return;
    }
    if (send_batch(c, true) != 0)
        keel__client_conn_lost(c, KEEL_ENOMEM, 0, (keel_amqp_str_t){0});
}

void keel__crecov_check(keel_client_t *c)
{
    if (c->state != CL_OPEN || c->x == NULL)
        return;
    if (c->recovering && c->rec_phase != RP_CHANNELS)
        return;
    uint64_t gen = c->gen;
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->channel_list)
    {
        keel_client_channel_t *ch = keel_container_of(pos, keel_client_channel_t, link);
        if (ch->internal || ch->state != CH_DOWN || ch->zombie || ch->close_requested)
            continue;
        if (c->recovering && !ch->in_client_recovery) {
            ch->in_client_recovery = true;
            c->rec_channels++;
        }
        int rc = keel__cchan_recover(ch);
        if (rc != 0) {
            keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
            return;
        }
        if (c->gen != gen)
            return;
    }
    if (c->recovering && c->rec_channels == 0) {
        c->rec_phase = RP_NONE;
        keel__client_recovered(c);
    }
}
