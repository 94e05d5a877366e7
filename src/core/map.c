/*
 * map.c — the hash table behind keel's registries (a broker's exchanges and
 * queues by name, a vhost's users). Open addressing with linear probing
 * keeps lookups to one or two cache lines; deleted slots are tombstones
 * until the next resize. Names come from network peers, so the hash is
 * SipHash-2-4 keyed per map from the kernel's random source.
 */
#include <string.h>

#include "keel/core.h"

#define DELETED ((const void *)1)

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                                   \
    do {                                                                                                                           \
        v0 += v1;                                                                                                                  \
        v1 = ROTL(v1, 13);                                                                                                         \
        v1 ^= v0;                                                                                                                  \
        v0 = ROTL(v0, 32);                                                                                                         \
        v2 += v3;                                                                                                                  \
        v3 = ROTL(v3, 16);                                                                                                         \
        v3 ^= v2;                                                                                                                  \
        v0 += v3;                                                                                                                  \
        v3 = ROTL(v3, 21);                                                                                                         \
        v3 ^= v0;                                                                                                                  \
        v2 += v1;                                                                                                                  \
        v1 = ROTL(v1, 17);                                                                                                         \
        v1 ^= v2;                                                                                                                  \
        v2 = ROTL(v2, 32);                                                                                                         \
    } while (0)

static uint64_t load64le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
           (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

uint64_t keel_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    const unsigned char *in = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t left = len & 7;
    const unsigned char *end = in + (len - left);
    for (; in != end; in += 8) {
        uint64_t m = load64le(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void keel_map_init(keel_map_t *m)
{
    memset(m, 0, sizeof(*m));
    uint64_t k[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    /* Without the kernel's randomness the map still works, only predictably. */
    (void)keel_random_bytes(k, sizeof(k));
    m->k0 = k[0];
    m->k1 = k[1];
}

void keel_map_free(keel_map_t *m)
{
    keel__free(m->slots);
    m->slots = NULL;
    m->cap = m->len = m->used = 0;
}

static keel_map_slot_t *find(const keel_map_t *m, const void *key, size_t len, uint64_t h)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        keel_map_slot_t *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != DELETED && s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

void *keel_map_get(const keel_map_t *m, const void *key, size_t len)
{
    if (m->len == 0)
        return NULL;
    keel_map_slot_t *s = find(m, key, len, keel_siphash(m->k0, m->k1, key, len));
    return s ? s->value : NULL;
}

static void insert_fresh(keel_map_slot_t *slots, size_t cap, const keel_map_slot_t *src)
{
    size_t mask = cap - 1;
    size_t i = (size_t)src->hash & mask;
    while (slots[i].key != NULL)
        i = (i + 1) & mask;
    slots[i] = *src;
}

static int grow(keel_map_t *m)
{
    /* Rehash into a table sized for the live entries; tombstones vanish. */
    size_t cap = m->cap ? m->cap : 8;
    while ((m->len + 1) * 4 >= cap * 3)
        cap *= 2;
    if (cap == m->cap && m->used < m->cap / 2)
        return 0;
    keel_map_slot_t *slots = keel__calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL && m->slots[i].key != DELETED)
            insert_fresh(slots, cap, &m->slots[i]);
    keel__free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->len;
    return 0;
}

int keel_map_put(keel_map_t *m, const void *key, size_t len, void *value, void **old)
{
    uint64_t h = keel_siphash(m->k0, m->k1, key, len);
    keel_map_slot_t *s = find(m, key, len, h);
    if (s != NULL) {
        if (old)
            *old = s->value;
        s->key = key; /* the caller may hand a fresh copy of the same name */
        s->value = value;
        return 0;
    }
    if (old)
        *old = NULL;
    if ((m->used + 1) * 4 >= m->cap * 3) {
        int rc = grow(m);
        if (rc != 0)
            return rc;
    }
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->slots[i].key != NULL && m->slots[i].key != DELETED)
        i = (i + 1) & mask;
    if (m->slots[i].key == NULL)
        m->used++;
    m->slots[i] = (keel_map_slot_t){key, len, h, value};
    m->len++;
    return 0;
}

void *keel_map_remove(keel_map_t *m, const void *key, size_t len)
{
    if (m->len == 0)
        return NULL;
    keel_map_slot_t *s = find(m, key, len, keel_siphash(m->k0, m->k1, key, len));
    if (s == NULL)
        return NULL;
    void *v = s->value;
    s->key = DELETED;
    s->len = SIZE_MAX;
    s->value = NULL;
    m->len--;
    return v;
}

bool keel_map_next(const keel_map_t *m, size_t *pos, const void **key, size_t *len, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        const keel_map_slot_t *s = &m->slots[*pos];
        if (s->key != NULL && s->key != DELETED) {
            if (key)
                *key = s->key;
            if (len)
                *len = s->len;
            if (value)
                *value = s->value;
            (*pos)++;
            return true;
        }
    }
    return false;
}
