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

#include <jansson.h>

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

/* ---- target.c ---- */

/** A Python exception oslo would raise: its class and str(). */
typedef struct keel__messaging_pyerr_s {
    const char *exc_class; /* static: "ValueError", "IndexError" */
    char message[160];
} keel__messaging_pyerr_t;

/** version_is_compatible() with the Python exception a bad part raises in *err (may be NULL). */
int keel__messaging_version_check(const char *imp_version, const char *version, bool *out, keel__messaging_pyerr_t *err);

/** Deep copy of a target (strings and legacy namespaces owned by dst). */
int keel__messaging_target_copy(keel_messaging_target_t *dst, const keel_messaging_target_t *src);
/** Frees what keel__messaging_target_copy() allocated. */
void keel__messaging_target_clear(keel_messaging_target_t *t);
/** namespace in [target.namespace] + legacy_namespaces (t NULL: the default Target()). */
bool keel__messaging_target_accepts_namespace(const keel_messaging_target_t *t, const char *ns);
/** Transport._send(): a topic is required. 0 or KEEL_MESSAGING_ETARGET. */
int keel__messaging_target_check_send(const keel_messaging_target_t *t);
/** Transport._listen(): topic and server are required. 0 or KEEL_MESSAGING_ETARGET. */
int keel__messaging_target_check_listen(const keel_messaging_target_t *t);

/* ---- envelope.c: the message format ---- */

/** uuid4().hex: 32 lower-case hex digits and a NUL. Returns 0 or -errno. */
int keel__messaging_uuid_hex(char out[33]);
/** str(uuid4()): 36 characters with dashes and a NUL. */
int keel__messaging_uuid_str(char out[37]);
/** str(datetime.utcnow()): "YYYY-MM-DD HH:MM:SS[.ffffff]". */
void keel__messaging_timestamp(char out[32]);

/** Appends v as Python's json.dumps() writes it (kombu's bodies). Returns 0, KEEL_EINVAL (nesting over 1000) or KEEL_ENOMEM. */
int keel__messaging_json_dump(keel_buf_t *out, json_t *v);

/** Appends the body: the 2.0 envelope around inner's JSON, or (version 1) inner's JSON itself. */
int keel__messaging_serialize_msg(json_t *inner, int version, keel_buf_t *out);
/**
 * Reads a body: a 2.0 envelope gives its inner message, anything else is
 * returned as it is (the 1.0 format). Returns 0 and a new reference,
 * KEEL_EPARSE (not JSON, or a broken envelope), KEEL_MESSAGING_EENVELOPE
 * (a version other than 2.x) or KEEL_ENOMEM.
 */
int keel__messaging_deserialize_msg(const char *body, size_t len, json_t **out);

/** The underscore keys a driver adds to an inner message (spec §5.3, §7). */
typedef struct keel__messaging_ids_s {
    bool is_call; /* adds _msg_id, _reply_q, _timeout */
    const char *msg_id;
    const char *reply_q;
    double call_monitor_timeout; /* _timeout; <= 0 writes null */
    const char *unique_id;       /* NULL: no _unique_id */
} keel__messaging_ids_t;

/**
 * Makes the inner message: msg's keys in order, then the ids, then each
 * context key k as "_context_<k>" (ctxt may be NULL). Borrows msg and ctxt.
 */
int keel__messaging_pack(json_t *msg, json_t *ctxt, const keel__messaging_ids_t *ids, json_t **out);

/** Makes a reply: {"result", "failure", "ending", "_msg_id", "_unique_id"} (spec §5.4). */
int keel__messaging_pack_reply(json_t *result, const char *failure, bool ending, const char *msg_id, const char *unique_id,
                               json_t **out);

/** An inner message taken apart as oslo's unpack_context() does. All owned. */
typedef struct keel__messaging_unpacked_s {
    json_t *message; /* what is left: method, args, namespace, version / notification fields */
    json_t *ctxt;    /* the _context_* keys without the prefix; never NULL */
    char *msg_id;    /* NULL for casts and notifications */
    char *reply_q;
    char *unique_id;        /* NULL when absent */
    json_t *client_timeout; /* _timeout as sent (NULL when absent, json null when null) */
} keel__messaging_unpacked_t;

/** Takes msg (also on error). Returns 0, KEEL_EPARSE (not an object) or KEEL_ENOMEM. */
int keel__messaging_unpack(json_t *msg, keel__messaging_unpacked_t *out);
void keel__messaging_unpacked_clear(keel__messaging_unpacked_t *u);

/**
 * Runs a serializer hook (s may be NULL; a NULL hook is the identity). A
 * hook's failure is KEEL_MESSAGING_ESERIALIZE. *out is a new reference.
 */
int keel__messaging_ser_entity(const keel_messaging_serializer_t *s, bool deserialize, json_t *ctxt, json_t *in, json_t **out);
/** The same for the context; ctxt NULL is {} and the result must be an object. */
int keel__messaging_ser_context(const keel_messaging_serializer_t *s, bool deserialize, json_t *ctxt, json_t **out);

/* ---- error.c ---- */

/** keel_messaging_error_new() without printf. */
int keel__messaging_error_make(keel_messaging_error_t **out, const char *exc_class, const char *exc_module, const char *message);

#endif /* KEEL_MESSAGING_INT_H */
