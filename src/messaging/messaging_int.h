/*
 * messaging_int.h — internal to src/messaging; never installed.
 *
 * What the files of the messaging module share: Python-compatible text
 * helpers (url.c), the resolved options a transport and its driver read
 * (opts.c), and the driver interface (driver.h).
 */
#ifndef KEEL_MESSAGING_INT_H
#define KEEL_MESSAGING_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "keel/conf.h"
#include "keel/core.h"
#include "keel/messaging.h"

/* ---- url.c: Python text helpers ---- */

/**
 * Python's int() of ASCII text in base 10 (whitespace, sign, underscores
 * between digits). Returns 0, KEEL_EVALUE, or KEEL_ERANGE beyond 64 bits.
 */
int keel__messaging_pyint(const char *s, size_t len, int64_t *out);

/** urllib.parse.unquote() (or unquote_plus() with plus_as_space); *out to keel__free. */
int keel__messaging_unquote(const char *s, size_t len, bool plus_as_space, char **out);

/** urllib.parse.quote(s, safe) (quote_plus() with plus) appended to b. */
int keel__messaging_quote(keel_buf_t *b, const char *s, const char *safe, bool plus);

/* ---- opts.c ---- */

#define KEEL__MESSAGING_RABBIT_GROUP "oslo_messaging_rabbit"
#define KEEL__MESSAGING_NOTIFY_GROUP "oslo_messaging_notifications"

/**
 * The [oslo_messaging_rabbit] values a transport uses, after the URL's
 * query options were applied. Strings are owned (keel__opts_clear()).
 */
typedef struct keel__messaging_rabbit_opts_s {
    bool amqp_durable_queues;
    bool amqp_auto_delete;
    bool ssl;
    char *ssl_version;
    char *ssl_key_file;
    char *ssl_cert_file;
    char *ssl_ca_file;
    bool ssl_enforce_hostname_verification;
    bool ssl_enforce_fips_mode;
    bool heartbeat_in_pthread;
    double kombu_reconnect_delay;
    char *kombu_compression; /* NULL when unset */
    int64_t kombu_missing_consumer_retry_timeout;
    char *kombu_failover_strategy;
    char *rabbit_login_method;
    int64_t rabbit_retry_interval;
    int64_t rabbit_retry_backoff;
    int64_t rabbit_interval_max;
    bool rabbit_ha_queues;
    bool rabbit_quorum_queue;
    int64_t rabbit_quorum_delivery_limit;
    int64_t rabbit_quroum_max_memory_length;
    int64_t rabbit_quroum_max_memory_bytes;
    int64_t rabbit_transient_queues_ttl;
    int64_t rabbit_qos_prefetch_count;
    int64_t heartbeat_timeout_threshold;
    int64_t heartbeat_rate;
    bool direct_mandatory_flag;
    bool enable_cancel_on_failover;
} keel__messaging_rabbit_opts_t;

/** Everything a transport reads from conf, resolved once at creation. */
typedef struct keel__messaging_opts_s {
    char *transport_url;
    char *control_exchange;
    int64_t rpc_response_timeout;
    int64_t executor_thread_pool_size;
    bool rpc_ping_enabled;
    int64_t rpc_conn_pool_size;
    int64_t conn_pool_min_size;
    int64_t conn_pool_ttl;
    /* [oslo_messaging_notifications] */
    char **notify_drivers; /* NULL-terminated */
    char *notify_transport_url;
    char **notify_topics; /* NULL-terminated */
    int64_t notify_retry;
    keel__messaging_rabbit_opts_t rabbit;
} keel__messaging_opts_t;

/**
 * Reads the options from conf (NULL: the registered defaults), registering
 * them first, then applies url's query (may be NULL) to the rabbit group.
 * An unknown query option is KEEL_ENOOPT, a value its type refuses
 * KEEL_EVALUE; *why (may be NULL) then gets a message to keel__free.
 */
int keel__messaging_opts_load(keel__messaging_opts_t *o, struct keel_conf_s *conf, const keel_messaging_url_t *url, char **why);
void keel__messaging_opts_clear(keel__messaging_opts_t *o);

#endif /* KEEL_MESSAGING_INT_H */
