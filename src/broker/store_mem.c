/*
 * store_mem.c — the in-memory queue store: a ring buffer of entries in
 * sequence order. Push and pop are O(1); a requeue binary-searches its
 * place and shifts the shorter side, which is cheap because requeued
 * messages usually go back near the head.
 */
#include <string.h>

#include "store.h"

typedef struct {
    keel__store_t base;
    keel__qentry_t *ring;
    size_t cap; /* power of two */
    size_t head;
    size_t len;
    uint64_t bytes;
} mem_store_t;

static keel__qentry_t *at(mem_store_t *m, size_t i)
{
    return &m->ring[(m->head + i) & (m->cap - 1)];
}

static int reserve(mem_store_t *m)
{
    if (m->len < m->cap)
        return 0;
    size_t cap = m->cap ? m->cap * 2 : 16;
    keel__qentry_t *ring = keel__malloc(cap * sizeof(*ring));
    if (ring == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < m->len; i++)
        ring[i] = *at(m, i);
    keel__free(m->ring);
    m->ring = ring;
    m->cap = cap;
    m->head = 0;
    return 0;
}

static int mem_push(keel__store_t *s, const keel__qentry_t *e)
{
    mem_store_t *m = (mem_store_t *)s;
    int rc = reserve(m);
    if (rc != 0)
        return rc;
    KEEL_ASSERT(m->len == 0 || at(m, m->len - 1)->seq < e->seq);
    *at(m, m->len) = *e;
    m->len++;
    m->bytes += keel__msg_bytes(e->msg);
    return 0;
}

static int mem_requeue(keel__store_t *s, const keel__qentry_t *e)
{
    mem_store_t *m = (mem_store_t *)s;
    int rc = reserve(m);
    if (rc != 0)
        return rc;
    size_t lo = 0, hi = m->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(m, mid)->seq < e->seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->len / 2) {
        /* shift the front part one slot towards the head */
        m->head = (m->head - 1) & (m->cap - 1);
        for (size_t i = 0; i < lo; i++)
            *at(m, i) = *at(m, i + 1);
    } else {
        for (size_t i = m->len; i > lo; i--)
            *at(m, i) = *at(m, i - 1);
    }
    *at(m, lo) = *e;
    m->len++;
    m->bytes += keel__msg_bytes(e->msg);
    return 0;
}

static keel__qentry_t *mem_head(keel__store_t *s)
{
    mem_store_t *m = (mem_store_t *)s;
    return m->len ? at(m, 0) : NULL;
}

static void mem_pop(keel__store_t *s, keel__qentry_t *out)
{
    mem_store_t *m = (mem_store_t *)s;
    KEEL_ASSERT(m->len > 0);
    *out = *at(m, 0);
    m->head = (m->head + 1) & (m->cap - 1);
    m->len--;
    m->bytes -= keel__msg_bytes(out->msg);
}

static size_t mem_count(const keel__store_t *s)
{
    return ((const mem_store_t *)s)->len;
}

static uint64_t mem_bytes(const keel__store_t *s)
{
    return ((const mem_store_t *)s)->bytes;
}

static void mem_destroy(keel__store_t *s)
{
    mem_store_t *m = (mem_store_t *)s;
    for (size_t i = 0; i < m->len; i++)
        keel__msg_unref(at(m, i)->msg);
    keel__free(m->ring);
    keel__free(m);
}

static const keel__store_ops_t mem_ops = {mem_push, mem_requeue, mem_head, mem_pop, mem_count, mem_bytes, mem_destroy};

keel__store_t *keel__store_mem_new(void)
{
    mem_store_t *m = keel__calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->base.ops = &mem_ops;
    return &m->base;
}
