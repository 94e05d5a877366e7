/*
 * amqp_testlib.h — test-only helpers shared by the amqp unit tests, the
 * round-trip property test, the interop probe and the fuzz target: a seeded
 * PRNG, random method fields, properties and field tables (kept as a tree
 * so a decoded table can be compared value by value), and deep equality of
 * methods and properties driven by the generated field metadata.
 *
 * Design: everything here is header-only `static inline` so each test
 * binary takes what it uses; test code aborts on OOM instead of handling it.
 */
#ifndef KEEL_TESTS_AMQP_TESTLIB_H
#define KEEL_TESTS_AMQP_TESTLIB_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/amqp.h"
#include "../../src/amqp/spec_gen.h"

/* Any member of the union: they all start where the method's fields do. */
#define TL_FIELDS(m) ((char *)(m) + offsetof(keel_amqp_method_t, basic_publish))
#define TL_CFIELDS(m) ((const char *)(m) + offsetof(keel_amqp_method_t, basic_publish))

static inline void *tl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory in test\n");
        abort();
    }
    return p;
}

/* splitmix64: small, fast, and the same sequence everywhere. */
typedef struct {
    uint64_t s;
} tl_rng_t;

static inline uint64_t tl_next(tl_rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint32_t tl_below(tl_rng_t *r, uint32_t n)
{
    return n ? (uint32_t)(tl_next(r) % n) : 0;
}

/* Integers biased towards edges, where codecs break. */
static inline uint64_t tl_int(tl_rng_t *r)
{
    switch (tl_below(r, 6)) {
    case 0:
        return 0;
    case 1:
        return ~0ull;
    case 2:
        return tl_below(r, 256);
    case 3:
        return 1ull << tl_below(r, 64);
    default:
        return tl_next(r);
    }
}

/* Random octets (any values) or random UTF-8 (1 to 4 octet sequences). */
static inline size_t tl_fill(tl_rng_t *r, char *dst, size_t max, bool utf8)
{
    size_t n = tl_below(r, 4) == 0 ? 0 : tl_below(r, (uint32_t)max + 1);
    if (!utf8) {
        for (size_t i = 0; i < n; i++)
            dst[i] = (char)tl_below(r, 256);
        return n;
    }
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        switch (tl_below(r, 4)) {
        case 0:
            cp = 0x80 + tl_below(r, 0x780);
            break;
        case 1:
            cp = 0x800 + tl_below(r, 0xF800);
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 'x';
            break;
        case 2:
            cp = 0x10000 + tl_below(r, 0x100000);
            break;
        default:
            cp = tl_below(r, 0x80);
            break;
        }
        size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (i + need > n)
            break;
        if (need == 1) {
            dst[i++] = (char)cp;
        } else if (need == 2) {
            dst[i++] = (char)(0xC0 | cp >> 6);
            dst[i++] = (char)(0x80 | (cp & 0x3F));
        } else if (need == 3) {
            dst[i++] = (char)(0xE0 | cp >> 12);
            dst[i++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[i++] = (char)(0x80 | (cp & 0x3F));
        } else {
            dst[i++] = (char)(0xF0 | cp >> 18);
            dst[i++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            dst[i++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[i++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return i;
}

/*
 * Random field tables as trees.
 */
typedef struct tl_node_s {
    keel_amqp_value_t v; /* scalars; str views into sbuf */
    char key[256];
    size_t klen;
    char *sbuf;
    struct tl_node_s *kids; /* F and A */
    size_t nkids;
} tl_node_t;

static const uint8_t tl_field_types[] = {'t', 'b', 'B', 's', 'u', 'I', 'i', 'l', 'L', 'f', 'd', 'D', 'S', 'x', 'T', 'V', 'F', 'A'};

static inline void tl_node_random(tl_rng_t *r, tl_node_t *n, unsigned depth, unsigned max_depth);

/* Fills kids of a table (keyed) or array node. */
static inline void tl_kids_random(tl_rng_t *r, tl_node_t *n, bool keyed, unsigned depth, unsigned max_depth)
{
    n->nkids = tl_below(r, depth == 1 ? 9 : 5);
    n->kids = tl_xmalloc(n->nkids * sizeof(*n->kids));
    for (size_t i = 0; i < n->nkids; i++) {
        tl_node_t *k = &n->kids[i];
        k->klen = keyed ? tl_fill(r, k->key, tl_below(r, 3) == 0 ? 255 : 12, false) : 0;
        tl_node_random(r, k, depth + 1, max_depth);
    }
}

static inline void tl_node_random(tl_rng_t *r, tl_node_t *n, unsigned depth, unsigned max_depth)
{
    size_t ntypes = sizeof(tl_field_types) - (depth >= max_depth ? 2 : 0);
    uint8_t t = tl_field_types[tl_below(r, (uint32_t)ntypes)];
    uint64_t x = tl_int(r);
    n->sbuf = NULL;
    n->kids = NULL;
    n->nkids = 0;
    memset(&n->v, 0, sizeof(n->v));
    n->v.type = t;
    switch (t) {
    case 't':
        n->v.b = x & 1;
        break;
    case 'b':
        n->v.i8 = (int8_t)x;
        break;
    case 'B':
        n->v.u8 = (uint8_t)x;
        break;
    case 's':
        n->v.i16 = (int16_t)x;
        break;
    case 'u':
        n->v.u16 = (uint16_t)x;
        break;
    case 'I':
        n->v.i32 = (int32_t)x;
        break;
    case 'i':
        n->v.u32 = (uint32_t)x;
        break;
    case 'l':
    case 'L':
        n->v.i64 = (int64_t)x;
        break;
    case 'f': {
        uint32_t bits = (uint32_t)x;
        memcpy(&n->v.f, &bits, 4);
        break;
    }
    case 'd':
        memcpy(&n->v.d, &x, 8);
        break;
    case 'D':
        n->v.decimal.scale = (uint8_t)tl_below(r, 256);
        n->v.decimal.value = (int32_t)x;
        break;
    case 'T':
        n->v.timestamp = x;
        break;
    case 'S':
    case 'x':
        n->sbuf = tl_xmalloc(300);
        n->v.str.len = tl_fill(r, n->sbuf, tl_below(r, 2) ? 300 : 16, t == 'S' && tl_below(r, 2));
        n->v.str.base = n->sbuf;
        break;
    case 'F':
    case 'A':
        tl_kids_random(r, n, t == 'F', depth, max_depth);
        break;
    default:
        break;
    }
}

static inline void tl_node_free(tl_node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++)
        tl_node_free(&n->kids[i]);
    free(n->kids);
    free(n->sbuf);
    n->kids = NULL;
    n->sbuf = NULL;
    n->nkids = 0;
}

/* Adds the kids of n to an open builder level. */
static inline int tl_build_kids(keel_amqp_builder_t *b, const tl_node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        const tl_node_t *k = &n->kids[i];
        keel_amqp_str_t key = {k->key, k->klen};
        int rc;
        if (k->v.type == 'F' || k->v.type == 'A') {
            if ((rc = keel_amqp_build_begin(b, key, k->v.type)) != 0)
                return rc;
            if ((rc = tl_build_kids(b, k)) != 0)
                return rc;
            if ((rc = keel_amqp_build_end(b)) != 0)
                return rc;
        } else if ((rc = keel_amqp_build_put(b, key, &k->v)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* A random top-level table: the tree in *root, the encoding in out. */
static inline keel_amqp_table_t tl_table_random(tl_rng_t *r, tl_node_t *root, keel_buf_t *out, unsigned max_depth)
{
    memset(root, 0, sizeof(*root));
    root->v.type = 'F';
    tl_kids_random(r, root, true, 1, max_depth);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, out);
    keel_amqp_table_t t = {0};
    if (tl_build_kids(&b, root) != 0 || keel_amqp_builder_finish(&b, &t) != 0) {
        fprintf(stderr, "builder failed on a valid tree\n");
        abort();
    }
    return t;
}

static inline bool tl_scalar_equal(const keel_amqp_value_t *a, const keel_amqp_value_t *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case 't':
        return a->b == b->b;
    case 'b':
        return a->i8 == b->i8;
    case 'B':
        return a->u8 == b->u8;
    case 's':
        return a->i16 == b->i16;
    case 'u':
        return a->u16 == b->u16;
    case 'I':
        return a->i32 == b->i32;
    case 'i':
        return a->u32 == b->u32;
    case 'l':
    case 'L':
        return a->i64 == b->i64;
    case 'f':
        return memcmp(&a->f, &b->f, 4) == 0;
    case 'd':
        return memcmp(&a->d, &b->d, 8) == 0;
    case 'D':
        return a->decimal.scale == b->decimal.scale && a->decimal.value == b->decimal.value;
    case 'T':
        return a->timestamp == b->timestamp;
    case 'S':
    case 'x':
        return a->str.len == b->str.len && (a->str.len == 0 || memcmp(a->str.base, b->str.base, a->str.len) == 0);
    case 'V':
        return true;
    default:
        return false;
    }
}

/* Deep comparison of decoded bytes (table or array) against a tree. */
static inline bool tl_tree_equal(const tl_node_t *n, const uint8_t *base, size_t len, bool array)
{
    keel_amqp_iter_t it;
    if (array)
        keel_amqp_array_iter(&it, (keel_amqp_array_t){base, len});
    else
        keel_amqp_table_iter(&it, (keel_amqp_table_t){base, len});
    keel_amqp_str_t key;
    keel_amqp_value_t v;
    size_t i = 0;
    while (keel_amqp_iter_next(&it, &key, &v)) {
        if (i >= n->nkids)
            return false;
        const tl_node_t *k = &n->kids[i++];
        if (!array && (key.len != k->klen || (k->klen && memcmp(key.base, k->key, k->klen) != 0)))
            return false;
        if (k->v.type == 'F' || k->v.type == 'A') {
            if (v.type != k->v.type || !tl_tree_equal(k, v.table.base, v.table.len, k->v.type == 'A'))
                return false;
        } else if (!tl_scalar_equal(&v, &k->v)) {
            return false;
        }
    }
    return i == n->nkids;
}

static inline bool tl_str_equal(keel_amqp_str_t a, keel_amqp_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static inline bool tl_table_bytes_equal(keel_amqp_table_t a, keel_amqp_table_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* Compares one field described by f at base a and base b. */
static inline bool tl_field_equal(const keel_amqp_field_info_t *f, const char *a, const char *b)
{
    a += f->offset;
    b += f->offset;
    switch (f->type) {
    case KEEL_AMQP_TYPE_OCTET:
        return *(const uint8_t *)a == *(const uint8_t *)b;
    case KEEL_AMQP_TYPE_SHORT:
        return *(const uint16_t *)a == *(const uint16_t *)b;
    case KEEL_AMQP_TYPE_LONG:
        return *(const uint32_t *)a == *(const uint32_t *)b;
    case KEEL_AMQP_TYPE_LONGLONG:
    case KEEL_AMQP_TYPE_TIMESTAMP:
        return *(const uint64_t *)a == *(const uint64_t *)b;
    case KEEL_AMQP_TYPE_BIT:
        return *(const bool *)a == *(const bool *)b;
    case KEEL_AMQP_TYPE_SHORTSTR:
    case KEEL_AMQP_TYPE_LONGSTR:
        return tl_str_equal(*(const keel_amqp_str_t *)a, *(const keel_amqp_str_t *)b);
    case KEEL_AMQP_TYPE_TABLE:
        return tl_table_bytes_equal(*(const keel_amqp_table_t *)a, *(const keel_amqp_table_t *)b);
    default:
        return false;
    }
}

/* Deep equality of two methods; tables compare by their (validated) octets. */
static inline bool tl_method_equal(const keel_amqp_method_t *a, const keel_amqp_method_t *b)
{
    if (a->id != b->id)
        return false;
    const keel_amqp_method_info_t *info = keel_amqp_method_info(a->id);
    if (!info)
        return false;
    for (size_t i = 0; i < info->nfields; i++) {
        if (!tl_field_equal(&info->fields[i], TL_CFIELDS(a), TL_CFIELDS(b)))
            return false;
    }
    return true;
}

static inline bool tl_props_equal(const keel_amqp_properties_t *a, const keel_amqp_properties_t *b)
{
    if (a->flags != b->flags)
        return false;
    const keel_amqp_field_info_t *info = keel_amqp_properties_info();
    for (size_t i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        if ((a->flags & info[i].flag) && !tl_field_equal(&info[i], (const char *)a, (const char *)b))
            return false;
    }
    return true;
}

/*
 * Random methods and properties. Strings point into a caller's scratch
 * area; tables are built into tables[] (one buffer per table field) with
 * their trees in trees[] for deep comparison.
 */
typedef struct {
    char strings[16][300];
    keel_buf_t tables[4];
    tl_node_t trees[4];
    size_t ntables;
} tl_scratch_t;

static inline void tl_scratch_init(tl_scratch_t *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < 4; i++)
        keel_buf_init(&s->tables[i]);
}

static inline void tl_scratch_reset(tl_scratch_t *s)
{
    for (size_t i = 0; i < s->ntables; i++) {
        keel_buf_reset(&s->tables[i]);
        tl_node_free(&s->trees[i]);
    }
    s->ntables = 0;
}

static inline void tl_scratch_free(tl_scratch_t *s)
{
    tl_scratch_reset(s);
    for (size_t i = 0; i < 4; i++)
        keel_buf_free(&s->tables[i]);
}

/* Fills one field at base from f; utf8 forces shortstrs to be UTF-8. */
static inline void tl_field_random(tl_rng_t *r, const keel_amqp_field_info_t *f, char *base, tl_scratch_t *s, size_t *nstr,
                                   bool utf8)
{
    char *p = base + f->offset;
    uint64_t x = tl_int(r);
    switch (f->type) {
    case KEEL_AMQP_TYPE_OCTET:
        *(uint8_t *)p = (uint8_t)x;
        break;
    case KEEL_AMQP_TYPE_SHORT:
        *(uint16_t *)p = (uint16_t)x;
        break;
    case KEEL_AMQP_TYPE_LONG:
        *(uint32_t *)p = (uint32_t)x;
        break;
    case KEEL_AMQP_TYPE_LONGLONG:
    case KEEL_AMQP_TYPE_TIMESTAMP:
        *(uint64_t *)p = x;
        break;
    case KEEL_AMQP_TYPE_BIT:
        *(bool *)p = x & 1;
        break;
    case KEEL_AMQP_TYPE_SHORTSTR:
    case KEEL_AMQP_TYPE_LONGSTR: {
        char *dst = s->strings[(*nstr)++ % 16];
        size_t max = f->type == KEEL_AMQP_TYPE_SHORTSTR ? 255 : 300;
        size_t n = tl_fill(r, dst, tl_below(r, 3) ? 24 : max, utf8 && f->type == KEEL_AMQP_TYPE_SHORTSTR);
        *(keel_amqp_str_t *)p = (keel_amqp_str_t){dst, n};
        break;
    }
    case KEEL_AMQP_TYPE_TABLE: {
        size_t i = s->ntables++;
        *(keel_amqp_table_t *)p = tl_table_random(r, &s->trees[i], &s->tables[i], 5);
        break;
    }
    default:
        break;
    }
}

/* A random method of any kind, valid to encode. */
static inline void tl_method_random(tl_rng_t *r, keel_amqp_method_t *m, tl_scratch_t *s)
{
    const keel_amqp_method_info_t *info = &keel__amqp_method_table[tl_below(r, KEEL_AMQP_METHOD_COUNT)];
    memset(m, 0, sizeof(*m));
    m->id = info->id;
    size_t nstr = 0;
    bool utf8 = !(info->flags & KEEL_AMQP_METHOD_CONTENT);
    for (size_t i = 0; i < info->nfields; i++)
        tl_field_random(r, &info->fields[i], TL_FIELDS(m), s, &nstr, utf8);
}

/* Random properties: a random subset present, the rest zero. */
static inline void tl_props_random(tl_rng_t *r, keel_amqp_properties_t *p, tl_scratch_t *s)
{
    const keel_amqp_field_info_t *info = keel_amqp_properties_info();
    memset(p, 0, sizeof(*p));
    size_t nstr = 0;
    for (size_t i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        if (tl_below(r, 2)) {
            p->flags |= info[i].flag;
            tl_field_random(r, &info[i], (char *)p, s, &nstr, false);
        }
    }
}

#endif /* KEEL_TESTS_AMQP_TESTLIB_H */
