/*
 * keel/broker.h — keeld's engine: an AMQP 0-9-1 broker that RabbitMQ's
 * own clients use unchanged (pika, kombu/py-amqp, rabbitmq-c, amqp-tools,
 * oslo.messaging's rabbit driver).
 *
 * One broker runs on one libuv loop, which it never leaves: every
 * connection, queue and timer of the broker lives on that loop's thread,
 * and every function here must be called from it. Routing, queues,
 * consumers and deliveries follow RabbitMQ 3.10's behaviour, including its
 * extensions (publisher confirms, basic.nack, exchange-to-exchange
 * bindings, alternate exchanges, dead-lettering, per-queue and per-message
 * TTL, priorities, single active consumer, direct reply-to) and the codes
 * of its channel and connection exceptions.
 *
 * Messages live in memory; queues reach them through a store interface
 * that a persistent store will implement. Users, virtual hosts and
 * permissions are kept in memory and, when a data directory is set, saved
 * to DATA_DIR/definitions.json so they survive a restart.
 */
#ifndef KEEL_BROKER_H
#define KEEL_BROKER_H

#include <uv.h>

#include "keel/conf.h"
#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_broker_s keel_broker_t;

typedef struct keel_broker_opts_s {
    const char *bind_host;     /* default "127.0.0.1" */
    uint16_t port;             /* default 5672; 0 picks a free port */
    const char *data_dir;      /* NULL: keep nothing on disk */
    uint16_t channel_max;      /* offered in connection.tune; default 2047 */
    uint32_t frame_max;        /* default 131072 */
    uint16_t heartbeat;        /* seconds; default 60 */
    uint64_t max_message_size; /* default 128 MiB, as RabbitMQ */
    size_t output_high_water;  /* bytes queued to a connection before its consumers pause; default 4 MiB */
    bool loopback_only_guest;  /* guest may log in from loopback only (RabbitMQ's loopback_users); default true */
} keel_broker_opts_t;

/** Fills opts with the defaults above. */
void keel_broker_opts_init(keel_broker_opts_t *opts);

/**
 * keeld's options as keel_conf rows (bind_host, port, data_dir, heartbeat,
 * frame_max, channel_max, max_message_size) in the group "broker" — and
 * port/bind_host/data_dir also as command-line options. Returns 0 or the
 * registration error.
 */
int keel_broker_register_opts(keel_conf_t *conf);

/** Reads the registered options into opts (after keel_conf_parse). */
void keel_broker_opts_from_conf(const keel_conf_t *conf, keel_broker_opts_t *opts);

/**
 * Creates a broker on loop (borrowed; must outlive the broker) with the
 * default vhost "/", the user guest/guest with full permissions on it, and
 * the standard exchanges; loads DATA_DIR/definitions.json when present.
 * Returns 0, KEEL_ENOMEM, or KEEL_EPARSE/KEEL_EIO for an unreadable
 * definitions file.
 */
int keel_broker_new(keel_broker_t **out, uv_loop_t *loop, const keel_broker_opts_t *opts);

/**
 * Starts accepting connections. Returns 0 or -errno from bind/listen
 * (KEEL_EADDRINUSE as -EADDRINUSE). keel_broker_port() then gives the port.
 */
int keel_broker_listen(keel_broker_t *b);
uint16_t keel_broker_port(const keel_broker_t *b);

typedef void (*keel_broker_close_cb)(keel_broker_t *b, void *data);

/**
 * Stops listening, closes every connection (connection.close 320
 * CONNECTION_FORCED, as RabbitMQ on shutdown) and calls cb once every
 * handle is closed; then keel_broker_free() may run. If cb is NULL the
 * caller runs the loop until it has no handles.
 */
void keel_broker_close(keel_broker_t *b, keel_broker_close_cb cb, void *data);

/** Frees a closed broker; NULL does nothing. */
void keel_broker_free(keel_broker_t *b);

/*
 * Administration, as rabbitmqctl. Each returns 0 or an error with a
 * message in why (why_len bytes, always terminated):
 *   KEEL_EEXIST   the user/vhost exists already;
 *   KEEL_ENOENT   no such user/vhost;
 *   KEEL_EINVAL   a bad name or regular expression;
 *   KEEL_ENOMEM.
 * Changes are saved to the data directory when one is set.
 */
int keel_broker_add_user(keel_broker_t *b, const char *name, const char *password, char *why, size_t why_len);
int keel_broker_delete_user(keel_broker_t *b, const char *name, char *why, size_t why_len);
int keel_broker_change_password(keel_broker_t *b, const char *name, const char *password, char *why, size_t why_len);
int keel_broker_set_user_tags(keel_broker_t *b, const char *name, const char *tags, char *why, size_t why_len);
int keel_broker_add_vhost(keel_broker_t *b, const char *name, char *why, size_t why_len);
int keel_broker_delete_vhost(keel_broker_t *b, const char *name, char *why, size_t why_len);
int keel_broker_set_permissions(keel_broker_t *b, const char *vhost, const char *user, const char *configure, const char *write,
                                const char *read, char *why, size_t why_len);
int keel_broker_clear_permissions(keel_broker_t *b, const char *vhost, const char *user, char *why, size_t why_len);

/**
 * The control socket the `keel` admin commands use for a broker on port:
 * /tmp/keel-<uid>/keeld-<port>.sock. Returns 0 or KEEL_ERANGE.
 */
int keel_broker_control_path(uint16_t port, char *out, size_t size);

/**
 * Serves administration requests (one JSON object per line: {"cmd":
 * "add_user", "args": [...], "vhost": "/"}) on a UNIX socket at path,
 * created 0600 in a directory that must be the caller's own and private
 * (it is created 0700 if missing). Returns 0, KEEL_EACCES for a directory
 * others could use, or -errno from bind/listen.
 */
int keel_broker_control_listen(keel_broker_t *b, const char *path);

/** What keel_broker_list() lists, as rabbitmqctl's list_* commands. */
typedef enum {
    KEEL_BROKER_LIST_USERS,
    KEEL_BROKER_LIST_VHOSTS,
    KEEL_BROKER_LIST_PERMISSIONS,
    KEEL_BROKER_LIST_QUEUES,
    KEEL_BROKER_LIST_EXCHANGES,
    KEEL_BROKER_LIST_BINDINGS,
    KEEL_BROKER_LIST_CONNECTIONS,
    KEEL_BROKER_LIST_CHANNELS,
    KEEL_BROKER_LIST_CONSUMERS,
} keel_broker_list_t;

/**
 * Appends to out a JSON array of objects describing the entities of one
 * kind in vhost (NULL: "/"; ignored for users, vhosts and connections),
 * with the field names rabbitmqctl uses (name, messages, consumers,
 * durable, auto_delete, type, source_name, destination_name, routing_key,
 * user, peer_host, ...). Returns 0, KEEL_ENOENT (no such vhost) or
 * KEEL_ENOMEM.
 */
int keel_broker_list(keel_broker_t *b, keel_broker_list_t what, const char *vhost, keel_buf_t *out);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_BROKER_H */
