/*
 * fuzz_amqp_frame.c — the AMQP 0-9-1 codec on hostile bytes: the protocol
 * header parser, the frame parser over the input as a stream, the method
 * and content header decoders on each frame's payload (and on the raw
 * input, so the fuzzer need not build frames first), and field tables.
 *
 * Beyond "no crash" it checks what succeeded: frames lie inside the input
 * and end in frame-end; a decoded method or header re-encodes and decodes
 * to the same values; every table walks to exactly its length with known
 * field types, nests no deeper than the limit, and the builder fed with
 * what the iterator yields reproduces its octets.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../amqp/amqp_testlib.h"

/* Walks a validated table or array; returns its depth. */
static unsigned walk(const uint8_t *base, size_t len, bool array, keel_amqp_builder_t *b)
{
    keel_amqp_iter_t it;
    keel_amqp_str_t k;
    keel_amqp_value_t v;
    if (array)
        keel_amqp_array_iter(&it, (keel_amqp_array_t){base, len});
    else
        keel_amqp_table_iter(&it, (keel_amqp_table_t){base, len});
    unsigned deepest = 1;
    while (keel_amqp_iter_next(&it, &k, &v)) {
        KEEL_ASSERT(array ? k.len == 0 : k.len <= 255);
        KEEL_ASSERT(memchr("tbBsuIilLfdDSxTVFA", v.type, 18) != NULL);
        if (v.type == 'F' || v.type == 'A') {
            KEEL_ASSERT(v.table.base >= base && v.table.base + v.table.len <= base + len);
            KEEL_ASSERT(keel_amqp_build_begin(b, k, v.type) == 0);
            unsigned d = 1 + walk(v.table.base, v.table.len, v.type == 'A', b);
            KEEL_ASSERT(keel_amqp_build_end(b) == 0);
            if (d > deepest)
                deepest = d;
        } else {
            KEEL_ASSERT(keel_amqp_build_put(b, k, &v) == 0);
        }
    }
    return deepest;
}

/* Walks two tables (or arrays) in lockstep: same keys, same values. */
static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, bool array)
{
    keel_amqp_iter_t ia, ib;
    keel_amqp_str_t ka, kb;
    keel_amqp_value_t va, vb;
    if (array) {
        keel_amqp_array_iter(&ia, (keel_amqp_array_t){a, alen});
        keel_amqp_array_iter(&ib, (keel_amqp_array_t){b, blen});
    } else {
        keel_amqp_table_iter(&ia, (keel_amqp_table_t){a, alen});
        keel_amqp_table_iter(&ib, (keel_amqp_table_t){b, blen});
    }
    for (;;) {
        bool ma = keel_amqp_iter_next(&ia, &ka, &va), mb = keel_amqp_iter_next(&ib, &kb, &vb);
        if (ma != mb)
            return false;
        if (!ma)
            return true;
        if (!tl_str_equal(ka, kb) || va.type != vb.type)
            return false;
        if (va.type == 'F' || va.type == 'A') {
            if (!same(va.table.base, va.table.len, vb.table.base, vb.table.len, va.type == 'A'))
                return false;
        } else if (!tl_scalar_equal(&va, &vb)) {
            return false;
        }
    }
}

static void check_table(keel_amqp_table_t t)
{
    keel_buf_t out;
    keel_buf_init(&out);
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, &out);
    unsigned depth = walk(t.base, t.len, false, &b);
    KEEL_ASSERT(depth <= KEEL_AMQP_MAX_DEPTH);
    keel_amqp_table_t again;
    KEEL_ASSERT(keel_amqp_builder_finish(&b, &again) == 0);
    /* Every entry came out of the iterator, each as long as on the wire and
     * with the same value (a 't' of 8 comes back as 1, so not the same octets). */
    KEEL_ASSERT(again.len == t.len);
    KEEL_ASSERT(same(t.base, t.len, again.base, again.len, false));
    keel_buf_free(&out);
}

static void check_method(const uint8_t *payload, size_t len)
{
    keel_amqp_method_t m;
    keel_amqp_error_t err = {0};
    if (keel_amqp_method_decode(payload, len, &m, &err) != 0) {
        KEEL_ASSERT(err.code == KEEL_AMQP_FRAME_ERROR || err.code == KEEL_AMQP_NOT_IMPLEMENTED);
        KEEL_ASSERT(err.text != NULL);
        return;
    }
    const keel_amqp_method_info_t *info = keel_amqp_method_info(m.id);
    KEEL_ASSERT(info != NULL);
    for (size_t i = 0; i < info->nfields; i++) {
        if (info->fields[i].type == KEEL_AMQP_TYPE_TABLE)
            check_table(*(const keel_amqp_table_t *)(TL_CFIELDS(&m) + info->fields[i].offset));
    }
    /* Re-encode, parse the frame back, decode: the same method. */
    keel_buf_t out;
    keel_buf_init(&out);
    KEEL_ASSERT(keel_amqp_method_encode(&out, 7, &m) == 0);
    keel_amqp_frame_t f;
    size_t used;
    KEEL_ASSERT(keel_amqp_frame_parse((const uint8_t *)out.base, out.len, 0, &f, &used, NULL) == 0);
    KEEL_ASSERT(used == out.len && f.channel == 7 && f.type == KEEL_AMQP_FRAME_METHOD);
    /* Unused bits may be dropped, so the sizes match but not always the bytes. */
    KEEL_ASSERT(f.size == len);
    keel_amqp_method_t back;
    KEEL_ASSERT(keel_amqp_method_decode(f.payload, f.size, &back, NULL) == 0);
    KEEL_ASSERT(tl_method_equal(&m, &back));
    keel_buf_free(&out);
}

static void check_header(const uint8_t *payload, size_t len)
{
    keel_amqp_header_t h;
    keel_amqp_error_t err = {0};
    if (keel_amqp_header_decode(payload, len, &h, &err) != 0) {
        KEEL_ASSERT(err.code == KEEL_AMQP_FRAME_ERROR || err.code == KEEL_AMQP_UNEXPECTED_FRAME);
        return;
    }
    KEEL_ASSERT(h.props_raw == payload + 12 && h.props_raw_len == len - 12);
    if (h.props.flags & KEEL_AMQP_PROP_HEADERS)
        check_table(h.props.headers);
    keel_buf_t out;
    keel_buf_init(&out);
    KEEL_ASSERT(keel_amqp_header_encode(&out, 1, h.body_size, &h.props) == 0);
    keel_amqp_frame_t f;
    size_t used;
    KEEL_ASSERT(keel_amqp_frame_parse((const uint8_t *)out.base, out.len, 0, &f, &used, NULL) == 0);
    keel_amqp_header_t back;
    KEEL_ASSERT(keel_amqp_header_decode(f.payload, f.size, &back, NULL) == 0);
    KEEL_ASSERT(back.body_size == h.body_size && tl_props_equal(&h.props, &back.props));
    /* Only empty continuation words are dropped on the way. */
    KEEL_ASSERT(f.size <= len);
    keel_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keel_amqp_protocol_t proto;
    size_t used;
    int rc = keel_amqp_protocol_parse(data, size, &proto, &used);
    KEEL_ASSERT(rc == KEEL_EAGAIN ? size < 8 : (rc == 0 && used <= 8 && proto.kind <= KEEL_AMQP_PROTO_NOT_AMQP));

    /* The input as a stream of frames, with a limit taken from it. */
    uint32_t frame_max = size > 0 && (data[0] & 1) ? 4096 : 0;
    size_t at = 0;
    while (at < size) {
        keel_amqp_frame_t f;
        keel_amqp_error_t err = {0};
        rc = keel_amqp_frame_parse(data + at, size - at, frame_max, &f, &used, &err);
        if (rc == KEEL_EAGAIN) {
            KEEL_ASSERT(used > size - at);
            break;
        }
        if (rc != 0) {
            KEEL_ASSERT(rc == KEEL_EPROTO && (err.code == 501 || err.code == 505));
            break;
        }
        KEEL_ASSERT(used == (size_t)f.size + 8 && at + used <= size);
        KEEL_ASSERT(f.payload == data + at + 7 && data[at + used - 1] == KEEL_AMQP_FRAME_END);
        KEEL_ASSERT(frame_max == 0 || f.size <= frame_max);
        if (f.type == KEEL_AMQP_FRAME_METHOD)
            check_method(f.payload, f.size);
        else if (f.type == KEEL_AMQP_FRAME_HEADER)
            check_header(f.payload, f.size);
        else if (f.type == KEEL_AMQP_FRAME_HEARTBEAT)
            KEEL_ASSERT(f.size == 0 && f.channel == 0);
        at += used;
    }

    /* The raw input as a method payload, a header payload and a table. */
    check_method(data, size);
    check_header(data, size);
    keel_amqp_table_t t;
    keel_amqp_error_t err = {0};
    if (keel_amqp_table_parse(data, size, &t, &used, &err) == 0) {
        KEEL_ASSERT(used == t.len + 4 && t.base == data + 4);
        check_table(t);
    } else {
        KEEL_ASSERT(err.code == KEEL_AMQP_FRAME_ERROR);
    }
    return 0;
}
