/*
 * fuzz_broker_conn.c — keeld's connection state machine under arbitrary
 * input. Each input is split into two halves: the first is fed from the
 * first octet (protocol header, handshake); the second after a complete,
 * valid handshake and one open channel, so mutations also reach the
 * channel layer (declares, publishes, consumes, acks). A second
 * connection runs a publish/get round trip afterwards: whatever the first
 * one did, the broker must still serve it.
 */
#include <stdint.h>
#include <string.h>

#include "../../src/broker/broker_int.h"

static keel_buf_t frames;

static void method(uint16_t channel, keel_amqp_method_t m)
{
    keel_amqp_method_encode(&frames, channel, &m);
}

/* A valid client handshake up to an open channel 1. */
static void handshake(void)
{
    keel_buf_reset(&frames);
    keel_buf_append(&frames, KEEL_AMQP_PROTOCOL_HEADER, 8);
    keel_amqp_method_t so = {.id = KEEL_AMQP_CONNECTION_START_OK};
    so.connection_start_ok.mechanism = KEEL_AMQP_STR("PLAIN");
    so.connection_start_ok.response = (keel_amqp_str_t){"\0guest\0guest", 12};
    so.connection_start_ok.locale = KEEL_AMQP_STR("en_US");
    method(0, so);
    keel_amqp_method_t to = {.id = KEEL_AMQP_CONNECTION_TUNE_OK};
    to.connection_tune_ok.channel_max = 16;
    to.connection_tune_ok.frame_max = 4096;
    method(0, to);
    keel_amqp_method_t op = {.id = KEEL_AMQP_CONNECTION_OPEN};
    op.connection_open.virtual_host = KEEL_AMQP_STR("/");
    method(0, op);
    method(1, (keel_amqp_method_t){.id = KEEL_AMQP_CHANNEL_OPEN});
}

static void round_trip(keel_broker_t *b)
{
    conn_t *c = keel__conn_new_detached(b);
    handshake();
    keel_amqp_method_t qd = {.id = KEEL_AMQP_QUEUE_DECLARE};
    qd.queue_declare.queue = KEEL_AMQP_STR("fuzz.check");
    method(1, qd);
    keel_amqp_method_t pub = {.id = KEEL_AMQP_BASIC_PUBLISH};
    pub.basic_publish.routing_key = KEEL_AMQP_STR("fuzz.check");
    method(1, pub);
    keel_amqp_properties_t props = {0};
    keel_amqp_content_encode(&frames, 1, 4096, &props, "ok", 2);
    keel__conn_feed(c, (const uint8_t *)frames.base, frames.len);
    queue_t *q = keel__queue_find(keel__vhost_find(b, "/", 1), "fuzz.check", 10);
    KEEL_ASSERT(q != NULL && keel__queue_ready(q) >= 1);
    keel__conn_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_opts_t opts;
    keel_broker_opts_init(&opts);
    opts.max_message_size = 1 << 20;
    keel_broker_t *b;
    KEEL_ASSERT(keel_broker_new(&b, &loop, &opts) == 0);
    keel_buf_init(&frames);

    size_t half = size / 2;
    conn_t *raw = keel__conn_new_detached(b);
    keel__conn_feed(raw, data, half);
    uv_run(&loop, UV_RUN_NOWAIT);

    conn_t *c = keel__conn_new_detached(b);
    handshake();
    keel__conn_feed(c, (const uint8_t *)frames.base, frames.len);
    KEEL_ASSERT(c->state == CONN_OPEN);
    keel__conn_feed(c, data + half, size - half);
    uv_run(&loop, UV_RUN_NOWAIT);

    round_trip(b);
    keel_buf_free(&frames);
    keel_broker_close(b, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    keel_broker_free(b);
    KEEL_ASSERT(uv_loop_close(&loop) == 0);
    return 0;
}
