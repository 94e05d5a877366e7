/*
 * vhost.c — virtual hosts: each owns its exchanges and queues and starts
 * with the exchanges every RabbitMQ vhost has (amq.direct, amq.fanout,
 * amq.topic, amq.headers, amq.match). The default exchange "" is not an
 * object: publishing to it routes by queue name.
 */
#include <string.h>

#include "broker_int.h"

vhost_t *keel__vhost_find(keel_broker_t *b, const char *name, size_t len)
{
    return keel_map_get(&b->vhosts, name, len);
}

int keel__vhost_new(keel_broker_t *b, const char *name, vhost_t **out)
{
    vhost_t *v = keel__calloc(1, sizeof(*v));
    if (v == NULL)
        return KEEL_ENOMEM;
    v->broker = b;
    keel_map_init(&v->exchanges);
    keel_map_init(&v->queues);
    v->name = keel__strdup(name);
    int rc = v->name ? 0 : KEEL_ENOMEM;
    static const struct {
        const char *name;
        ex_type_t type;
    } standard[] = {{"amq.direct", EX_DIRECT},
                    {"amq.fanout", EX_FANOUT},
                    {"amq.topic", EX_TOPIC},
                    {"amq.headers", EX_HEADERS},
                    {"amq.match", EX_HEADERS}};
    for (size_t i = 0; rc == 0 && i < sizeof(standard) / sizeof(standard[0]); i++) {
        exchange_t *x;
        rc = keel__exchange_new(v, standard[i].name, strlen(standard[i].name), standard[i].type, true, false, false, NULL, 0, &x);
    }
    if (rc == 0)
        rc = keel_map_put(&b->vhosts, v->name, strlen(v->name), v, NULL);
    if (rc != 0) {
        keel__vhost_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void keel__vhost_free(vhost_t *v)
{
    /* queues first: deleting them unbinds them from the exchanges; one at
     * a time from the map, since a deletion may take others with it
     * (auto-delete exchanges) */
    void *item;
    while (v->queues.len > 0) {
        size_t pos = 0;
        keel_map_next(&v->queues, &pos, NULL, NULL, &item);
        keel__queue_delete(item, false);
    }
    while (v->exchanges.len > 0) {
        size_t pos = 0;
        keel_map_next(&v->exchanges, &pos, NULL, NULL, &item);
        keel__exchange_delete(item);
    }
    keel_map_free(&v->exchanges);
    keel_map_free(&v->queues);
    keel__free(v->name);
    keel__free(v);
}
