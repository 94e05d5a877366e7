/*
 * keel/client.h — an asynchronous AMQP 0-9-1 client on libuv, the transport
 * of keel's messaging module and a client RabbitMQ and keeld both accept.
 *
 * Model. A keel_client_t owns one AMQP connection at a time to one of
 * several hosts, and keeps it: when the connection is lost (socket error,
 * missed heartbeats, a connection exception from the server) it connects
 * again — the same host first, then the next ones, in order or shuffled,
 * sleeping between full rounds as kombu does (rabbit_retry_interval,
 * rabbit_retry_backoff, rabbit_interval_max) — and puts back what the
 * application had built:
 *
 *   1. every channel the application holds, with its basic.qos and
 *      confirm.select, under the same channel number;
 *   2. every exchange, queue and binding it declared, re-declared in the
 *      order first declared on a private channel. A declaration is recorded
 *      when the server answers -ok (passive ones are not recorded; deletes
 *      and unbinds remove records), so one still unanswered when the
 *      connection drops fails with KEEL_ECONNRESET and is not recovered:
 *      wait for a declaration's callback before relying on its recovery;
 *   3. every consumer, with the same consumer tag, on its channel. A
 *      consumer is recorded when asked for, so a consume queued across a
 *      reconnect is made once, on the new connection;
 *
 * and only then reports KEEL_CLIENT_EVENT_RECONNECTED. A queue that the
 * server named (declared with an empty name) cannot be re-declared under
 * its old name — RabbitMQ refuses names starting with "amq." — so it is
 * declared anew, its bindings and consumers follow the new name, and
 * KEEL_CLIENT_EVENT_QUEUE_RENAMED says old and new (the RabbitMQ Java
 * client's choice; kombu avoids the question by naming queues itself, which
 * a keel user may do too). An auto-delete queue whose last recorded consumer
 * is cancelled is forgotten, as the server forgets it.
 *
 * Channels are handles that outlive connections. Operations are queued
 * per channel while the channel is not ready (before the first connection,
 * during a reconnect or after a channel exception, while the channel
 * recovers) and sent in order once it is; operations already sent when
 * the connection is lost fail with KEEL_ECONNRESET and are not retried.
 * Publishes are the exception: the opts say whether a publish made while
 * the client is not connected is queued (bounded by offline_queue_max
 * bytes, then KEEL_EAGAIN) or refused (KEEL_ECONNRESET) at once.
 *
 * Publisher confirms. On a channel in confirm mode every publish takes a
 * callback that runs exactly once: 0 on basic.ack, KEEL_EIO on basic.nack
 * (the server would not take the message: x-overflow reject-publish, an
 * internal error), KEEL_ECONNRESET when the connection or channel went
 * away first (the outcome is unknown: republish if duplicates are fine),
 * KEEL_ECANCELED when the client or channel was closed by the application.
 * No publish is dropped without its callback running.
 *
 * Channel exceptions (404 on a passive declare, 406, a publish to a
 * missing exchange) close only that channel: the operation that caused it
 * fails with the reply code mapped to an error (404 KEEL_ENOENT, 403
 * KEEL_EACCES, 405 KEEL_EBUSY, 406 KEEL_EVALUE, others KEEL_EPROTO), the
 * operations sent after it fail with KEEL_ECANCELED (the server discarded
 * them), the channel's error callback gets the code and text, and the
 * channel re-opens itself with its qos, confirm mode and consumers. The
 * exception cancelled those consumers, and the server deleted any
 * auto-delete queue that lost its last one, so the channel first
 * re-declares the recorded auto-delete queues its consumers use, with their
 * bindings (a server-named one cannot be, and its consumer fails with 404).
 * A consumer whose re-consume fails is dropped (its callback's final call
 * carries the error). Delivery tags stay increasing across re-opens, so
 * an ack for a delivery received before a re-open or reconnect is
 * recognised as stale and not sent (KEEL_ECONNRESET: the server redelivers
 * the message) instead of closing the channel with 406.
 *
 * Failures that connecting again cannot mend are final: a refused login
 * (403 ACCESS_REFUSED, KEEL_EACCES), a refused vhost (530 NOT_ALLOWED,
 * KEEL_EACCES), and max_retries used up. The client then stops, reports
 * KEEL_CLIENT_EVENT_FAILED, and every queued operation fails.
 *
 * Replies. AMQP answers a channel's methods in order, but RabbitMQ sends
 * basic.consume-ok from the queue's process, so it can come after the
 * reply to a later method; each reply is matched to the oldest unanswered
 * method it answers (consume-ok and cancel-ok by consumer tag).
 *
 * I/O. One loop, never left; every function must be called on the loop's
 * thread. Frames are encoded straight into the connection's output buffer
 * (a publish allocates nothing once the buffers have grown) and written
 * with one write per loop turn. Deliveries are handed to the consumer as a
 * view into the input buffer when the whole message arrived in one read,
 * else assembled in a per-channel buffer that is reused. Heartbeats are
 * sent when the connection has been quiet for half the interval; a peer
 * silent for two intervals is declared dead and the client reconnects.
 * TLS (opts.ssl) runs OpenSSL over memory BIOs on the same stream; OpenSSL
 * allocates with its own allocator, not keel__malloc. While connected the
 * output is not bounded: a publisher faster than the socket, or one that
 * goes on while the server has sent connection.blocked, grows the output
 * buffer; bound it with confirms (keel_client_unconfirmed()).
 *
 * Async contract (STYLE.md rule 5): if a function that takes a callback
 * returns an error, the callback never runs; otherwise it runs exactly
 * once (deliveries: once per message, then a final call with a non-zero
 * status), never from inside the call that registered it. Callbacks get
 * the object first, then the status, then data.
 *
 * Errors returned by the calls below, beyond those named per function:
 *   KEEL_EINVAL   a bad argument (NULL, a name over 255 octets, a callback
 *                 where none is allowed);
 *   KEEL_ENOMEM   out of memory; nothing was queued;
 *   KEEL_EPIPE    the channel is closing or was closed for good;
 *   KEEL_ECANCELED the client is closing or closed;
 *   KEEL_EACCES / other  the client has failed for good (the status of
 *                 its KEEL_CLIENT_EVENT_FAILED).
 */
#ifndef KEEL_CLIENT_H
#define KEEL_CLIENT_H

#include <uv.h>

#include "keel/amqp.h"
#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_client_s keel_client_t;
typedef struct keel_client_channel_s keel_client_channel_t;
typedef struct keel_client_consumer_s keel_client_consumer_t;

/* ---- options ---- */

/** One broker address. */
typedef struct keel_client_host_s {
    const char *host; /* name or address literal; default "127.0.0.1" */
    uint16_t port;    /* default 5672 (5671 with ssl) */
} keel_client_host_t;

/** kombu's failover_strategy. */
typedef enum {
    /** Hosts in the order given, starting again at the first (kombu's "round-robin", oslo's default). */
    KEEL_CLIENT_FAILOVER_ROUND_ROBIN = 0,
    /**
     * A fresh random order for each round. kombu's "shuffle" draws one host
     * at random per attempt and may try a dead host twice in a row; keel
     * shuffles per round so that every host is tried once per round.
     */
    KEEL_CLIENT_FAILOVER_SHUFFLE,
} keel_client_failover_t;

/** What a publish does while the client is not connected. */
typedef enum {
    /** Queue it (bounded by offline_queue_max bytes) and send it once connected. */
    KEEL_CLIENT_OFFLINE_QUEUE = 0,
    /** Refuse it at once with KEEL_ECONNRESET. */
    KEEL_CLIENT_OFFLINE_FAIL,
} keel_client_offline_t;

typedef enum {
    /** The first connection is open and what was queued meanwhile is sent (first is true). */
    KEEL_CLIENT_EVENT_CONNECTED = 1,
    /** The connection was lost; status says why. Reconnecting follows unless the client failed. */
    KEEL_CLIENT_EVENT_DISCONNECTED,
    /** A connection is open again and channels, topology and consumers are back. */
    KEEL_CLIENT_EVENT_RECONNECTED,
    /** A connection attempt failed (status, host); another follows after the backoff. */
    KEEL_CLIENT_EVENT_CONNECT_FAILED,
    /** connection.blocked: the server stopped reading publishes (reply_text says why). */
    KEEL_CLIENT_EVENT_BLOCKED,
    /** connection.unblocked. */
    KEEL_CLIENT_EVENT_UNBLOCKED,
    /** A server-named queue was declared anew during recovery under a new name. */
    KEEL_CLIENT_EVENT_QUEUE_RENAMED,
    /** Re-declaring a recorded entity failed (reply_code, reply_text, name); the record is dropped. */
    KEEL_CLIENT_EVENT_RECOVERY_FAILED,
    /** The client gave up for good (status: KEEL_EACCES, or the last error after max_retries). */
    KEEL_CLIENT_EVENT_FAILED,
} keel_client_event_type_t;

/** What a client event carries; views are valid during the callback only. */
typedef struct keel_client_event_s {
    keel_client_event_type_t type;
    size_t host;                /* index into opts.hosts of the host concerned */
    bool first;                 /* true on CONNECTED, false on RECONNECTED */
    uint16_t reply_code;        /* from connection.close when the server sent one */
    keel_amqp_str_t reply_text; /* connection.close, connection.blocked, RECOVERY_FAILED */
    keel_amqp_str_t name;       /* QUEUE_RENAMED: the old name; RECOVERY_FAILED: the entity */
    keel_amqp_str_t new_name;   /* QUEUE_RENAMED: the new name */
} keel_client_event_t;

typedef void (*keel_client_event_cb)(keel_client_t *c, int status, const keel_client_event_t *ev, void *data);

/**
 * Everything a client needs. Strings and the host array are copied by
 * keel_client_new(); the caller may free them afterwards. The messaging
 * module fills this from an oslo transport URL.
 */
typedef struct keel_client_opts_s {
    const keel_client_host_t *hosts; /* n_hosts of them; NULL/0: 127.0.0.1:5672 */
    size_t n_hosts;
    const char *user;     /* default "guest" */
    const char *password; /* default "guest" */
    const char *vhost;    /* default "/" */

    uint16_t heartbeat;   /* seconds wished (py-amqp's rules: 0 turns them off); default 60 */
    uint32_t frame_max;   /* wished; default 131072; the smaller of ours and the server's wins */
    uint16_t channel_max; /* wished; default 2047 */

    keel_client_failover_t failover;
    uint32_t retry_interval_ms;     /* sleep after the first full round of failed hosts; default 1000 */
    uint32_t retry_backoff_ms;      /* added for each further round; default 2000 */
    uint32_t retry_interval_max_ms; /* never sleep longer; default 30000 */
    uint32_t max_retries;           /* failed attempts before giving up; 0: never give up */
    uint32_t connect_timeout_ms;    /* TCP, TLS and AMQP handshakes together; default 5000 */
    uint32_t close_timeout_ms;      /* wait for close-ok on keel_client_close; default 3000 */

    keel_client_offline_t offline_publish;
    size_t offline_queue_max; /* bytes of queued operations while not connected; default 16 MiB */

    /* client properties in connection.start-ok (capabilities are always sent) */
    const char *product;         /* default "keel" */
    const char *version;         /* default the library's version */
    const char *connection_name; /* shown by rabbitmqctl list_connections; NULL: none */

    /* TLS */
    bool ssl;
    const char *ssl_ca_file;     /* PEM; NULL: the system's default store */
    const char *ssl_cert_file;   /* client certificate (PEM), or NULL */
    const char *ssl_key_file;    /* its key (PEM); NULL: in ssl_cert_file */
    bool ssl_verify;             /* check the chain and the host name; default true */
    const char *ssl_server_name; /* name to check and send as SNI; NULL: the host's */

    keel_client_event_cb on_event; /* may be NULL */
    void *event_data;
} keel_client_opts_t;

/** Fills opts with the defaults above. */
void keel_client_opts_init(keel_client_opts_t *opts);

/* ---- the client ---- */

/**
 * Creates a client on loop (borrowed; must outlive the client). Copies
 * opts (NULL: the defaults). Initialises its timers on the loop but
 * connects only on keel_client_connect(); from here on the client must be
 * closed with keel_client_close() before keel_client_free(). Returns 0,
 * KEEL_EINVAL (an empty host name, a name over 255 octets), KEEL_ENOMEM,
 * or KEEL_EIO when the TLS context cannot be made (unreadable CA,
 * certificate or key file).
 */
int keel_client_new(keel_client_t **out, uv_loop_t *loop, const keel_client_opts_t *opts);

typedef void (*keel_client_cb)(keel_client_t *c, int status, void *data);

/**
 * Starts connecting. cb runs once: 0 when the first connection is open
 * (with whatever the application queued meanwhile sent), or the error that
 * ended the attempts (the KEEL_CLIENT_EVENT_FAILED status, or
 * KEEL_ECANCELED when keel_client_close() came first). Returns 0,
 * KEEL_EBUSY if called twice, KEEL_ECANCELED after keel_client_close().
 */
int keel_client_connect(keel_client_t *c, keel_client_cb cb, void *data);

/**
 * Closes: connection.close and its close-ok (bounded by close_timeout_ms),
 * then the socket and every handle. Every queued or unanswered operation
 * and unconfirmed publish fails with KEEL_ECANCELED, every consumer gets
 * its final call, every channel handle is released (channel close
 * callbacks still pending run with KEEL_ECANCELED). cb (may be NULL) runs
 * when the last handle is closed; then keel_client_free() may run. Returns
 * 0, or KEEL_EBUSY when already closing.
 */
int keel_client_close(keel_client_t *c, keel_client_cb cb, void *data);

/** Frees a closed client (after its close callback); NULL does nothing. */
void keel_client_free(keel_client_t *c);

/** Whether a connection is open and recovered (channels usable without queueing). */
bool keel_client_is_connected(const keel_client_t *c);

/** What the current (or last) connection negotiated. */
typedef struct keel_client_info_s {
    size_t host;             /* index into opts.hosts */
    uint16_t channel_max;    /* negotiated */
    uint32_t frame_max;      /* negotiated */
    uint16_t heartbeat;      /* negotiated, seconds */
    bool blocked;            /* connection.blocked in force */
    uint64_t connections;    /* connections opened so far */
    keel_amqp_str_t product; /* the server's product and version (views valid while connected) */
    keel_amqp_str_t version;
} keel_client_info_t;

/** Fills *info; returns 0 or KEEL_ENOENT when no connection was ever opened. */
int keel_client_info(const keel_client_t *c, keel_client_info_t *info);

/** The loop the client runs on. */
uv_loop_t *keel_client_loop(const keel_client_t *c);

/* ---- channels ---- */

typedef void (*keel_client_channel_cb)(keel_client_channel_t *ch, int status, void *data);

/**
 * Opens a channel. *out is usable at once: operations on it are queued
 * until it is open. cb (may be NULL) runs once when it first opens (0), or
 * with the error that kept it from opening (KEEL_ECANCELED when closed
 * first, KEEL_ERANGE when the server's channel_max leaves no number, or
 * the client's failure). The handle stays valid until the callback of
 * keel_client_channel_close() or of keel_client_close(). Returns 0,
 * KEEL_ERANGE (no free channel number), KEEL_ENOMEM, KEEL_ECANCELED.
 */
int keel_client_channel_open(keel_client_t *c, keel_client_channel_t **out, keel_client_channel_cb cb, void *data);

/**
 * Closes a channel: channel.close and its close-ok when connected. Its
 * consumers get their final call, pending operations and unconfirmed
 * publishes fail with KEEL_ECANCELED. cb (may be NULL) runs after, and then
 * the handle is freed. Returns 0, KEEL_EPIPE when already closing, or
 * KEEL_ENOMEM (nothing changed; try again).
 */
int keel_client_channel_close(keel_client_channel_t *ch, keel_client_channel_cb cb, void *data);

/** The channel number (stable across reconnects) and its client. */
uint16_t keel_client_channel_id(const keel_client_channel_t *ch);
keel_client_t *keel_client_channel_client(const keel_client_channel_t *ch);
/** Whether the channel is open on the current connection with its state restored. */
bool keel_client_channel_is_ready(const keel_client_channel_t *ch);

/** A channel or connection exception: what the server said. Views valid during the callback. */
typedef struct keel_client_error_s {
    uint16_t reply_code;
    keel_amqp_str_t reply_text;
    uint16_t class_id, method_id; /* the method that failed */
    bool recovering;              /* true: the channel re-opens itself; false: it is closed for good */
} keel_client_error_t;

typedef void (*keel_client_error_cb)(keel_client_channel_t *ch, int status, const keel_client_error_t *err, void *data);

/**
 * Sets the channel's exception callback (NULL to remove): runs for every
 * channel.close the server sends, status being the reply code mapped to an
 * error as in the header comment.
 */
void keel_client_channel_on_error(keel_client_channel_t *ch, keel_client_error_cb cb, void *data);

/**
 * A message: a delivery, a basic.get-ok or a basic.return. Every view
 * points into the client's buffers and is valid during the callback only;
 * keel_client_message_copy() keeps one.
 */
typedef struct keel_client_message_s {
    keel_client_consumer_t *consumer; /* deliveries only */
    keel_amqp_str_t consumer_tag;     /* deliveries only */
    uint64_t delivery_tag;            /* deliveries and gets: pass it to keel_client_ack() */
    bool redelivered;
    keel_amqp_str_t exchange;
    keel_amqp_str_t routing_key;
    uint32_t message_count;     /* gets: messages left in the queue */
    uint16_t reply_code;        /* returns: 312 NO_ROUTE, 313 NO_CONSUMERS */
    keel_amqp_str_t reply_text; /* returns */
    keel_amqp_properties_t props;
    const uint8_t *body; /* contiguous, body_len octets */
    size_t body_len;
} keel_client_message_t;

/**
 * Copies a message into one allocation (views re-pointed into it).
 * Returns 0 with *out to release with keel_client_message_free(), or
 * KEEL_ENOMEM. The copy's consumer pointer is cleared.
 */
int keel_client_message_copy(const keel_client_message_t *m, keel_client_message_t **out);
void keel_client_message_free(keel_client_message_t *m);

typedef void (*keel_client_return_cb)(keel_client_channel_t *ch, int status, const keel_client_message_t *msg, void *data);

/** Sets the channel's basic.return callback (NULL to remove; returns are then dropped). */
void keel_client_channel_on_return(keel_client_channel_t *ch, keel_client_return_cb cb, void *data);

/* ---- operations: each sends one method and calls back on its reply ---- */

/** Completion of an operation without a result. */
typedef void (*keel_client_op_cb)(keel_client_channel_t *ch, int status, void *data);

typedef struct keel_client_exchange_s {
    const char *name;
    const char *type; /* "direct", "topic", "fanout", "headers"; NULL: "direct" */
    bool passive, durable, auto_delete, internal;
    keel_amqp_table_t arguments; /* copied; build with keel_amqp_builder_* */
} keel_client_exchange_t;

/**
 * exchange.declare. Recorded for recovery once declare-ok arrives (unless
 * passive). cb may be NULL.
 */
int keel_client_exchange_declare(keel_client_channel_t *ch, const keel_client_exchange_t *x, keel_client_op_cb cb, void *data);

/** exchange.delete; removes the record and the bindings from or to it. */
int keel_client_exchange_delete(keel_client_channel_t *ch, const char *name, bool if_unused, keel_client_op_cb cb, void *data);

typedef struct keel_client_queue_s {
    const char *name; /* NULL or "": let the server name it */
    bool passive, durable, exclusive, auto_delete;
    keel_amqp_table_t arguments; /* copied */
} keel_client_queue_t;

/** queue.declare-ok's fields; name valid during the callback. */
typedef struct keel_client_queue_ok_s {
    keel_amqp_str_t name;
    uint32_t message_count;
    uint32_t consumer_count;
} keel_client_queue_ok_t;

typedef void (*keel_client_queue_cb)(keel_client_channel_t *ch, int status, const keel_client_queue_ok_t *ok, void *data);

/** queue.declare. Recorded for recovery on declare-ok (unless passive). ok is NULL on error. */
int keel_client_queue_declare(keel_client_channel_t *ch, const keel_client_queue_t *q, keel_client_queue_cb cb, void *data);

/** queue.delete; removes the record, its bindings and its consumers' records. */
int keel_client_queue_delete(keel_client_channel_t *ch, const char *name, bool if_unused, bool if_empty, keel_client_op_cb cb,
                             void *data);

/** queue.bind / queue.unbind (recorded / record removed on -ok). arguments may be empty ({0}). */
int keel_client_queue_bind(keel_client_channel_t *ch, const char *queue, const char *exchange, const char *routing_key,
                           keel_amqp_table_t arguments, keel_client_op_cb cb, void *data);
int keel_client_queue_unbind(keel_client_channel_t *ch, const char *queue, const char *exchange, const char *routing_key,
                             keel_amqp_table_t arguments, keel_client_op_cb cb, void *data);

/** exchange.bind / exchange.unbind (RabbitMQ's exchange-to-exchange bindings). */
int keel_client_exchange_bind(keel_client_channel_t *ch, const char *destination, const char *source, const char *routing_key,
                              keel_amqp_table_t arguments, keel_client_op_cb cb, void *data);
int keel_client_exchange_unbind(keel_client_channel_t *ch, const char *destination, const char *source, const char *routing_key,
                                keel_amqp_table_t arguments, keel_client_op_cb cb, void *data);

/**
 * basic.qos with prefetch_count (RabbitMQ ignores prefetch_size and so does
 * keel); global as RabbitMQ reads it (per channel rather than per
 * consumer). The last qos is re-applied on recovery.
 */
int keel_client_qos(keel_client_channel_t *ch, uint16_t prefetch_count, bool global, keel_client_op_cb cb, void *data);

/**
 * confirm.select: from here on every publish on the channel is confirmed,
 * also after recovery. Publishes made after this call take confirm
 * callbacks even before select-ok arrives.
 */
int keel_client_confirm_select(keel_client_channel_t *ch, keel_client_op_cb cb, void *data);

/* ---- consuming ---- */

typedef struct keel_client_consume_s {
    const char *queue;
    const char *tag; /* NULL or "": the client makes one up ("keel.ctag-N") */
    bool no_ack, exclusive;
    keel_amqp_table_t arguments; /* copied (x-priority, ...) */
} keel_client_consume_t;

/**
 * Called for each delivery with status 0 and the message; then exactly
 * once with a non-zero status and msg NULL when the consumer ends:
 * KEEL_ECANCELED (keel_client_cancel, channel or client closed), KEEL_ENOENT
 * (the server cancelled it: its queue was deleted), or the error that
 * made basic.consume fail (also on a re-consume during recovery). After
 * that final call the consumer handle is gone and data may be released.
 */
typedef void (*keel_client_deliver_cb)(keel_client_channel_t *ch, int status, const keel_client_message_t *msg, void *data);

/**
 * basic.consume. *out (may be NULL) is the consumer's handle, valid until
 * the final call of on_message. on_ok (may be NULL) runs when consume-ok
 * arrives or the consume fails; in the latter case on_message also gets
 * its final call. The consumer is recorded at once, so a consume queued
 * across a reconnect is made on the new connection. Returns 0,
 * KEEL_EEXIST (a consumer with that tag already exists on this client).
 */
int keel_client_consume(keel_client_channel_t *ch, const keel_client_consume_t *opts, keel_client_deliver_cb on_message,
                        keel_client_op_cb on_ok, void *data, keel_client_consumer_t **out);

/** The consumer's tag (NUL-terminated; valid while the handle is). */
const char *keel_client_consumer_tag(const keel_client_consumer_t *cons);

/**
 * basic.cancel. cb (may be NULL) runs on cancel-ok; the consumer's final
 * call (KEEL_ECANCELED) comes just before. Returns 0 or KEEL_EPIPE when the
 * consumer is already ending.
 */
int keel_client_cancel(keel_client_consumer_t *cons, keel_client_op_cb cb, void *data);

/**
 * basic.ack, basic.nack, basic.reject. No reply, no callback. Returns 0,
 * or KEEL_ECONNRESET when the delivery came from an earlier connection or
 * channel incarnation, or the client is not connected: nothing was sent
 * and the server will redeliver the message.
 */
int keel_client_ack(keel_client_channel_t *ch, uint64_t delivery_tag, bool multiple);
int keel_client_nack(keel_client_channel_t *ch, uint64_t delivery_tag, bool multiple, bool requeue);
int keel_client_reject(keel_client_channel_t *ch, uint64_t delivery_tag, bool requeue);

typedef void (*keel_client_get_cb)(keel_client_channel_t *ch, int status, const keel_client_message_t *msg, void *data);

/** basic.get. cb gets the message, or status 0 and msg NULL when the queue was empty. */
int keel_client_get(keel_client_channel_t *ch, const char *queue, bool no_ack, keel_client_get_cb cb, void *data);

/* ---- publishing ---- */

typedef struct keel_client_publish_s {
    const char *exchange;                /* NULL or "": the default exchange */
    const char *routing_key;             /* NULL: "" */
    bool mandatory;                      /* unroutable messages come back to the return callback */
    const keel_amqp_properties_t *props; /* may be NULL */
    const void *body;
    size_t body_len;
} keel_client_publish_t;

typedef void (*keel_client_confirm_cb)(keel_client_channel_t *ch, int status, void *data);

/**
 * basic.publish. Everything is copied (encoded into the output buffer or
 * the offline queue) before the call returns. On a channel in confirm mode
 * cb (may be NULL) runs as the header comment says; on a channel without
 * confirms cb must be NULL (else KEEL_EINVAL). Returns 0, KEEL_EAGAIN (the
 * offline queue is full), KEEL_ECONNRESET (not connected and
 * opts.offline_publish is KEEL_CLIENT_OFFLINE_FAIL).
 */
int keel_client_publish(keel_client_channel_t *ch, const keel_client_publish_t *p, keel_client_confirm_cb cb, void *data);

/** Publishes on this channel not yet confirmed (sent or queued). */
size_t keel_client_unconfirmed(const keel_client_channel_t *ch);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_CLIENT_H */
