/*
 * table.c — AMQP field tables and arrays with every field type RabbitMQ
 * reads and writes: validation, iteration, lookup by key, typed getters,
 * and a builder for encoding.
 *
 * Design: a table is never turned into a tree. It is validated once, when
 * the method or header carrying it is decoded (bounds, known field types,
 * nesting at most KEEL_AMQP_MAX_DEPTH), and from then on it is its own wire
 * octets: the iterator walks them and lookups scan them. Tables in AMQP are
 * small (client properties, queue arguments, message headers), so a linear
 * scan beats building an index, and decoding allocates nothing. The builder
 * appends to a keel_buf_t and patches nested lengths when a nested table or
 * array closes, so encoding a table is one pass with amortised growth.
 */
#include "wire.h"

/*
 * Reading one value. Returns false (with r->err) when its octets overrun.
 * Nested tables and arrays come back as views, unvalidated.
 */
static bool read_value(keel__rd_t *r, keel_amqp_value_t *v)
{
    uint8_t type = keel__rd_u8(r);
    v->type = type;
    switch (type) {
    case KEEL_AMQP_FIELD_BOOL:
        v->b = keel__rd_u8(r) != 0;
        break;
    case KEEL_AMQP_FIELD_I8:
        v->i8 = (int8_t)keel__rd_u8(r);
        break;
    case KEEL_AMQP_FIELD_U8:
        v->u8 = keel__rd_u8(r);
        break;
    case KEEL_AMQP_FIELD_I16:
        v->i16 = (int16_t)keel__rd_u16(r);
        break;
    case KEEL_AMQP_FIELD_U16:
        v->u16 = keel__rd_u16(r);
        break;
    case KEEL_AMQP_FIELD_I32:
        v->i32 = (int32_t)keel__rd_u32(r);
        break;
    case KEEL_AMQP_FIELD_U32:
        v->u32 = keel__rd_u32(r);
        break;
    case KEEL_AMQP_FIELD_I64:
    case KEEL_AMQP_FIELD_I64_L:
        v->i64 = (int64_t)keel__rd_u64(r);
        break;
    case KEEL_AMQP_FIELD_FLOAT: {
        uint32_t bits = keel__rd_u32(r);
        memcpy(&v->f, &bits, sizeof(v->f));
        break;
    }
    case KEEL_AMQP_FIELD_DOUBLE: {
        uint64_t bits = keel__rd_u64(r);
        memcpy(&v->d, &bits, sizeof(v->d));
        break;
    }
    case KEEL_AMQP_FIELD_DECIMAL:
        v->decimal.scale = keel__rd_u8(r);
        v->decimal.value = (int32_t)keel__rd_u32(r);
        break;
    case KEEL_AMQP_FIELD_LONGSTR:
    case KEEL_AMQP_FIELD_BYTES:
        keel__rd_longstr(r, &v->str);
        break;
    case KEEL_AMQP_FIELD_TIMESTAMP:
        v->timestamp = keel__rd_u64(r);
        break;
    case KEEL_AMQP_FIELD_TABLE:
    case KEEL_AMQP_FIELD_ARRAY: {
        size_t n = keel__rd_u32(r);
        const uint8_t *p = keel__rd_take(r, n);
        /* table and array share one layout in the union */
        v->table = (keel_amqp_table_t){p, r->err ? 0 : n};
        break;
    }
    case KEEL_AMQP_FIELD_VOID:
        break;
    default:
        if (!r->err)
            keel__rd_fail(r, "unknown field type in table");
        break;
    }
    return r->err == NULL;
}

const char *keel__amqp_table_check(const uint8_t *p, size_t len, bool is_array, unsigned depth)
{
    if (depth > KEEL_AMQP_MAX_DEPTH)
        return "field table nested too deeply";
    keel__rd_t r;
    keel__rd_init(&r, p, len);
    while (r.p < r.end) {
        if (!is_array) {
            keel_amqp_str_t key;
            keel__rd_shortstr(&r, &key);
        }
        keel_amqp_value_t v;
        if (!read_value(&r, &v))
            return r.err;
        if (v.type == KEEL_AMQP_FIELD_TABLE || v.type == KEEL_AMQP_FIELD_ARRAY) {
            const char *why = keel__amqp_table_check(v.table.base, v.table.len, v.type == KEEL_AMQP_FIELD_ARRAY, depth + 1);
            if (why)
                return why;
        }
    }
    return r.err;
}

int keel_amqp_table_parse(const uint8_t *buf, size_t len, keel_amqp_table_t *out, size_t *used, keel_amqp_error_t *err)
{
    keel__rd_t r;
    keel__rd_init(&r, buf, len);
    keel_amqp_table_t t;
    keel__rd_table(&r, &t);
    if (r.err) {
        if (err)
            *err = (keel_amqp_error_t){.code = KEEL_AMQP_FRAME_ERROR, .text = r.err};
        return KEEL_EPROTO;
    }
    *out = t;
    *used = (size_t)(r.p - buf);
    return 0;
}

void keel_amqp_table_iter(keel_amqp_iter_t *it, keel_amqp_table_t t)
{
    /* A zero view ({NULL, 0}) is an empty table. */
    it->_p = t.base;
    it->_end = t.base ? t.base + t.len : NULL;
    it->_array = false;
}

void keel_amqp_array_iter(keel_amqp_iter_t *it, keel_amqp_array_t a)
{
    it->_p = a.base;
    it->_end = a.base ? a.base + a.len : NULL;
    it->_array = true;
}

bool keel_amqp_iter_next(keel_amqp_iter_t *it, keel_amqp_str_t *key, keel_amqp_value_t *v)
{
    if (it->_p == NULL || it->_p >= it->_end)
        return false;
    keel__rd_t r;
    keel__rd_init(&r, it->_p, (size_t)(it->_end - it->_p));
    keel_amqp_str_t k = {"", 0};
    if (!it->_array)
        keel__rd_shortstr(&r, &k);
    /* Validated bytes never fail here; unvalidated ones end the walk. */
    if (!read_value(&r, v) || r.err) {
        it->_p = it->_end;
        return false;
    }
    it->_p = r.p;
    if (key)
        *key = k;
    return true;
}

size_t keel_amqp_table_count(keel_amqp_table_t t)
{
    keel_amqp_iter_t it;
    keel_amqp_value_t v;
    size_t n = 0;
    keel_amqp_table_iter(&it, t);
    while (keel_amqp_iter_next(&it, NULL, &v))
        n++;
    return n;
}

size_t keel_amqp_array_count(keel_amqp_array_t a)
{
    keel_amqp_iter_t it;
    keel_amqp_value_t v;
    size_t n = 0;
    keel_amqp_array_iter(&it, a);
    while (keel_amqp_iter_next(&it, NULL, &v))
        n++;
    return n;
}

int keel_amqp_table_get(keel_amqp_table_t t, const char *key, keel_amqp_value_t *v)
{
    size_t klen = strlen(key);
    keel_amqp_iter_t it;
    keel_amqp_str_t k;
    keel_amqp_table_iter(&it, t);
    while (keel_amqp_iter_next(&it, &k, v)) {
        if (k.len == klen && (klen == 0 || memcmp(k.base, key, klen) == 0))
            return 0;
    }
    return KEEL_ENOENT;
}

bool keel_amqp_value_int(const keel_amqp_value_t *v, int64_t *out)
{
    switch (v->type) {
    case KEEL_AMQP_FIELD_I8:
        *out = v->i8;
        return true;
    case KEEL_AMQP_FIELD_U8:
        *out = v->u8;
        return true;
    case KEEL_AMQP_FIELD_I16:
        *out = v->i16;
        return true;
    case KEEL_AMQP_FIELD_U16:
        *out = v->u16;
        return true;
    case KEEL_AMQP_FIELD_I32:
        *out = v->i32;
        return true;
    case KEEL_AMQP_FIELD_U32:
        *out = v->u32;
        return true;
    case KEEL_AMQP_FIELD_I64:
    case KEEL_AMQP_FIELD_I64_L:
        *out = v->i64;
        return true;
    default:
        return false;
    }
}

int keel_amqp_table_get_int(keel_amqp_table_t t, const char *key, int64_t *out)
{
    keel_amqp_value_t v;
    int rc = keel_amqp_table_get(t, key, &v);
    if (rc != 0)
        return rc;
    return keel_amqp_value_int(&v, out) ? 0 : KEEL_EVALUE;
}

/* Looks key up and insists on one field type. */
static int get_typed(keel_amqp_table_t t, const char *key, uint8_t type, keel_amqp_value_t *v)
{
    int rc = keel_amqp_table_get(t, key, v);
    if (rc != 0)
        return rc;
    return v->type == type ? 0 : KEEL_EVALUE;
}

int keel_amqp_table_get_str(keel_amqp_table_t t, const char *key, keel_amqp_str_t *out)
{
    keel_amqp_value_t v;
    int rc = get_typed(t, key, KEEL_AMQP_FIELD_LONGSTR, &v);
    if (rc == 0)
        *out = v.str;
    return rc;
}

int keel_amqp_table_get_bool(keel_amqp_table_t t, const char *key, bool *out)
{
    keel_amqp_value_t v;
    int rc = get_typed(t, key, KEEL_AMQP_FIELD_BOOL, &v);
    if (rc == 0)
        *out = v.b;
    return rc;
}

int keel_amqp_table_get_table(keel_amqp_table_t t, const char *key, keel_amqp_table_t *out)
{
    keel_amqp_value_t v;
    int rc = get_typed(t, key, KEEL_AMQP_FIELD_TABLE, &v);
    if (rc == 0)
        *out = v.table;
    return rc;
}

int keel_amqp_table_get_array(keel_amqp_table_t t, const char *key, keel_amqp_array_t *out)
{
    keel_amqp_value_t v;
    int rc = get_typed(t, key, KEEL_AMQP_FIELD_ARRAY, &v);
    if (rc == 0)
        *out = v.array;
    return rc;
}

/*
 * The builder.
 */

void keel_amqp_builder_init(keel_amqp_builder_t *b, keel_buf_t *out)
{
    b->_out = out;
    b->_start = out->len;
    b->_err = 0;
    b->_depth = 0;
}

static bool in_array(const keel_amqp_builder_t *b)
{
    return b->_depth > 0 && b->_kind[b->_depth - 1] == KEEL_AMQP_FIELD_ARRAY;
}

static int set_err(keel_amqp_builder_t *b, int rc)
{
    if (b->_err == 0)
        b->_err = rc;
    return rc;
}

/* Octets of a value after its type octet; SIZE_MAX for an unknown type. */
static size_t value_size(const keel_amqp_value_t *v)
{
    switch (v->type) {
    case KEEL_AMQP_FIELD_BOOL:
    case KEEL_AMQP_FIELD_I8:
    case KEEL_AMQP_FIELD_U8:
        return 1;
    case KEEL_AMQP_FIELD_I16:
    case KEEL_AMQP_FIELD_U16:
        return 2;
    case KEEL_AMQP_FIELD_I32:
    case KEEL_AMQP_FIELD_U32:
    case KEEL_AMQP_FIELD_FLOAT:
        return 4;
    case KEEL_AMQP_FIELD_DECIMAL:
        return 5;
    case KEEL_AMQP_FIELD_I64:
    case KEEL_AMQP_FIELD_I64_L:
    case KEEL_AMQP_FIELD_DOUBLE:
    case KEEL_AMQP_FIELD_TIMESTAMP:
        return 8;
    case KEEL_AMQP_FIELD_LONGSTR:
    case KEEL_AMQP_FIELD_BYTES:
        if (v->str.len > UINT32_MAX || (v->str.len && !v->str.base))
            return SIZE_MAX;
        return 4 + v->str.len;
    case KEEL_AMQP_FIELD_TABLE:
    case KEEL_AMQP_FIELD_ARRAY:
        if (v->table.len > UINT32_MAX || (v->table.len && !v->table.base))
            return SIZE_MAX;
        return 4 + v->table.len;
    case KEEL_AMQP_FIELD_VOID:
        return 0;
    default:
        return SIZE_MAX;
    }
}

static uint8_t *write_value(uint8_t *p, const keel_amqp_value_t *v)
{
    p = keel__wr_u8(p, v->type);
    switch (v->type) {
    case KEEL_AMQP_FIELD_BOOL:
        return keel__wr_u8(p, v->b ? 1 : 0);
    case KEEL_AMQP_FIELD_I8:
        return keel__wr_u8(p, (uint8_t)v->i8);
    case KEEL_AMQP_FIELD_U8:
        return keel__wr_u8(p, v->u8);
    case KEEL_AMQP_FIELD_I16:
        return keel__wr_u16(p, (uint16_t)v->i16);
    case KEEL_AMQP_FIELD_U16:
        return keel__wr_u16(p, v->u16);
    case KEEL_AMQP_FIELD_I32:
        return keel__wr_u32(p, (uint32_t)v->i32);
    case KEEL_AMQP_FIELD_U32:
        return keel__wr_u32(p, v->u32);
    case KEEL_AMQP_FIELD_I64:
    case KEEL_AMQP_FIELD_I64_L:
        return keel__wr_u64(p, (uint64_t)v->i64);
    case KEEL_AMQP_FIELD_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &v->f, sizeof(bits));
        return keel__wr_u32(p, bits);
    }
    case KEEL_AMQP_FIELD_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->d, sizeof(bits));
        return keel__wr_u64(p, bits);
    }
    case KEEL_AMQP_FIELD_DECIMAL:
        p = keel__wr_u8(p, v->decimal.scale);
        return keel__wr_u32(p, (uint32_t)v->decimal.value);
    case KEEL_AMQP_FIELD_LONGSTR:
    case KEEL_AMQP_FIELD_BYTES:
        return keel__wr_longstr(p, v->str);
    case KEEL_AMQP_FIELD_TIMESTAMP:
        return keel__wr_u64(p, v->timestamp);
    case KEEL_AMQP_FIELD_TABLE:
    case KEEL_AMQP_FIELD_ARRAY:
        return keel__wr_table(p, v->table);
    default:
        return p;
    }
}

/* Reserves room for the key (in tables) and a value of vsize octets after
 * its type octet, and writes the key. Returns where the value goes. */
static int start_entry(keel_amqp_builder_t *b, keel_amqp_str_t key, size_t vsize, uint8_t **at)
{
    if (b->_err)
        return b->_err;
    bool keyed = !in_array(b);
    if (keyed && (!key.base || key.len > 255))
        return set_err(b, KEEL_EINVAL);
    size_t klen = keyed ? 1 + key.len : 0;
    if (vsize == SIZE_MAX || vsize > SIZE_MAX - klen - 1)
        return set_err(b, KEEL_EINVAL);
    int rc = keel_buf_reserve(b->_out, klen + 1 + vsize);
    if (rc != 0)
        return set_err(b, rc);
    uint8_t *p = (uint8_t *)b->_out->base + b->_out->len;
    if (keyed)
        p = keel__wr_shortstr(p, key);
    *at = p;
    return 0;
}

static void commit(keel_amqp_builder_t *b, const uint8_t *end)
{
    b->_out->len = (size_t)((const char *)end - b->_out->base);
    b->_out->base[b->_out->len] = '\0';
}

int keel_amqp_build_put(keel_amqp_builder_t *b, keel_amqp_str_t key, const keel_amqp_value_t *v)
{
    uint8_t *p;
    int rc = start_entry(b, key, value_size(v), &p);
    if (rc != 0)
        return rc;
    commit(b, write_value(p, v));
    return 0;
}

int keel_amqp_build_begin(keel_amqp_builder_t *b, keel_amqp_str_t key, uint8_t type)
{
    if (b->_err)
        return b->_err;
    if (type != KEEL_AMQP_FIELD_TABLE && type != KEEL_AMQP_FIELD_ARRAY)
        return set_err(b, KEEL_EINVAL);
    /* The outermost table is depth 1, so at most MAX_DEPTH - 1 open. */
    if (b->_depth + 1 >= KEEL_AMQP_MAX_DEPTH)
        return set_err(b, KEEL_EINVAL);
    uint8_t *p;
    int rc = start_entry(b, key, 4, &p);
    if (rc != 0)
        return rc;
    p = keel__wr_u8(p, type);
    b->_kind[b->_depth] = type;
    b->_lenpos[b->_depth] = (size_t)((char *)p - b->_out->base);
    b->_depth++;
    commit(b, keel__wr_u32(p, 0));
    return 0;
}

int keel_amqp_build_end(keel_amqp_builder_t *b)
{
    if (b->_err)
        return b->_err;
    if (b->_depth == 0)
        return set_err(b, KEEL_EINVAL);
    b->_depth--;
    size_t at = b->_lenpos[b->_depth];
    size_t n = b->_out->len - at - 4;
    if (n > UINT32_MAX)
        return set_err(b, KEEL_EINVAL);
    keel__wr_u32((uint8_t *)b->_out->base + at, (uint32_t)n);
    return 0;
}

int keel_amqp_build_str(keel_amqp_builder_t *b, const char *key, const char *value)
{
    keel_amqp_value_t v = {.type = KEEL_AMQP_FIELD_LONGSTR, .str = keel_amqp_str(value)};
    return keel_amqp_build_put(b, key ? keel_amqp_str(key) : (keel_amqp_str_t){0}, &v);
}

int keel_amqp_build_bool(keel_amqp_builder_t *b, const char *key, bool value)
{
    keel_amqp_value_t v = {.type = KEEL_AMQP_FIELD_BOOL, .b = value};
    return keel_amqp_build_put(b, key ? keel_amqp_str(key) : (keel_amqp_str_t){0}, &v);
}

int keel_amqp_build_int(keel_amqp_builder_t *b, const char *key, int64_t value)
{
    keel_amqp_value_t v;
    if (value >= INT32_MIN && value <= INT32_MAX)
        v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_I32, .i32 = (int32_t)value};
    else
        v = (keel_amqp_value_t){.type = KEEL_AMQP_FIELD_I64, .i64 = value};
    return keel_amqp_build_put(b, key ? keel_amqp_str(key) : (keel_amqp_str_t){0}, &v);
}

int keel_amqp_builder_finish(keel_amqp_builder_t *b, keel_amqp_table_t *out)
{
    int rc = b->_err;
    if (rc == 0 && b->_depth != 0)
        rc = KEEL_EINVAL;
    size_t len = b->_out->len - b->_start;
    const uint8_t *base = len ? (const uint8_t *)b->_out->base + b->_start : (const uint8_t *)"";
    /* Copied-in nested tables were taken on trust; check the result once so
     * what the builder hands out always decodes. */
    if (rc == 0 && (len > UINT32_MAX || keel__amqp_table_check(base, len, false, 1) != NULL))
        rc = KEEL_EINVAL;
    if (rc != 0) {
        if (b->_out->base) {
            b->_out->len = b->_start;
            b->_out->base[b->_start] = '\0';
        }
        b->_err = rc;
        return rc;
    }
    *out = (keel_amqp_table_t){base, len};
    return 0;
}
