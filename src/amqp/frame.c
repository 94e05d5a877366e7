/*
 * frame.c — the outer layer of AMQP 0-9-1: the 8-octet protocol header a
 * client opens with, and frames (type, channel, size, payload, frame-end).
 *
 * Design: the parser is incremental over a connection's read buffer. It
 * never copies: a complete frame comes back as a view of its payload, and an
 * incomplete one as the number of octets the caller must have before trying
 * again, so a libuv reader can size its next read and re-parse once instead
 * of on every packet. Checks that need no connection state (frame-end,
 * frame-max, frame type, the channel rules of heartbeats and content frames)
 * are made here, with the reply code RabbitMQ would close with; everything
 * that depends on what came before is the broker's or client's business.
 */
#include "wire.h"

static int fail(keel_amqp_error_t *err, uint16_t code, const char *text)
{
    if (err)
        *err = (keel_amqp_error_t){.code = code, .text = text};
    return KEEL_EPROTO;
}

int keel_amqp_protocol_parse(const uint8_t *buf, size_t len, keel_amqp_protocol_t *out, size_t *used)
{
    static const uint8_t magic[4] = {'A', 'M', 'Q', 'P'};
    size_t look = len < 4 ? len : 4;
    /* Refuse HTTP or TLS as soon as one octet differs, so a server need not
     * wait for eight octets a confused peer may never send. */
    if (look && memcmp(buf, magic, look) != 0) {
        *out = (keel_amqp_protocol_t){.kind = KEEL_AMQP_PROTO_NOT_AMQP};
        *used = look;
        return 0;
    }
    *used = KEEL_AMQP_PROTOCOL_HEADER_SIZE;
    if (len < KEEL_AMQP_PROTOCOL_HEADER_SIZE)
        return KEEL_EAGAIN;
    keel_amqp_protocol_t p = {.id = buf[4], .major = buf[5], .minor = buf[6], .revision = buf[7]};
    if (p.id == 0 && p.major == 0 && p.minor == 9 && p.revision == 1)
        p.kind = KEEL_AMQP_PROTO_0_9_1;
    else if (p.id == 1 && p.major == 1 && p.minor == 0 && p.revision == 9)
        p.kind = KEEL_AMQP_PROTO_0_9;
    else if (p.id == 1 && p.major == 1 && p.minor == 8 && p.revision == 0)
        p.kind = KEEL_AMQP_PROTO_0_8;
    else if (p.major == 1 && p.minor == 0 && p.revision == 0 && (p.id == 0 || p.id == 2 || p.id == 3))
        p.kind = KEEL_AMQP_PROTO_1_0;
    else
        p.kind = KEEL_AMQP_PROTO_OTHER;
    *out = p;
    return 0;
}

int keel_amqp_frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max, keel_amqp_frame_t *out, size_t *used,
                          keel_amqp_error_t *err)
{
    if (len < KEEL_AMQP_FRAME_HEAD_SIZE) {
        *used = KEEL_AMQP_FRAME_OVERHEAD;
        return KEEL_EAGAIN;
    }
    uint8_t type = buf[0];
    uint16_t channel = keel__get_u16(buf + 1);
    uint32_t size = keel__get_u32(buf + 3);

    /* Decided from the head alone, before a huge payload is buffered. */
    if (frame_max != 0 && size > frame_max)
        return fail(err, KEEL_AMQP_FRAME_ERROR, "frame too large");
    switch (type) {
    case KEEL_AMQP_FRAME_METHOD:
        if (size < 4)
            return fail(err, KEEL_AMQP_FRAME_ERROR, "method frame shorter than its class and method ids");
        break;
    case KEEL_AMQP_FRAME_HEADER:
        if (size < 14)
            return fail(err, KEEL_AMQP_FRAME_ERROR, "content header frame too short");
        if (channel == 0)
            return fail(err, KEEL_AMQP_UNEXPECTED_FRAME, "content header frame on channel 0");
        break;
    case KEEL_AMQP_FRAME_BODY:
        if (channel == 0)
            return fail(err, KEEL_AMQP_UNEXPECTED_FRAME, "content body frame on channel 0");
        break;
    case KEEL_AMQP_FRAME_HEARTBEAT:
        if (size != 0)
            return fail(err, KEEL_AMQP_FRAME_ERROR, "heartbeat frame with a payload");
        if (channel != 0)
            return fail(err, KEEL_AMQP_UNEXPECTED_FRAME, "heartbeat frame on a channel other than 0");
        break;
    default:
        return fail(err, KEEL_AMQP_FRAME_ERROR, "unknown frame type");
    }

    /* size is at most 2^32 - 1, so the total fits a 64-bit count; on a
     * 32-bit size_t a frame that large could never be buffered anyway. */
    uint64_t total = (uint64_t)size + KEEL_AMQP_FRAME_OVERHEAD;
    if (total > SIZE_MAX)
        return fail(err, KEEL_AMQP_FRAME_ERROR, "frame too large");
    if (len < total) {
        *used = (size_t)total;
        return KEEL_EAGAIN;
    }
    if (buf[total - 1] != KEEL_AMQP_FRAME_END)
        return fail(err, KEEL_AMQP_FRAME_ERROR, "invalid frame end marker");
    out->type = type;
    out->channel = channel;
    out->size = size;
    out->payload = buf + KEEL_AMQP_FRAME_HEAD_SIZE;
    *used = (size_t)total;
    return 0;
}

void keel_amqp_frame_head(uint8_t *dst, uint8_t type, uint16_t channel, uint32_t size)
{
    keel__wr_head(dst, type, channel, size);
}

int keel_amqp_frame_encode(keel_buf_t *out, uint8_t type, uint16_t channel, const void *payload, size_t len)
{
    if (len > UINT32_MAX || (len && !payload))
        return KEEL_EINVAL;
    int rc = keel_buf_reserve(out, len + KEEL_AMQP_FRAME_OVERHEAD);
    if (rc != 0)
        return rc;
    uint8_t *p = (uint8_t *)out->base + out->len;
    keel__wr_head(p, type, channel, (uint32_t)len);
    p = keel__wr_bytes(p + KEEL_AMQP_FRAME_HEAD_SIZE, payload, len);
    *p = KEEL_AMQP_FRAME_END;
    out->len += len + KEEL_AMQP_FRAME_OVERHEAD;
    out->base[out->len] = '\0';
    return 0;
}
