/*
 * content.c — content header frames (class, weight, body size, property
 * flags and the present basic properties) and the splitting of a message
 * into a header frame and body frames no larger than frame-max.
 *
 * Design: the 14 properties are read by generated code into views, and the
 * raw property octets are kept beside them, so a broker can hand a
 * publisher's properties to consumers without re-encoding them, as RabbitMQ
 * does with its properties_bin. Property flags follow the spec's
 * continuation rule (bit 0 of a flag word says another word follows); as
 * basic has only 14 properties, a flag for a 15th or later property cannot
 * be decoded and is a frame error rather than silently skipped.
 */
#include "spec_gen.h"

/* Flag bits of the first word that name no basic property: bit 1 (a 15th
 * property) — bit 0 is the continuation bit. */
#define UNKNOWN_PROPS 0x0002u

static int fail(keel_amqp_error_t *err, uint16_t code, const char *text)
{
    if (err)
        *err = (keel_amqp_error_t){.code = code, .class_id = KEEL_AMQP_CLASS_BASIC, .text = text};
    return KEEL_EPROTO;
}

int keel_amqp_header_decode(const uint8_t *payload, size_t len, keel_amqp_header_t *out, keel_amqp_error_t *err)
{
    if (len < 14)
        return fail(err, KEEL_AMQP_FRAME_ERROR, "content header frame too short");
    keel__rd_t r;
    keel__rd_init(&r, payload, len);
    uint16_t class_id = keel__rd_u16(&r);
    uint16_t weight = keel__rd_u16(&r);
    uint64_t body_size = keel__rd_u64(&r);
    /* RabbitMQ's assembler takes only weight 0 and the class of the method
     * before it — always basic — and calls anything else unexpected. */
    if (class_id != KEEL_AMQP_CLASS_BASIC)
        return fail(err, KEEL_AMQP_UNEXPECTED_FRAME, "content header for a class other than basic");
    if (weight != 0)
        return fail(err, KEEL_AMQP_UNEXPECTED_FRAME, "content header with a non-zero weight");

    const uint8_t *raw = r.p;
    uint16_t flags = keel__rd_u16(&r);
    if (flags & UNKNOWN_PROPS)
        return fail(err, KEEL_AMQP_FRAME_ERROR, "property flag for an unknown basic property");
    /* Further flag words may only be empty (and continue or not). */
    for (uint16_t more = flags; !r.err && (more & 1);) {
        more = keel__rd_u16(&r);
        if (more & ~1u)
            return fail(err, KEEL_AMQP_FRAME_ERROR, "property flag for an unknown basic property");
    }
    keel__amqp_props_decode(&r, flags & (uint16_t)~1u, &out->props);
    if (r.err)
        return fail(err, KEEL_AMQP_FRAME_ERROR, r.err);
    if (r.p != r.end)
        return fail(err, KEEL_AMQP_FRAME_ERROR, "octets left over after the properties");
    out->class_id = class_id;
    out->body_size = body_size;
    out->props_raw = raw;
    out->props_raw_len = (size_t)(r.end - raw);
    return 0;
}

/* Measures a header frame's payload; 0 or KEEL_EINVAL. */
static int measure(const keel_amqp_properties_t *props, size_t *n)
{
    int rc = keel__amqp_props_size(props, n);
    if (rc != 0)
        return rc;
    *n += 12; /* class, weight, body size */
    return *n > UINT32_MAX ? KEEL_EINVAL : 0;
}

/* Writes a header frame whose payload measured n octets. */
static void write_frame(uint8_t *dst, uint16_t channel, uint64_t body_size, const keel_amqp_properties_t *props, size_t n)
{
    keel__wr_head(dst, KEEL_AMQP_FRAME_HEADER, channel, (uint32_t)n);
    uint8_t *p = dst + KEEL_AMQP_FRAME_HEAD_SIZE;
    p = keel__wr_u16(p, KEEL_AMQP_CLASS_BASIC);
    p = keel__wr_u16(p, 0);
    p = keel__wr_u64(p, body_size);
    p = keel__amqp_props_write(p, props);
    KEEL_ASSERT(p == dst + KEEL_AMQP_FRAME_HEAD_SIZE + n);
    *p = KEEL_AMQP_FRAME_END;
}

int keel_amqp_header_write(uint8_t *dst, size_t cap, uint16_t channel, uint64_t body_size, const keel_amqp_properties_t *props,
                           size_t *len)
{
    size_t n;
    int rc = measure(props, &n);
    if (rc != 0)
        return rc;
    *len = n + KEEL_AMQP_FRAME_OVERHEAD;
    if (cap < *len)
        return KEEL_ERANGE;
    write_frame(dst, channel, body_size, props, n);
    return 0;
}

/* Reserves room for a header frame and extra octets after it, and writes
 * the header frame at the end of out. */
static int header_append(keel_buf_t *out, uint16_t channel, uint64_t body_size, const keel_amqp_properties_t *props, size_t extra)
{
    size_t n;
    int rc = measure(props, &n);
    if (rc != 0)
        return rc;
    size_t len = n + KEEL_AMQP_FRAME_OVERHEAD;
    if (extra > SIZE_MAX - len)
        return KEEL_ENOMEM;
    rc = keel_buf_reserve(out, len + extra);
    if (rc != 0)
        return rc;
    write_frame((uint8_t *)out->base + out->len, channel, body_size, props, n);
    out->len += len;
    out->base[out->len] = '\0';
    return 0;
}

int keel_amqp_header_encode(keel_buf_t *out, uint16_t channel, uint64_t body_size, const keel_amqp_properties_t *props)
{
    return header_append(out, channel, body_size, props, 0);
}

int keel_amqp_content_encode(keel_buf_t *out, uint16_t channel, uint32_t frame_max, const keel_amqp_properties_t *props,
                             const void *body, size_t len)
{
    if (frame_max != 0 && frame_max <= KEEL_AMQP_FRAME_OVERHEAD)
        return KEEL_EINVAL;
    if (len && !body)
        return KEEL_EINVAL;
    size_t chunk = frame_max ? frame_max - KEEL_AMQP_FRAME_OVERHEAD : UINT32_MAX;
    size_t frames = len ? (len - 1) / chunk + 1 : 0;
    if (frames > (SIZE_MAX - len) / KEEL_AMQP_FRAME_OVERHEAD)
        return KEEL_ENOMEM;
    /* One reservation for the whole message: header, bodies and overheads. */
    int rc = header_append(out, channel, len, props, len + frames * KEEL_AMQP_FRAME_OVERHEAD);
    if (rc != 0)
        return rc;
    /* The reservation above covers every body frame: write them in place. */
    const uint8_t *p = body;
    uint8_t *dst = (uint8_t *)out->base + out->len;
    for (size_t left = len; left > 0;) {
        size_t n = left < chunk ? left : chunk;
        keel__wr_head(dst, KEEL_AMQP_FRAME_BODY, channel, (uint32_t)n);
        dst = keel__wr_bytes(dst + KEEL_AMQP_FRAME_HEAD_SIZE, p, n);
        *dst++ = KEEL_AMQP_FRAME_END;
        p += n;
        left -= n;
    }
    out->len = (size_t)((char *)dst - out->base);
    out->base[out->len] = '\0';
    return 0;
}
