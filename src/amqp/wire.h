/*
 * wire.h — internal to src/amqp, never installed: the big-endian readers
 * and writers every decoder and encoder of the codec is made of, including
 * the generated ones in spec_gen.c.
 *
 * Design: a reader is a cursor with a sticky error. Each read checks its
 * bounds; on a short read it records why, parks the cursor at the end and
 * returns zeros, so straight-line generated code can read a whole method
 * and test for failure once at the end instead of after every field.
 * Writers do no checks: encoders measure first, reserve once, then write.
 */
#ifndef KEEL_AMQP_WIRE_H
#define KEEL_AMQP_WIRE_H

#include <string.h>

#include "keel/amqp.h"

typedef struct keel__rd_s {
    const uint8_t *p;
    const uint8_t *end;
    const char *err; /* first failure, static text; NULL while all is well */
} keel__rd_t;

static inline void keel__rd_init(keel__rd_t *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p ? p + len : p; /* no arithmetic on NULL, even + 0 */
    r->err = NULL;
}

static inline void keel__rd_fail(keel__rd_t *r, const char *why)
{
    if (!r->err)
        r->err = why;
    r->p = r->end;
}

static inline size_t keel__rd_left(const keel__rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static inline uint8_t keel__rd_u8(keel__rd_t *r)
{
    if (r->p == r->end) {
        keel__rd_fail(r, "truncated");
        return 0;
    }
    return *r->p++;
}

static inline uint16_t keel__get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t keel__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t keel__get_u64(const uint8_t *p)
{
    return (uint64_t)keel__get_u32(p) << 32 | keel__get_u32(p + 4);
}

static inline uint16_t keel__rd_u16(keel__rd_t *r)
{
    if (keel__rd_left(r) < 2) {
        keel__rd_fail(r, "truncated");
        return 0;
    }
    uint16_t v = keel__get_u16(r->p);
    r->p += 2;
    return v;
}

static inline uint32_t keel__rd_u32(keel__rd_t *r)
{
    if (keel__rd_left(r) < 4) {
        keel__rd_fail(r, "truncated");
        return 0;
    }
    uint32_t v = keel__get_u32(r->p);
    r->p += 4;
    return v;
}

static inline uint64_t keel__rd_u64(keel__rd_t *r)
{
    if (keel__rd_left(r) < 8) {
        keel__rd_fail(r, "truncated");
        return 0;
    }
    uint64_t v = keel__get_u64(r->p);
    r->p += 8;
    return v;
}

/* Takes n octets as a view; an empty view points at the cursor, never NULL. */
static inline const uint8_t *keel__rd_take(keel__rd_t *r, size_t n)
{
    if (keel__rd_left(r) < n) {
        keel__rd_fail(r, "truncated");
        return r->p;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

static inline void keel__rd_shortstr(keel__rd_t *r, keel_amqp_str_t *s)
{
    size_t n = keel__rd_u8(r);
    s->base = (const char *)keel__rd_take(r, n);
    s->len = r->err ? 0 : n;
}

static inline void keel__rd_longstr(keel__rd_t *r, keel_amqp_str_t *s)
{
    size_t n = keel__rd_u32(r);
    s->base = (const char *)keel__rd_take(r, n);
    s->len = r->err ? 0 : n;
}

/** Returns whether s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or values past U+10FFFF). */
bool keel__amqp_utf8_valid(const char *s, size_t len);

/* A shortstr field of a method without content: RabbitMQ insists on UTF-8
 * there (and skips the check on content methods, for speed). */
static inline void keel__rd_shortstr_utf8(keel__rd_t *r, keel_amqp_str_t *s)
{
    keel__rd_shortstr(r, s);
    if (!r->err && !keel__amqp_utf8_valid(s->base, s->len))
        keel__rd_fail(r, "malformed UTF-8 in shortstr");
}

/**
 * Validates the entries of a field table (array when is_array) at nesting
 * depth (the outermost table is 1). Returns NULL or why not.
 */
const char *keel__amqp_table_check(const uint8_t *p, size_t len, bool is_array, unsigned depth);

/* A length-prefixed field table, validated. */
static inline void keel__rd_table(keel__rd_t *r, keel_amqp_table_t *t)
{
    size_t n = keel__rd_u32(r);
    t->base = keel__rd_take(r, n);
    t->len = r->err ? 0 : n;
    if (!r->err) {
        const char *why = keel__amqp_table_check(t->base, n, false, 1);
        if (why)
            keel__rd_fail(r, why);
    }
}

/*
 * Writers: each stores big-endian at p and returns the position after.
 */

static inline uint8_t *keel__wr_u8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static inline uint8_t *keel__wr_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *keel__wr_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *keel__wr_u64(uint8_t *p, uint64_t v)
{
    keel__wr_u32(p, (uint32_t)(v >> 32));
    return keel__wr_u32(p + 4, (uint32_t)v);
}

static inline uint8_t *keel__wr_bytes(uint8_t *p, const void *src, size_t n)
{
    if (n)
        memcpy(p, src, n);
    return p + n;
}

static inline uint8_t *keel__wr_shortstr(uint8_t *p, keel_amqp_str_t s)
{
    return keel__wr_bytes(keel__wr_u8(p, (uint8_t)s.len), s.base, s.len);
}

static inline uint8_t *keel__wr_longstr(uint8_t *p, keel_amqp_str_t s)
{
    return keel__wr_bytes(keel__wr_u32(p, (uint32_t)s.len), s.base, s.len);
}

static inline uint8_t *keel__wr_table(uint8_t *p, keel_amqp_table_t t)
{
    return keel__wr_bytes(keel__wr_u32(p, (uint32_t)t.len), t.base, t.len);
}

/* A frame head: type, channel, payload size. */
static inline uint8_t *keel__wr_head(uint8_t *p, uint8_t type, uint16_t channel, uint32_t size)
{
    p = keel__wr_u8(p, type);
    p = keel__wr_u16(p, channel);
    return keel__wr_u32(p, size);
}

/*
 * Measures for encoders: each adds the variable part of a field's size (its
 * length prefix is counted with the fixed part) to *n and flags *bad when
 * the value cannot be carried.
 */
static inline void keel__sz_shortstr(size_t *n, bool *bad, keel_amqp_str_t s)
{
    if (s.len > 255 || (s.len && !s.base))
        *bad = true;
    *n += s.len;
}

static inline void keel__sz_longstr(size_t *n, bool *bad, keel_amqp_str_t s)
{
    if (s.len > UINT32_MAX || (s.len && !s.base))
        *bad = true;
    *n += s.len;
}

static inline void keel__sz_table(size_t *n, bool *bad, keel_amqp_table_t t)
{
    if (t.len > UINT32_MAX || (t.len && !t.base))
        *bad = true;
    *n += t.len;
}

#endif /* KEEL_AMQP_WIRE_H */
