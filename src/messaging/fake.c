/*
 * fake:// — oslo's impl_fake, but shaped like the rabbit driver so the
 * whole messaging layer is tested the way it will run: bodies are bytes in
 * the 2.0 envelope (envelope.c), and they travel through a small in-memory
 * AMQP broker with the same exchanges, queues and bindings the rabbit
 * driver declares (topology.c, spec §4): topic exchange X with T and T.S,
 * fanout exchange T_fanout with one T_fanout_<hex32> queue per server, a
 * reply_<hex32> queue per transport on the default exchange, N.P and pool
 * queues for notifications. So a message sent before any server declared
 * its queue is dropped, as on RabbitMQ, and one sent after waits.
 *
 * The broker itself owns no handles: it is a data structure on one loop.
 * Deliveries happen in a "pump" run from an idle handle of one of the
 * drivers attached to it (the first that is not closing), so publishing
 * never calls a consumer from inside the publisher's call. Each queue hands
 * its messages to its consumers round-robin; a delivery stays unacked until
 * the consumer acks or requeues it (requeued messages go back to the head,
 * marked redelivered). Per-message expiration (a call's timeout) is checked
 * when a message reaches the head of its queue.
 *
 * Deliberately missing: topic wildcards (oslo binds literal keys only),
 * the retry of replies to a missing queue (kombu_missing_consumer_retry_
 * timeout; the fake logs and drops them), x-expires (reply queues are
 * deleted when their transport closes), prefetch limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "keel/log.h"

#define RETRY_INTERVAL_MS 20 /* the fake's pace for refused publishes; the rabbit driver uses rabbit_retry_* */
#define PUMP_BUDGET 256      /* deliveries per pump run before the loop gets a turn */

typedef enum { EX_DIRECT, EX_TOPIC, EX_FANOUT } ex_type_t;

typedef struct fake_msg_s {
    struct fake_msg_s *next;
    char *body;
    size_t len;
    uint64_t expires_at; /* uv_hrtime() ns; 0: never */
    bool redelivered;
} fake_msg_t;

typedef struct fake_queue_s fake_queue_t;
typedef struct fake_consumer_s fake_consumer_t;

struct fake_consumer_s {
    fake_queue_t *q;
    /* Takes msg: it must come back through settle(). */
    void (*deliver)(fake_consumer_t *c, fake_msg_t *msg);
    void *owner;
};

struct fake_queue_s {
    char *name;
    keel__messaging_queue_spec_t spec;
    fake_msg_t *head, *tail;
    size_t ready, unacked;
    keel_vec_t consumers;
    size_t rr;
    size_t refs; /* the broker's, plus one per unsettled delivery */
    bool deleted, dirty;
    fake_queue_t *next_dirty;
};

typedef struct {
    fake_queue_t *q;
    char *key;
} fake_binding_t;

typedef struct {
    char *name;
    ex_type_t type;
    bool durable, auto_delete;
    keel_vec_t bindings;
} fake_exchange_t;

typedef struct fake_driver_s fake_driver_t;

struct keel_messaging_fake_broker_s {
    keel_map_t exchanges;
    keel_map_t queues;
    keel_vec_t drivers;
    fake_queue_t *dirty;
    bool down;
};

static keel_log_t *log_fake(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging._drivers.impl_fake");
    return l;
}

/* ---- broker ---- */

int keel_messaging_fake_broker_new(keel_messaging_fake_broker_t **out)
{
    keel_messaging_fake_broker_t *b = keel__calloc(1, sizeof(*b));
    if (b == NULL)
        return KEEL_ENOMEM;
    keel_map_init(&b->exchanges);
    keel_map_init(&b->queues);
    keel_vec_init(&b->drivers);
    *out = b;
    return 0;
}

static void msg_free(fake_msg_t *m)
{
    keel__free(m->body);
    keel__free(m);
}

static void queue_unref(fake_queue_t *q)
{
    if (--q->refs > 0)
        return;
    for (fake_msg_t *m = q->head, *next; m; m = next) {
        next = m->next;
        msg_free(m);
    }
    keel_vec_free(&q->consumers);
    keel__free(q->name);
    keel__free(q);
}

static void exchange_free(fake_exchange_t *x)
{
    for (size_t i = 0; i < x->bindings.len; i++) {
        fake_binding_t *bd = x->bindings.items[i];
        keel__free(bd->key);
        keel__free(bd);
    }
    keel_vec_free(&x->bindings);
    keel__free(x->name);
    keel__free(x);
}

int keel_messaging_fake_broker_free(keel_messaging_fake_broker_t *b)
{
    if (b == NULL)
        return 0;
    if (b->drivers.len > 0)
        return KEEL_EBUSY;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (keel_map_next(&b->exchanges, &pos, &k, &kl, &v))
        exchange_free(v);
    pos = 0;
    while (keel_map_next(&b->queues, &pos, &k, &kl, &v))
        queue_unref(v);
    keel_map_free(&b->exchanges);
    keel_map_free(&b->queues);
    keel_vec_free(&b->drivers);
    keel__free(b);
    return 0;
}

void keel_messaging_fake_broker_set_down(keel_messaging_fake_broker_t *b, bool down)
{
    b->down = down;
}

/* exchange.declare: an existing exchange must have the same type and flags (406 otherwise). */
static int ex_declare(keel_messaging_fake_broker_t *b, const char *name, ex_type_t type, bool durable, bool auto_delete)
{
    if (b->down)
        return KEEL_ECONNREFUSED;
    fake_exchange_t *x = keel_map_get(&b->exchanges, name, strlen(name));
    if (x != NULL)
        return x->type == type && x->durable == durable && x->auto_delete == auto_delete ? 0 : KEEL_EVALUE;
    x = keel__calloc(1, sizeof(*x));
    if (x == NULL || (x->name = keel__strdup(name)) == NULL) {
        keel__free(x);
        return KEEL_ENOMEM;
    }
    x->type = type;
    x->durable = durable;
    x->auto_delete = auto_delete;
    keel_vec_init(&x->bindings);
    int rc = keel_map_put(&b->exchanges, x->name, strlen(x->name), x, NULL);
    if (rc != 0)
        exchange_free(x);
    return rc;
}

static int q_declare(keel_messaging_fake_broker_t *b, const char *name, const keel__messaging_queue_spec_t *spec)
{
    if (b->down)
        return KEEL_ECONNREFUSED;
    fake_queue_t *q = keel_map_get(&b->queues, name, strlen(name));
    if (q != NULL)
        return memcmp(&q->spec, spec, sizeof(*spec)) == 0 ? 0 : KEEL_EVALUE;
    q = keel__calloc(1, sizeof(*q));
    if (q == NULL || (q->name = keel__strdup(name)) == NULL) {
        keel__free(q);
        return KEEL_ENOMEM;
    }
    q->spec = *spec;
    q->refs = 1;
    keel_vec_init(&q->consumers);
    int rc = keel_map_put(&b->queues, q->name, strlen(q->name), q, NULL);
    if (rc != 0)
        queue_unref(q);
    return rc;
}

static int q_bind(keel_messaging_fake_broker_t *b, const char *exchange, const char *queue, const char *key)
{
    if (b->down)
        return KEEL_ECONNREFUSED;
    fake_exchange_t *x = keel_map_get(&b->exchanges, exchange, strlen(exchange));
    fake_queue_t *q = keel_map_get(&b->queues, queue, strlen(queue));
    if (x == NULL || q == NULL)
        return KEEL_ENOENT;
    for (size_t i = 0; i < x->bindings.len; i++) {
        fake_binding_t *bd = x->bindings.items[i];
        if (bd->q == q && strcmp(bd->key, key) == 0)
            return 0;
    }
    fake_binding_t *bd = keel__calloc(1, sizeof(*bd));
    if (bd == NULL || (bd->key = keel__strdup(key)) == NULL) {
        keel__free(bd);
        return KEEL_ENOMEM;
    }
    bd->q = q;
    int rc = keel_vec_push(&x->bindings, bd);
    if (rc != 0) {
        keel__free(bd->key);
        keel__free(bd);
    }
    return rc;
}

static void kick(keel_messaging_fake_broker_t *b);

static void mark_dirty(keel_messaging_fake_broker_t *b, fake_queue_t *q)
{
    if (q->dirty || q->deleted || q->consumers.len == 0 || q->head == NULL)
        return;
    q->dirty = true;
    q->refs++;
    q->next_dirty = b->dirty;
    b->dirty = q;
    kick(b);
}

static int enqueue(keel_messaging_fake_broker_t *b, fake_queue_t *q, const char *body, size_t len, uint64_t ttl_ms)
{
    fake_msg_t *m = keel__calloc(1, sizeof(*m));
    if (m == NULL || (m->body = keel__malloc(len ? len : 1)) == NULL) {
        keel__free(m);
        return KEEL_ENOMEM;
    }
    memcpy(m->body, body, len);
    m->len = len;
    m->expires_at = ttl_ms ? uv_hrtime() + ttl_ms * 1000000u : 0;
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->ready++;
    mark_dirty(b, q);
    return 0;
}

/* basic.publish; *routed counts the queues that got a copy (0 is unroutable). */
static int publish(keel_messaging_fake_broker_t *b, const char *exchange, const char *key, const char *body, size_t len,
                   uint64_t ttl_ms, size_t *routed)
{
    *routed = 0;
    if (b->down)
        return KEEL_ECONNREFUSED;
    if (*exchange == '\0') {
        fake_queue_t *q = keel_map_get(&b->queues, key, strlen(key));
        if (q == NULL)
            return 0;
        *routed = 1;
        return enqueue(b, q, body, len, ttl_ms);
    }
    fake_exchange_t *x = keel_map_get(&b->exchanges, exchange, strlen(exchange));
    if (x == NULL)
        return KEEL_ENOENT; /* 404 NOT_FOUND: a channel error on a real broker */
    for (size_t i = 0; i < x->bindings.len; i++) {
        fake_binding_t *bd = x->bindings.items[i];
        if (x->type != EX_FANOUT && strcmp(bd->key, key) != 0)
            continue;
        int rc = enqueue(b, bd->q, body, len, ttl_ms);
        if (rc != 0)
            return rc;
        (*routed)++;
    }
    return 0;
}

static int consume(keel_messaging_fake_broker_t *b, const char *queue, fake_consumer_t *c)
{
    fake_queue_t *q = keel_map_get(&b->queues, queue, strlen(queue));
    if (q == NULL)
        return KEEL_ENOENT;
    int rc = keel_vec_push(&q->consumers, c);
    if (rc != 0)
        return rc;
    c->q = q;
    q->refs++;
    mark_dirty(b, q);
    return 0;
}

static void cancel(fake_consumer_t *c)
{
    fake_queue_t *q = c->q;
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->consumers.len; i++)
        if (q->consumers.items[i] == c) {
            memmove(&q->consumers.items[i], &q->consumers.items[i + 1], (q->consumers.len - i - 1) * sizeof(void *));
            q->consumers.len--;
            break;
        }
    c->q = NULL;
    queue_unref(q);
}

/* basic.ack (requeue false) or basic.reject(requeue true) of a delivery from q. */
static void settle(keel_messaging_fake_broker_t *b, fake_queue_t *q, fake_msg_t *m, bool requeue)
{
    q->unacked--;
    if (requeue && !q->deleted) {
        m->redelivered = true;
        m->next = q->head;
        q->head = m;
        if (q->tail == NULL)
            q->tail = m;
        q->ready++;
        mark_dirty(b, q);
    } else {
        msg_free(m);
    }
    queue_unref(q);
}

/* queue.delete: its bindings go, and auto-delete exchanges left without bindings. */
static void q_delete(keel_messaging_fake_broker_t *b, const char *name)
{
    fake_queue_t *q = keel_map_remove(&b->queues, name, strlen(name));
    if (q == NULL)
        return;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (keel_map_next(&b->exchanges, &pos, &k, &kl, &v)) {
        fake_exchange_t *x = v;
        for (size_t i = 0; i < x->bindings.len;) {
            fake_binding_t *bd = x->bindings.items[i];
            if (bd->q != q) {
                i++;
                continue;
            }
            keel__free(bd->key);
            keel__free(bd);
            memmove(&x->bindings.items[i], &x->bindings.items[i + 1], (x->bindings.len - i - 1) * sizeof(void *));
            x->bindings.len--;
        }
        if (x->auto_delete && x->bindings.len == 0) {
            keel_map_remove(&b->exchanges, x->name, strlen(x->name));
            exchange_free(x);
        }
    }
    q->deleted = true;
    for (fake_msg_t *m = q->head, *next; m; m = next) {
        next = m->next;
        msg_free(m);
    }
    q->head = q->tail = NULL;
    q->ready = 0;
    queue_unref(q);
}

/* Hands ready messages to consumers, round-robin, up to a budget; true if work is left. */
static bool pump(keel_messaging_fake_broker_t *b)
{
    int budget = PUMP_BUDGET;
    while (b->dirty != NULL && budget > 0) {
        fake_queue_t *q = b->dirty;
        b->dirty = q->next_dirty;
        q->dirty = false;
        while (budget > 0 && q->head != NULL && q->consumers.len > 0 && !q->deleted) {
            fake_msg_t *m = q->head;
            q->head = m->next;
            if (q->head == NULL)
                q->tail = NULL;
            q->ready--;
            m->next = NULL;
            if (m->expires_at && uv_hrtime() >= m->expires_at) {
                msg_free(m); /* expired while it waited, as with an AMQP per-message TTL */
                continue;
            }
            fake_consumer_t *c = q->consumers.items[q->rr++ % q->consumers.len];
            q->unacked++;
            q->refs++;
            budget--;
            c->deliver(c, m); /* may publish, consume, cancel or delete: all re-checked above */
        }
        if (q->head != NULL && q->consumers.len > 0 && !q->deleted) {
            q->dirty = true;
            q->refs++;
            q->next_dirty = b->dirty;
            b->dirty = q;
        }
        queue_unref(q);
    }
    return b->dirty != NULL;
}

int keel_messaging_fake_broker_publish(keel_messaging_fake_broker_t *b, const char *exchange, const char *routing_key,
                                       const char *body, size_t len)
{
    size_t routed;
    if (b == NULL || exchange == NULL || routing_key == NULL || (body == NULL && len > 0))
        return KEEL_EINVAL;
    return publish(b, exchange, routing_key, body ? body : "", len, 0, &routed);
}

int keel_messaging_fake_broker_get(keel_messaging_fake_broker_t *b, const char *queue, keel_buf_t *out)
{
    fake_queue_t *q = keel_map_get(&b->queues, queue, strlen(queue));
    if (q == NULL)
        return KEEL_ENOENT;
    while (q->head != NULL) {
        fake_msg_t *m = q->head;
        q->head = m->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->ready--;
        bool expired = m->expires_at && uv_hrtime() >= m->expires_at;
        int rc = expired ? 0 : keel_buf_append(out, m->body, m->len);
        msg_free(m);
        if (!expired)
            return rc;
    }
    return KEEL_EAGAIN;
}

static const char *ex_type_name(ex_type_t t)
{
    return t == EX_FANOUT ? "fanout" : t == EX_TOPIC ? "topic" : "direct";
}

/* Reply and fanout queue names end in a random hex32; describe() shows "*" instead. */
static void stable_name(keel_buf_t *b, const char *name)
{
    size_t n = strlen(name);
    if (n > 33 && name[n - 33] == '_' && strspn(name + n - 32, "0123456789abcdef") == 32) {
        keel_buf_append(b, name, n - 32);
        keel_buf_putc(b, '*');
    } else {
        keel_buf_puts(b, name);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int keel_messaging_fake_broker_describe(const keel_messaging_fake_broker_t *b, keel_buf_t *out)
{
    keel_vec_t lines;
    keel_vec_init(&lines);
    keel_buf_t line;
    keel_buf_init(&line);
    int rc = 0;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (rc == 0 && keel_map_next(&b->exchanges, &pos, &k, &kl, &v)) {
        fake_exchange_t *x = v;
        keel_buf_reset(&line);
        keel_buf_puts(&line, "exchange ");
        stable_name(&line, x->name);
        keel_buf_printf(&line, " %s durable=%d auto_delete=%d", ex_type_name(x->type), x->durable, x->auto_delete);
        char *text = keel_buf_steal(&line);
        rc = text ? keel_vec_push(&lines, text) : KEEL_ENOMEM;
        for (size_t i = 0; rc == 0 && i < x->bindings.len; i++) {
            fake_binding_t *bd = x->bindings.items[i];
            keel_buf_reset(&line);
            keel_buf_puts(&line, "binding ");
            stable_name(&line, x->name);
            keel_buf_puts(&line, " -> ");
            stable_name(&line, bd->q->name);
            keel_buf_printf(&line, " key %s", bd->key);
            text = keel_buf_steal(&line);
            rc = text ? keel_vec_push(&lines, text) : KEEL_ENOMEM;
        }
    }
    pos = 0;
    while (rc == 0 && keel_map_next(&b->queues, &pos, &k, &kl, &v)) {
        fake_queue_t *q = v;
        keel_buf_reset(&line);
        keel_buf_puts(&line, "queue ");
        stable_name(&line, q->name);
        keel_buf_printf(&line, " durable=%d auto_delete=%d messages=%zu unacked=%zu consumers=%zu", q->spec.durable,
                        q->spec.auto_delete, q->ready, q->unacked, q->consumers.len);
        if (q->spec.x_expires_ms)
            keel_buf_printf(&line, " x-expires=%lld", (long long)q->spec.x_expires_ms);
        if (q->spec.ha)
            keel_buf_puts(&line, " x-ha-policy=all");
        if (q->spec.quorum)
            keel_buf_puts(&line, " x-queue-type=quorum");
        char *text = keel_buf_steal(&line);
        rc = text ? keel_vec_push(&lines, text) : KEEL_ENOMEM;
    }
    keel_buf_free(&line);
    if (lines.len > 1)
        qsort(lines.items, lines.len, sizeof(void *), cmp_str);
    for (size_t i = 0; i < lines.len; i++) {
        if (rc == 0)
            rc = keel_buf_printf(out, "%s\n", (char *)lines.items[i]);
        keel__free(lines.items[i]);
    }
    keel_vec_free(&lines);
    return rc;
}

/* ---- driver ---- */

typedef struct fake_send_s fake_send_t;

struct fake_driver_s {
    keel_messaging_transport_t *t;
    keel_messaging_fake_broker_t *b;
    bool own_broker;
    bool closing;
    uv_idle_t pump;
    size_t handles; /* open handles: the pump and retry timers */
    char reply_q[48];
    bool reply_ready;
    fake_consumer_t reply_consumer;
    keel__messaging_waiters_t waiters;
    bool waiters_drained;
    fake_send_t *sends; /* publishes waiting to be retried */
    void (*close_done)(keel_messaging_transport_t *t);
};

struct fake_send_s {
    keel__messaging_task_t task; /* completion, posted to the loop */
    uv_timer_t timer;
    bool timer_live; /* initialised and not yet closing */
    int refs;        /* the send itself, and its timer while it is open */
    fake_driver_t *d;
    fake_send_t *prev, *next;
    char *exchange, *key;
    ex_type_t ex_type;
    bool ex_durable, ex_auto_delete;
    /* Notifications declare and bind their N.P queue before publishing. */
    char *notify_queue;
    keel_buf_t body;
    uint64_t ttl_ms;
    int retry, attempts;
    bool is_call, mandatory;
    char msg_id[33];
    double timeout, cm_timeout;
    keel__messaging_sent_cb cb;
    void *data;
    int status;
};

static void on_pump(uv_idle_t *idle)
{
    fake_driver_t *d = idle->data;
    if (!pump(d->b))
        uv_idle_stop(idle);
}

static void kick(keel_messaging_fake_broker_t *b)
{
    for (size_t i = 0; i < b->drivers.len; i++) {
        fake_driver_t *d = b->drivers.items[i];
        if (!d->closing) {
            uv_idle_start(&d->pump, on_pump);
            return;
        }
    }
}

static void detach(fake_driver_t *d)
{
    keel_vec_t *v = &d->b->drivers;
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i] == d) {
            memmove(&v->items[i], &v->items[i + 1], (v->len - i - 1) * sizeof(void *));
            v->len--;
            break;
        }
    /* Whoever is left takes over the deliveries this driver was pumping. */
    if (d->b->dirty)
        kick(d->b);
}

static void on_reply_delivery(fake_consumer_t *c, fake_msg_t *m)
{
    fake_driver_t *d = c->owner;
    fake_queue_t *q = c->q;
    json_t *inner = NULL;
    keel__messaging_unpacked_t u;
    int rc = keel__messaging_deserialize_msg(m->body, m->len, &inner);
    if (rc == 0)
        rc = keel__messaging_unpack(inner, &u);
    if (rc != 0) {
        KEEL_LOG_ERROR(log_fake(), "Failed to process reply: %s", keel_messaging_strerror(rc));
    } else {
        json_t *msg_id = json_object_get(u.message, "_msg_id");
        const char *id = u.msg_id ? u.msg_id : json_string_value(msg_id);
        if (!keel__messaging_waiters_reply(&d->waiters, id, u.message))
            KEEL_LOG_INFO(log_fake(), "No calling threads waiting for msg_id : %s", id ? id : "(none)");
        keel__messaging_unpacked_clear(&u);
    }
    settle(d->b, q, m, false);
}

/* The transport's reply queue, declared and consumed before its first call (spec §6.1 step 1). */
static int ensure_reply_queue(fake_driver_t *d)
{
    if (d->reply_ready)
        return 0;
    keel__messaging_queue_spec_t spec;
    keel__messaging_queue_spec(&d->t->opts.rabbit, KEEL__MESSAGING_QUEUE_REPLY, &spec);
    int rc = q_declare(d->b, d->reply_q, &spec);
    if (rc != 0)
        return rc;
    d->reply_consumer = (fake_consumer_t){.deliver = on_reply_delivery, .owner = d};
    if ((rc = consume(d->b, d->reply_q, &d->reply_consumer)) != 0) {
        q_delete(d->b, d->reply_q);
        return rc;
    }
    d->reply_ready = true;
    return 0;
}

static int fake_open(keel_messaging_transport_t *t, void **out)
{
    fake_driver_t *d = keel__calloc(1, sizeof(*d));
    if (d == NULL)
        return KEEL_ENOMEM;
    d->t = t;
    d->b = t->fake_broker;
    /* The reply queue's name is fixed now; it is declared before the first call. */
    char hex[33];
    int rc = keel__messaging_uuid_hex(hex);
    snprintf(d->reply_q, sizeof(d->reply_q), "reply_%s", hex);
    if (rc == 0 && d->b == NULL) {
        rc = keel_messaging_fake_broker_new(&d->b);
        d->own_broker = rc == 0;
    }
    if (rc == 0)
        rc = keel_vec_push(&d->b->drivers, d);
    if (rc != 0) {
        if (d->own_broker)
            keel_messaging_fake_broker_free(d->b);
        keel__free(d);
        return rc;
    }
    uv_idle_init(t->loop, &d->pump);
    d->pump.data = d;
    d->handles = 1;
    keel__messaging_waiters_init(&d->waiters, t->loop);
    *out = d;
    return 0;
}

static void maybe_closed(fake_driver_t *d)
{
    if (!d->closing || d->handles > 0 || !d->waiters_drained)
        return;
    keel_messaging_transport_t *t = d->t;
    void (*done)(keel_messaging_transport_t *) = d->close_done;
    if (d->own_broker)
        keel_messaging_fake_broker_free(d->b);
    keel__free(d);
    done(t);
}

static void on_handle_closed(uv_handle_t *h)
{
    fake_driver_t *d = h->data;
    d->handles--;
    maybe_closed(d);
}

static void send_free(fake_send_t *s)
{
    keel__free(s->exchange);
    keel__free(s->key);
    keel__free(s->notify_queue);
    keel_buf_free(&s->body);
    keel__free(s);
}

static void send_unref(fake_send_t *s)
{
    if (--s->refs == 0)
        send_free(s);
}

static void on_send_timer_closed(uv_handle_t *h)
{
    fake_send_t *s = h->data;
    fake_driver_t *d = s->d;
    send_unref(s);
    d->handles--;
    maybe_closed(d);
}

static void close_timer(fake_send_t *s)
{
    if (!s->timer_live)
        return;
    s->timer_live = false;
    uv_close((uv_handle_t *)&s->timer, on_send_timer_closed);
}

static void unlink_send(fake_send_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (s->d->sends == s)
        s->d->sends = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

/*
 * Runs on the loop after the send finished: the callback, then the send
 * goes. It may run after the driver is gone (tasks queued when a
 * transport closes run last), so it touches nothing but the send.
 */
static void run_completion(keel__messaging_task_t *task)
{
    fake_send_t *s = keel_container_of(task, fake_send_t, task);
    s->cb(s->data, s->status, NULL, NULL);
    send_unref(s);
}

static void complete(fake_send_t *s, int status)
{
    unlink_send(s);
    close_timer(s);
    s->status = status;
    s->task.run = run_completion;
    if (keel__messaging_post(s->d->t, &s->task) != 0)
        run_completion(&s->task); /* only while the transport closes: callbacks still run once */
}

/* One publish attempt; true when the send is finished (either way). */
static bool attempt(fake_send_t *s)
{
    fake_driver_t *d = s->d;
    int rc = ex_declare(d->b, s->exchange, s->ex_type, s->ex_durable, s->ex_auto_delete);
    if (rc == 0 && s->notify_queue) {
        keel__messaging_queue_spec_t spec;
        keel__messaging_queue_spec(&d->t->opts.rabbit, KEEL__MESSAGING_QUEUE_NOTIFY, &spec);
        rc = q_declare(d->b, s->notify_queue, &spec);
        if (rc == 0)
            rc = q_bind(d->b, s->exchange, s->notify_queue, s->key);
    }
    if (rc == 0 && s->is_call)
        rc = ensure_reply_queue(d);
    size_t routed = 0;
    if (rc == 0)
        rc = publish(d->b, s->exchange, s->key, s->body.base, s->body.len, s->ttl_ms, &routed);
    if (rc == KEEL_ECONNREFUSED) {
        s->attempts++;
        if (s->retry >= 0 && s->attempts > s->retry) {
            KEEL_LOG_ERROR(log_fake(), "Failed to publish message to topic '%s': broker unreachable after %d tries", s->key,
                           s->attempts);
            complete(s, KEEL_MESSAGING_EDELIVERY);
            return true;
        }
        return false;
    }
    if (rc == 0 && s->mandatory && routed == 0) {
        /* at_least_once: the broker returned it (basic.return NO_ROUTE). */
        KEEL_LOG_ERROR(log_fake(), "Message to topic '%s' is undeliverable: no queue is bound", s->key);
        rc = KEEL_MESSAGING_EDELIVERY;
    }
    if (rc != 0) {
        complete(s, rc);
        return true;
    }
    if (s->is_call) {
        rc = keel__messaging_waiters_add(&d->waiters, s->msg_id, s->timeout, s->cm_timeout, s->cb, s->data);
        if (rc != 0) {
            complete(s, rc);
            return true;
        }
        /* The waiter answers now; the send itself is done. */
        unlink_send(s);
        close_timer(s);
        send_unref(s);
        return true;
    }
    complete(s, 0);
    return true;
}

static void on_retry_timer(uv_timer_t *timer)
{
    fake_send_t *s = timer->data;
    if (!attempt(s))
        uv_timer_start(&s->timer, on_retry_timer, RETRY_INTERVAL_MS, 0);
}

static int start_send(fake_driver_t *d, fake_send_t *s)
{
    s->d = d;
    s->refs = 1;
    s->next = d->sends;
    if (d->sends)
        d->sends->prev = s;
    d->sends = s;
    if (attempt(s))
        return 0;
    /* Refused and to be retried: the timer keeps the send alive. */
    uv_timer_init(d->t->loop, &s->timer);
    s->timer.data = s;
    s->timer_live = true;
    s->refs++;
    d->handles++;
    uv_timer_start(&s->timer, on_retry_timer, RETRY_INTERVAL_MS, 0);
    return 0;
}

static int dup_into(char **dst, const char *src)
{
    return (*dst = keel__strdup(src)) ? 0 : KEEL_ENOMEM;
}

static int fake_send(void *driver, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data)
{
    fake_driver_t *d = driver;
    if (d->closing)
        return KEEL_ECANCELED;
    fake_send_t *s = keel__calloc(1, sizeof(*s));
    if (s == NULL)
        return KEEL_ENOMEM;
    keel_buf_init(&s->body);
    s->cb = cb;
    s->data = data;
    s->retry = msg->retry;
    s->is_call = msg->wait_for_reply;
    s->mandatory = msg->mandatory;
    s->timeout = msg->timeout;
    s->cm_timeout = msg->call_monitor_timeout;
    const keel_messaging_target_t *tg = msg->target;
    int rc;
    keel_buf_t key;
    keel_buf_init(&key);
    if (tg->fanout) {
        /* Fanout: exchange T_fanout, routing key "" (spec §6.3). */
        rc = keel_buf_printf(&key, "%s_fanout", tg->topic);
        if (rc == 0)
            rc = dup_into(&s->exchange, key.base);
        if (rc == 0)
            rc = dup_into(&s->key, "");
        s->ex_type = EX_FANOUT;
        s->ex_auto_delete = true;
    } else {
        rc = tg->server && *tg->server ? keel_buf_printf(&key, "%s.%s", tg->topic, tg->server) : keel_buf_puts(&key, tg->topic);
        if (rc == 0)
            rc = dup_into(&s->exchange, tg->exchange);
        if (rc == 0)
            rc = dup_into(&s->key, key.base);
        s->ex_type = EX_TOPIC;
        keel__messaging_topic_exchange_spec(&d->t->opts.rabbit, &s->ex_durable, &s->ex_auto_delete);
    }
    keel_buf_free(&key);
    char unique[33];
    if (rc == 0)
        rc = keel__messaging_uuid_hex(unique);
    if (rc == 0 && s->is_call) {
        rc = keel__messaging_uuid_hex(s->msg_id);
        /* The AMQP expiration of a request: its timeout in ms (spec §5.1). */
        s->ttl_ms = msg->timeout > 0 ? (uint64_t)(msg->timeout * 1000.0) : 0;
    }
    json_t *inner = NULL;
    if (rc == 0) {
        keel__messaging_ids_t ids = {.is_call = s->is_call,
                                     .msg_id = s->msg_id,
                                     .reply_q = d->reply_q,
                                     .call_monitor_timeout = msg->call_monitor_timeout,
                                     .unique_id = unique};
        rc = keel__messaging_pack(msg->message, msg->ctxt, &ids, &inner);
    }
    if (rc == 0)
        rc = keel__messaging_serialize_msg(inner, 2, &s->body);
    json_decref(inner);
    if (rc != 0) {
        send_free(s);
        return rc;
    }
    return start_send(d, s);
}

static int fake_send_notification(void *driver, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data)
{
    fake_driver_t *d = driver;
    if (d->closing)
        return KEEL_ECANCELED;
    fake_send_t *s = keel__calloc(1, sizeof(*s));
    if (s == NULL)
        return KEEL_ENOMEM;
    keel_buf_init(&s->body);
    s->cb = cb;
    s->data = data;
    s->retry = msg->retry;
    s->ex_type = EX_TOPIC;
    keel__messaging_topic_exchange_spec(&d->t->opts.rabbit, &s->ex_durable, &s->ex_auto_delete);
    /* The target's topic is already "N.P"; the notifier declares that queue too (spec §6.5). */
    int rc = dup_into(&s->exchange, msg->target->exchange);
    if (rc == 0)
        rc = dup_into(&s->key, msg->target->topic);
    if (rc == 0)
        rc = dup_into(&s->notify_queue, msg->target->topic);
    char unique[33];
    if (rc == 0)
        rc = keel__messaging_uuid_hex(unique);
    json_t *inner = NULL;
    if (rc == 0) {
        keel__messaging_ids_t ids = {.unique_id = unique};
        rc = keel__messaging_pack(msg->message, msg->ctxt, &ids, &inner);
    }
    if (rc == 0)
        rc = keel__messaging_serialize_msg(inner, msg->notify_version == 1 ? 1 : 2, &s->body);
    json_decref(inner);
    if (rc != 0) {
        send_free(s);
        return rc;
    }
    return start_send(d, s);
}

/* ---- listeners ---- */

typedef struct fake_listener_s {
    keel__messaging_listener_t base;
    fake_driver_t *d;
    keel__messaging_incoming_cb cb;
    void *data;
    fake_consumer_t *consumers;
    size_t nconsumers;
    char fanout_q[300]; /* RPC: deleted when the server stops cleanly */
    size_t outstanding;
    bool stopped;
    keel__messaging_task_t stop_task;
    keel__messaging_listener_stop_cb stop_cb;
    void *stop_data;
} fake_listener_t;

typedef struct fake_incoming_s {
    keel__messaging_incoming_t in;
    fake_queue_t *q;
    fake_msg_t *msg;
    bool settled;
} fake_incoming_t;

static void on_delivery(fake_consumer_t *c, fake_msg_t *m)
{
    fake_listener_t *l = c->owner;
    fake_driver_t *d = l->d;
    fake_incoming_t *fi = keel__calloc(1, sizeof(*fi));
    json_t *inner = NULL;
    int rc = fi ? keel__messaging_deserialize_msg(m->body, m->len, &inner) : KEEL_ENOMEM;
    if (rc == 0)
        rc = keel__messaging_unpack(inner, &fi->in.u);
    if (rc != 0) {
        /* kombu rejects what it cannot decode, without requeue: the message is lost (spec §5.1). */
        KEEL_LOG_ERROR(log_fake(), "Failed to process message ... skipping it: %s", keel_messaging_strerror(rc));
        keel__free(fi);
        settle(d->b, c->q, m, rc == KEEL_ENOMEM);
        return;
    }
    fi->in.listener = &l->base;
    fi->q = c->q;
    fi->msg = m;
    l->outstanding++;
    l->cb(&l->base, &fi->in, l->data);
}

static int listener_new(fake_driver_t *d, size_t nconsumers, keel__messaging_incoming_cb cb, void *data, fake_listener_t **out)
{
    fake_listener_t *l = keel__calloc(1, sizeof(*l));
    if (l == NULL || (l->consumers = keel__calloc(nconsumers ? nconsumers : 1, sizeof(*l->consumers))) == NULL) {
        keel__free(l);
        return KEEL_ENOMEM;
    }
    l->base.ops = &keel__messaging_fake_driver;
    l->d = d;
    l->cb = cb;
    l->data = data;
    *out = l;
    return 0;
}

static int listen_on(fake_listener_t *l, const char *queue)
{
    /* A queue consumed once per listener, even if several pairs name it (pools). */
    for (size_t i = 0; i < l->nconsumers; i++)
        if (strcmp(l->consumers[i].q->name, queue) == 0)
            return 0;
    fake_consumer_t *c = &l->consumers[l->nconsumers];
    *c = (fake_consumer_t){.deliver = on_delivery, .owner = l};
    int rc = consume(l->d->b, queue, c);
    if (rc == 0)
        l->nconsumers++;
    return rc;
}

static void listener_abort(fake_listener_t *l)
{
    for (size_t i = 0; i < l->nconsumers; i++)
        cancel(&l->consumers[i]);
    if (l->fanout_q[0])
        q_delete(l->d->b, l->fanout_q);
    keel__free(l->consumers);
    keel__free(l);
}

static int fake_listen(void *driver, const keel_messaging_target_t *target, keel__messaging_incoming_cb cb, void *data,
                       keel__messaging_listener_t **out)
{
    fake_driver_t *d = driver;
    if (d->closing)
        return KEEL_ECANCELED;
    fake_listener_t *l;
    int rc = listener_new(d, 3, cb, data, &l);
    if (rc != 0)
        return rc;
    const keel__messaging_rabbit_opts_t *ro = &d->t->opts.rabbit;
    keel_buf_t name;
    keel_buf_init(&name);
    bool ex_durable, ex_auto_delete;
    keel__messaging_topic_exchange_spec(ro, &ex_durable, &ex_auto_delete);
    keel__messaging_queue_spec_t topic_spec, fanout_spec;
    keel__messaging_queue_spec(ro, KEEL__MESSAGING_QUEUE_TOPIC, &topic_spec);
    keel__messaging_queue_spec(ro, KEEL__MESSAGING_QUEUE_FANOUT, &fanout_spec);
    /* X (topic) with T and T.S bound by their names; T_fanout with a private queue (spec §4). */
    rc = ex_declare(d->b, target->exchange, EX_TOPIC, ex_durable, ex_auto_delete);
    if (rc == 0)
        rc = q_declare(d->b, target->topic, &topic_spec);
    if (rc == 0)
        rc = q_bind(d->b, target->exchange, target->topic, target->topic);
    if (rc == 0)
        rc = keel_buf_printf(&name, "%s.%s", target->topic, target->server);
    if (rc == 0)
        rc = q_declare(d->b, name.base, &topic_spec);
    if (rc == 0)
        rc = q_bind(d->b, target->exchange, name.base, name.base);
    if (rc == 0)
        rc = listen_on(l, target->topic);
    if (rc == 0)
        rc = listen_on(l, name.base);
    char hex[33];
    keel_buf_reset(&name);
    if (rc == 0)
        rc = keel__messaging_uuid_hex(hex);
    if (rc == 0)
        rc = keel_buf_printf(&name, "%s_fanout", target->topic);
    if (rc == 0)
        rc = ex_declare(d->b, name.base, EX_FANOUT, false, true);
    if (rc == 0 && snprintf(l->fanout_q, sizeof(l->fanout_q), "%s_%s", name.base, hex) >= (int)sizeof(l->fanout_q))
        rc = KEEL_EINVAL;
    if (rc == 0)
        rc = q_declare(d->b, l->fanout_q, &fanout_spec);
    else
        l->fanout_q[0] = '\0';
    if (rc == 0)
        rc = q_bind(d->b, name.base, l->fanout_q, target->topic);
    if (rc == 0)
        rc = listen_on(l, l->fanout_q);
    keel_buf_free(&name);
    if (rc != 0) {
        listener_abort(l);
        return rc;
    }
    *out = &l->base;
    return 0;
}

static int fake_listen_for_notifications(void *driver, const keel__messaging_target_priority_t *pairs, size_t n, const char *pool,
                                         keel__messaging_incoming_cb cb, void *data, keel__messaging_listener_t **out)
{
    fake_driver_t *d = driver;
    if (d->closing)
        return KEEL_ECANCELED;
    fake_listener_t *l;
    int rc = listener_new(d, n, cb, data, &l);
    if (rc != 0)
        return rc;
    bool ex_durable, ex_auto_delete;
    keel__messaging_topic_exchange_spec(&d->t->opts.rabbit, &ex_durable, &ex_auto_delete);
    keel__messaging_queue_spec_t spec;
    keel__messaging_queue_spec(&d->t->opts.rabbit, KEEL__MESSAGING_QUEUE_NOTIFY, &spec);
    keel_buf_t key;
    keel_buf_init(&key);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const keel_messaging_target_t *tg = pairs[i].target;
        keel_buf_reset(&key);
        rc = keel_buf_printf(&key, "%s.%s", tg->topic, pairs[i].priority);
        const char *queue = pool && *pool ? pool : key.base;
        if (rc == 0)
            rc = ex_declare(d->b, tg->exchange, EX_TOPIC, ex_durable, ex_auto_delete);
        if (rc == 0)
            rc = q_declare(d->b, queue, &spec);
        if (rc == 0)
            rc = q_bind(d->b, tg->exchange, queue, key.base);
        if (rc == 0)
            rc = listen_on(l, queue);
    }
    keel_buf_free(&key);
    if (rc != 0) {
        listener_abort(l);
        return rc;
    }
    *out = &l->base;
    return 0;
}

static void run_stop_done(keel__messaging_task_t *task)
{
    fake_listener_t *l = keel_container_of(task, fake_listener_t, stop_task);
    l->stop_cb(&l->base, l->stop_data);
}

static void fake_listener_stop(keel__messaging_listener_t *base, keel__messaging_listener_stop_cb done, void *data)
{
    fake_listener_t *l = (fake_listener_t *)base;
    if (!l->stopped) {
        l->stopped = true;
        for (size_t i = 0; i < l->nconsumers; i++)
            cancel(&l->consumers[i]);
        /* oslo deletes the server's fanout queue on a clean shutdown. */
        if (l->fanout_q[0])
            q_delete(l->d->b, l->fanout_q);
    }
    l->stop_cb = done;
    l->stop_data = data;
    l->stop_task.run = run_stop_done;
    if (keel__messaging_post(l->d->t, &l->stop_task) != 0)
        done(base, data);
}

static void fake_listener_free(keel__messaging_listener_t *base)
{
    fake_listener_t *l = (fake_listener_t *)base;
    KEEL_ASSERT(l->stopped && l->outstanding == 0);
    keel__free(l->consumers);
    keel__free(l);
}

static void fake_ack(keel__messaging_incoming_t *in)
{
    fake_incoming_t *fi = (fake_incoming_t *)in;
    if (fi->settled)
        return;
    fi->settled = true;
    settle(((fake_listener_t *)in->listener)->d->b, fi->q, fi->msg, false);
}

static void fake_requeue(keel__messaging_incoming_t *in)
{
    fake_incoming_t *fi = (fake_incoming_t *)in;
    if (fi->settled)
        return;
    fi->settled = true;
    settle(((fake_listener_t *)in->listener)->d->b, fi->q, fi->msg, true);
}

static void fake_reply(keel__messaging_incoming_t *in, json_t *result, const char *failure, bool ending)
{
    fake_listener_t *l = (fake_listener_t *)in->listener;
    fake_driver_t *d = l->d;
    if (in->u.msg_id == NULL || in->u.reply_q == NULL)
        return;
    char unique[33];
    json_t *reply = NULL;
    keel_buf_t body;
    keel_buf_init(&body);
    int rc = keel__messaging_uuid_hex(unique);
    if (rc == 0)
        rc = keel__messaging_pack_reply(result, failure, ending, in->u.msg_id, unique, &reply);
    if (rc == 0)
        rc = keel__messaging_serialize_msg(reply, 2, &body);
    size_t routed = 0;
    /* Replies go to the default exchange with the reply queue as key, mandatory (spec §6.1 step 5). */
    if (rc == 0)
        rc = publish(d->b, "", in->u.reply_q, body.base, body.len, 0, &routed);
    if (rc != 0)
        KEEL_LOG_ERROR(log_fake(), "Can not send reply for message %s: %s", in->u.msg_id, keel_messaging_strerror(rc));
    else if (routed == 0)
        KEEL_LOG_WARNING(log_fake(), "%s doesn't exist, drop reply to %s", in->u.reply_q, in->u.msg_id);
    keel_buf_free(&body);
    json_decref(reply);
}

static void fake_release(keel__messaging_incoming_t *in)
{
    fake_incoming_t *fi = (fake_incoming_t *)in;
    fake_listener_t *l = (fake_listener_t *)in->listener;
    if (!fi->settled)
        fake_requeue(in);
    keel__messaging_unpacked_clear(&in->u);
    keel__free(fi);
    l->outstanding--;
}

/* ---- close ---- */

static void on_waiters_drained(keel__messaging_waiters_t *w)
{
    fake_driver_t *d = keel_container_of(w, fake_driver_t, waiters);
    d->waiters_drained = true;
    maybe_closed(d);
}

static void fake_close(void *driver, void (*done)(keel_messaging_transport_t *t))
{
    fake_driver_t *d = driver;
    d->closing = true;
    d->close_done = done;
    /* Publishes still being retried give up. */
    while (d->sends)
        complete(d->sends, KEEL_ECANCELED);
    if (d->reply_ready) {
        cancel(&d->reply_consumer);
        q_delete(d->b, d->reply_q);
        d->reply_ready = false;
    }
    detach(d);
    uv_close((uv_handle_t *)&d->pump, on_handle_closed);
    keel__messaging_waiters_cancel_all(&d->waiters, KEEL_ECANCELED, on_waiters_drained);
}

const keel__messaging_driver_ops_t keel__messaging_fake_driver = {
    .name = "fake",
    .open = fake_open,
    .close = fake_close,
    .send = fake_send,
    .send_notification = fake_send_notification,
    .listen = fake_listen,
    .listen_for_notifications = fake_listen_for_notifications,
    .listener_stop = fake_listener_stop,
    .listener_free = fake_listener_free,
    .ack = fake_ack,
    .requeue = fake_requeue,
    .reply = fake_reply,
    .release = fake_release,
};
