/*
 * exchange.c — exchanges, bindings and routing, as RabbitMQ defines them.
 *
 * Each exchange type keeps its bindings in the structure its matching
 * needs: direct ones in a hash map by routing key, topic ones in a trie of
 * words, fanout and headers ones in the plain list every exchange has.
 * Routing collects the queues a message reaches, following
 * exchange-to-exchange bindings (each exchange visited once, so binding
 * loops end) and, when an exchange itself finds no destination, its
 * alternate exchange.
 */
#include <string.h>

#include "broker_int.h"

static const char *const type_names[] = {"direct", "fanout", "topic", "headers"};

int keel__exchange_type_parse(const char *name, size_t len, ex_type_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strlen(type_names[i]) == len && memcmp(type_names[i], name, len) == 0) {
            *out = (ex_type_t)i;
            return 0;
        }
    }
    return KEEL_ENOENT;
}

const char *keel__exchange_type_name(ex_type_t t)
{
    return type_names[t];
}

exchange_t *keel__exchange_find(vhost_t *v, const char *name, size_t len)
{
    return keel_map_get(&v->exchanges, name, len);
}

int keel__exchange_new(vhost_t *v, const char *name, size_t len, ex_type_t type, bool durable, bool auto_delete, bool internal,
                       const uint8_t *args, size_t args_len, exchange_t **out)
{
    exchange_t *x = keel__calloc(1, sizeof(*x));
    if (x == NULL)
        return KEEL_ENOMEM;
    x->name = keel__strndup(name, len);
    x->name_len = len;
    x->vhost = v;
    x->type = type;
    x->durable = durable;
    x->auto_delete = auto_delete;
    x->internal = internal;
    keel_list_init(&x->bindings);
    keel_list_init(&x->dest_bindings);
    keel_map_init(&x->direct);
    keel__topic_init(&x->topic);
    if (args_len > 0) {
        x->args = keel__malloc(args_len);
        if (x->args != NULL)
            memcpy(x->args, args, args_len);
        x->args_len = args_len;
    }
    keel_amqp_str_t ae;
    if (x->name != NULL && (args_len == 0 || x->args != NULL) &&
        keel_amqp_table_get_str((keel_amqp_table_t){x->args, x->args_len}, "alternate-exchange", &ae) == 0) {
        x->alternate = keel__strndup(ae.base, ae.len);
        x->alternate_len = ae.len;
        if (x->alternate == NULL)
            goto oom;
    }
    if (x->name == NULL || (args_len > 0 && x->args == NULL) || keel_map_put(&v->exchanges, x->name, len, x, NULL) != 0)
        goto oom;
    *out = x;
    return 0;
oom:
    keel__free(x->alternate);
    keel__free(x->args);
    keel__free(x->name);
    keel_map_free(&x->direct);
    keel__free(x);
    return KEEL_ENOMEM;
}

/* ---- bindings ---- */

static bool same_binding(const binding_t *bd, dest_kind_t kind, const void *dest, const char *key, size_t key_len,
                         const uint8_t *args, size_t args_len)
{
    return bd->kind == kind && bd->dest == dest && bd->key_len == key_len && memcmp(bd->key, key, key_len) == 0 &&
           bd->args_len == args_len && (args_len == 0 || memcmp(bd->args, args, args_len) == 0);
}

static binding_t *find_binding(exchange_t *x, dest_kind_t kind, const void *dest, const char *key, size_t key_len,
                               const uint8_t *args, size_t args_len)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &x->bindings)
    {
        binding_t *bd = keel_container_of(pos, binding_t, by_source);
        if (same_binding(bd, kind, dest, key, key_len, args, args_len))
            return bd;
    }
    return NULL;
}

/* The direct exchange's table: routing key -> vector of bindings. */
static int direct_add(exchange_t *x, binding_t *bd)
{
    keel_vec_t *v = keel_map_get(&x->direct, bd->key, bd->key_len);
    if (v == NULL) {
        v = keel__calloc(1, sizeof(*v));
        if (v == NULL)
            return KEEL_ENOMEM;
        keel_vec_init(v);
        if (keel_vec_push(v, bd) != 0 || keel_map_put(&x->direct, bd->key, bd->key_len, v, NULL) != 0) {
            keel_vec_free(v);
            keel__free(v);
            return KEEL_ENOMEM;
        }
        return 0;
    }
    return keel_vec_push(v, bd);
}

static void direct_remove(exchange_t *x, binding_t *bd)
{
    keel_vec_t *v = keel_map_get(&x->direct, bd->key, bd->key_len);
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->len; i++) {
        if (v->items[i] == bd) {
            memmove(v->items + i, v->items + i + 1, (v->len - i - 1) * sizeof(void *));
            v->len--;
            break;
        }
    }
    if (v->len == 0) {
        keel_map_remove(&x->direct, bd->key, bd->key_len);
        keel_vec_free(v);
        keel__free(v);
    } else {
        /* the map borrows its key from one of the bindings: keep it alive */
        binding_t *first = v->items[0];
        keel_map_put(&x->direct, first->key, first->key_len, v, NULL);
    }
}

static bool headers_match_all(const uint8_t *args, size_t args_len)
{
    keel_amqp_value_t v;
    if (keel_amqp_table_get((keel_amqp_table_t){args, args_len}, "x-match", &v) == 0 && v.type == KEEL_AMQP_FIELD_LONGSTR)
        return !(v.str.len >= 3 && memcmp(v.str.base, "any", 3) == 0);
    return true;
}

int keel__bind(exchange_t *source, dest_kind_t kind, void *dest, const char *key, size_t key_len, const uint8_t *args,
               size_t args_len)
{
    if (find_binding(source, kind, dest, key, key_len, args, args_len) != NULL)
        return 0;
    binding_t *bd = keel__calloc(1, sizeof(*bd));
    if (bd == NULL)
        return KEEL_ENOMEM;
    bd->source = source;
    bd->kind = kind;
    bd->dest = dest;
    bd->key = keel__strndup(key, key_len);
    bd->key_len = key_len;
    if (args_len > 0 && (bd->args = keel__malloc(args_len)) != NULL)
        memcpy(bd->args, args, args_len);
    bd->args_len = args_len;
    bd->match_all = headers_match_all(args, args_len);
    int rc = (bd->key == NULL || (args_len > 0 && bd->args == NULL)) ? KEEL_ENOMEM : 0;
    if (rc == 0 && source->type == EX_DIRECT)
        rc = direct_add(source, bd);
    else if (rc == 0 && source->type == EX_TOPIC)
        rc = keel__topic_bind(&source->topic, key, key_len, bd);
    if (rc != 0) {
        keel__free(bd->key);
        keel__free(bd->args);
        keel__free(bd);
        return rc;
    }
    keel_list_push(&source->bindings, &bd->by_source);
    if (kind == DEST_QUEUE)
        keel_list_push(&((queue_t *)dest)->bindings, &bd->by_dest);
    else
        keel_list_push(&((exchange_t *)dest)->dest_bindings, &bd->by_dest);
    source->n_bindings++;
    source->had_binding = true;
    return 0;
}

/* Unlinks and frees one binding; the caller decides about auto-delete. */
void keel__binding_free(binding_t *bd)
{
    exchange_t *x = bd->source;
    if (x->type == EX_DIRECT)
        direct_remove(x, bd);
    else if (x->type == EX_TOPIC)
        keel__topic_unbind(&x->topic, bd->key, bd->key_len, bd);
    keel_list_remove(&bd->by_source);
    keel_list_remove(&bd->by_dest);
    x->n_bindings--;
    keel__free(bd->key);
    keel__free(bd->args);
    keel__free(bd);
}

/* An auto-delete exchange goes when its last binding does (RabbitMQ). */
static void maybe_auto_delete(exchange_t *x)
{
    if (x->auto_delete && x->had_binding && x->n_bindings == 0)
        keel__exchange_delete(x);
}

int keel__unbind(exchange_t *source, dest_kind_t kind, void *dest, const char *key, size_t key_len, const uint8_t *args,
                 size_t args_len)
{
    binding_t *bd = find_binding(source, kind, dest, key, key_len, args, args_len);
    if (bd == NULL)
        return KEEL_ENOENT;
    keel__binding_free(bd);
    maybe_auto_delete(source);
    return 0;
}

void keel__exchange_delete(exchange_t *x)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &x->bindings)
    {
        keel__binding_free(keel_container_of(pos, binding_t, by_source));
    }
    /* bindings into this exchange from others; their sources may auto-delete */
    keel_list_foreach_safe(pos, tmp, &x->dest_bindings)
    {
        binding_t *bd = keel_container_of(pos, binding_t, by_dest);
        exchange_t *src = bd->source;
        keel__binding_free(bd);
        if (src != x)
            maybe_auto_delete(src);
    }
    keel_map_remove(&x->vhost->exchanges, x->name, x->name_len);
    keel_map_free(&x->direct);
    keel__topic_free(&x->topic);
    keel__free(x->alternate);
    keel__free(x->args);
    keel__free(x->name);
    keel__free(x);
}

/* ---- routing ---- */

void keel__route_init(route_t *r)
{
    memset(r, 0, sizeof(*r));
}

void keel__route_free(route_t *r)
{
    keel__free(r->queues);
    keel__free(r->seen);
    keel__route_init(r);
}

static int grow_ptrs(void ***arr, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 8;
    while (cap2 < need)
        cap2 *= 2;
    void **p = keel__realloc(*arr, cap2 * sizeof(void *));
    if (p == NULL)
        return KEEL_ENOMEM;
    *arr = p;
    *cap = cap2;
    return 0;
}

static int add_queue(route_t *r, queue_t *q)
{
    for (size_t i = 0; i < r->len; i++)
        if (r->queues[i] == q)
            return 0;
    int rc = grow_ptrs((void ***)&r->queues, &r->cap, r->len + 1);
    if (rc == 0)
        r->queues[r->len++] = q;
    return rc;
}

static bool seen(route_t *r, exchange_t *x)
{
    for (size_t i = 0; i < r->n_seen; i++)
        if (r->seen[i] == x)
            return true;
    return false;
}

/* Matches one binding value against the message's headers: same type and
 * same bytes, or a void binding value that only asks for the key. */
static bool header_equal(const keel_amqp_value_t *want, const keel_amqp_value_t *have)
{
    if (want->type == KEEL_AMQP_FIELD_VOID)
        return true;
    if (want->type != have->type)
        return false;
    switch (want->type) {
    case KEEL_AMQP_FIELD_BOOL:
        return want->b == have->b;
    case KEEL_AMQP_FIELD_I8:
    case KEEL_AMQP_FIELD_U8:
        return want->u8 == have->u8;
    case KEEL_AMQP_FIELD_I16:
    case KEEL_AMQP_FIELD_U16:
        return want->u16 == have->u16;
    case KEEL_AMQP_FIELD_I32:
    case KEEL_AMQP_FIELD_U32:
        return want->u32 == have->u32;
    case KEEL_AMQP_FIELD_I64:
    case KEEL_AMQP_FIELD_I64_L:
        return want->i64 == have->i64;
    case KEEL_AMQP_FIELD_FLOAT:
        return want->f == have->f;
    case KEEL_AMQP_FIELD_DOUBLE:
        return want->d == have->d;
    case KEEL_AMQP_FIELD_DECIMAL:
        return want->decimal.scale == have->decimal.scale && want->decimal.value == have->decimal.value;
    case KEEL_AMQP_FIELD_TIMESTAMP:
        return want->timestamp == have->timestamp;
    case KEEL_AMQP_FIELD_LONGSTR:
    case KEEL_AMQP_FIELD_BYTES:
        return want->str.len == have->str.len && memcmp(want->str.base, have->str.base, want->str.len) == 0;
    case KEEL_AMQP_FIELD_TABLE:
        return want->table.len == have->table.len && memcmp(want->table.base, have->table.base, want->table.len) == 0;
    case KEEL_AMQP_FIELD_ARRAY:
        return want->array.len == have->array.len && memcmp(want->array.base, have->array.base, want->array.len) == 0;
    default:
        return false;
    }
}

/* rabbit_exchange_type_headers: x-match all (every non-"x-" argument
 * present and equal) or any (at least one). */
static bool headers_match(const binding_t *bd, keel_amqp_table_t headers)
{
    keel_amqp_iter_t it;
    keel_amqp_table_iter(&it, (keel_amqp_table_t){bd->args, bd->args_len});
    keel_amqp_str_t key;
    keel_amqp_value_t want;
    bool any = false;
    while (keel_amqp_iter_next(&it, &key, &want)) {
        if (key.len >= 2 && key.base[0] == 'x' && key.base[1] == '-')
            continue;
        char k[256];
        memcpy(k, key.base, key.len);
        k[key.len] = '\0';
        keel_amqp_value_t have;
        bool ok = headers.len > 0 && keel_amqp_table_get(headers, k, &have) == 0 && header_equal(&want, &have);
        if (ok)
            any = true;
        else if (bd->match_all)
            return false;
    }
    return bd->match_all ? true : any;
}

typedef struct {
    route_t *r;
    keel_vec_t *xdests; /* exchanges to follow */
    size_t found;
} collect_t;

static int collect_binding(collect_t *col, binding_t *bd)
{
    col->found++;
    if (bd->kind == DEST_QUEUE)
        return add_queue(col->r, bd->dest);
    return keel_vec_push(col->xdests, bd->dest);
}

static int collect_topic(void *data, void *dest)
{
    return collect_binding(data, dest);
}

static int route_one(exchange_t *x, const char *rkey, size_t rkey_len, keel_amqp_table_t headers, route_t *r, int depth)
{
    if (seen(r, x) || depth > 64)
        return 0;
    int rc = grow_ptrs((void ***)&r->seen, &r->cap_seen, r->n_seen + 1);
    if (rc != 0)
        return rc;
    r->seen[r->n_seen++] = x;
    keel_vec_t xdests;
    keel_vec_init(&xdests);
    collect_t col = {r, &xdests, 0};
    keel_link_t *pos, *tmp;
    switch (x->type) {
    case EX_DIRECT: {
        keel_vec_t *v = keel_map_get(&x->direct, rkey, rkey_len);
        for (size_t i = 0; rc == 0 && v && i < v->len; i++)
            rc = collect_binding(&col, v->items[i]);
        break;
    }
    case EX_FANOUT:
        keel_list_foreach_safe(pos, tmp, &x->bindings)
        {
            if (rc == 0)
                rc = collect_binding(&col, keel_container_of(pos, binding_t, by_source));
        }
        break;
    case EX_TOPIC:
        rc = keel__topic_match(&x->topic, rkey, rkey_len, collect_topic, &col);
        break;
    case EX_HEADERS:
        keel_list_foreach_safe(pos, tmp, &x->bindings)
        {
            binding_t *bd = keel_container_of(pos, binding_t, by_source);
            if (rc == 0 && headers_match(bd, headers))
                rc = collect_binding(&col, bd);
        }
        break;
    }
    for (size_t i = 0; rc == 0 && i < xdests.len; i++)
        rc = route_one(xdests.items[i], rkey, rkey_len, headers, r, depth + 1);
    keel_vec_free(&xdests);
    if (rc == 0 && col.found == 0 && x->alternate != NULL) {
        exchange_t *ae = keel__exchange_find(x->vhost, x->alternate, x->alternate_len);
        if (ae != NULL)
            rc = route_one(ae, rkey, rkey_len, headers, r, depth + 1);
    }
    return rc;
}

int keel__route(exchange_t *x, const char *rkey, size_t rkey_len, keel_amqp_table_t headers, route_t *out)
{
    out->len = 0;
    out->n_seen = 0;
    return route_one(x, rkey, rkey_len, headers, out, 0);
}
