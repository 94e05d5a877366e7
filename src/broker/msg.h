/*
 * msg.h — internal to the broker module (never installed). A published
 * message: its routing data, its content header's property bytes as the
 * publisher sent them (forwarded to consumers without re-encoding), and
 * its body, in one reference-counted block shared by every queue the
 * message was routed to.
 */
#ifndef KEEL_BROKER_MSG_H
#define KEEL_BROKER_MSG_H

#include "keel/core.h"

typedef struct keel__msg_s {
    uint32_t refs;
    uint8_t priority; /* basic.priority, 0 when absent */
    bool persistent;  /* delivery-mode 2 */
    bool has_expiration;
    int64_t expiration_ms; /* per-message TTL from the expiration property */
    uint64_t body_size;
    uint64_t body_filled; /* bytes received so far */
    const char *exchange; /* points into the block */
    uint8_t exchange_len;
    const char *rkey;
    uint8_t rkey_len;
    const uint8_t *props; /* property flags and fields, as in the content header */
    uint32_t props_len;
    uint8_t *body;
} keel__msg_t;

/**
 * Allocates a message with room for its body; copies exchange, routing key
 * and property bytes. Returns NULL on OOM. The message starts with one
 * reference.
 */
keel__msg_t *keel__msg_new(const char *exchange, size_t exchange_len, const char *rkey, size_t rkey_len, const uint8_t *props,
                           size_t props_len, uint64_t body_size);

static inline keel__msg_t *keel__msg_ref(keel__msg_t *m)
{
    m->refs++;
    return m;
}

/** Drops a reference; frees the block with the last one. NULL is a no-op. */
void keel__msg_unref(keel__msg_t *m);

/** Total bytes the message occupies, for x-max-length-bytes and memory accounting. */
static inline uint64_t keel__msg_bytes(const keel__msg_t *m)
{
    return m->body_size;
}

#endif
