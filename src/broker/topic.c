/*
 * topic.c — topic exchange routing as a trie of words. A node's children
 * are kept in a keel_map_t by word, plus two direct links for "*" and "#",
 * so matching a routing key of n words visits O(n) nodes in the common
 * case; '#' may consume any number of words, which the match explores
 * depth-first. Keys split on every '.', so "a." is two words ("a" and an
 * empty one), while "" is no words at all, as in RabbitMQ.
 */
#include <string.h>

#include "topic.h"

struct topic_node_s {
    topic_node_t *parent;
    char *word; /* as bound; NULL at the root */
    size_t word_len;
    keel_map_t children; /* word -> topic_node_t*, keys borrowed from child->word */
    topic_node_t *star;  /* "*" child */
    topic_node_t *hash;  /* "#" child */
    keel_vec_t dests;    /* bindings ending here */
};

static topic_node_t *node_new(topic_node_t *parent, const char *word, size_t len)
{
    topic_node_t *n = keel__calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->parent = parent;
    if (word != NULL && (n->word = keel__strndup(word, len)) == NULL) {
        keel__free(n);
        return NULL;
    }
    n->word_len = len;
    keel_map_init(&n->children);
    keel_vec_init(&n->dests);
    return n;
}

static void node_free(topic_node_t *n)
{
    if (n == NULL)
        return;
    size_t pos = 0;
    void *child;
    while (keel_map_next(&n->children, &pos, NULL, NULL, &child))
        node_free(child);
    keel_map_free(&n->children);
    node_free(n->star);
    node_free(n->hash);
    keel_vec_free(&n->dests);
    keel__free(n->word);
    keel__free(n);
}

void keel__topic_init(keel__topic_t *t)
{
    t->root = NULL;
    t->bindings = 0;
}

void keel__topic_free(keel__topic_t *t)
{
    node_free(t->root);
    keel__topic_init(t);
}

static bool is(const char *w, size_t len, char c)
{
    return len == 1 && w[0] == c;
}

static topic_node_t *child_of(const topic_node_t *n, const char *w, size_t len)
{
    if (is(w, len, '*'))
        return n->star;
    if (is(w, len, '#'))
        return n->hash;
    return keel_map_get(&n->children, w, len);
}

/* Finds (create) the node for key; on OOM removes what it created. */
static topic_node_t *walk(keel__topic_t *t, const char *key, size_t len, bool create)
{
    if (t->root == NULL) {
        if (!create || (t->root = node_new(NULL, NULL, 0)) == NULL)
            return NULL;
    }
    topic_node_t *n = t->root;
    if (len == 0) /* "" is no words at all (RabbitMQ splits it to []) */
        return n;
    size_t i = 0;
    for (;;) {
        const char *dot = memchr(key + i, '.', len - i);
        size_t wl = dot ? (size_t)(dot - key) - i : len - i;
        const char *w = key + i;
        topic_node_t *c = child_of(n, w, wl);
        if (c == NULL) {
            if (!create || (c = node_new(n, w, wl)) == NULL)
                return NULL;
            int rc = 0;
            if (is(w, wl, '*'))
                n->star = c;
            else if (is(w, wl, '#'))
                n->hash = c;
            else
                rc = keel_map_put(&n->children, c->word, wl, c, NULL);
            if (rc != 0) {
                node_free(c);
                return NULL;
            }
        }
        n = c;
        if (dot == NULL)
            return n;
        i += wl + 1;
    }
}

static bool node_empty(const topic_node_t *n)
{
    return n->dests.len == 0 && n->children.len == 0 && n->star == NULL && n->hash == NULL;
}

/* Drops nodes that no longer carry bindings or children, bottom up. */
static void prune(keel__topic_t *t, topic_node_t *n)
{
    while (n != NULL && n->parent != NULL && node_empty(n)) {
        topic_node_t *p = n->parent;
        if (p->star == n)
            p->star = NULL;
        else if (p->hash == n)
            p->hash = NULL;
        else
            keel_map_remove(&p->children, n->word, n->word_len);
        node_free(n);
        n = p;
    }
    if (t->root != NULL && node_empty(t->root)) {
        node_free(t->root);
        t->root = NULL;
    }
}

int keel__topic_bind(keel__topic_t *t, const char *key, size_t len, void *dest)
{
    topic_node_t *n = walk(t, key, len, true);
    if (n == NULL) {
        /* walk() created nothing it could not link; tidy empty leftovers */
        topic_node_t *partial = walk(t, key, len, false);
        prune(t, partial);
        return KEEL_ENOMEM;
    }
    for (size_t i = 0; i < n->dests.len; i++)
        if (n->dests.items[i] == dest)
            return 0;
    int rc = keel_vec_push(&n->dests, dest);
    if (rc != 0) {
        prune(t, n);
        return rc;
    }
    t->bindings++;
    return 0;
}

int keel__topic_unbind(keel__topic_t *t, const char *key, size_t len, void *dest)
{
    topic_node_t *n = walk(t, key, len, false);
    if (n == NULL)
        return KEEL_ENOENT;
    for (size_t i = 0; i < n->dests.len; i++) {
        if (n->dests.items[i] == dest) {
            n->dests.items[i] = n->dests.items[--n->dests.len];
            t->bindings--;
            prune(t, n);
            return 0;
        }
    }
    return KEEL_ENOENT;
}

typedef struct {
    const char *key;
    size_t len;
    keel__topic_cb cb;
    void *data;
} match_t;

static int emit(const topic_node_t *n, match_t *m)
{
    for (size_t i = 0; i < n->dests.len; i++) {
        int rc = m->cb(m->data, n->dests.items[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Matches the words from offset i (i == SIZE_MAX: no words left). */
static int match(const topic_node_t *n, size_t i, match_t *m)
{
    int rc = 0;
    if (n->hash != NULL) {
        /* '#' takes zero words, then one more at a time */
        const topic_node_t *h = n->hash;
        size_t j = i;
        for (;;) {
            rc = match(h, j, m);
            if (rc != 0 || j == SIZE_MAX)
                break;
            const char *dot = memchr(m->key + j, '.', m->len - j);
            j = dot ? (size_t)(dot - m->key) + 1 : SIZE_MAX;
        }
        if (rc != 0)
            return rc;
    }
    if (i == SIZE_MAX)
        return emit(n, m);
    const char *dot = memchr(m->key + i, '.', m->len - i);
    size_t wl = dot ? (size_t)(dot - m->key) - i : m->len - i;
    size_t next = dot ? i + wl + 1 : SIZE_MAX;
    if (n->star != NULL && (rc = match(n->star, next, m)) != 0)
        return rc;
    const topic_node_t *c = keel_map_get(&n->children, m->key + i, wl);
    if (c != NULL && !(is(m->key + i, wl, '*') || is(m->key + i, wl, '#')))
        rc = match(c, next, m);
    return rc;
}

int keel__topic_match(const keel__topic_t *t, const char *rkey, size_t len, keel__topic_cb cb, void *data)
{
    if (t->root == NULL)
        return 0;
    match_t m = {rkey, len, cb, data};
    return match(t->root, len == 0 ? SIZE_MAX : 0, &m);
}
