/*
 * broker_int.h — internal to the broker module (never installed): the
 * objects of a running keeld and the functions its files share.
 *
 * One libuv loop owns everything here; nothing is locked. The model is
 * RabbitMQ's: a broker holds users and virtual hosts; a vhost holds
 * exchanges and queues by name; bindings link an exchange to a queue or to
 * another exchange; a connection carries channels; a channel owns its
 * consumers, its unacknowledged deliveries and its publisher-confirm and
 * transaction state. Ownership runs downward (broker → vhost → exchange,
 * queue; connection → channel → consumer, delivery) and every cross link
 * (a binding's ends, a consumer's queue, a delivery's queue) is undone by
 * whichever side goes first.
 */
#ifndef KEEL_BROKER_INT_H
#define KEEL_BROKER_INT_H

#include <string.h>
#include <uv.h>

#include "keel/amqp.h"
#include "keel/broker.h"
#include "msg.h"
#include "store.h"
#include "topic.h"

typedef struct broker_vhost_s vhost_t;
typedef struct broker_exchange_s exchange_t;
typedef struct broker_queue_s queue_t;
typedef struct broker_binding_s binding_t;
typedef struct broker_conn_s conn_t;
typedef struct broker_channel_s channel_t;
typedef struct broker_consumer_s consumer_t;
typedef struct broker_user_s user_t;

/* ---- users and permissions ---- */

typedef struct {
    char *configure, *write, *read;          /* regular expressions as given */
    void *configure_re, *write_re, *read_re; /* pcre2_code* */
} perm_t;

struct broker_user_s {
    char *name;
    uint8_t salt[4];
    uint8_t hash[32]; /* SHA-256(salt | password), RabbitMQ's default scheme */
    bool has_password;
    char *tags;       /* "administrator", ... */
    keel_map_t perms; /* vhost name -> perm_t* */
};

/* ---- exchanges, bindings, queues ---- */

typedef enum { EX_DIRECT, EX_FANOUT, EX_TOPIC, EX_HEADERS } ex_type_t;

typedef enum { DEST_QUEUE, DEST_EXCHANGE } dest_kind_t;

struct broker_binding_s {
    exchange_t *source;
    dest_kind_t kind;
    void *dest; /* queue_t* or exchange_t* */
    char *key;
    size_t key_len;
    uint8_t *args; /* table bytes, owned */
    size_t args_len;
    bool match_all;         /* headers exchange: x-match all (default) or any */
    keel_link_t by_source; /* on source->bindings */
    keel_link_t by_dest;   /* on queue->bindings or exchange->dest_bindings */
};

struct broker_exchange_s {
    char *name;
    size_t name_len;
    vhost_t *vhost;
    ex_type_t type;
    bool durable, auto_delete, internal;
    uint8_t *args;
    size_t args_len;
    char *alternate; /* alternate-exchange argument, or NULL */
    size_t alternate_len;
    keel_link_t bindings;      /* binding_t.by_source */
    keel_link_t dest_bindings; /* binding_t.by_dest (exchange-to-exchange) */
    size_t n_bindings;
    bool had_binding;    /* auto-delete waits for a first binding */
    keel_map_t direct;   /* EX_DIRECT: key -> keel_vec_t* of binding_t* */
    keel__topic_t topic; /* EX_TOPIC: key -> binding_t* */
};

typedef enum { OVERFLOW_DROP_HEAD, OVERFLOW_REJECT_PUBLISH, OVERFLOW_REJECT_PUBLISH_DLX } overflow_t;

struct broker_queue_s {
    char *name;
    size_t name_len;
    vhost_t *vhost;
    bool durable, exclusive, auto_delete;
    conn_t *owner; /* exclusive queues: the declaring connection */
    uint8_t *args;
    size_t args_len;
    /* parsed arguments; -1 when absent */
    int64_t message_ttl, expires, max_length, max_length_bytes;
    overflow_t overflow;
    char *dlx;            /* x-dead-letter-exchange, NULL if none */
    char *dlrk;           /* x-dead-letter-routing-key, NULL if none */
    uint8_t max_priority; /* 0: not a priority queue */
    bool single_active;
    /* messages */
    keel__store_t **stores; /* one per priority level, [0] the lowest */
    size_t n_stores;
    uint64_t next_seq;
    size_t unacked;
    keel_link_t consumers; /* consumer_t.by_queue, round-robin order */
    size_t n_consumers;
    consumer_t *active;      /* single active consumer */
    bool had_consumer;       /* auto-delete waits for a first consumer */
    keel_link_t bindings;   /* binding_t.by_dest */
    uv_timer_t ttl_timer;    /* head's expiry */
    uv_timer_t expiry_timer; /* x-expires: idle queue deletion */
    bool timers_started;
    bool deleted;
    bool delivering;    /* re-entrancy guard of queue_deliver */
    uint32_t refs;      /* deliveries and timers that still point here */
    keel_link_t dirty; /* on broker->dirty_queues when delivery is due */
    bool is_dirty;
    /* counters */
    uint64_t published, delivered, acked;
};

struct broker_vhost_s {
    char *name;
    keel_broker_t *broker;
    keel_map_t exchanges; /* name -> exchange_t* */
    keel_map_t queues;    /* name -> queue_t* */
};

/* ---- connections, channels, consumers ---- */

typedef enum {
    CONN_HEADER, /* waiting for the protocol header */
    CONN_START,  /* sent connection.start, waiting for start-ok */
    CONN_SECURE,
    CONN_TUNE,      /* sent tune, waiting for tune-ok */
    CONN_OPEN_WAIT, /* waiting for connection.open */
    CONN_OPEN,
    CONN_CLOSING, /* sent connection.close, waiting for close-ok */
    CONN_CLOSED,  /* socket closing */
} conn_state_t;

/* A delivery waiting for its ack. */
typedef struct {
    uint64_t tag;
    queue_t *queue;       /* holds a queue reference */
    consumer_t *consumer; /* NULL for basic.get */
    keel__qentry_t entry;
} delivery_t;

/* A publish that the channel is assembling from method, header and body frames. */
typedef struct {
    bool active;
    exchange_t *exchange; /* NULL for the default exchange "" */
    bool mandatory;
    uint64_t seq;     /* publisher-confirm sequence number */
    keel__msg_t *msg; /* allocated when the content header arrives */
    char exchange_name[256];
    size_t exchange_len;
    char rkey[256];
    size_t rkey_len;
} pending_t;

struct broker_channel_s {
    conn_t *conn;
    uint16_t id;
    bool closing; /* sent channel.close, waiting for close-ok */
    pending_t pending;
    /* publishing */
    bool confirm;
    uint64_t next_publish_seq;
    bool tx;
    keel_vec_t tx_publishes; /* keel__msg_t* with routing decided at commit */
    keel_vec_t tx_acks;      /* queued acks: {tag, multiple, kind} */
    /* consuming */
    keel_link_t consumers; /* consumer_t.by_channel */
    delivery_t *unacked;    /* ring buffer in tag order */
    size_t unacked_cap, unacked_head, unacked_len;
    uint64_t next_delivery_tag;
    uint16_t prefetch_global;   /* basic.qos global=true: per channel */
    uint16_t prefetch_consumer; /* basic.qos global=false: for new consumers */
    bool flow_active;
    char last_queue[256]; /* the queue "" refers to (last declared) */
    size_t last_queue_len;
    consumer_t *reply_consumer; /* direct reply-to pseudo-consumer */
    char reply_token[40];       /* amq.rabbitmq.reply-to.<token> */
};

struct broker_consumer_s {
    channel_t *channel;
    queue_t *queue; /* NULL for the direct reply-to pseudo-consumer */
    char tag[256];
    size_t tag_len;
    bool no_ack, exclusive;
    uint16_t prefetch; /* 0: unlimited */
    size_t unacked;
    uint8_t *args;
    size_t args_len;
    keel_link_t by_queue;
    keel_link_t by_channel;
};

struct broker_conn_s {
    keel_broker_t *broker;
    keel_link_t flush_link; /* on broker->flush_conns while output waits */
    bool in_flush_list;
    uv_tcp_t tcp;
    conn_state_t state;
    keel_link_t link; /* on broker->conns */
    char peer[64];     /* "127.0.0.1:53410" */
    bool loopback;
    uint64_t id;
    /* input */
    uint8_t *in;
    size_t in_len, in_cap;
    /* output */
    keel_buf_t out;     /* frames waiting to be written */
    keel_buf_t writing; /* frames handed to uv_write */
    bool write_pending;
    uv_write_t write_req;
    bool blocked_by_output; /* consumers paused until the output drains */
    /* negotiated */
    uint16_t channel_max;
    uint32_t frame_max;
    uint16_t heartbeat;
    uint64_t last_read, last_write; /* loop time, ms */
    uv_timer_t heartbeat_timer;
    bool heartbeat_started;
    uv_timer_t close_timer; /* waits for close-ok after our connection.close */
    bool close_timer_started;
    /* identity */
    user_t *user;
    char *user_name;
    vhost_t *vhost;
    uint8_t *client_props;
    size_t client_props_len;
    bool cap_consumer_cancel_notify;
    bool cap_auth_failure_close;
    bool cap_connection_blocked;
    /* channels */
    channel_t **channels; /* indexed by channel id, channel_max + 1 slots */
    size_t n_channels;
    bool close_after_flush;
    bool closing_handle;
    bool detached; /* no socket: tests and fuzzing feed bytes, output is dropped */
    uint32_t refs; /* libuv callbacks in flight */
};

struct keel_broker_s {
    uv_loop_t *loop;
    keel_broker_opts_t opts;
    char *bind_host;
    char *data_dir;
    uv_tcp_t listener;
    bool listening;
    uv_pipe_t control; /* control socket (control.c) */
    bool control_open;
    keel_map_t vhosts; /* name -> vhost_t* */
    keel_map_t users;  /* name -> user_t* */
    keel_link_t conns;
    size_t n_conns;
    uint64_t next_conn_id;
    keel_link_t dirty_queues; /* queues with deliveries due */
    keel_link_t flush_conns;  /* connections with output to write */
    uv_check_t deliver_check;  /* runs due deliveries once per loop turn */
    uv_idle_t deliver_idle;    /* keeps the loop from blocking while some are due */
    bool closing;
    keel_broker_close_cb close_cb;
    void *close_data;
    uint64_t tx_bytes, rx_bytes;
};

/* ---- vhost.c ---- */
int keel__vhost_new(keel_broker_t *b, const char *name, vhost_t **out);
void keel__vhost_free(vhost_t *v);
vhost_t *keel__vhost_find(keel_broker_t *b, const char *name, size_t len);

/* ---- exchange.c ---- */
int keel__exchange_type_parse(const char *name, size_t len, ex_type_t *out);
const char *keel__exchange_type_name(ex_type_t t);
int keel__exchange_new(vhost_t *v, const char *name, size_t len, ex_type_t type, bool durable, bool auto_delete, bool internal,
                       const uint8_t *args, size_t args_len, exchange_t **out);
/** Removes the exchange from its vhost with all its bindings and frees it. */
void keel__exchange_delete(exchange_t *x);
exchange_t *keel__exchange_find(vhost_t *v, const char *name, size_t len);
/** Adds a binding; returns 0 (also if it existed) or KEEL_ENOMEM. */
int keel__bind(exchange_t *source, dest_kind_t kind, void *dest, const char *key, size_t key_len, const uint8_t *args,
               size_t args_len);
/** Removes a binding; returns 0 or KEEL_ENOENT. */
int keel__unbind(exchange_t *source, dest_kind_t kind, void *dest, const char *key, size_t key_len, const uint8_t *args,
                 size_t args_len);
void keel__binding_free(binding_t *bd);

/** The queues a message reaches from an exchange (with e2e bindings and
 * the alternate exchange), without duplicates. */
typedef struct {
    queue_t **queues;
    size_t len, cap;
    exchange_t **seen; /* exchanges visited, against loops */
    size_t n_seen, cap_seen;
} route_t;
void keel__route_init(route_t *r);
void keel__route_free(route_t *r);
int keel__route(exchange_t *x, const char *rkey, size_t rkey_len, keel_amqp_table_t headers, route_t *out);

/* ---- queue.c ---- */
int keel__queue_parse_args(const char *qname, size_t qlen, const char *vname, keel_amqp_table_t args, queue_t *q, char *why,
                           size_t why_len);
int keel__queue_new(vhost_t *v, const char *name, size_t len, bool durable, bool exclusive, bool auto_delete, conn_t *owner,
                    const uint8_t *args, size_t args_len, queue_t **out, char *why, size_t why_len);
/** Deletes a queue: unbinds it, cancels its consumers, drops its messages. */
void keel__queue_delete(queue_t *q, bool notify_consumers);
queue_t *keel__queue_find(vhost_t *v, const char *name, size_t len);
size_t keel__queue_ready(const queue_t *q);
/**
 * Enqueues msg (takes a new reference). Returns 0, or 1 when the queue
 * refused it (x-overflow reject-publish); KEEL_ENOMEM.
 */
int keel__queue_publish(queue_t *q, keel__msg_t *msg);
/** Takes the next ready message for basic.get; false when none. */
bool keel__queue_get(queue_t *q, keel__qentry_t *out);
/** Puts a delivered message back at its place (requeue). */
void keel__queue_requeue(queue_t *q, keel__qentry_t *e);
/** A delivered message was acknowledged: drops it. */
void keel__queue_settle(queue_t *q, keel__qentry_t *e);
/** Rejected without requeue: dead-letters it if configured, else drops. */
void keel__queue_reject(queue_t *q, keel__qentry_t *e);
size_t keel__queue_purge(queue_t *q);
/** Marks the queue as having deliveries to make at the end of this loop turn. */
void keel__queue_kick(queue_t *q);
void keel__queue_ref(queue_t *q);
void keel__queue_unref(queue_t *q);
int keel__queue_add_consumer(queue_t *q, consumer_t *c);
void keel__queue_remove_consumer(queue_t *q, consumer_t *c);
/** The idle handle's callback: keeps the loop spinning while deliveries are due. */
void keel__broker_idle_cb(uv_idle_t *h);
/** Runs every queue's due deliveries (the loop's check handle calls it). */
void keel__broker_run_deliveries(keel_broker_t *b);
/** Restarts the x-expires countdown after the queue was used. */
void keel__queue_touch(queue_t *q);

/* ---- channel.c ---- */
channel_t *keel__channel_new(conn_t *c, uint16_t id);
/** Releases consumers and requeues unacked deliveries; frees the channel. */
void keel__channel_free(channel_t *ch);
/** Handles one method frame; returns 0 or a negative error after closing. */
int keel__channel_method(channel_t *ch, const keel_amqp_method_t *m);
/* declare.c and publish.c: return 1 for a method that is not theirs. */
int keel__channel_declare_method(channel_t *ch, const keel_amqp_method_t *m);
int keel__channel_publish_method(channel_t *ch, const keel_amqp_method_t *m);
int keel__channel_apply_tx_acks(channel_t *ch);
void keel__channel_drop_tx_acks(channel_t *ch);
void keel__channel_drop_tx_publishes(channel_t *ch);
int keel__channel_header(channel_t *ch, const keel_amqp_header_t *h);
int keel__channel_body(channel_t *ch, const uint8_t *data, size_t len);
/** Whether the consumer may take another message now (prefetch, output). */
bool keel__consumer_ready(const consumer_t *c);
/** Sends a delivery to a consumer; the entry's reference moves in. */
int keel__consumer_deliver(consumer_t *c, queue_t *q, keel__qentry_t *e);
/** The queue went away under the consumer: forget it and tell the client. */
void keel__consumer_cancelled(consumer_t *c);
/** Closes the channel with a channel exception (the connection stays). */
int keel__channel_error(channel_t *ch, uint16_t code, uint32_t method_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- conn.c ---- */
void keel__conn_accept(keel_broker_t *b, uv_stream_t *server);
/** Closes with a connection exception: connection.close, then the socket. */
int keel__conn_error(conn_t *c, uint16_t code, uint32_t method_id, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** Queues a method frame for output. */
int keel__conn_send_method(conn_t *c, uint16_t channel, const keel_amqp_method_t *m);
/** Queues method + content frames for output. */
int keel__conn_send_content(conn_t *c, uint16_t channel, const keel_amqp_method_t *m, const keel__msg_t *msg);
/**
 * A connection without a socket, for tests and fuzzing: bytes go in with
 * keel__conn_feed, output is counted and dropped. Free with keel__conn_close.
 */
conn_t *keel__conn_new_detached(keel_broker_t *b);
/** Feeds bytes to a detached connection as if read from its socket. */
void keel__conn_feed(conn_t *c, const uint8_t *data, size_t len);
/** Writes whatever is queued (called at the end of each input batch). */
void keel__conn_flush(conn_t *c);
void keel__conn_close(conn_t *c);
/** A connection with output room again: resume its consumers' queues. */
void keel__conn_unblock(conn_t *c);

/* ---- auth.c ---- */
int keel__user_add(keel_broker_t *b, const char *name, const char *password, const char *tags);
int keel__user_delete(keel_broker_t *b, const char *name);
int keel__user_set_password(keel_broker_t *b, const char *name, const char *password);
user_t *keel__user_find(keel_broker_t *b, const char *name, size_t len);
bool keel__user_check_password(const user_t *u, const char *password, size_t len);
void keel__user_free(user_t *u);
int keel__perm_set(keel_broker_t *b, const char *user, const char *vhost, const char *configure, const char *write,
                   const char *read, char *why, size_t why_len);
int keel__perm_clear(keel_broker_t *b, const char *user, const char *vhost);
typedef enum { PERM_CONFIGURE, PERM_WRITE, PERM_READ } perm_kind_t;
/** Whether the user may perform kind on the named resource in vhost. */
bool keel__perm_check(const user_t *u, const vhost_t *v, perm_kind_t kind, const char *name, size_t len);
bool keel__perm_vhost_access(const user_t *u, const vhost_t *v);

/* reply-text is a shortstr: like RabbitMQ, cut longer texts to 255
 * octets, at a UTF-8 character boundary. */
static inline void keel__clip_shortstr(char *text)
{
    size_t n = strlen(text);
    if (n <= 255)
        return;
    n = 255;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    text[n] = '\0';
}

/* ---- time ---- */
static inline int64_t keel__now_ms(const keel_broker_t *b)
{
    return (int64_t)uv_now(b->loop);
}

#endif
