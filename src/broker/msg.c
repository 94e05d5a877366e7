/*
 * msg.c — message blocks. One allocation holds the header struct, the
 * exchange name, the routing key, the property bytes and the body, so a
 * publish costs one malloc whatever the fan-out; queues share the block by
 * reference count.
 */
#include <string.h>

#include "msg.h"

keel__msg_t *keel__msg_new(const char *exchange, size_t exchange_len, const char *rkey, size_t rkey_len, const uint8_t *props,
                           size_t props_len, uint64_t body_size)
{
    if (exchange_len > 255 || rkey_len > 255 || props_len > UINT32_MAX || body_size > SIZE_MAX / 2)
        return NULL;
    size_t total = sizeof(keel__msg_t) + exchange_len + rkey_len + props_len + (size_t)body_size;
    keel__msg_t *m = keel__malloc(total);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    char *p = (char *)(m + 1);
    m->refs = 1;
    memcpy(p, exchange, exchange_len);
    m->exchange = p;
    m->exchange_len = (uint8_t)exchange_len;
    p += exchange_len;
    memcpy(p, rkey, rkey_len);
    m->rkey = p;
    m->rkey_len = (uint8_t)rkey_len;
    p += rkey_len;
    if (props_len > 0)
        memcpy(p, props, props_len);
    m->props = (const uint8_t *)p;
    m->props_len = (uint32_t)props_len;
    p += props_len;
    m->body = (uint8_t *)p;
    m->body_size = body_size;
    return m;
}

void keel__msg_unref(keel__msg_t *m)
{
    if (m == NULL)
        return;
    KEEL_ASSERT(m->refs > 0);
    if (--m->refs == 0)
        keel__free(m);
}
