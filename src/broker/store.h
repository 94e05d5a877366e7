/*
 * store.h — internal to the broker module (never installed). Where a
 * queue keeps its ready messages. Queues talk to a store only through
 * these operations, so the in-memory store here can be replaced by a
 * persistent one (journal + index) without touching routing or delivery.
 *
 * A store holds entries in sequence order: push appends at the tail with a
 * sequence number larger than any before it; requeue puts a delivered
 * entry back at the place its sequence number gives it, so a rejected
 * message returns to its original position, as RabbitMQ does.
 */
#ifndef KEEL_BROKER_STORE_H
#define KEEL_BROKER_STORE_H

#include "msg.h"

typedef struct keel__qentry_s {
    keel__msg_t *msg;    /* one reference, held by whoever holds the entry */
    uint64_t seq;        /* position in the queue */
    int64_t expires_at;  /* loop time in ms when it dies; INT64_MAX: never */
    uint32_t deliveries; /* times handed to consumers: redelivered when > 0 */
} keel__qentry_t;

typedef struct keel__store_s keel__store_t;

typedef struct keel__store_ops_s {
    /** Appends at the tail; the entry's reference moves in. 0 or KEEL_ENOMEM. */
    int (*push)(keel__store_t *s, const keel__qentry_t *e);
    /** Puts an entry back in sequence order. 0 or KEEL_ENOMEM. */
    int (*requeue)(keel__store_t *s, const keel__qentry_t *e);
    /** The head entry (still in the store), or NULL when empty. */
    keel__qentry_t *(*head)(keel__store_t *s);
    /** Removes the head into *out (its reference moves out). Store not empty. */
    void (*pop)(keel__store_t *s, keel__qentry_t *out);
    /** Number of entries. */
    size_t (*count)(const keel__store_t *s);
    /** Body bytes held, for x-max-length-bytes. */
    uint64_t (*bytes)(const keel__store_t *s);
    /** Releases every entry and the store. */
    void (*destroy)(keel__store_t *s);
} keel__store_ops_t;

struct keel__store_s {
    const keel__store_ops_t *ops;
};

/** An in-memory store (a ring buffer of entries). NULL on OOM. */
keel__store_t *keel__store_mem_new(void);

#endif
