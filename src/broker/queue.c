/*
 * queue.c — queues as RabbitMQ's classic queues behave: arguments checked
 * at declare, messages kept in sequence order (one store per priority
 * level), round-robin delivery to consumers within their prefetch, a
 * single active consumer when asked, per-queue and per-message TTL
 * applied at the head, length limits with drop-head or reject-publish, and
 * dead-lettering with RabbitMQ's x-death bookkeeping.
 *
 * Deliveries are not made while a frame is being handled but once per
 * loop turn, for every queue marked dirty: a burst of publishes then costs
 * one delivery pass, consumers are served fairly across queues, and no
 * handler re-enters another through a delivery.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker_int.h"
#include "props.h"

#define DELIVERY_BATCH 512

queue_t *keel__queue_find(vhost_t *v, const char *name, size_t len)
{
    return keel_map_get(&v->queues, name, len);
}

size_t keel__queue_ready(const queue_t *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n_stores; i++)
        n += q->stores[i]->ops->count(q->stores[i]);
    return n;
}

static uint64_t queue_bytes(const queue_t *q)
{
    uint64_t n = 0;
    for (size_t i = 0; i < q->n_stores; i++)
        n += q->stores[i]->ops->bytes(q->stores[i]);
    return n;
}

/* ---- arguments ---- */

static const char *type_word(uint8_t t)
{
    switch (t) {
    case KEEL_AMQP_FIELD_LONGSTR:
        return "longstr";
    case KEEL_AMQP_FIELD_BOOL:
        return "bool";
    case KEEL_AMQP_FIELD_TABLE:
        return "table";
    case KEEL_AMQP_FIELD_ARRAY:
        return "array";
    case KEEL_AMQP_FIELD_DOUBLE:
    case KEEL_AMQP_FIELD_FLOAT:
        return "double";
    case KEEL_AMQP_FIELD_VOID:
        return "void";
    default:
        return "signedint";
    }
}

/* Reads an integer argument; returns 1 if absent, 0 if read, -1 with why. */
static int int_arg(keel_amqp_table_t args, const char *key, int64_t min, int64_t max, int64_t *out, const char *qname, size_t qlen,
                   const char *vname, char *why, size_t why_len)
{
    keel_amqp_value_t v;
    if (keel_amqp_table_get(args, key, &v) != 0)
        return 1;
    int64_t n;
    if (!keel_amqp_value_int(&v, &n)) {
        snprintf(why, why_len, "invalid arg '%s' for queue '%.*s' in vhost '%s': {unacceptable_type,%s}", key, (int)qlen, qname,
                 vname, type_word(v.type));
        return -1;
    }
    if (n < min) {
        snprintf(why, why_len, "invalid arg '%s' for queue '%.*s' in vhost '%s': {%s,%lld}", key, (int)qlen, qname, vname,
                 n == 0 ? "value_zero" : "value_negative", (long long)n);
        return -1;
    }
    if (n > max) {
        snprintf(why, why_len, "invalid arg '%s' for queue '%.*s' in vhost '%s': {value_too_large,%lld,%lld}", key, (int)qlen,
                 qname, vname, (long long)n, (long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

static int str_arg(keel_amqp_table_t args, const char *key, keel_amqp_str_t *out, const char *qname, size_t qlen, const char *vname,
                   char *why, size_t why_len)
{
    keel_amqp_value_t v;
    if (keel_amqp_table_get(args, key, &v) != 0)
        return 1;
    if (v.type != KEEL_AMQP_FIELD_LONGSTR) {
        snprintf(why, why_len, "invalid arg '%s' for queue '%.*s' in vhost '%s': {unacceptable_type,%s}", key, (int)qlen, qname,
                 vname, type_word(v.type));
        return -1;
    }
    *out = v.str;
    return 0;
}

int keel__queue_parse_args(const char *qname, size_t qlen, const char *vname, keel_amqp_table_t args, queue_t *q, char *why,
                           size_t why_len)
{
    q->message_ttl = q->expires = q->max_length = q->max_length_bytes = -1;
    q->overflow = OVERFLOW_DROP_HEAD;
    q->max_priority = 0;
    q->single_active = false;
    int64_t n;
    int r;
    if ((r = int_arg(args, "x-message-ttl", 0, 4294967295LL, &n, qname, qlen, vname, why, why_len)) < 0)
        return KEEL_EVALUE;
    if (r == 0)
        q->message_ttl = n;
    if ((r = int_arg(args, "x-expires", 1, 4294967295LL, &n, qname, qlen, vname, why, why_len)) < 0)
        return KEEL_EVALUE;
    if (r == 0)
        q->expires = n;
    if ((r = int_arg(args, "x-max-length", 0, INT64_MAX, &n, qname, qlen, vname, why, why_len)) < 0)
        return KEEL_EVALUE;
    if (r == 0)
        q->max_length = n;
    if ((r = int_arg(args, "x-max-length-bytes", 0, INT64_MAX, &n, qname, qlen, vname, why, why_len)) < 0)
        return KEEL_EVALUE;
    if (r == 0)
        q->max_length_bytes = n;
    if ((r = int_arg(args, "x-max-priority", 0, 255, &n, qname, qlen, vname, why, why_len)) < 0)
        return KEEL_EVALUE;
    if (r == 0)
        q->max_priority = (uint8_t)n;
    keel_amqp_str_t s;
    if ((r = str_arg(args, "x-overflow", &s, qname, qlen, vname, why, why_len)) < 0)
        return KEEL_EVALUE;
    if (r == 0) {
        if (s.len == 9 && memcmp(s.base, "drop-head", 9) == 0)
            q->overflow = OVERFLOW_DROP_HEAD;
        else if (s.len == 14 && memcmp(s.base, "reject-publish", 14) == 0)
            q->overflow = OVERFLOW_REJECT_PUBLISH;
        else if (s.len == 18 && memcmp(s.base, "reject-publish-dlx", 18) == 0)
            q->overflow = OVERFLOW_REJECT_PUBLISH_DLX;
        else {
            snprintf(why, why_len, "invalid arg 'x-overflow' for queue '%.*s' in vhost '%s': {unacceptable_value,<<\"%.*s\">>}",
                     (int)qlen, qname, vname, (int)s.len, s.base);
            return KEEL_EVALUE;
        }
    }
    keel_amqp_str_t dlx = {0}, dlrk = {0};
    int has_dlx = str_arg(args, "x-dead-letter-exchange", &dlx, qname, qlen, vname, why, why_len);
    if (has_dlx < 0)
        return KEEL_EVALUE;
    int has_dlrk = str_arg(args, "x-dead-letter-routing-key", &dlrk, qname, qlen, vname, why, why_len);
    if (has_dlrk < 0)
        return KEEL_EVALUE;
    if (has_dlrk == 0 && has_dlx != 0) {
        snprintf(why, why_len,
                 "invalid arg 'x-dead-letter-routing-key' for queue '%.*s' in vhost '%s': "
                 "{missing_dead_letter_exchange,<<\"%.*s\">>}",
                 (int)qlen, qname, vname, (int)dlrk.len, dlrk.base);
        return KEEL_EVALUE;
    }
    keel_amqp_value_t v;
    if (keel_amqp_table_get(args, "x-single-active-consumer", &v) == 0) {
        if (v.type != KEEL_AMQP_FIELD_BOOL) {
            snprintf(why, why_len, "invalid arg 'x-single-active-consumer' for queue '%.*s' in vhost '%s': {unacceptable_type,%s}",
                     (int)qlen, qname, vname, type_word(v.type));
            return KEEL_EVALUE;
        }
        q->single_active = v.b;
    }
    if (str_arg(args, "x-queue-type", &s, qname, qlen, vname, why, why_len) == 0 &&
        !(s.len == 7 && memcmp(s.base, "classic", 7) == 0)) {
        snprintf(why, why_len, "invalid arg 'x-queue-type' for queue '%.*s' in vhost '%s': keel serves classic queues only",
                 (int)qlen, qname, vname);
        return KEEL_EVALUE;
    }
    if (has_dlx == 0 && (q->dlx = keel__strndup(dlx.base, dlx.len)) == NULL)
        return KEEL_ENOMEM;
    if (has_dlrk == 0 && (q->dlrk = keel__strndup(dlrk.base, dlrk.len)) == NULL)
        return KEEL_ENOMEM;
    return 0;
}

/* ---- life cycle ---- */

static void queue_free(queue_t *q)
{
    for (size_t i = 0; i < q->n_stores; i++)
        q->stores[i]->ops->destroy(q->stores[i]);
    keel__free(q->stores);
    keel__free(q->dlx);
    keel__free(q->dlrk);
    keel__free(q->args);
    keel__free(q->name);
    keel__free(q);
}

void keel__queue_ref(queue_t *q)
{
    q->refs++;
}

void keel__queue_unref(queue_t *q)
{
    KEEL_ASSERT(q->refs > 0);
    if (--q->refs == 0)
        queue_free(q);
}

static void timer_closed(uv_handle_t *h)
{
    keel__queue_unref(h->data);
}

static void on_ttl(uv_timer_t *t);
static void on_expires(uv_timer_t *t);

int keel__queue_new(vhost_t *v, const char *name, size_t len, bool durable, bool exclusive, bool auto_delete, conn_t *owner,
                    const uint8_t *args, size_t args_len, queue_t **out, char *why, size_t why_len)
{
    queue_t *q = keel__calloc(1, sizeof(*q));
    if (q == NULL)
        return KEEL_ENOMEM;
    q->vhost = v;
    q->durable = durable;
    q->exclusive = exclusive;
    q->auto_delete = auto_delete;
    q->owner = exclusive ? owner : NULL;
    q->refs = 1;
    keel_list_init(&q->consumers);
    keel_list_init(&q->bindings);
    keel_list_init(&q->dirty);
    int rc = keel__queue_parse_args(name, len, v->name, (keel_amqp_table_t){args, args_len}, q, why, why_len);
    if (rc != 0) {
        queue_free(q);
        return rc;
    }
    q->name = keel__strndup(name, len);
    q->name_len = len;
    if (args_len > 0 && (q->args = keel__malloc(args_len)) != NULL)
        memcpy(q->args, args, args_len);
    q->args_len = args_len;
    q->n_stores = (size_t)q->max_priority + 1;
    q->stores = keel__calloc(q->n_stores, sizeof(*q->stores));
    rc = (q->name == NULL || (args_len && q->args == NULL) || q->stores == NULL) ? KEEL_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < q->n_stores; i++)
        if ((q->stores[i] = keel__store_mem_new()) == NULL)
            rc = KEEL_ENOMEM;
    if (rc == 0)
        rc = keel_map_put(&v->queues, q->name, len, q, NULL);
    if (rc != 0) {
        if (q->stores != NULL)
            for (size_t i = 0; i < q->n_stores; i++)
                if (q->stores[i] == NULL)
                    q->n_stores = i;
        queue_free(q);
        return rc;
    }
    uv_loop_t *loop = v->broker->loop;
    uv_timer_init(loop, &q->ttl_timer);
    uv_timer_init(loop, &q->expiry_timer);
    q->ttl_timer.data = q->expiry_timer.data = q;
    q->timers_started = true;
    keel__queue_touch(q);
    *out = q;
    return 0;
}

void keel__queue_touch(queue_t *q)
{
    if (q->expires < 0 || q->deleted)
        return;
    if (q->n_consumers > 0) {
        uv_timer_stop(&q->expiry_timer);
        return;
    }
    uv_timer_start(&q->expiry_timer, on_expires, (uint64_t)q->expires, 0);
}

static void on_expires(uv_timer_t *t)
{
    queue_t *q = t->data;
    if (!q->deleted && q->n_consumers == 0)
        keel__queue_delete(q, false);
}

void keel__queue_delete(queue_t *q, bool notify_consumers)
{
    if (q->deleted)
        return;
    q->deleted = true;
    keel_map_remove(&q->vhost->queues, q->name, q->name_len);
    if (q->is_dirty) {
        keel_list_remove(&q->dirty);
        q->is_dirty = false;
    }
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &q->bindings)
    {
        binding_t *bd = keel_container_of(pos, binding_t, by_dest);
        exchange_t *src = bd->source;
        keel__binding_free(bd);
        if (src->auto_delete && src->had_binding && src->n_bindings == 0)
            keel__exchange_delete(src);
    }
    keel_list_foreach_safe(pos, tmp, &q->consumers)
    {
        consumer_t *c = keel_container_of(pos, consumer_t, by_queue);
        (void)notify_consumers;
        keel__consumer_cancelled(c);
    }
    for (size_t i = 0; i < q->n_stores; i++) {
        keel__store_t *s = q->stores[i];
        keel__qentry_t e;
        while (s->ops->count(s) > 0) {
            s->ops->pop(s, &e);
            keel__msg_unref(e.msg);
        }
    }
    if (q->timers_started) {
        uv_timer_stop(&q->ttl_timer);
        uv_timer_stop(&q->expiry_timer);
        q->refs += 2;
        uv_close((uv_handle_t *)&q->ttl_timer, timer_closed);
        uv_close((uv_handle_t *)&q->expiry_timer, timer_closed);
    }
    keel__queue_unref(q);
}

/* ---- dead-lettering ---- */

static int copy_entry(keel_amqp_builder_t *b, keel_amqp_str_t key, const keel_amqp_value_t *v)
{
    return keel_amqp_build_put(b, key, v);
}

static bool str_is(keel_amqp_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.base, lit, n) == 0;
}

/* Writes one x-death entry for (q, reason) with count and the message's
 * original exchange and routing key. */
static int build_death(keel_amqp_builder_t *b, const queue_t *q, const char *reason, int64_t count, const keel__msg_t *m,
                       int64_t now_s, bool expired_by_message, keel_amqp_str_t orig_expiration)
{
    int rc = keel_amqp_build_begin(b, KEEL_AMQP_STR(""), KEEL_AMQP_FIELD_TABLE);
    keel_amqp_value_t v = {.type = KEEL_AMQP_FIELD_I64, .i64 = count};
    if (rc == 0)
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR("count"), &v);
    if (rc == 0)
        rc = keel_amqp_build_str(b, "reason", reason);
    v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_LONGSTR, .str = {q->name, q->name_len}};
    if (rc == 0)
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR("queue"), &v);
    v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_TIMESTAMP, .timestamp = (uint64_t)now_s};
    if (rc == 0)
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR("time"), &v);
    v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_LONGSTR, .str = {m->exchange, m->exchange_len}};
    if (rc == 0)
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR("exchange"), &v);
    if (rc == 0)
        rc = keel_amqp_build_begin(b, KEEL_AMQP_STR("routing-keys"), KEEL_AMQP_FIELD_ARRAY);
    v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_LONGSTR, .str = {m->rkey, m->rkey_len}};
    if (rc == 0)
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR(""), &v);
    if (rc == 0)
        rc = keel_amqp_build_end(b);
    if (rc == 0 && expired_by_message) {
        v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_LONGSTR, .str = orig_expiration};
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR("original-expiration"), &v);
    }
    return rc ? rc : keel_amqp_build_end(b);
}

/* The new headers table: x-death with this death first (an entry for the
 * same queue and reason counts up and moves to the front), x-first-death-*
 * kept or set, everything else copied. */
static int build_headers(keel_amqp_builder_t *b, const keel_amqp_properties_t *p, const queue_t *q, const char *reason,
                         const keel__msg_t *m, int64_t now_s, bool *cycle)
{
    keel_amqp_table_t old = (p->flags & KEEL_AMQP_PROP_HEADERS) ? p->headers : (keel_amqp_table_t){0};
    keel_amqp_array_t deaths = {0};
    bool has_deaths = keel_amqp_table_get_array(old, "x-death", &deaths) == 0;
    bool has_first = false;
    keel_amqp_iter_t it;
    keel_amqp_str_t key;
    keel_amqp_value_t v;
    int rc = 0;
    keel_amqp_table_iter(&it, old);
    while (rc == 0 && keel_amqp_iter_next(&it, &key, &v)) {
        if (str_is(key, "x-death"))
            continue;
        if (str_is(key, "x-first-death-reason"))
            has_first = true;
        rc = copy_entry(b, key, &v);
    }
    if (rc == 0 && !has_first) {
        keel_amqp_value_t s = {.type = KEEL_AMQP_FIELD_LONGSTR};
        s.str = keel_amqp_str(reason);
        rc = keel_amqp_build_put(b, KEEL_AMQP_STR("x-first-death-reason"), &s);
        s.str = (keel_amqp_str_t){q->name, q->name_len};
        if (rc == 0)
            rc = keel_amqp_build_put(b, KEEL_AMQP_STR("x-first-death-queue"), &s);
        s.str = (keel_amqp_str_t){m->exchange, m->exchange_len};
        if (rc == 0)
            rc = keel_amqp_build_put(b, KEEL_AMQP_STR("x-first-death-exchange"), &s);
    }
    /* find the previous count for (queue, reason) and whether the message
     * has been rejected on its way (no rejection: a pure TTL/length cycle) */
    int64_t count = 0;
    bool rejected = str_is(keel_amqp_str(reason), "rejected");
    bool seen_queue = false;
    if (has_deaths) {
        keel_amqp_iter_t ai;
        keel_amqp_array_iter(&ai, deaths);
        keel_amqp_value_t e;
        while (keel_amqp_iter_next(&ai, NULL, &e)) {
            if (e.type != KEEL_AMQP_FIELD_TABLE)
                continue;
            keel_amqp_str_t dq = {0}, dr = {0};
            keel_amqp_table_get_str(e.table, "queue", &dq);
            keel_amqp_table_get_str(e.table, "reason", &dr);
            if (str_is(dr, "rejected"))
                rejected = true;
            if (dq.len == q->name_len && memcmp(dq.base, q->name, q->name_len) == 0) {
                seen_queue = true;
                if (str_is(dr, reason))
                    keel_amqp_table_get_int(e.table, "count", &count);
            }
        }
    }
    *cycle = seen_queue && !rejected;
    bool by_message = str_is(keel_amqp_str(reason), "expired") && (p->flags & KEEL_AMQP_PROP_EXPIRATION);
    if (rc == 0)
        rc = keel_amqp_build_begin(b, KEEL_AMQP_STR("x-death"), KEEL_AMQP_FIELD_ARRAY);
    if (rc == 0)
        rc = build_death(b, q, reason, count + 1, m, now_s, by_message, p->expiration);
    if (rc == 0 && has_deaths) {
        keel_amqp_iter_t ai;
        keel_amqp_array_iter(&ai, deaths);
        keel_amqp_value_t e;
        while (rc == 0 && keel_amqp_iter_next(&ai, NULL, &e)) {
            if (e.type == KEEL_AMQP_FIELD_TABLE) {
                keel_amqp_str_t dq = {0}, dr = {0};
                keel_amqp_table_get_str(e.table, "queue", &dq);
                keel_amqp_table_get_str(e.table, "reason", &dr);
                if (dq.len == q->name_len && memcmp(dq.base, q->name, q->name_len) == 0 && str_is(dr, reason))
                    continue; /* replaced by the entry in front */
            }
            rc = keel_amqp_build_put(b, KEEL_AMQP_STR(""), &e);
        }
    }
    if (rc == 0)
        rc = keel_amqp_build_end(b);
    return rc;
}

/* Takes the entry's reference: dead-letters the message or drops it. */
static void dead_letter(queue_t *q, keel__qentry_t *e, const char *reason)
{
    keel__msg_t *m = e->msg;
    /* "" is the default exchange: it routes by queue name */
    bool to_default = q->dlx != NULL && q->dlx[0] == '\0';
    exchange_t *dlx = q->dlx && !to_default ? keel__exchange_find(q->vhost, q->dlx, strlen(q->dlx)) : NULL;
    if (dlx == NULL && !to_default) {
        keel__msg_unref(m);
        return;
    }
    keel_buf_t scratch, table;
    keel_buf_init(&scratch);
    keel_buf_init(&table);
    keel_amqp_properties_t p;
    keel__msg_t *out = NULL;
    route_t r;
    keel__route_init(&r);
    bool cycle = false;
    if (keel__msg_props(m, &scratch, &p) == 0) {
        keel_amqp_builder_t b;
        keel_amqp_builder_init(&b, &table);
        int64_t now_s = (int64_t)time(NULL);
        int rc = build_headers(&b, &p, q, reason, m, now_s, &cycle);
        keel_amqp_table_t headers;
        if (keel_amqp_builder_finish(&b, &headers) == 0 && rc == 0) {
            p.headers = headers;
            p.flags |= KEEL_AMQP_PROP_HEADERS;
            /* the expiration goes, so the message does not expire again */
            p.flags &= (uint16_t)~KEEL_AMQP_PROP_EXPIRATION;
            p.expiration = (keel_amqp_str_t){0};
            const char *rk = q->dlrk ? q->dlrk : m->rkey;
            size_t rkl = q->dlrk ? strlen(q->dlrk) : m->rkey_len;
            out = keel__msg_rewrite(m, q->dlx, strlen(q->dlx), rk, rkl, &p);
            if (out != NULL && dlx != NULL) {
                keel__route(dlx, rk, rkl, headers, &r);
            } else if (out != NULL) {
                queue_t *target = keel__queue_find(q->vhost, rk, rkl);
                r.queues = target ? keel__malloc(sizeof(*r.queues)) : NULL;
                if (r.queues != NULL) {
                    r.queues[0] = target;
                    r.len = r.cap = 1;
                }
            }
        }
    }
    for (size_t i = 0; out && i < r.len; i++) {
        /* RabbitMQ drops a message that would come back to a queue it died
         * in without ever being rejected: it would cycle forever */
        if (cycle && r.queues[i] == q)
            continue;
        keel__queue_publish(r.queues[i], out);
    }
    keel__route_free(&r);
    keel__msg_unref(out);
    keel__msg_unref(m);
    keel_buf_free(&scratch);
    keel_buf_free(&table);
}

/* ---- publishing ---- */

static keel__store_t *store_for(queue_t *q, uint8_t priority)
{
    return q->stores[priority < q->max_priority ? priority : q->max_priority];
}

static keel__store_t *head_store(queue_t *q)
{
    for (size_t i = q->n_stores; i-- > 0;)
        if (q->stores[i]->ops->count(q->stores[i]) > 0)
            return q->stores[i];
    return NULL;
}

static void arm_ttl(queue_t *q)
{
    if (q->deleted)
        return;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < q->n_stores; i++) {
        keel__qentry_t *h = q->stores[i]->ops->head(q->stores[i]);
        if (h != NULL && h->expires_at < next)
            next = h->expires_at;
    }
    if (next == INT64_MAX) {
        uv_timer_stop(&q->ttl_timer);
        return;
    }
    int64_t now = keel__now_ms(q->vhost->broker);
    uv_timer_start(&q->ttl_timer, on_ttl, next >= now ? (uint64_t)(next - now) + 1 : 0, 0);
}

/* Expires every head that is due; RabbitMQ expires only at the head. */
static void expire_heads(queue_t *q)
{
    int64_t now = keel__now_ms(q->vhost->broker);
    for (size_t i = 0; i < q->n_stores; i++) {
        keel__store_t *s = q->stores[i];
        keel__qentry_t *h;
        while ((h = s->ops->head(s)) != NULL && h->expires_at < now) {
            keel__qentry_t e;
            s->ops->pop(s, &e);
            dead_letter(q, &e, "expired");
        }
    }
}

static void on_ttl(uv_timer_t *t)
{
    queue_t *q = t->data;
    if (q->deleted)
        return;
    expire_heads(q);
    arm_ttl(q);
}

static void drop_head_for_space(queue_t *q)
{
    keel__store_t *s = NULL;
    for (size_t i = 0; i < q->n_stores && s == NULL; i++) /* the lowest priority goes first */
        if (q->stores[i]->ops->count(q->stores[i]) > 0)
            s = q->stores[i];
    if (s == NULL)
        return;
    keel__qentry_t e;
    s->ops->pop(s, &e);
    dead_letter(q, &e, "maxlen");
}

static bool over_limit(const queue_t *q, uint64_t extra_bytes, size_t extra)
{
    if (q->max_length >= 0 && (int64_t)(keel__queue_ready(q) + extra) > q->max_length)
        return true;
    if (q->max_length_bytes >= 0 && (int64_t)(queue_bytes(q) + extra_bytes) > q->max_length_bytes)
        return true;
    return false;
}

int keel__queue_publish(queue_t *q, keel__msg_t *msg)
{
    if (q->deleted)
        return 0;
    uint64_t bytes = keel__msg_bytes(msg);
    if (over_limit(q, bytes, 1)) {
        if (q->overflow == OVERFLOW_REJECT_PUBLISH)
            return 1;
        if (q->overflow == OVERFLOW_REJECT_PUBLISH_DLX) {
            keel__qentry_t e = {.msg = keel__msg_ref(msg), .seq = 0, .expires_at = INT64_MAX};
            dead_letter(q, &e, "maxlen");
            return 1;
        }
        /* drop-head: make room; a message bigger than the byte limit
         * pushes everything out and is dropped itself (RabbitMQ) */
        while (keel__queue_ready(q) > 0 && over_limit(q, bytes, 1))
            drop_head_for_space(q);
        if (over_limit(q, bytes, 1)) {
            keel__qentry_t e = {.msg = keel__msg_ref(msg), .seq = 0, .expires_at = INT64_MAX};
            dead_letter(q, &e, "maxlen");
            return 0;
        }
    }
    int64_t now = keel__now_ms(q->vhost->broker);
    int64_t ttl = q->message_ttl;
    if (msg->has_expiration && (ttl < 0 || msg->expiration_ms < ttl))
        ttl = msg->expiration_ms;
    keel__qentry_t e = {
        .msg = keel__msg_ref(msg),
        .seq = ++q->next_seq,
        .expires_at = ttl >= 0 ? now + ttl : INT64_MAX,
    };
    int rc = store_for(q, msg->priority)->ops->push(store_for(q, msg->priority), &e);
    if (rc != 0) {
        keel__msg_unref(msg);
        return rc;
    }
    q->published++;
    if (ttl >= 0 && !uv_is_active((uv_handle_t *)&q->ttl_timer))
        arm_ttl(q);
    keel__queue_kick(q);
    return 0;
}

static bool pop_live(queue_t *q, keel__qentry_t *out)
{
    int64_t now = keel__now_ms(q->vhost->broker);
    keel__store_t *s;
    while ((s = head_store(q)) != NULL) {
        s->ops->pop(s, out);
        if (out->expires_at < now) {
            dead_letter(q, out, "expired");
            continue;
        }
        return true;
    }
    return false;
}

bool keel__queue_get(queue_t *q, keel__qentry_t *out)
{
    keel__queue_touch(q);
    if (!pop_live(q, out))
        return false;
    out->deliveries++;
    q->delivered++;
    arm_ttl(q);
    return true;
}

void keel__queue_requeue(queue_t *q, keel__qentry_t *e)
{
    if (q->deleted) {
        keel__msg_unref(e->msg);
        return;
    }
    keel__store_t *s = store_for(q, e->msg->priority);
    if (s->ops->requeue(s, e) != 0) {
        keel__msg_unref(e->msg); /* out of memory: the message is lost, as a crash would */
        return;
    }
    arm_ttl(q);
    keel__queue_kick(q);
}

void keel__queue_settle(queue_t *q, keel__qentry_t *e)
{
    q->acked++;
    keel__msg_unref(e->msg);
}

void keel__queue_reject(queue_t *q, keel__qentry_t *e)
{
    if (q->deleted) {
        keel__msg_unref(e->msg);
        return;
    }
    dead_letter(q, e, "rejected");
}

size_t keel__queue_purge(queue_t *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n_stores; i++) {
        keel__store_t *s = q->stores[i];
        keel__qentry_t e;
        while (s->ops->count(s) > 0) {
            s->ops->pop(s, &e);
            keel__msg_unref(e.msg);
            n++;
        }
    }
    arm_ttl(q);
    return n;
}

/* ---- consumers and delivery ---- */

int keel__queue_add_consumer(queue_t *q, consumer_t *c)
{
    keel_list_push(&q->consumers, &c->by_queue);
    q->n_consumers++;
    q->had_consumer = true;
    if (q->single_active && q->active == NULL)
        q->active = c;
    keel__queue_touch(q);
    keel__queue_kick(q);
    return 0;
}

void keel__queue_remove_consumer(queue_t *q, consumer_t *c)
{
    keel_list_remove(&c->by_queue);
    q->n_consumers--;
    if (q->active == c) {
        q->active = NULL;
        if (!keel_list_empty(&q->consumers))
            q->active = keel_container_of(q->consumers.next, consumer_t, by_queue);
    }
    keel__queue_kick(q);
    if (q->auto_delete && q->had_consumer && q->n_consumers == 0) {
        keel__queue_delete(q, false);
        return;
    }
    keel__queue_touch(q);
}

void keel__queue_kick(queue_t *q)
{
    if (q->is_dirty || q->deleted)
        return;
    keel_broker_t *b = q->vhost->broker;
    keel_list_push(&b->dirty_queues, &q->dirty);
    q->is_dirty = true;
    uv_idle_start(&b->deliver_idle, keel__broker_idle_cb);
}

/* Picks the next consumer that can take a message now, round robin. */
static consumer_t *next_consumer(queue_t *q)
{
    if (q->single_active) {
        consumer_t *c = q->active;
        return c && keel__consumer_ready(c) ? c : NULL;
    }
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &q->consumers)
    {
        consumer_t *c = keel_container_of(pos, consumer_t, by_queue);
        if (keel__consumer_ready(c)) {
            /* to the back of the line */
            keel_list_remove(&c->by_queue);
            keel_list_push(&q->consumers, &c->by_queue);
            return c;
        }
    }
    return NULL;
}

/* Delivers up to a batch; returns true when more could be delivered. */
static bool deliver(queue_t *q)
{
    int n = 0;
    while (n < DELIVERY_BATCH && !q->deleted && q->n_consumers > 0 && head_store(q) != NULL) {
        consumer_t *c = next_consumer(q);
        if (c == NULL)
            return false;
        keel__qentry_t e;
        if (!pop_live(q, &e))
            break;
        e.deliveries++;
        q->delivered++;
        keel__queue_ref(q); /* a queue outlives the deliveries that point at it */
        if (keel__consumer_deliver(c, q, &e) != 0) {
            keel__queue_unref(q);
            break;
        }
        n++;
    }
    if (!q->deleted)
        arm_ttl(q);
    return n == DELIVERY_BATCH;
}

void keel__broker_run_deliveries(keel_broker_t *b)
{
    /* Queues that still have deliveries after a batch go back on the list
     * for the next turn, so one busy queue cannot starve the others. */
    keel_link_t work;
    keel_list_init(&work);
    while (!keel_list_empty(&b->dirty_queues)) {
        keel_link_t *l = b->dirty_queues.next;
        keel_list_remove(l);
        keel_list_push(&work, l);
    }
    while (!keel_list_empty(&work)) {
        keel_link_t *l = work.next;
        keel_list_remove(l);
        queue_t *q = keel_container_of(l, queue_t, dirty);
        q->is_dirty = false;
        keel__queue_ref(q);
        bool more = deliver(q);
        if (more)
            keel__queue_kick(q);
        keel__queue_unref(q);
    }
}
