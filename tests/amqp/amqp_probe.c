/*
 * amqp_probe.c — keel's AMQP codec behind a JSON-lines pipe, for the
 * differential test tests/interop/amqp_codec_diff.py, which puts pika's
 * codec on the other side. One request per stdin line, one reply per
 * stdout line:
 *
 *   {"op": "spec"}                        the generated method table
 *   {"op": "protocol", "hex": H}          keel_amqp_protocol_parse
 *   {"op": "decode", "hex": H}            every frame of a byte stream,
 *                                         decoded, plus "reencode": keel's
 *                                         encoding of what it decoded
 *   {"op": "encode", "frames": [...]}     frames from values -> "hex"
 *   {"op": "content", "channel": c, "frame_max": n, "props": {...},
 *    "body": H}                           keel_amqp_content_encode -> "hex"
 *   {"op": "decode_table", "hex": H}      a length-prefixed field table
 *   {"op": "encode_table", "table": T}    -> "hex" (length-prefixed)
 *
 * Values: octets as hex strings; octet/short/long fields as numbers;
 * longlong and timestamp fields as decimal strings (JSON numbers cannot
 * hold every uint64); bits as booleans; tables as lists of [key-hex, value]
 * with typed values [type-char, ...]: integers as numbers ("T" as a decimal
 * string), "f"/"d" as the hex of their IEEE bits, "D" as [scale, value],
 * "S"/"x" as hex, "V" alone, "F" as a list of pairs, "A" as a list.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keel/amqp.h"
#include "spec_gen.h"

/* Everything a request allocates, dropped after its reply. */
typedef struct {
    keel_vec_t blocks;
} arena_t;

static void *arena_alloc(arena_t *a, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p || keel_vec_push(&a->blocks, p) != 0) {
        fprintf(stderr, "amqp_probe: out of memory\n");
        exit(2);
    }
    return p;
}

static void arena_free(arena_t *a)
{
    for (size_t i = 0; i < a->blocks.len; i++)
        free(a->blocks.items[i]);
    keel_vec_free(&a->blocks);
    keel_vec_init(&a->blocks);
}

static json_t *hex_of(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = 0;
    json_t *j = json_string(s);
    free(s);
    return j;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex into arena memory; returns false on bad input. */
static bool unhex(arena_t *a, json_t *j, uint8_t **out, size_t *len)
{
    const char *s = json_string_value(j);
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n % 2)
        return false;
    uint8_t *b = arena_alloc(a, n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = b;
    *len = n / 2;
    return true;
}

static json_t *u64_json(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, v);
    return json_string(s);
}

static uint64_t json_u64(json_t *j)
{
    if (json_is_string(j))
        return strtoull(json_string_value(j), NULL, 10);
    return (uint64_t)json_integer_value(j);
}

/*
 * Tables to JSON and back.
 */
static json_t *table_json(const uint8_t *base, size_t len, bool array);

static json_t *value_json(const keel_amqp_value_t *v)
{
    char t[2] = {(char)v->type, 0};
    switch (v->type) {
    case 't':
        return json_pack("[sb]", t, v->b);
    case 'b':
        return json_pack("[sI]", t, (json_int_t)v->i8);
    case 'B':
        return json_pack("[sI]", t, (json_int_t)v->u8);
    case 's':
        return json_pack("[sI]", t, (json_int_t)v->i16);
    case 'u':
        return json_pack("[sI]", t, (json_int_t)v->u16);
    case 'I':
        return json_pack("[sI]", t, (json_int_t)v->i32);
    case 'i':
        return json_pack("[sI]", t, (json_int_t)v->u32);
    case 'l':
    case 'L':
        return json_pack("[sI]", t, (json_int_t)v->i64);
    case 'f': {
        uint32_t bits;
        memcpy(&bits, &v->f, 4);
        uint8_t be[4];
        keel__wr_u32(be, bits);
        return json_pack("[so]", t, hex_of(be, 4));
    }
    case 'd': {
        uint64_t bits;
        memcpy(&bits, &v->d, 8);
        uint8_t be[8];
        keel__wr_u64(be, bits);
        return json_pack("[so]", t, hex_of(be, 8));
    }
    case 'D':
        return json_pack("[sII]", t, (json_int_t)v->decimal.scale, (json_int_t)v->decimal.value);
    case 'S':
    case 'x':
        return json_pack("[so]", t, hex_of(v->str.base, v->str.len));
    case 'T':
        return json_pack("[so]", t, u64_json(v->timestamp));
    case 'V':
        return json_pack("[s]", t);
    case 'F':
    case 'A':
        return json_pack("[so]", t, table_json(v->table.base, v->table.len, v->type == 'A'));
    default:
        return json_pack("[s]", "?");
    }
}

static json_t *table_json(const uint8_t *base, size_t len, bool array)
{
    json_t *out = json_array();
    keel_amqp_iter_t it;
    keel_amqp_str_t k;
    keel_amqp_value_t v;
    if (array)
        keel_amqp_array_iter(&it, (keel_amqp_array_t){base, len});
    else
        keel_amqp_table_iter(&it, (keel_amqp_table_t){base, len});
    while (keel_amqp_iter_next(&it, &k, &v)) {
        if (array)
            json_array_append_new(out, value_json(&v));
        else
            json_array_append_new(out, json_pack("[oo]", hex_of(k.base, k.len), value_json(&v)));
    }
    return out;
}

static int build_entries(arena_t *a, keel_amqp_builder_t *b, json_t *list, bool array);

static int build_value(arena_t *a, keel_amqp_builder_t *b, keel_amqp_str_t key, json_t *val)
{
    const char *t = json_string_value(json_array_get(val, 0));
    json_t *x = json_array_get(val, 1);
    if (!t || strlen(t) != 1)
        return KEEL_EINVAL;
    keel_amqp_value_t v = {.type = (uint8_t)t[0]};
    uint8_t *bytes;
    size_t n;
    switch (v.type) {
    case 't':
        v.b = json_is_true(x);
        break;
    case 'b':
        v.i8 = (int8_t)json_integer_value(x);
        break;
    case 'B':
        v.u8 = (uint8_t)json_integer_value(x);
        break;
    case 's':
        v.i16 = (int16_t)json_integer_value(x);
        break;
    case 'u':
        v.u16 = (uint16_t)json_integer_value(x);
        break;
    case 'I':
        v.i32 = (int32_t)json_integer_value(x);
        break;
    case 'i':
        v.u32 = (uint32_t)json_integer_value(x);
        break;
    case 'l':
    case 'L':
        v.i64 = (int64_t)json_integer_value(x);
        break;
    case 'f': {
        if (!unhex(a, x, &bytes, &n) || n != 4)
            return KEEL_EINVAL;
        uint32_t bits = keel__get_u32(bytes);
        memcpy(&v.f, &bits, 4);
        break;
    }
    case 'd': {
        if (!unhex(a, x, &bytes, &n) || n != 8)
            return KEEL_EINVAL;
        uint64_t bits = keel__get_u64(bytes);
        memcpy(&v.d, &bits, 8);
        break;
    }
    case 'D':
        v.decimal.scale = (uint8_t)json_integer_value(x);
        v.decimal.value = (int32_t)json_integer_value(json_array_get(val, 2));
        break;
    case 'S':
    case 'x':
        if (!unhex(a, x, &bytes, &n))
            return KEEL_EINVAL;
        v.str = (keel_amqp_str_t){(const char *)bytes, n};
        break;
    case 'T':
        v.timestamp = json_u64(x);
        break;
    case 'V':
        break;
    case 'F':
    case 'A': {
        int rc = keel_amqp_build_begin(b, key, v.type);
        if (rc == 0)
            rc = build_entries(a, b, x, v.type == 'A');
        if (rc == 0)
            rc = keel_amqp_build_end(b);
        return rc;
    }
    default:
        return KEEL_EINVAL;
    }
    return keel_amqp_build_put(b, key, &v);
}

static int build_entries(arena_t *a, keel_amqp_builder_t *b, json_t *list, bool array)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        int rc;
        if (array) {
            rc = build_value(a, b, (keel_amqp_str_t){0}, e);
        } else {
            uint8_t *k;
            size_t kn;
            if (!unhex(a, json_array_get(e, 0), &k, &kn))
                return KEEL_EINVAL;
            rc = build_value(a, b, (keel_amqp_str_t){(const char *)k, kn}, json_array_get(e, 1));
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Builds a table into arena memory. */
static int table_from_json(arena_t *a, json_t *list, keel_amqp_table_t *out)
{
    keel_buf_t buf;
    keel_buf_init(&buf);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &buf);
    int rc = build_entries(a, &b, list, false);
    if (rc == 0)
        rc = keel_amqp_builder_finish(&b, out);
    if (rc == 0) {
        uint8_t *copy = arena_alloc(a, out->len);
        if (out->len)
            memcpy(copy, out->base, out->len);
        out->base = copy;
    }
    keel_buf_free(&buf);
    return rc;
}

/*
 * Method fields and properties to JSON and back, driven by field metadata.
 */
static json_t *field_json(const keel_amqp_field_info_t *f, const char *base)
{
    const char *p = base + f->offset;
    switch (f->type) {
    case KEEL_AMQP_TYPE_OCTET:
        return json_integer(*(const uint8_t *)p);
    case KEEL_AMQP_TYPE_SHORT:
        return json_integer(*(const uint16_t *)p);
    case KEEL_AMQP_TYPE_LONG:
        return json_integer(*(const uint32_t *)p);
    case KEEL_AMQP_TYPE_LONGLONG:
    case KEEL_AMQP_TYPE_TIMESTAMP:
        return u64_json(*(const uint64_t *)p);
    case KEEL_AMQP_TYPE_BIT:
        return json_boolean(*(const bool *)p);
    case KEEL_AMQP_TYPE_SHORTSTR:
    case KEEL_AMQP_TYPE_LONGSTR: {
        const keel_amqp_str_t *s = (const keel_amqp_str_t *)p;
        return hex_of(s->base, s->len);
    }
    case KEEL_AMQP_TYPE_TABLE: {
        const keel_amqp_table_t *t = (const keel_amqp_table_t *)p;
        return table_json(t->base, t->len, false);
    }
    default:
        return json_null();
    }
}

static int field_from_json(arena_t *a, const keel_amqp_field_info_t *f, char *base, json_t *j)
{
    char *p = base + f->offset;
    uint8_t *bytes;
    size_t n;
    switch (f->type) {
    case KEEL_AMQP_TYPE_OCTET:
        *(uint8_t *)p = (uint8_t)json_integer_value(j);
        return 0;
    case KEEL_AMQP_TYPE_SHORT:
        *(uint16_t *)p = (uint16_t)json_integer_value(j);
        return 0;
    case KEEL_AMQP_TYPE_LONG:
        *(uint32_t *)p = (uint32_t)json_integer_value(j);
        return 0;
    case KEEL_AMQP_TYPE_LONGLONG:
    case KEEL_AMQP_TYPE_TIMESTAMP:
        *(uint64_t *)p = json_u64(j);
        return 0;
    case KEEL_AMQP_TYPE_BIT:
        *(bool *)p = json_is_true(j);
        return 0;
    case KEEL_AMQP_TYPE_SHORTSTR:
    case KEEL_AMQP_TYPE_LONGSTR:
        if (!unhex(a, j, &bytes, &n))
            return KEEL_EINVAL;
        *(keel_amqp_str_t *)p = (keel_amqp_str_t){(const char *)bytes, n};
        return 0;
    case KEEL_AMQP_TYPE_TABLE:
        return table_from_json(a, j, (keel_amqp_table_t *)p);
    default:
        return KEEL_EINVAL;
    }
}

#define FIELDS(m) ((char *)(m) + offsetof(keel_amqp_method_t, basic_publish))

static json_t *method_json(const keel_amqp_method_t *m)
{
    const keel_amqp_method_info_t *info = keel_amqp_method_info(m->id);
    json_t *fields = json_object();
    for (size_t i = 0; i < info->nfields; i++)
        json_object_set_new(fields, info->fields[i].name, field_json(&info->fields[i], FIELDS(m)));
    return json_pack("{sIssso}", "id", (json_int_t)m->id, "name", info->name, "fields", fields);
}

static int method_from_json(arena_t *a, json_t *j, keel_amqp_method_t *m)
{
    memset(m, 0, sizeof(*m));
    m->id = (uint32_t)json_integer_value(json_object_get(j, "id"));
    const keel_amqp_method_info_t *info = keel_amqp_method_info(m->id);
    if (!info)
        return KEEL_EINVAL;
    json_t *fields = json_object_get(j, "fields");
    for (size_t i = 0; i < info->nfields; i++) {
        json_t *v = json_object_get(fields, info->fields[i].name);
        if (v && field_from_json(a, &info->fields[i], FIELDS(m), v) != 0)
            return KEEL_EINVAL;
    }
    return 0;
}

static json_t *props_json(const keel_amqp_properties_t *p)
{
    json_t *o = json_object();
    const keel_amqp_field_info_t *info = keel_amqp_properties_info();
    for (size_t i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        if (p->flags & info[i].flag)
            json_object_set_new(o, info[i].name, field_json(&info[i], (const char *)p));
    }
    return o;
}

static int props_from_json(arena_t *a, json_t *j, keel_amqp_properties_t *p)
{
    memset(p, 0, sizeof(*p));
    const keel_amqp_field_info_t *info = keel_amqp_properties_info();
    for (size_t i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        json_t *v = json_object_get(j, info[i].name);
        if (!v)
            continue;
        p->flags |= info[i].flag;
        if (field_from_json(a, &info[i], (char *)p, v) != 0)
            return KEEL_EINVAL;
    }
    return 0;
}

/*
 * Operations.
 */
static json_t *error_json(int rc, const keel_amqp_error_t *err)
{
    return json_pack("{sssIss}", "error", keel_err_name(rc), "code", (json_int_t)(err ? err->code : 0), "text",
                     err && err->text ? err->text : "");
}

static json_t *op_spec(void)
{
    json_t *methods = json_array();
    for (size_t i = 0; i < KEEL_AMQP_METHOD_COUNT; i++) {
        const keel_amqp_method_info_t *m = &keel__amqp_method_table[i];
        json_t *fields = json_array();
        static const char *types[] = {"", "octet", "short", "long", "longlong", "bit", "shortstr", "longstr", "timestamp", "table"};
        for (size_t f = 0; f < m->nfields; f++)
            json_array_append_new(fields, json_pack("[ss]", m->fields[f].name, types[m->fields[f].type]));
        json_t *replies = json_array();
        for (size_t r = 0; r < m->nreplies; r++)
            json_array_append_new(replies, json_integer(m->replies[r]));
        json_array_append_new(methods, json_pack("{sIsssosbsbsbsbso}", "id", (json_int_t)m->id, "name", m->name, "fields", fields,
                                                 "sync", (m->flags & KEEL_AMQP_METHOD_SYNC) != 0, "content",
                                                 (m->flags & KEEL_AMQP_METHOD_CONTENT) != 0, "to_server",
                                                 (m->flags & KEEL_AMQP_METHOD_TO_SERVER) != 0, "to_client",
                                                 (m->flags & KEEL_AMQP_METHOD_TO_CLIENT) != 0, "replies", replies));
    }
    json_t *codes = json_array();
#define CODE_(code, name, spec, hard, doc) json_array_append_new(codes, json_pack("[Issb]", (json_int_t)code, #name, spec, hard));
    KEEL_AMQP_REPLY_MAP(CODE_)
#undef CODE_
    return json_pack("{soso}", "methods", methods, "reply_codes", codes);
}

static json_t *op_protocol(arena_t *a, json_t *req)
{
    uint8_t *b;
    size_t n, used;
    if (!unhex(a, json_object_get(req, "hex"), &b, &n))
        return error_json(KEEL_EINVAL, NULL);
    keel_amqp_protocol_t p;
    int rc = keel_amqp_protocol_parse(b, n, &p, &used);
    if (rc != 0)
        return error_json(rc, NULL);
    return json_pack("{sIsIsIsIsIsI}", "kind", (json_int_t)p.kind, "id", (json_int_t)p.id, "major", (json_int_t)p.major, "minor",
                     (json_int_t)p.minor, "revision", (json_int_t)p.revision, "used", (json_int_t)used);
}

static json_t *op_decode(arena_t *a, json_t *req)
{
    uint8_t *b;
    size_t n;
    if (!unhex(a, json_object_get(req, "hex"), &b, &n))
        return error_json(KEEL_EINVAL, NULL);
    uint32_t frame_max = (uint32_t)json_integer_value(json_object_get(req, "frame_max"));
    json_t *frames = json_array();
    keel_buf_t re;
    keel_buf_init(&re);
    json_t *out = json_object();
    size_t at = 0;
    while (at < n) {
        keel_amqp_frame_t f;
        keel_amqp_error_t err = {0};
        size_t used;
        int rc = keel_amqp_frame_parse(b + at, n - at, frame_max, &f, &used, &err);
        if (rc == KEEL_EAGAIN) {
            json_object_set_new(out, "incomplete", json_integer((json_int_t)used));
            break;
        }
        if (rc != 0) {
            json_object_set_new(out, "error", error_json(rc, &err));
            break;
        }
        at += used;
        json_t *fr = json_pack("{sIsI}", "type", (json_int_t)f.type, "channel", (json_int_t)f.channel);
        if (f.type == KEEL_AMQP_FRAME_METHOD) {
            keel_amqp_method_t m;
            rc = keel_amqp_method_decode(f.payload, f.size, &m, &err);
            if (rc == 0) {
                json_object_set_new(fr, "method", method_json(&m));
                rc = keel_amqp_method_encode(&re, f.channel, &m);
            }
        } else if (f.type == KEEL_AMQP_FRAME_HEADER) {
            keel_amqp_header_t h;
            rc = keel_amqp_header_decode(f.payload, f.size, &h, &err);
            if (rc == 0) {
                json_object_set_new(fr, "body_size", u64_json(h.body_size));
                json_object_set_new(fr, "props", props_json(&h.props));
                rc = keel_amqp_header_encode(&re, f.channel, h.body_size, &h.props);
            }
        } else {
            json_object_set_new(fr, "hex", hex_of(f.payload, f.size));
            rc = keel_amqp_frame_encode(&re, f.type, f.channel, f.payload, f.size);
        }
        if (rc != 0) {
            json_decref(fr);
            json_object_set_new(out, "error", error_json(rc, &err));
            break;
        }
        json_array_append_new(frames, fr);
    }
    json_object_set_new(out, "frames", frames);
    json_object_set_new(out, "reencode", hex_of(re.base, re.len));
    keel_buf_free(&re);
    return out;
}

static json_t *op_encode(arena_t *a, json_t *req)
{
    keel_buf_t out;
    keel_buf_init(&out);
    size_t i;
    json_t *f;
    int rc = 0;
    json_array_foreach(json_object_get(req, "frames"), i, f)
    {
        const char *type = json_string_value(json_object_get(f, "type"));
        uint16_t ch = (uint16_t)json_integer_value(json_object_get(f, "channel"));
        if (!type) {
            rc = KEEL_EINVAL;
        } else if (strcmp(type, "method") == 0) {
            keel_amqp_method_t m;
            rc = method_from_json(a, f, &m);
            if (rc == 0)
                rc = keel_amqp_method_encode(&out, ch, &m);
        } else if (strcmp(type, "header") == 0) {
            keel_amqp_properties_t p;
            rc = props_from_json(a, json_object_get(f, "props"), &p);
            if (rc == 0)
                rc = keel_amqp_header_encode(&out, ch, json_u64(json_object_get(f, "body_size")), &p);
        } else if (strcmp(type, "body") == 0) {
            uint8_t *b;
            size_t n;
            rc = unhex(a, json_object_get(f, "hex"), &b, &n) ? keel_amqp_frame_encode(&out, KEEL_AMQP_FRAME_BODY, ch, b, n)
                                                             : KEEL_EINVAL;
        } else if (strcmp(type, "heartbeat") == 0) {
            rc = keel_amqp_frame_encode(&out, KEEL_AMQP_FRAME_HEARTBEAT, 0, NULL, 0);
        } else {
            rc = KEEL_EINVAL;
        }
        if (rc != 0)
            break;
    }
    json_t *res = rc == 0 ? json_pack("{so}", "hex", hex_of(out.base, out.len)) : error_json(rc, NULL);
    keel_buf_free(&out);
    return res;
}

static json_t *op_content(arena_t *a, json_t *req)
{
    keel_amqp_properties_t p;
    uint8_t *body;
    size_t n;
    if (props_from_json(a, json_object_get(req, "props"), &p) != 0 || !unhex(a, json_object_get(req, "body"), &body, &n))
        return error_json(KEEL_EINVAL, NULL);
    keel_buf_t out;
    keel_buf_init(&out);
    int rc = keel_amqp_content_encode(&out, (uint16_t)json_integer_value(json_object_get(req, "channel")),
                                      (uint32_t)json_integer_value(json_object_get(req, "frame_max")), &p, body, n);
    json_t *res = rc == 0 ? json_pack("{so}", "hex", hex_of(out.base, out.len)) : error_json(rc, NULL);
    keel_buf_free(&out);
    return res;
}

static json_t *op_decode_table(arena_t *a, json_t *req)
{
    uint8_t *b;
    size_t n, used;
    if (!unhex(a, json_object_get(req, "hex"), &b, &n))
        return error_json(KEEL_EINVAL, NULL);
    keel_amqp_table_t t;
    keel_amqp_error_t err = {0};
    int rc = keel_amqp_table_parse(b, n, &t, &used, &err);
    if (rc != 0)
        return error_json(rc, &err);
    return json_pack("{soso}", "table", table_json(t.base, t.len, false), "used", json_integer((json_int_t)used));
}

static json_t *op_encode_table(arena_t *a, json_t *req)
{
    keel_amqp_table_t t;
    int rc = table_from_json(a, json_object_get(req, "table"), &t);
    if (rc != 0)
        return error_json(rc, NULL);
    uint8_t *b = arena_alloc(a, t.len + 4);
    keel__wr_u32(b, (uint32_t)t.len);
    if (t.len)
        memcpy(b + 4, t.base, t.len);
    return json_pack("{so}", "hex", hex_of(b, t.len + 4));
}

int main(void)
{
    arena_t arena;
    keel_vec_init(&arena.blocks);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t jerr;
        json_t *req = json_loadb(line, (size_t)n, 0, &jerr);
        json_t *res;
        const char *op = req ? json_string_value(json_object_get(req, "op")) : NULL;
        if (!op)
            res = json_pack("{ss}", "error", "bad request");
        else if (strcmp(op, "spec") == 0)
            res = op_spec();
        else if (strcmp(op, "protocol") == 0)
            res = op_protocol(&arena, req);
        else if (strcmp(op, "decode") == 0)
            res = op_decode(&arena, req);
        else if (strcmp(op, "encode") == 0)
            res = op_encode(&arena, req);
        else if (strcmp(op, "content") == 0)
            res = op_content(&arena, req);
        else if (strcmp(op, "decode_table") == 0)
            res = op_decode_table(&arena, req);
        else if (strcmp(op, "encode_table") == 0)
            res = op_encode_table(&arena, req);
        else
            res = json_pack("{ss}", "error", "unknown op");
        char *text = json_dumps(res, JSON_COMPACT);
        puts(text);
        fflush(stdout);
        free(text);
        json_decref(res);
        json_decref(req);
        arena_free(&arena);
    }
    free(line);
    arena_free(&arena);
    return 0;
}
