/*
 * props.h — internal to the broker module (never installed): decoding and
 * rewriting a message's basic properties (see props.c).
 */
#ifndef KEEL_BROKER_PROPS_H
#define KEEL_BROKER_PROPS_H

#include "keel/amqp.h"
#include "msg.h"

/**
 * Decodes m's property bytes into *out, whose views point into scratch
 * (valid until scratch changes). Returns 0, KEEL_ENOMEM or KEEL_EPROTO.
 */
int keel__msg_props(const keel__msg_t *m, keel_buf_t *scratch, keel_amqp_properties_t *out);

/**
 * A copy of m with another exchange, routing key and properties (the body
 * is copied). Returns NULL on OOM or if the properties cannot be encoded.
 */
keel__msg_t *keel__msg_rewrite(const keel__msg_t *m, const char *exchange, size_t exchange_len, const char *rkey, size_t rkey_len,
                               const keel_amqp_properties_t *props);

/**
 * Fills m's priority, persistence and expiration from decoded properties.
 * Returns 0, or KEEL_EVALUE for an expiration that is not a non-negative
 * integer (RabbitMQ's PRECONDITION_FAILED "invalid expiration").
 */
int keel__msg_set_props_cache(keel__msg_t *m, const keel_amqp_properties_t *p);

#endif
