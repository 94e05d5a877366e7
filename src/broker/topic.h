/*
 * topic.h — internal to the broker module (never installed). The binding
 * table of a topic exchange as a trie over dot-separated words, with '*'
 * (exactly one word) and '#' (zero or more words) as RabbitMQ defines them,
 * so routing costs in the length of the key, not the number of bindings.
 */
#ifndef KEEL_BROKER_TOPIC_H
#define KEEL_BROKER_TOPIC_H

#include "keel/core.h"

typedef struct topic_node_s topic_node_t;

typedef struct keel__topic_s {
    topic_node_t *root;
    size_t bindings;
} keel__topic_t;

void keel__topic_init(keel__topic_t *t);
/** Frees the trie; destinations are borrowed and not touched. */
void keel__topic_free(keel__topic_t *t);

/**
 * Adds (key, dest). Adding a pair already present is a no-op that returns
 * 0. Returns 0 or KEEL_ENOMEM (the trie is unchanged then).
 */
int keel__topic_bind(keel__topic_t *t, const char *key, size_t len, void *dest);

/** Removes (key, dest); returns 0 or KEEL_ENOENT. Never allocates. */
int keel__topic_unbind(keel__topic_t *t, const char *key, size_t len, void *dest);

/**
 * Calls cb once per binding whose key matches the routing key, possibly
 * several times for the same dest when several keys match (the caller
 * dedupes). Returns 0 or the first non-zero value cb returned.
 */
typedef int (*keel__topic_cb)(void *data, void *dest);
int keel__topic_match(const keel__topic_t *t, const char *rkey, size_t len, keel__topic_cb cb, void *data);

#endif
