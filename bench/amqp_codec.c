/*
 * amqp_codec.c — micro benchmark of the AMQP codec on the broker's hot
 * path: decoding a publish (basic.publish method, content header, body
 * frame) out of a read buffer, and encoding one (method, header and body
 * frames) into a reused output buffer, plus a delivery and a table lookup.
 *
 * Each measure prints one line:
 *   bench=amqp_codec measure=<name> ns_per_op=<float> allocs_per_op=<float> ops=<n>
 * allocs_per_op counts calls into keel's allocator hook during the timed
 * loop; decoding must show 0, encoding into a warmed buffer 0 as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc_count.h"
#include "keel/amqp.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *name, double ns, unsigned long a, unsigned long ops)
{
    printf("bench=amqp_codec measure=%s ns_per_op=%.1f allocs_per_op=%.3f ops=%lu\n", name, ns / (double)ops,
           (double)a / (double)ops, ops);
}

/* A publish as a typical oslo.messaging client sends it. */
static void make_publish(keel_buf_t *wire, keel_buf_t *tab, keel_amqp_properties_t *p, const char *body, size_t len)
{
    keel_amqp_builder_t b;
    keel_amqp_builder_init(&b, tab);
    keel_amqp_build_str(&b, "x-trace", "req-0f3a1c");
    keel_amqp_build_int(&b, "ttl", 60000);
    *p = (keel_amqp_properties_t){.flags = KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_CONTENT_ENCODING | KEEL_AMQP_PROP_HEADERS |
                                           KEEL_AMQP_PROP_DELIVERY_MODE | KEEL_AMQP_PROP_PRIORITY | KEEL_AMQP_PROP_CORRELATION_ID |
                                           KEEL_AMQP_PROP_REPLY_TO | KEEL_AMQP_PROP_MESSAGE_ID | KEEL_AMQP_PROP_TIMESTAMP,
                                  .content_type = KEEL_AMQP_STR("application/json"),
                                  .content_encoding = KEEL_AMQP_STR("utf-8"),
                                  .delivery_mode = 2,
                                  .priority = 0,
                                  .correlation_id = KEEL_AMQP_STR("8c1b4e0a2f6d4b9e"),
                                  .reply_to = KEEL_AMQP_STR("reply_5b0d2c6e7a"),
                                  .message_id = KEEL_AMQP_STR("1f2e3d4c5b6a7988"),
                                  .timestamp = 1700000000};
    if (keel_amqp_builder_finish(&b, &p->headers) != 0)
        abort();
    keel_amqp_method_t m = {.id = KEEL_AMQP_BASIC_PUBLISH,
                            .basic_publish = {.exchange = KEEL_AMQP_STR("nova"), .routing_key = KEEL_AMQP_STR("compute.host1")}};
    if (keel_amqp_method_encode(wire, 1, &m) != 0 || keel_amqp_content_encode(wire, 1, 131072, p, body, len) != 0)
        abort();
}

int main(int argc, char **argv)
{
    unsigned long ops = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    char body[512];
    memset(body, 'x', sizeof(body));
    keel_buf_t wire, tab, out;
    keel_buf_init(&wire);
    keel_buf_init(&tab);
    keel_buf_init(&out);
    keel_amqp_properties_t props;
    make_publish(&wire, &tab, &props, body, sizeof(body));
    alloc_count_install();

    /* Decode: three frames out of the buffer, the method, the header. */
    unsigned long sum = 0;
    allocs = 0;
    double t0 = now_ns();
    for (unsigned long i = 0; i < ops; i++) {
        const uint8_t *p = (const uint8_t *)wire.base;
        size_t left = wire.len, used;
        keel_amqp_frame_t f;
        keel_amqp_method_t m;
        keel_amqp_header_t h;
        if (keel_amqp_frame_parse(p, left, 131072, &f, &used, NULL) != 0 ||
            keel_amqp_method_decode(f.payload, f.size, &m, NULL) != 0)
            abort();
        p += used, left -= used;
        if (keel_amqp_frame_parse(p, left, 131072, &f, &used, NULL) != 0 ||
            keel_amqp_header_decode(f.payload, f.size, &h, NULL) != 0)
            abort();
        p += used, left -= used;
        if (keel_amqp_frame_parse(p, left, 131072, &f, &used, NULL) != 0)
            abort();
        sum += m.basic_publish.routing_key.len + h.props.delivery_mode + f.size;
    }
    report("publish_decode", now_ns() - t0, allocs, ops);

    /* Encode the same publish into a reused (warmed) output buffer. */
    keel_amqp_method_t pub = {.id = KEEL_AMQP_BASIC_PUBLISH,
                              .basic_publish = {.exchange = KEEL_AMQP_STR("nova"), .routing_key = KEEL_AMQP_STR("compute.host1")}};
    keel_amqp_method_encode(&out, 1, &pub);
    keel_amqp_content_encode(&out, 1, 131072, &props, body, sizeof(body));
    allocs = 0;
    t0 = now_ns();
    for (unsigned long i = 0; i < ops; i++) {
        keel_buf_reset(&out);
        if (keel_amqp_method_encode(&out, 1, &pub) != 0 ||
            keel_amqp_content_encode(&out, 1, 131072, &props, body, sizeof(body)) != 0)
            abort();
        sum += out.len;
    }
    report("publish_encode", now_ns() - t0, allocs, ops);
    if (out.len != wire.len || memcmp(out.base, wire.base, wire.len) != 0)
        abort();

    /* A broker's delivery: basic.deliver, then the publisher's properties. */
    allocs = 0;
    t0 = now_ns();
    for (unsigned long i = 0; i < ops; i++) {
        keel_amqp_method_t d = {.id = KEEL_AMQP_BASIC_DELIVER,
                                .basic_deliver = {.consumer_tag = KEEL_AMQP_STR("ctag1.0123456789abcdef"),
                                                  .delivery_tag = i + 1,
                                                  .exchange = KEEL_AMQP_STR("nova"),
                                                  .routing_key = KEEL_AMQP_STR("compute.host1")}};
        keel_buf_reset(&out);
        if (keel_amqp_method_encode(&out, 1, &d) != 0 || keel_amqp_content_encode(&out, 1, 131072, &props, body, sizeof(body)) != 0)
            abort();
        sum += out.len;
    }
    report("deliver_encode", now_ns() - t0, allocs, ops);

    /* Reading a queue argument the way the broker will: by key, any int type. */
    allocs = 0;
    t0 = now_ns();
    for (unsigned long i = 0; i < ops; i++) {
        int64_t ttl;
        if (keel_amqp_table_get_int(props.headers, "ttl", &ttl) != 0)
            abort();
        sum += (unsigned long)ttl;
    }
    report("table_get_int", now_ns() - t0, allocs, ops);

    fprintf(stderr, "checksum %lu\n", sum);
    keel_buf_free(&wire);
    keel_buf_free(&tab);
    keel_buf_free(&out);
    return 0;
}
