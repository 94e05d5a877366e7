/*
 * The flags and arguments of what the rabbit driver declares, from the
 * [oslo_messaging_rabbit] options (spec §3, §4): one table for every
 * driver, so the fake's topology and the AMQP driver's cannot drift apart.
 * A broker refuses a re-declare that differs (406 PRECONDITION_FAILED), so
 * these must be exactly what Python services declare.
 */
#include "driver.h"

void keel__messaging_queue_spec(const keel__messaging_rabbit_opts_t *o, keel__messaging_queue_kind_t kind,
                                keel__messaging_queue_spec_t *out)
{
    *out = (keel__messaging_queue_spec_t){.ha = o->rabbit_ha_queues};
    switch (kind) {
    case KEEL__MESSAGING_QUEUE_TOPIC:
    case KEEL__MESSAGING_QUEUE_NOTIFY:
        /* Quorum queues are durable whatever amqp_durable_queues says. */
        out->quorum = o->rabbit_quorum_queue;
        out->durable = o->amqp_durable_queues || o->rabbit_quorum_queue;
        out->auto_delete = o->amqp_auto_delete;
        if (out->quorum) {
            out->delivery_limit = o->rabbit_quorum_delivery_limit;
            out->max_memory_length = o->rabbit_quroum_max_memory_length;
            out->max_memory_bytes = o->rabbit_quroum_max_memory_bytes;
        }
        break;
    case KEEL__MESSAGING_QUEUE_FANOUT:
    case KEEL__MESSAGING_QUEUE_REPLY:
        /* Classic, non-durable, expiring after rabbit_transient_queues_ttl of disuse. */
        out->x_expires_ms = o->rabbit_transient_queues_ttl * 1000;
        break;
    }
}

void keel__messaging_topic_exchange_spec(const keel__messaging_rabbit_opts_t *o, bool *durable, bool *auto_delete)
{
    *durable = o->amqp_durable_queues || o->rabbit_quorum_queue;
    *auto_delete = o->amqp_auto_delete;
}
