/*
 * channel.c — channels: the queue of operations (sent ones answered in
 * order, deferred ones waiting as encoded frames until the channel is
 * ready), replies, the server's channel.close, content assembly and
 * dispatch (deliveries, basic.get-ok, basic.return), publisher confirms,
 * and re-opening a channel with its qos, confirm mode and consumers.
 *
 * AMQP answers a channel's synchronous methods in the order they were
 * sent, so replies are matched to the head of the queue; when the server
 * closes a channel it names the failed method, which can only be the head.
 * Deferred operations are kept as encoded frames in one buffer per channel
 * (a publish keeps its method and header frames and its body unsplit, so
 * that it is cut to the frame_max of whichever connection sends it), in
 * the same order as their queue entries, and go out together when the
 * channel becomes ready.
 */
#include <string.h>

#include "client_int.h"

/* ---- rings ---- */

void keel__cring_init(ring_t *r, size_t size)
{
    memset(r, 0, sizeof(*r));
    r->size = size;
}

void keel__cring_free(ring_t *r)
{
    keel__free(r->items);
    r->items = NULL;
    r->head = r->len = r->cap = 0;
}

void *keel__cring_at(const ring_t *r, size_t i)
{
    return r->items + ((r->head + i) & (r->cap - 1)) * r->size;
}

int keel__cring_push(ring_t *r, const void *item)
{
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        uint8_t *p = keel__malloc(cap * r->size);
        if (p == NULL)
            return KEEL_ENOMEM;
        for (size_t i = 0; i < r->len; i++)
            memcpy(p + i * r->size, keel__cring_at(r, i), r->size);
        keel__free(r->items);
        r->items = p;
        r->cap = cap;
        r->head = 0;
    }
    memcpy(keel__cring_at(r, r->len), item, r->size);
    r->len++;
    return 0;
}

int keel__cring_insert(ring_t *r, size_t index, const void *item)
{
    int rc = keel__cring_push(r, item);
    if (rc != 0)
        return rc;
    /* bubble it down from the back to index */
    for (size_t i = r->len - 1; i > index; i--) {
        uint8_t *a = keel__cring_at(r, i - 1), *b = keel__cring_at(r, i);
        for (size_t k = 0; k < r->size; k++) {
            uint8_t t = a[k];
            a[k] = b[k];
            b[k] = t;
        }
    }
    return 0;
}

void keel__cring_shift(ring_t *r, void *item)
{
    if (item != NULL)
        memcpy(item, keel__cring_at(r, 0), r->size);
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
}

void keel__cring_remove(ring_t *r, size_t index, void *item)
{
    if (item != NULL)
        memcpy(item, keel__cring_at(r, index), r->size);
    for (size_t i = index; i + 1 < r->len; i++)
        memcpy(keel__cring_at(r, i), keel__cring_at(r, i + 1), r->size);
    r->len--;
}

void keel__cring_pop_back(ring_t *r)
{
    r->len--;
}

/* ---- channel objects ---- */

static int ensure_slots(keel_client_t *c, size_t n)
{
    if (n <= c->n_slots)
        return 0;
    size_t cap = c->n_slots ? c->n_slots : 16;
    while (cap < n)
        cap *= 2;
    if (cap > 65536)
        cap = 65536;
    keel_client_channel_t **p = keel__realloc(c->channels, cap * sizeof(*p));
    if (p == NULL)
        return KEEL_ENOMEM;
    memset(p + c->n_slots, 0, (cap - c->n_slots) * sizeof(*p));
    c->channels = p;
    c->n_slots = cap;
    return 0;
}

int keel__cchan_new(keel_client_t *c, bool internal, keel_client_channel_t **out)
{
    /* The lowest free number, within what the connection allows. */
    uint32_t limit = c->state == CL_OPEN && c->channel_max ? c->channel_max : (c->opts.channel_max ? c->opts.channel_max : 65535);
    uint32_t id = 1;
    while (id < c->n_slots && c->channels[id] != NULL)
        id++;
    if (id > limit)
        return KEEL_ERANGE;
    if (ensure_slots(c, (size_t)id + 1) != 0)
        return KEEL_ENOMEM;
    keel_client_channel_t *ch = keel__calloc(1, sizeof(*ch));
    if (ch == NULL)
        return KEEL_ENOMEM;
    ch->client = c;
    ch->id = (uint16_t)id;
    ch->internal = internal;
    ch->state = CH_DOWN;
    keel__cring_init(&ch->ops, sizeof(op_t));
    keel__cring_init(&ch->confirms, sizeof(confirm_t));
    keel_buf_init(&ch->deferred);
    keel_buf_init(&ch->as.buf);
    keel_list_init(&ch->consumers);
    keel_list_init(&ch->as.link);
    keel_list_init(&ch->zlink);
    ch->conf_seq = 1;
    c->channels[id] = ch;
    keel_list_push(&c->channel_list, &ch->link);
    *out = ch;
    return 0;
}

void keel__cchan_free(keel_client_channel_t *ch)
{
    keel_client_t *c = ch->client;
    if (ch->as.listed)
        keel_list_remove(&ch->as.link);
    if (ch->zombie)
        keel_list_remove(&ch->zlink);
    keel_list_remove(&ch->link);
    c->channels[ch->id] = NULL;
    if (c->rec_ch == ch)
        c->rec_ch = NULL;
    c->deferred_publish_bytes -= ch->deferred_publish_bytes;
    keel__cring_free(&ch->ops);
    keel__cring_free(&ch->confirms);
    keel_buf_free(&ch->deferred);
    keel_buf_free(&ch->as.buf);
    keel__free(ch);
}

uint16_t keel_client_channel_id(const keel_client_channel_t *ch)
{
    return ch->id;
}

keel_client_t *keel_client_channel_client(const keel_client_channel_t *ch)
{
    return ch->client;
}

bool keel_client_channel_is_ready(const keel_client_channel_t *ch)
{
    return ch->state == CH_READY;
}

void keel_client_channel_on_error(keel_client_channel_t *ch, keel_client_error_cb cb, void *data)
{
    ch->error_cb = cb;
    ch->error_data = data;
}

void keel_client_channel_on_return(keel_client_channel_t *ch, keel_client_return_cb cb, void *data)
{
    ch->return_cb = cb;
    ch->return_data = data;
}

int keel__cchan_usable(const keel_client_channel_t *ch)
{
    const keel_client_t *c = ch->client;
    if (c->state == CL_CLOSING || c->state == CL_CLOSED)
        return KEEL_ECANCELED;
    if (c->state == CL_FAILED)
        return c->fail_status;
    if (ch->state == CH_CLOSING || ch->state == CH_DEAD || ch->zombie)
        return KEEL_EPIPE;
    return 0;
}

/* ---- sending operations ---- */

enum { DEFER_METHOD = 1, DEFER_PUBLISH = 2 };

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void buf_truncate(keel_buf_t *b, size_t len)
{
    b->len = len;
    if (b->base != NULL)
        b->base[len] = '\0';
}

int keel__cchan_op_now(keel_client_channel_t *ch, const keel_amqp_method_t *m, const op_t *op)
{
    keel_client_t *c = ch->client;
    op_t o = *op;
    o.sent = true;
    /* sent operations stay ahead of deferred ones: replies match the head */
    size_t at = ch->ops.len;
    while (at > 0 && !((op_t *)keel__cring_at(&ch->ops, at - 1))->sent)
        at--;
    int rc = keel__cring_insert(&ch->ops, at, &o);
    if (rc != 0)
        return rc;
    rc = keel_amqp_method_encode(&c->out, ch->id, m);
    if (rc != 0) {
        /* take it out again: shift the later ones back */
        for (size_t i = at; i + 1 < ch->ops.len; i++)
            memcpy(keel__cring_at(&ch->ops, i), keel__cring_at(&ch->ops, i + 1), sizeof(op_t));
        keel__cring_pop_back(&ch->ops);
        return rc;
    }
    keel__client_wake(c);
    return 0;
}

int keel__cchan_op(keel_client_channel_t *ch, const keel_amqp_method_t *m, const op_t *op)
{
    if (ch->state == CH_READY)
        return keel__cchan_op_now(ch, m, op);
    op_t o = *op;
    o.sent = false;
    int rc = keel__cring_push(&ch->ops, &o);
    if (rc != 0)
        return rc;
    size_t mark = ch->deferred.len;
    rc = keel_buf_reserve(&ch->deferred, 5);
    if (rc == 0) {
        ch->deferred.len += 5;
        rc = keel_amqp_method_encode(&ch->deferred, ch->id, m);
    }
    if (rc != 0) {
        buf_truncate(&ch->deferred, mark);
        keel__cring_pop_back(&ch->ops);
        return rc;
    }
    uint8_t *p = (uint8_t *)ch->deferred.base + mark;
    p[0] = DEFER_METHOD;
    put32(p + 1, (uint32_t)(ch->deferred.len - mark - 5));
    return 0;
}

/* Encodes a publish into out (the connection's output) or defers it. */
int keel__cchan_publish(keel_client_channel_t *ch, const keel_amqp_method_t *m, const keel_amqp_properties_t *props,
                        const void *body, size_t len, bool deferred)
{
    keel_client_t *c = ch->client;
    if (!deferred) {
        size_t mark = c->out.len;
        int rc = keel_amqp_method_encode(&c->out, ch->id, m);
        if (rc == 0)
            rc = keel_amqp_content_encode(&c->out, ch->id, c->frame_max, props, body, len);
        if (rc != 0) {
            buf_truncate(&c->out, mark);
            return rc;
        }
        keel__client_wake(c);
        return 0;
    }
    /* [2][u32 total][u32 method frame len][method frame][u32 header frame len][header frame][body] */
    keel_buf_t *d = &ch->deferred;
    size_t mark = d->len;
    int rc = keel_buf_reserve(d, 9);
    if (rc != 0)
        return rc;
    d->len += 9;
    rc = keel_amqp_method_encode(d, ch->id, m);
    size_t hpos = d->len;
    if (rc == 0 && (rc = keel_buf_reserve(d, 4)) == 0) {
        d->len += 4;
        rc = keel_amqp_header_encode(d, ch->id, len, props);
    }
    if (rc == 0)
        rc = keel_buf_append(d, body, len);
    if (rc != 0) {
        buf_truncate(d, mark);
        return rc;
    }
    uint8_t *p = (uint8_t *)d->base + mark;
    p[0] = DEFER_PUBLISH;
    put32(p + 1, (uint32_t)(d->len - mark - 5));
    put32(p + 5, (uint32_t)(hpos - mark - 9));
    /* the header frame's length: from its start to where the body begins */
    size_t hstart = hpos + 4;
    size_t hlen = d->len - len - hstart;
    put32((uint8_t *)d->base + hpos, (uint32_t)hlen);
    size_t n = d->len - mark;
    ch->deferred_publish_bytes += n;
    c->deferred_publish_bytes += n;
    return 0;
}

/* Octets the deferred buffer takes once framed with frame_max. */
static size_t deferred_wire_size(const keel_buf_t *d, uint32_t frame_max)
{
    size_t total = 0;
    size_t at = 0;
    uint32_t chunk = frame_max ? frame_max - KEEL_AMQP_FRAME_OVERHEAD : 0;
    while (at < d->len) {
        const uint8_t *p = (const uint8_t *)d->base + at;
        uint32_t n = get32(p + 1);
        if (p[0] == DEFER_METHOD) {
            total += n;
        } else {
            uint32_t ml = get32(p + 5);
            uint32_t hl = get32(p + 9 + ml);
            size_t body = n - 4 - ml - 4 - hl;
            size_t frames = body == 0 ? 0 : (chunk ? (body + chunk - 1) / chunk : 1);
            total += ml + hl + body + frames * KEEL_AMQP_FRAME_OVERHEAD;
        }
        at += 5 + n;
    }
    return total;
}

/* Moves the deferred frames into the output; nothing can fail once reserved. */
static int send_deferred(keel_client_channel_t *ch)
{
    keel_client_t *c = ch->client;
    keel_buf_t *d = &ch->deferred;
    if (d->len == 0)
        return 0;
    int rc = keel_buf_reserve(&c->out, deferred_wire_size(d, c->frame_max));
    if (rc != 0)
        return rc;
    uint32_t chunk = c->frame_max ? c->frame_max - KEEL_AMQP_FRAME_OVERHEAD : UINT32_MAX;
    size_t at = 0;
    while (at < d->len) {
        const uint8_t *p = (const uint8_t *)d->base + at;
        uint32_t n = get32(p + 1);
        if (p[0] == DEFER_METHOD) {
            keel_buf_append(&c->out, p + 5, n);
        } else {
            uint32_t ml = get32(p + 5);
            const uint8_t *mf = p + 9;
            uint32_t hl = get32(mf + ml);
            const uint8_t *hf = mf + ml + 4;
            const uint8_t *body = hf + hl;
            size_t blen = n - 4 - ml - 4 - hl;
            keel_buf_append(&c->out, mf, ml);
            keel_buf_append(&c->out, hf, hl);
            for (size_t off = 0; off < blen; off += chunk) {
                size_t k = blen - off < chunk ? blen - off : chunk;
                keel_amqp_frame_encode(&c->out, KEEL_AMQP_FRAME_BODY, ch->id, body + off, k);
            }
        }
        at += 5 + n;
    }
    keel_buf_reset(d);
    c->deferred_publish_bytes -= ch->deferred_publish_bytes;
    ch->deferred_publish_bytes = 0;
    keel__client_wake(c);
    return 0;
}

int keel__cchan_ready(keel_client_channel_t *ch)
{
    int rc = send_deferred(ch);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < ch->ops.len; i++) {
        op_t *o = keel__cring_at(&ch->ops, i);
        if (!o->sent && o->kind == OP_CONSUME)
            ((keel_client_consumer_t *)o->rec)->deferred = false;
        o->sent = true;
    }
    ch->conf_sent = ch->confirms.len;
    ch->state = CH_READY;
    return 0;
}

/* ---- consumers ---- */

void keel__ccons_free(keel_client_consumer_t *cons)
{
    keel__free(cons->tag);
    keel__free(cons->queue);
    keel__free(cons->args);
    keel__free(cons);
}

void keel__ccons_end(keel_client_consumer_t *cons, int status)
{
    keel_client_channel_t *ch = cons->ch;
    keel_list_remove(&cons->link);
    keel_map_remove(&ch->client->consumers, cons->tag, cons->tag_len);
    if (!cons->ok_called) {
        cons->ok_called = true;
        if (cons->on_ok != NULL)
            cons->on_ok(ch, status, cons->data);
    }
    if (cons->on_message != NULL)
        cons->on_message(ch, status, NULL, cons->data);
    keel__ccons_free(cons);
}

static void end_consumers(keel_client_channel_t *ch, int status)
{
    while (!keel_list_empty(&ch->consumers)) {
        keel_client_consumer_t *cons = keel_container_of(ch->consumers.next, keel_client_consumer_t, link);
        keel__ccons_end(cons, status);
    }
}

/* ---- failing ---- */

/* An operation will get no reply: status says why. KEEL_ECONNRESET and
 * KEEL_ECANCELED on a consume leave the consumer recorded: recovery makes it. */
static void op_failed(keel_client_channel_t *ch, op_t *o, int status)
{
    switch (o->kind) {
    case OP_OPEN:
        if (!ch->internal && !ch->opened && status != KEEL_ECONNRESET && status != KEEL_ECANCELED) {
            ch->opened = true;
            if (ch->open_cb)
                ch->open_cb(ch, status, ch->open_data);
        }
        break;
    case OP_CONSUME: {
        keel_client_consumer_t *cons = o->rec;
        if (status == KEEL_ECONNRESET || status == KEEL_ECANCELED)
            break;
        keel__ccons_end(cons, status);
        break;
    }
    case OP_CANCEL: {
        /* the consumer went with the channel or connection: that is a cancel too */
        keel_client_consumer_t *cons = o->rec;
        keel_client_op_cb cb = cons->cancel_cb;
        void *data = cons->cancel_data;
        char *queue = keel__strdup(cons->queue);
        keel__ccons_end(cons, KEEL_ECANCELED);
        if (queue != NULL)
            keel__ctopo_consumer_gone(ch->client, queue);
        keel__free(queue);
        if (cb)
            cb(ch, 0, data);
        break;
    }
    case OP_USER:
        keel__ctopo_free(o->rec);
        if (o->cb.op)
            o->cb.op(ch, status, o->data);
        break;
    case OP_QUEUE:
        keel__ctopo_free(o->rec);
        if (o->cb.queue)
            o->cb.queue(ch, status, NULL, o->data);
        break;
    case OP_GET:
        if (o->cb.get)
            o->cb.get(ch, status, NULL, o->data);
        break;
    default:
        break;
    }
}

/* Fails queued operations: only the sent ones, or all. */
static void fail_ops(keel_client_channel_t *ch, int status, bool all)
{
    while (ch->ops.len > 0) {
        op_t *head = keel__cring_at(&ch->ops, 0);
        if (!all && !head->sent)
            break;
        op_t o;
        keel__cring_shift(&ch->ops, &o);
        op_failed(ch, &o, status);
    }
}

/* Fails sent (or all) unconfirmed publishes. */
static void fail_confirms(keel_client_channel_t *ch, int status, bool all)
{
    while (ch->confirms.len > 0 && (all || ch->conf_sent > 0)) {
        confirm_t e;
        keel__cring_shift(&ch->confirms, &e);
        if (ch->conf_sent > 0) {
            ch->conf_sent--;
            ch->conf_seq++;
        }
        if (!e.done && e.cb != NULL)
            e.cb(ch, status, e.data);
    }
}

static void drop_assembly(keel_client_channel_t *ch)
{
    if (ch->as.listed) {
        keel_list_remove(&ch->as.link);
        ch->as.listed = false;
    }
    ch->as.state = AS_NONE;
    keel_buf_reset(&ch->as.buf);
}

static void leave_recovery(keel_client_channel_t *ch)
{
    if (ch->in_client_recovery) {
        ch->in_client_recovery = false;
        ch->client->rec_channels--;
        keel__client_wake(ch->client); /* the prepare callback sees recovery end */
    }
}

void keel__cchan_conn_lost(keel_client_channel_t *ch, int status)
{
    if (ch->internal) {
        keel__cchan_free(ch);
        return;
    }
    drop_assembly(ch);
    ch->recovery_ops = 0;
    ch->in_client_recovery = false;
    ch->after_error = false; /* the connection's recovery re-declares everything */
    uint8_t prev = ch->state;
    if (prev == CH_READY || prev == CH_OPENING)
        ch->state = CH_DOWN;
    fail_ops(ch, status, false);
    fail_confirms(ch, status, false);
    ch->tag_offset = ch->max_tag;
    if (prev == CH_CLOSING && !ch->zombie)
        keel__cchan_zombify(ch, 0); /* closed along with the connection */
}

void keel__cchan_kill(keel_client_channel_t *ch, int status)
{
    if (ch->state == CH_DEAD)
        return;
    keel_client_t *c = ch->client;
    bool closing = ch->state == CH_CLOSING;
    ch->state = CH_DEAD;
    leave_recovery(ch);
    drop_assembly(ch);
    fail_ops(ch, status, true);
    fail_confirms(ch, status, true);
    c->deferred_publish_bytes -= ch->deferred_publish_bytes;
    ch->deferred_publish_bytes = 0;
    keel_buf_reset(&ch->deferred);
    end_consumers(ch, status);
    if (!ch->opened) {
        ch->opened = true;
        if (ch->open_cb)
            ch->open_cb(ch, status, ch->open_data);
    }
    if (closing && !ch->zombie)
        keel__cchan_zombify(ch, 0);
}

void keel__cchan_zombify(keel_client_channel_t *ch, int status)
{
    if (ch->zombie)
        return;
    ch->zombie = true;
    ch->finish_status = status;
    keel_list_push(&ch->client->zombies, &ch->zlink);
    keel__client_wake(ch->client);
}

void keel__cchan_finish(keel_client_channel_t *ch, int status)
{
    if (ch->internal) {
        keel__cchan_free(ch);
        return;
    }
    keel__cchan_kill(ch, KEEL_ECANCELED);
    /* kill may have queued it again (it was closing) */
    if (ch->zombie) {
        keel_list_remove(&ch->zlink);
        ch->zombie = false;
    }
    if (ch->close_cb != NULL)
        ch->close_cb(ch, status, ch->close_data);
    keel__cchan_free(ch);
}

/* ---- recovery of one channel ---- */

int keel__cchan_recover(keel_client_channel_t *ch)
{
    keel_client_t *c = ch->client;
    if (ch->id > c->channel_max) {
        keel__cchan_kill(ch, KEEL_ERANGE);
        return 0;
    }
    ch->state = CH_OPENING;
    ch->recovery_ops = 0;
    ch->conf_seq = 1;
    ch->conf_sent = 0;
    ch->tag_offset = ch->max_tag;
    keel_amqp_method_t m = {.id = KEEL_AMQP_CHANNEL_OPEN};
    op_t o = {.method = m.id, .kind = OP_OPEN};
    int rc = keel__cchan_op_now(ch, &m, &o);
    if (rc != 0)
        return rc;
    ch->recovery_ops++;
    if (ch->qos_set) {
        keel_amqp_method_t q = {.id = KEEL_AMQP_BASIC_QOS};
        q.basic_qos.prefetch_count = ch->prefetch;
        q.basic_qos.global = ch->qos_global;
        op_t oq = {.method = q.id, .kind = OP_REC};
        if ((rc = keel__cchan_op_now(ch, &q, &oq)) != 0)
            return rc;
        ch->recovery_ops++;
    }
    if (ch->confirm) {
        keel_amqp_method_t s = {.id = KEEL_AMQP_CONFIRM_SELECT};
        op_t os = {.method = s.id, .kind = OP_REC};
        if ((rc = keel__cchan_op_now(ch, &s, &os)) != 0)
            return rc;
        ch->recovery_ops++;
    }
    keel_link_t *pos, *tmp;
    if (ch->after_error) {
        /* RabbitMQ deleted the auto-delete queues whose last consumer the exception cancelled */
        ch->after_error = false;
        keel_list_foreach_safe(pos, tmp, &ch->consumers)
        {
            keel_client_consumer_t *cons = keel_container_of(pos, keel_client_consumer_t, link);
            bool first = true; /* once per queue */
            for (keel_link_t *p = ch->consumers.next; p != pos; p = p->next)
                if (strcmp(keel_container_of(p, keel_client_consumer_t, link)->queue, cons->queue) == 0)
                    first = false;
            if (!cons->ending && !cons->deferred && first && (rc = keel__ctopo_redeclare_for(ch, cons->queue)) != 0)
                return rc;
        }
    }
    keel_list_foreach_safe(pos, tmp, &ch->consumers)
    {
        keel_client_consumer_t *cons = keel_container_of(pos, keel_client_consumer_t, link);
        /* an ending consumer is not made again; a deferred one is made by its own queued consume */
        if (cons->ending || cons->deferred)
            continue;
        keel_amqp_method_t bc = {.id = KEEL_AMQP_BASIC_CONSUME};
        bc.basic_consume.queue = keel_amqp_str(cons->queue);
        bc.basic_consume.consumer_tag = (keel_amqp_str_t){cons->tag, cons->tag_len};
        bc.basic_consume.no_ack = cons->no_ack;
        bc.basic_consume.exclusive = cons->exclusive;
        bc.basic_consume.arguments = (keel_amqp_table_t){cons->args, cons->args_len};
        op_t oc = {.method = bc.id, .kind = OP_CONSUME, .rec = cons, .recovery = true};
        if ((rc = keel__cchan_op_now(ch, &bc, &oc)) != 0)
            return rc;
        ch->recovery_ops++;
    }
    return 0;
}

/* A recovery step was answered; the last one makes the channel ready. */
static void recovery_step_done(keel_client_channel_t *ch)
{
    if (ch->recovery_ops > 0)
        ch->recovery_ops--;
    if (ch->state != CH_OPENING || ch->recovery_ops > 0)
        return;
    keel_client_t *c = ch->client;
    if (keel__cchan_ready(ch) != 0) {
        keel__client_conn_lost(c, KEEL_ENOMEM, 0, (keel_amqp_str_t){0});
        return;
    }
    if (ch->in_client_recovery)
        leave_recovery(ch);
    if (!ch->opened) {
        ch->opened = true;
        if (ch->open_cb)
            ch->open_cb(ch, 0, ch->open_data);
    }
}

/* ---- replies ---- */

static bool answers(uint32_t sent, uint32_t reply)
{
    const keel_amqp_method_info_t *info = keel_amqp_method_info(sent);
    if (info == NULL)
        return false;
    for (unsigned i = 0; i < info->nreplies; i++)
        if (info->replies[i] == reply)
            return true;
    return false;
}

/* The oldest sent operation of the given method (0: any) that reply answers, or -1. */
static long find_op(const keel_client_channel_t *ch, uint32_t reply_id, uint32_t method)
{
    for (size_t i = 0; i < ch->ops.len; i++) {
        const op_t *o = keel__cring_at(&ch->ops, i);
        if (!o->sent)
            break;
        if (method != 0 ? o->method == method : answers(o->method, reply_id))
            return (long)i;
    }
    return -1;
}

static int reply(keel_client_channel_t *ch, const keel_amqp_method_t *m)
{
    keel_client_t *c = ch->client;
    /* Replies come in the order the methods were sent, except that RabbitMQ
     * sends basic.consume-ok from the queue's process, so a later reply may
     * overtake it: match the oldest operation the reply answers. */
    long at = -1;
    if (m->id == KEEL_AMQP_BASIC_CONSUME_OK || m->id == KEEL_AMQP_BASIC_CANCEL_OK) {
        /* consume-oks of different queues may even overtake each other: go by tag */
        keel_amqp_str_t tag =
            m->id == KEEL_AMQP_BASIC_CONSUME_OK ? m->basic_consume_ok.consumer_tag : m->basic_cancel_ok.consumer_tag;
        uint32_t want = m->id == KEEL_AMQP_BASIC_CONSUME_OK ? KEEL_AMQP_BASIC_CONSUME : KEEL_AMQP_BASIC_CANCEL;
        for (size_t i = 0; i < ch->ops.len && at < 0; i++) {
            const op_t *o = keel__cring_at(&ch->ops, i);
            if (!o->sent)
                break;
            const keel_client_consumer_t *cons = o->rec;
            if (o->method == want && cons->tag_len == tag.len && memcmp(cons->tag, tag.base, tag.len) == 0)
                at = (long)i;
        }
    } else {
        at = find_op(ch, m->id, 0);
    }
    if (at < 0)
        return KEEL_EPROTO;
    op_t o;
    keel__cring_remove(&ch->ops, (size_t)at, &o);
    switch (o.kind) {
    case OP_OPEN:
        if (ch->internal)
            break;
        recovery_step_done(ch);
        break;
    case OP_REC:
        recovery_step_done(ch);
        break;
    case OP_CONSUME: {
        keel_client_consumer_t *cons = o.rec;
        if (!cons->ok_called) {
            cons->ok_called = true;
            if (cons->on_ok)
                cons->on_ok(ch, 0, cons->data);
        }
        if (o.recovery)
            recovery_step_done(ch);
        break;
    }
    case OP_CANCEL: {
        keel_client_consumer_t *cons = o.rec;
        keel_client_op_cb cb = cons->cancel_cb;
        void *data = cons->cancel_data;
        char *queue = keel__strdup(cons->queue);
        keel__ccons_end(cons, KEEL_ECANCELED);
        if (queue != NULL)
            keel__ctopo_consumer_gone(c, queue);
        keel__free(queue);
        if (cb)
            cb(ch, 0, data);
        break;
    }
    case OP_USER:
        if (o.rec != NULL)
            keel__ctopo_commit(c, o.method, o.rec, (keel_amqp_str_t){0});
        if (o.cb.op)
            o.cb.op(ch, 0, o.data);
        break;
    case OP_QUEUE: {
        keel_client_queue_ok_t ok = {m->queue_declare_ok.queue, m->queue_declare_ok.message_count,
                                     m->queue_declare_ok.consumer_count};
        if (o.rec != NULL)
            keel__ctopo_commit(c, o.method, o.rec, ok.name);
        if (o.cb.queue)
            o.cb.queue(ch, 0, &ok, o.data);
        break;
    }
    case OP_GET:
        /* only get-empty comes here; get-ok completes with its content */
        if (o.cb.get)
            o.cb.get(ch, 0, NULL, o.data);
        break;
    case OP_CLOSE:
        keel__cchan_zombify(ch, 0);
        break;
    case OP_TOPO:
        keel__crecov_topo_ok(c, o.rec, m);
        break;
    default:
        break;
    }
    return 0;
}

/* The server closed the channel. */
static int server_close(keel_client_channel_t *ch, const keel_amqp_channel_close_t *cl)
{
    keel_client_t *c = ch->client;
    keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_CLOSE_OK};
    int rc = keel__cconn_send(c, ch->id, &ok);
    if (rc != 0)
        return rc;
    keel_client_error_t err = {
        .reply_code = cl->reply_code, .reply_text = cl->reply_text, .class_id = cl->class_id, .method_id = cl->method_id};
    int status = keel__client_reply_status(cl->reply_code);
    if (status == 0)
        status = KEEL_EPROTO;
    uint32_t failed = keel_amqp_method_id(cl->class_id, cl->method_id);
    drop_assembly(ch);
    if (ch->internal) {
        keel__crecov_topo_failed(c, &err);
        return 0;
    }
    if (ch->state == CH_CLOSING)
        return 0; /* our channel.close crossed theirs: its close-ok still comes */
    bool was_opening = ch->state == CH_OPENING;
    bool blamed_consume = false;
    /* Down before any callback runs: what a callback asks for now waits for
     * the re-open instead of going to a channel the server has closed. */
    ch->state = CH_DOWN;
    ch->recovery_ops = 0;
    ch->after_error = true;
    /* the failed method is the oldest unanswered one of its kind */
    long at = find_op(ch, 0, failed);
    if (at >= 0) {
        op_t o;
        keel__cring_remove(&ch->ops, (size_t)at, &o);
        blamed_consume = o.kind == OP_CONSUME;
        op_failed(ch, &o, status);
    }
    /* the server discarded what followed */
    fail_ops(ch, KEEL_ECANCELED, false);
    fail_confirms(ch, failed == KEEL_AMQP_BASIC_PUBLISH ? status : KEEL_ECONNRESET, false);
    ch->tag_offset = ch->max_tag;
    /* A channel that fails while re-opening for another reason than a
     * consumer would fail the same way again: it stays closed. */
    err.recovering = !(was_opening && !blamed_consume);
    if (ch->error_cb)
        ch->error_cb(ch, status, &err, ch->error_data);
    if (ch->state != CH_DOWN || ch->zombie || ch->close_requested || c->state != CL_OPEN)
        return 0; /* closed from a callback, or the connection went */
    if (!err.recovering) {
        keel__cchan_kill(ch, status);
        return 0;
    }
    if (c->recovering && c->rec_phase != RP_CHANNELS && !ch->in_client_recovery)
        return 0; /* the client's recovery opens it in its turn */
    return keel__cchan_recover(ch);
}

/* ---- confirms ---- */

static void confirm(keel_client_channel_t *ch, uint64_t tag, bool multiple, int status)
{
    if (multiple) {
        while (ch->conf_sent > 0 && ch->conf_seq <= tag) {
            confirm_t e;
            keel__cring_shift(&ch->confirms, &e);
            ch->conf_seq++;
            ch->conf_sent--;
            if (!e.done && e.cb != NULL)
                e.cb(ch, status, e.data);
        }
        return;
    }
    if (tag < ch->conf_seq || tag - ch->conf_seq >= ch->conf_sent)
        return; /* not one of ours (a duplicate, or from before a re-open) */
    confirm_t *e = keel__cring_at(&ch->confirms, (size_t)(tag - ch->conf_seq));
    if (e->done)
        return;
    keel_client_confirm_cb cb = e->cb;
    void *data = e->data;
    e->done = true;
    while (ch->conf_sent > 0 && ((confirm_t *)keel__cring_at(&ch->confirms, 0))->done) {
        keel__cring_shift(&ch->confirms, NULL);
        ch->conf_seq++;
        ch->conf_sent--;
    }
    if (cb != NULL)
        cb(ch, status, data);
}

/* ---- content ---- */

static int content_start(keel_client_channel_t *ch, const keel_amqp_frame_t *f, uint32_t method)
{
    assembly_t *as = &ch->as;
    if (as->state != AS_NONE)
        return KEEL_EPROTO;
    as->state = AS_HEADER;
    as->method = method;
    as->in_input = true;
    as->mptr = f->payload;
    as->mlen = f->size;
    as->hptr = as->bptr = NULL;
    as->hlen = 0;
    as->got = 0;
    keel_buf_reset(&as->buf);
    if (!as->listed) {
        keel_list_push(&ch->client->assembling, &as->link);
        as->listed = true;
    }
    return 0;
}

int keel__cchan_stabilize(keel_client_channel_t *ch)
{
    assembly_t *as = &ch->as;
    if (as->listed) {
        keel_list_remove(&as->link);
        as->listed = false;
    }
    if (!as->in_input || as->state == AS_NONE)
        return 0;
    keel_buf_reset(&as->buf);
    int rc = keel_buf_append(&as->buf, as->mptr, as->mlen);
    if (rc == 0 && as->state == AS_BODY)
        rc = keel_buf_append(&as->buf, as->hptr, as->hlen);
    if (rc != 0)
        return rc;
    as->in_input = false;
    as->mptr = as->hptr = NULL;
    return 0;
}

static void dispatch(keel_client_channel_t *ch, const uint8_t *mp, size_t mlen, const uint8_t *hp, size_t hlen, const uint8_t *body,
                     size_t blen)
{
    keel_amqp_method_t m;
    keel_amqp_header_t h;
    /* both were validated when they arrived */
    if (keel_amqp_method_decode(mp, mlen, &m, NULL) != 0 || keel_amqp_header_decode(hp, hlen, &h, NULL) != 0)
        return;
    keel_client_message_t msg = {0};
    msg.props = h.props;
    msg.body = body;
    msg.body_len = blen;
    switch (m.id) {
    case KEEL_AMQP_BASIC_DELIVER: {
        keel_amqp_basic_deliver_t *d = &m.basic_deliver;
        keel_client_consumer_t *cons = keel_map_get(&ch->client->consumers, d->consumer_tag.base, d->consumer_tag.len);
        uint64_t tag = d->delivery_tag + ch->tag_offset;
        if (tag > ch->max_tag)
            ch->max_tag = tag;
        if (cons == NULL || cons->ch != ch || ch->state == CH_CLOSING)
            return; /* a consumer that is gone, or a channel on its way out */
        msg.consumer = cons;
        msg.consumer_tag = d->consumer_tag;
        msg.delivery_tag = tag;
        msg.redelivered = d->redelivered;
        msg.exchange = d->exchange;
        msg.routing_key = d->routing_key;
        cons->on_message(ch, 0, &msg, cons->data);
        break;
    }
    case KEEL_AMQP_BASIC_RETURN:
        msg.reply_code = m.basic_return.reply_code;
        msg.reply_text = m.basic_return.reply_text;
        msg.exchange = m.basic_return.exchange;
        msg.routing_key = m.basic_return.routing_key;
        if (ch->return_cb)
            ch->return_cb(ch, 0, &msg, ch->return_data);
        break;
    case KEEL_AMQP_BASIC_GET_OK: {
        uint64_t tag = m.basic_get_ok.delivery_tag + ch->tag_offset;
        if (tag > ch->max_tag)
            ch->max_tag = tag;
        msg.delivery_tag = tag;
        msg.redelivered = m.basic_get_ok.redelivered;
        msg.exchange = m.basic_get_ok.exchange;
        msg.routing_key = m.basic_get_ok.routing_key;
        msg.message_count = m.basic_get_ok.message_count;
        op_t o;
        long at = find_op(ch, 0, KEEL_AMQP_BASIC_GET);
        if (at < 0)
            return; /* failed meanwhile (cannot happen: content frames come together) */
        keel__cring_remove(&ch->ops, (size_t)at, &o);
        if (o.cb.get)
            o.cb.get(ch, 0, &msg, o.data);
        break;
    }
    default:
        break;
    }
}

static void complete(keel_client_channel_t *ch)
{
    assembly_t *as = &ch->as;
    if (as->listed) {
        keel_list_remove(&as->link);
        as->listed = false;
    }
    as->state = AS_NONE;
    if (as->in_input) {
        dispatch(ch, as->mptr, as->mlen, as->hptr, as->hlen, as->bptr, (size_t)as->body_size);
    } else {
        const uint8_t *b = (const uint8_t *)as->buf.base;
        dispatch(ch, b, as->mlen, b + as->mlen, as->hlen, b + as->mlen + as->hlen, (size_t)as->body_size);
    }
    /* the buffer is kept for the next message; a callback may have started none */
    if (as->state == AS_NONE)
        keel_buf_reset(&as->buf);
}

int keel__cchan_header(keel_client_channel_t *ch, const keel_amqp_frame_t *f)
{
    assembly_t *as = &ch->as;
    if (as->state != AS_HEADER)
        return KEEL_EPROTO;
    keel_amqp_header_t h;
    if (keel_amqp_header_decode(f->payload, f->size, &h, NULL) != 0)
        return KEEL_EPROTO;
    if (h.body_size > SIZE_MAX / 2)
        return KEEL_EPROTO;
    as->body_size = h.body_size;
    as->hlen = f->size;
    if (as->in_input) {
        as->hptr = f->payload;
    } else {
        int rc = keel_buf_append(&as->buf, f->payload, f->size);
        if (rc != 0)
            return rc;
    }
    as->state = AS_BODY;
    if (h.body_size == 0)
        complete(ch);
    return 0;
}

int keel__cchan_body(keel_client_channel_t *ch, const keel_amqp_frame_t *f)
{
    assembly_t *as = &ch->as;
    if (as->state != AS_BODY || f->size > as->body_size - as->got)
        return KEEL_EPROTO;
    if (as->in_input && as->got == 0 && f->size == as->body_size) {
        as->bptr = f->payload; /* the whole message in one read: no copy */
        as->got = f->size;
        complete(ch);
        return 0;
    }
    if (as->in_input) {
        int rc = keel__cchan_stabilize(ch);
        if (rc != 0)
            return rc;
    }
    if (as->got == 0) {
        int rc = keel_buf_reserve(&as->buf, (size_t)as->body_size);
        if (rc != 0)
            return rc;
    }
    keel_buf_append(&as->buf, f->payload, f->size);
    as->got += f->size;
    if (as->got == as->body_size)
        complete(ch);
    return 0;
}

/* ---- methods ---- */

int keel__cchan_method(keel_client_channel_t *ch, const keel_amqp_frame_t *f, const keel_amqp_method_t *m)
{
    keel_client_t *c = ch->client;
    if (ch->as.state != AS_NONE)
        return KEEL_EPROTO; /* a method in the middle of a content */
    switch (m->id) {
    case KEEL_AMQP_CHANNEL_CLOSE:
        return server_close(ch, &m->channel_close);
    case KEEL_AMQP_BASIC_DELIVER:
    case KEEL_AMQP_BASIC_RETURN:
        return content_start(ch, f, m->id);
    case KEEL_AMQP_BASIC_GET_OK:
        if (find_op(ch, 0, KEEL_AMQP_BASIC_GET) < 0)
            return KEEL_EPROTO;
        return content_start(ch, f, m->id);
    case KEEL_AMQP_BASIC_ACK:
        if (ch->confirm)
            confirm(ch, m->basic_ack.delivery_tag, m->basic_ack.multiple, 0);
        return 0;
    case KEEL_AMQP_BASIC_NACK:
        if (ch->confirm)
            confirm(ch, m->basic_nack.delivery_tag, m->basic_nack.multiple, KEEL_EIO);
        return 0;
    case KEEL_AMQP_BASIC_CANCEL: {
        /* consumer_cancel_notify: the queue went away under the consumer */
        keel_client_consumer_t *cons =
            keel_map_get(&c->consumers, m->basic_cancel.consumer_tag.base, m->basic_cancel.consumer_tag.len);
        if (cons != NULL && cons->ch == ch && !cons->ending)
            keel__ccons_end(cons, KEEL_ENOENT);
        return 0;
    }
    case KEEL_AMQP_CHANNEL_FLOW: {
        keel_amqp_method_t ok = {.id = KEEL_AMQP_CHANNEL_FLOW_OK};
        ok.channel_flow_ok.active = m->channel_flow.active;
        return keel__cconn_send(c, ch->id, &ok);
    }
    default:
        break;
    }
    const keel_amqp_method_info_t *info = keel_amqp_method_info(m->id);
    if (info == NULL || !(info->flags & KEEL_AMQP_METHOD_TO_CLIENT))
        return KEEL_EPROTO;
    return reply(ch, m);
}
