/*
 * method.c — method frame payloads: the entry points around the generated
 * per-method code in spec_gen.c, method names, reply code names, and the
 * UTF-8 check RabbitMQ applies to the shortstrs of methods without content.
 *
 * Design: decoding dispatches once on the 32-bit method id to straight-line
 * generated code that reads into the caller's (usually stack) struct with
 * no allocation; strings and tables stay views into the payload. Decoding is
 * as strict as RabbitMQ's binary patterns: a method must be exactly as long
 * as its fields, so truncation and stray trailing octets are both frame
 * errors. Encoding measures the method first and then writes it in one go,
 * into a keel_buf_t grown at most once or into the caller's area.
 */
#include "spec_gen.h"

keel_amqp_str_t keel_amqp_str(const char *s)
{
    return (keel_amqp_str_t){s ? s : "", s ? strlen(s) : 0};
}

bool keel_amqp_str_eq(keel_amqp_str_t a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || memcmp(a.base, s, n) == 0);
}

bool keel__amqp_utf8_valid(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
    }
    return true;
}

int keel_amqp_method_decode(const uint8_t *payload, size_t len, keel_amqp_method_t *out, keel_amqp_error_t *err)
{
    if (len < 4) {
        if (err)
            *err = (keel_amqp_error_t){.code = KEEL_AMQP_FRAME_ERROR, .text = "method frame shorter than its ids"};
        return KEEL_EPROTO;
    }
    keel__rd_t r;
    keel__rd_init(&r, payload, len);
    out->id = keel__rd_u32(&r);
    int rc = keel__amqp_fields_decode(&r, out);
    if (rc == 0 && !r.err && r.p == r.end)
        return 0;
    if (err) {
        err->class_id = (uint16_t)(out->id >> 16);
        err->method_id = (uint16_t)out->id;
        if (rc == KEEL_ENOTSUP) {
            err->code = KEEL_AMQP_NOT_IMPLEMENTED;
            err->text = "unknown class or method id";
        } else {
            err->code = KEEL_AMQP_FRAME_ERROR;
            err->text = r.err ? r.err : "octets left over after the method's fields";
        }
    }
    return KEEL_EPROTO;
}

/* Measures m's payload; 0 or KEEL_EINVAL. */
static int measure(const keel_amqp_method_t *m, size_t *n)
{
    int rc = keel__amqp_fields_size(m, n);
    if (rc == 0 && *n > UINT32_MAX)
        rc = KEEL_EINVAL;
    return rc;
}

/* Writes the frame of a payload of n octets, measured already. */
static void write_frame(uint8_t *dst, uint16_t channel, const keel_amqp_method_t *m, size_t n)
{
    keel__wr_head(dst, KEEL_AMQP_FRAME_METHOD, channel, (uint32_t)n);
    uint8_t *end = keel__amqp_fields_write(dst + KEEL_AMQP_FRAME_HEAD_SIZE, m);
    KEEL_ASSERT(end == dst + KEEL_AMQP_FRAME_HEAD_SIZE + n);
    *end = KEEL_AMQP_FRAME_END;
}

int keel_amqp_method_write(uint8_t *dst, size_t cap, uint16_t channel, const keel_amqp_method_t *m, size_t *len)
{
    size_t n;
    int rc = measure(m, &n);
    if (rc != 0)
        return rc;
    *len = n + KEEL_AMQP_FRAME_OVERHEAD;
    if (cap < *len)
        return KEEL_ERANGE;
    write_frame(dst, channel, m, n);
    return 0;
}

int keel_amqp_method_encode(keel_buf_t *out, uint16_t channel, const keel_amqp_method_t *m)
{
    size_t n;
    int rc = measure(m, &n);
    if (rc == 0)
        rc = keel_buf_reserve(out, n + KEEL_AMQP_FRAME_OVERHEAD);
    if (rc != 0)
        return rc;
    write_frame((uint8_t *)out->base + out->len, channel, m, n);
    out->len += n + KEEL_AMQP_FRAME_OVERHEAD;
    out->base[out->len] = '\0';
    return 0;
}

const char *keel_amqp_method_name(uint32_t id)
{
    const keel_amqp_method_info_t *info = keel_amqp_method_info(id);
    return info ? info->name : NULL;
}

const char *keel_amqp_reply_name(uint16_t code)
{
    switch (code) {
#define REPLY_NAME_(code, name, spec, hard, doc)                                                                                   \
    case code:                                                                                                                     \
        return #name;
        KEEL_AMQP_REPLY_MAP(REPLY_NAME_)
#undef REPLY_NAME_
    default:
        return NULL;
    }
}

bool keel_amqp_reply_is_hard(uint16_t code)
{
    switch (code) {
#define REPLY_HARD_(code, name, spec, hard, doc)                                                                                   \
    case code:                                                                                                                     \
        return hard;
        KEEL_AMQP_REPLY_MAP(REPLY_HARD_)
#undef REPLY_HARD_
    default:
        /* RabbitMQ treats a code it does not know as an internal error,
         * which closes the connection. */
        return true;
    }
}
