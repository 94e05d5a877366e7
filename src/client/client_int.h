/*
 * client_int.h — internal to the client module (never installed): the
 * objects behind keel_client_t and the functions its files share.
 *
 * Layers inside the module:
 *   client.c    life cycle, options, events, host order and backoff,
 *               connection loss and close; the prepare handle that
 *               flushes output once per loop turn and finishes closes
 *   conn.c      one connection attempt (xport_t): name resolution, TCP,
 *               TLS, reading, writing, frame parsing, the handshake,
 *               heartbeats and the connection close handshake
 *   tls.c       OpenSSL over memory BIOs
 *   channel.c   channels: the queue of sent and deferred operations, replies,
 *               channel exceptions, content assembly, deliveries, confirms
 *   ops.c       the public operations (declare, bind, consume, publish, ...)
 *   topology.c  the records of what was declared and the recovery that
 *               replays them after a reconnect
 *   message.c   keeping a copy of a message
 *
 * Memory rules: nothing reachable from a user callback is freed while that
 * callback runs. API calls never free and never call user callbacks; they
 * mark state and let the prepare handle (or a frame handler) finish the
 * work. Entries are popped from their queues before their callback runs,
 * so a callback may queue more work.
 */
#ifndef KEEL_CLIENT_INT_H
#define KEEL_CLIENT_INT_H

#include <uv.h>

#include "keel/amqp.h"
#include "keel/client.h"

#define KEEL_CLIENT_VERSION "0.1.0"

typedef struct keel__ctls_ctx_s keel__ctls_ctx_t;
typedef struct keel__ctls_s keel__ctls_t;
typedef struct keel__ctopo_s topo_t;
typedef struct keel__cxport_s xport_t;

/* ---- client states ---- */

typedef enum {
    CL_IDLE,       /* made, keel_client_connect not called yet */
    CL_CONNECTING, /* an attempt in progress (resolve, TCP, TLS, AMQP handshake) */
    CL_OPEN,       /* connection.open-ok received; recovery may still run */
    CL_WAITING,    /* between attempts, the retry timer running */
    CL_CLOSING,    /* keel_client_close: connection.close sent, waiting for close-ok */
    CL_CLOSED,     /* keel_client_close: everything failed, handles closing */
    CL_FAILED,     /* gave up for good; waits for keel_client_close */
} cl_state_t;

/* AMQP handshake phases of an attempt. */
typedef enum {
    HS_NONE,
    HS_START,   /* protocol header sent, waiting for connection.start */
    HS_TUNE,    /* start-ok sent, waiting for connection.tune */
    HS_OPEN_OK, /* tune-ok and open sent, waiting for connection.open-ok */
    HS_DONE,
} hs_phase_t;

/* ---- operations on a channel ---- */

typedef enum {
    OP_OPEN,    /* channel.open (user's first open, or recovery) */
    OP_CLOSE,   /* channel.close by the application */
    OP_USER,    /* an operation with a keel_client_op_cb (may be NULL) */
    OP_QUEUE,   /* queue.declare: keel_client_queue_cb */
    OP_GET,     /* basic.get: keel_client_get_cb */
    OP_CONSUME, /* basic.consume: rec is the consumer */
    OP_CANCEL,  /* basic.cancel: rec is the consumer */
    OP_REC,     /* a recovery step (qos, confirm.select) without callback */
    OP_TOPO,    /* topology replay on the recovery channel: rec is the record */
} op_kind_t;

typedef struct {
    uint32_t method; /* the method sent */
    uint8_t kind;    /* op_kind_t */
    bool sent;       /* false: its frame waits in the channel's deferred buffer */
    bool recovery;   /* a step of the channel's recovery */
    union {
        keel_client_op_cb op;
        keel_client_queue_cb queue;
        keel_client_get_cb get;
        keel_client_channel_cb channel;
    } cb;
    void *data;
    void *rec; /* topo_t* to commit on -ok, or keel_client_consumer_t* */
} op_t;

/* A publish waiting for its confirm. */
typedef struct {
    keel_client_confirm_cb cb;
    void *data;
    bool done; /* acked out of order; popped when it reaches the head */
} confirm_t;

/* A ring of fixed-size items: ops and confirms. */
typedef struct {
    uint8_t *items;
    size_t size; /* item size */
    size_t head, len, cap;
} ring_t;

/* ---- channels ---- */

typedef enum {
    CH_DOWN,    /* not open on the current connection; operations are deferred */
    CH_OPENING, /* channel.open and recovery steps sent; operations deferred */
    CH_READY,   /* open and restored: operations go straight out */
    CH_CLOSING, /* channel.close sent by the application */
    CH_DEAD,    /* closed for good (recovery impossible, client failed) */
} ch_state_t;

/* Content being assembled: method, header and body frames. */
typedef enum { AS_NONE, AS_HEADER, AS_BODY } as_state_t;

typedef struct {
    uint8_t state; /* as_state_t */
    bool in_input; /* raw payloads still point into the client's input buffer */
    bool listed;   /* on client->assembling */
    uint32_t method;
    const uint8_t *mptr, *hptr, *bptr; /* while in_input */
    size_t mlen, hlen;
    uint64_t body_size;
    uint64_t got;
    keel_buf_t buf; /* method, header, body once copied */
    keel_link_t link;
} assembly_t;

struct keel_client_channel_s {
    keel_client_t *client;
    uint16_t id;
    uint8_t state;           /* ch_state_t */
    bool internal;           /* the recovery channel: never handed to the application */
    bool opened;             /* the open callback has run */
    bool zombie;             /* on client->zombies, to finish in the prepare callback */
    bool in_client_recovery; /* counted in client->rec_channels */
    bool close_requested;    /* keel_client_channel_close was called */
    bool after_error;        /* re-opening after a channel exception: auto-delete queues went with it */
    int finish_status;
    keel_link_t link;  /* client->channel_list, in creation order */
    keel_link_t zlink; /* client->zombies */
    keel_client_channel_cb open_cb;
    void *open_data;
    keel_client_channel_cb close_cb;
    void *close_data;
    keel_client_error_cb error_cb;
    void *error_data;
    keel_client_return_cb return_cb;
    void *return_data;
    /* operations: sent ones first, then deferred ones */
    ring_t ops;
    size_t recovery_ops; /* OP_OPEN/OP_REC/OP_CONSUME of the running recovery still unanswered */
    keel_buf_t deferred; /* frames of deferred operations: [u8 kind][u32 len][bytes] */
    size_t deferred_publish_bytes;
    /* confirms: entries [0, conf_sent) were sent and have sequence numbers
     * conf_seq, conf_seq + 1, ...; the rest wait in deferred */
    bool confirm; /* confirm.select was asked for: every publish gets an entry */
    ring_t confirms;
    size_t conf_sent;
    uint64_t conf_seq; /* sequence number of the entry at the head */
    /* recorded state restored on recovery */
    bool qos_set;
    uint16_t prefetch;
    bool qos_global;
    keel_link_t consumers; /* keel_client_consumer_t.link */
    /* delivery tags the application sees: the server's plus offset */
    uint64_t tag_offset;
    uint64_t max_tag;
    assembly_t as;
};

struct keel_client_consumer_s {
    keel_client_channel_t *ch;
    char *tag;
    size_t tag_len;
    char *queue;
    bool no_ack, exclusive;
    uint8_t *args;
    size_t args_len;
    keel_client_deliver_cb on_message;
    keel_client_op_cb on_ok;
    void *data;
    bool ok_called;
    bool ending;   /* basic.cancel asked for */
    bool deferred; /* its basic.consume waits in the deferred buffer: recovery must not make it too */
    keel_client_op_cb cancel_cb;
    void *cancel_data;
    keel_link_t link; /* ch->consumers */
};

/* ---- topology records ---- */

typedef enum { TOPO_EXCHANGE, TOPO_QUEUE, TOPO_QBIND, TOPO_XBIND } topo_kind_t;

struct keel__ctopo_s {
    uint8_t kind;
    bool durable, auto_delete, internal, exclusive;
    bool server_named; /* a queue declared with an empty name */
    char *name;        /* exchange or queue; bindings: the destination */
    char *source;      /* exchange type, or a binding's source exchange */
    char *key;         /* bindings: the routing key */
    uint8_t *args;
    size_t args_len;
    keel_link_t link; /* client->topo, declaration order */
};

/* ---- the client ---- */

/* Phases of the recovery after a connection opens (topology.c). */
typedef enum { RP_NONE, RP_DECLARE, RP_BIND, RP_CHANNELS } rec_phase_t;

struct keel_client_s {
    uv_loop_t *loop;
    keel_client_opts_t opts; /* strings point into owned copies below */
    keel_client_host_t *hosts;
    size_t n_hosts;
    keel_vec_t owned; /* strings to free */
    keel__ctls_ctx_t *tls_ctx;
    uint8_t state; /* cl_state_t */
    int fail_status;
    bool connect_called;
    keel_client_cb connect_cb;
    void *connect_data;
    bool connect_cb_pending;
    keel_client_cb close_cb;
    void *close_data;
    bool finish_scheduled; /* keel_client_close: fail everything in the prepare callback */
    /* host order and backoff */
    size_t *order;     /* host indexes in this round's order */
    size_t order_pos;  /* position in order of the current host */
    size_t tried;      /* failed attempts in this round */
    uint32_t round;    /* completed rounds of failures since the last success */
    uint32_t failures; /* failed attempts since the last success (max_retries) */
    int last_error;
    /* handles */
    uv_timer_t retry_timer, connect_timer, heartbeat_timer, close_timer;
    uv_prepare_t prepare;
    bool prepare_active;
    int open_handles; /* embedded handles not closed yet */
    int live_xports;  /* attempts whose handles are still closing */
    /* the current connection */
    xport_t *x;
    uint64_t gen; /* bumped whenever a connection ends: stale work checks it */
    uint8_t hs;   /* hs_phase_t */
    uint16_t channel_max;
    uint32_t frame_max;
    uint16_t heartbeat;
    uint64_t last_read, last_write;
    bool blocked;
    uint64_t connections;
    bool ever_connected;
    keel_buf_t server_props; /* server-properties table bytes of the last connection */
    keel_amqp_str_t server_product, server_version;
    keel_buf_t out; /* frames for the current connection, written once per loop turn */
    uint8_t *in;
    size_t in_len, in_cap;
    /* channels */
    keel_client_channel_t **channels; /* by number, n_slots of them */
    size_t n_slots;
    keel_link_t channel_list;
    keel_link_t assembling; /* channels whose content points into the input */
    keel_link_t zombies;    /* channels to finish */
    size_t deferred_publish_bytes;
    /* what was declared, for recovery */
    keel_link_t topo;
    keel_map_t consumers; /* tag -> keel_client_consumer_t* */
    uint64_t next_tag;
    /* recovery */
    bool recovering;
    uint8_t rec_phase; /* rec_phase_t, topology.c */
    keel_client_channel_t *rec_ch;
    keel_vec_t rec_batch; /* topo_t* being replayed */
    size_t rec_done;      /* answered entries of rec_batch */
    size_t rec_channels;  /* user channels still recovering */
};

/* ---- client.c ---- */
int64_t keel__client_now(keel_client_t *c);
/** Makes the prepare callback run this loop turn (flush, zombies). */
void keel__client_wake(keel_client_t *c);
void keel__client_event(keel_client_t *c, keel_client_event_type_t type, int status, const keel_client_event_t *ev);
/** Whether channels may send: connection open and recovery over. */
bool keel__client_connected(const keel_client_t *c);
/** The connection (or attempt) ended with status; reconnects or fails. */
void keel__client_conn_lost(keel_client_t *c, int status, uint16_t reply_code, keel_amqp_str_t reply_text);
/** A fatal condition: stop, fail everything with status. */
void keel__client_fail(keel_client_t *c, int status, uint16_t reply_code, keel_amqp_str_t reply_text);
/** The handshake is done: start recovery. */
void keel__client_opened(keel_client_t *c);
/** Recovery is over: report connected. */
void keel__client_recovered(keel_client_t *c);
/** An attempt's handles are all closed. */
void keel__client_xport_gone(keel_client_t *c);
/** Our close handshake is over (close-ok, EOF or timeout). */
void keel__client_close_done(keel_client_t *c);
/** Maps an AMQP reply code to a KEEL_E* status. */
int keel__client_reply_status(uint16_t code);

/* ---- conn.c ---- */
/** Starts an attempt to host index h. Returns 0 or an error (the attempt failed at once). */
int keel__cconn_start(keel_client_t *c, size_t h);
/** Detaches the current connection; its socket closes at once. */
void keel__cconn_detach(keel_client_t *c);
/** Hands the output buffer to the socket if no write is in flight. */
void keel__cconn_flush(keel_client_t *c);
/** Appends a method frame for the current connection. */
int keel__cconn_send(keel_client_t *c, uint16_t channel, const keel_amqp_method_t *m);
void keel__cconn_heartbeat_start(keel_client_t *c);
void keel__cconn_xport_unref(xport_t *x);

/* ---- tls.c ---- */
int keel__ctls_ctx_new(keel__ctls_ctx_t **out, const keel_client_opts_t *o);
void keel__ctls_ctx_free(keel__ctls_ctx_t *ctx);
int keel__ctls_new(keel__ctls_t **out, keel__ctls_ctx_t *ctx, const char *server_name, bool verify);
void keel__ctls_free(keel__ctls_t *t);
/** Feeds ciphertext read from the socket. Returns 0 or KEEL_ENOMEM. */
int keel__ctls_feed(keel__ctls_t *t, const void *data, size_t len);
/** Advances the handshake: 0 when done, KEEL_EAGAIN while it goes on, else KEEL_EPROTO/KEEL_EACCES (verification). */
int keel__ctls_handshake(keel__ctls_t *t, char *why, size_t why_len);
/** Decrypts into buf: bytes read (>0), 0 when nothing is buffered, KEEL_EOF at close_notify, or an error. */
long keel__ctls_read(keel__ctls_t *t, uint8_t *buf, size_t cap);
/** Encrypts plaintext. Returns 0 or an error. */
int keel__ctls_write(keel__ctls_t *t, const void *data, size_t len);
/** Appends pending ciphertext to out. Returns 0 or KEEL_ENOMEM. */
int keel__ctls_drain(keel__ctls_t *t, keel_buf_t *out);

/* ---- channel.c ---- */
void keel__cring_init(ring_t *r, size_t size);
void keel__cring_free(ring_t *r);
void *keel__cring_at(const ring_t *r, size_t i);
/** Appends an item (copied); returns 0 or KEEL_ENOMEM. */
int keel__cring_push(ring_t *r, const void *item);
/** Inserts an item at index (0 <= index <= len); returns 0 or KEEL_ENOMEM. */
int keel__cring_insert(ring_t *r, size_t index, const void *item);
/** Removes the item at index into *item (may be NULL), keeping the order of the rest. */
void keel__cring_remove(ring_t *r, size_t index, void *item);
/** Removes the head into *item (may be NULL). */
void keel__cring_shift(ring_t *r, void *item);
void keel__cring_pop_back(ring_t *r);

int keel__cchan_new(keel_client_t *c, bool internal, keel_client_channel_t **out);
/** Frees a channel struct and its number; no callbacks. */
void keel__cchan_free(keel_client_channel_t *ch);
/** Handles a method frame on a channel. Returns 0 or an error that ends the connection. */
int keel__cchan_method(keel_client_channel_t *ch, const keel_amqp_frame_t *f, const keel_amqp_method_t *m);
int keel__cchan_header(keel_client_channel_t *ch, const keel_amqp_frame_t *f);
int keel__cchan_body(keel_client_channel_t *ch, const keel_amqp_frame_t *f);
/** Copies content payloads that point into the input buffer before it moves. */
int keel__cchan_stabilize(keel_client_channel_t *ch);
/** Sends (or defers) an operation: m encoded, op queued. Returns 0 or an error (nothing queued). */
int keel__cchan_op(keel_client_channel_t *ch, const keel_amqp_method_t *m, const op_t *op);
/** Sends an operation now (recovery), bypassing the deferred queue. */
int keel__cchan_op_now(keel_client_channel_t *ch, const keel_amqp_method_t *m, const op_t *op);
/** The connection ended: fail what was sent, keep what was deferred. */
void keel__cchan_conn_lost(keel_client_channel_t *ch, int status);
/** Fails everything and ends the channel's consumers; the channel becomes DEAD. */
void keel__cchan_kill(keel_client_channel_t *ch, int status);
/** Starts (re)opening a user channel on the current connection. Returns 0 or an error. */
int keel__cchan_recover(keel_client_channel_t *ch);
/** Finishes a channel: its close callback with status, then free. */
void keel__cchan_finish(keel_client_channel_t *ch, int status);
/** Queues the channel to be finished in the prepare callback. */
void keel__cchan_zombify(keel_client_channel_t *ch, int status);
/** Sends the deferred operations; the channel becomes READY. */
int keel__cchan_ready(keel_client_channel_t *ch);
/** Ends a consumer: unlinks, unrecords, final call with status, frees. */
void keel__ccons_end(keel_client_consumer_t *cons, int status);
void keel__ccons_free(keel_client_consumer_t *cons);
/** Is the channel allowed to take operations? 0 or the error to return. */
int keel__cchan_usable(const keel_client_channel_t *ch);
/** Encodes a publish into the output, or into the deferred buffer. Returns 0 or KEEL_ENOMEM. */
int keel__cchan_publish(keel_client_channel_t *ch, const keel_amqp_method_t *m, const keel_amqp_properties_t *props,
                        const void *body, size_t len, bool deferred);

/* ---- topology.c ---- */
void keel__ctopo_free(topo_t *t);
/** A record built from the arguments (copied). NULL on OOM. */
topo_t *keel__ctopo_new(uint8_t kind, const char *name, const char *source, const char *key, keel_amqp_table_t args);
/** The -ok for the op that carried rec arrived: record it (rec taken). */
void keel__ctopo_commit(keel_client_t *c, uint32_t method, topo_t *rec, keel_amqp_str_t queue_name);
/** A consumer's cancel completed: forget its auto-delete queue if no one else consumes it. */
void keel__ctopo_consumer_gone(keel_client_t *c, const char *queue);
void keel__ctopo_clear(keel_client_t *c);
/**
 * Re-declares a recorded auto-delete queue and its bindings on ch, as
 * recovery steps: after a channel exception cancelled its consumers the
 * server deleted it. Returns 0 or an error from encoding.
 */
int keel__ctopo_redeclare_for(keel_client_channel_t *ch, const char *queue);
/** Starts recovery after the handshake. */
void keel__crecov_start(keel_client_t *c);
/** A reply to an OP_TOPO (status 0 with the reply, or the channel failed). */
void keel__crecov_topo_ok(keel_client_t *c, topo_t *rec, const keel_amqp_method_t *reply);
/** The recovery channel was closed by the server (failed = the head record). */
void keel__crecov_topo_failed(keel_client_t *c, const keel_client_error_t *err);
/** A user channel finished its recovery steps. */
void keel__crecov_channel_done(keel_client_t *c, keel_client_channel_t *ch);
/** Forgets a recovery in progress (the connection ended). */
void keel__crecov_reset(keel_client_t *c);
/** Reports the end of recovery once every channel is back. */
void keel__crecov_check(keel_client_t *c);

#endif /* KEEL_CLIENT_INT_H */
