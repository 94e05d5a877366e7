/*
 * driver.h — internal to src/messaging; never installed.
 *
 * The driver interface: what the transport-independent layer (RPC client
 * and server, notifier, listener) asks of a transport driver, in the shape
 * of oslo's BaseDriver — send, send_notification, listen,
 * listen_for_notifications — made asynchronous for one libuv loop. Two
 * drivers implement it with the topology of spec/oslo-messaging-wire.md §4
 * (topology.c): rabbit:// (rabbit.c, rabbit_listen.c) over keel's AMQP
 * client, and fake:// (fake.c), an in-memory broker that declares exactly
 * what the rabbit driver declares.
 *
 * What a driver owns: the wire. It builds and parses bodies with
 * envelope.c (so the underscore keys, the 2.0 envelope, reply queues and
 * _msg_id correlation are its business), declares exchanges and queues,
 * retries publishes as `retry` says, waits for replies (waiter.c), and
 * hands each consumed message to its listener's callback as an incoming
 * message that the upper layer acknowledges, requeues, replies to and
 * releases.
 *
 * Threads: every function is called on the transport's loop thread, and
 * every callback runs there, never from inside the call that registered it.
 */
#ifndef KEEL_MESSAGING_DRIVER_H
#define KEEL_MESSAGING_DRIVER_H

#include "messaging_int.h"

typedef struct keel__messaging_listener_s keel__messaging_listener_t;
typedef struct keel__messaging_incoming_s keel__messaging_incoming_t;
struct keel__messaging_driver_ops_s;

/** Every driver's listener starts with this. */
struct keel__messaging_listener_s {
    const struct keel__messaging_driver_ops_s *ops;
};

/** One message to send. Everything is borrowed for the duration of the call. */
typedef struct keel__messaging_send_s {
    const keel_messaging_target_t *target; /* exchange already resolved (control_exchange when unset) */
    json_t *ctxt;                          /* the serialized context (an object) */
    json_t *message;                       /* the inner message, without underscore keys */
    bool wait_for_reply;                   /* a call */
    double timeout;                        /* a call's timeout, seconds */
    double call_monitor_timeout;           /* <= 0: none */
    int retry;                             /* -1 forever, 0 never, N at most N retries */
    int notify_version;                    /* send_notification: 1 (bare dict) or 2 (envelope) */
    bool mandatory;                        /* at_least_once: unroutable fails with KEEL_MESSAGING_EDELIVERY */
} keel__messaging_send_t;

/**
 * Outcome of a send. A cast or notification: status only (0 once the
 * broker took it). A call: status 0 with the final reply's result
 * (borrowed, may be JSON null) or failure text (borrowed, NULL if none);
 * KEEL_ETIMEDOUT; KEEL_MESSAGING_EDELIVERY; KEEL_ECANCELED.
 */
typedef void (*keel__messaging_sent_cb)(void *data, int status, json_t *result, const char *failure);

/** What a listener consumed: the message taken apart; the driver's own state follows. */
struct keel__messaging_incoming_s {
    keel__messaging_unpacked_t u;
    keel__messaging_listener_t *listener;
};

/** A consumed message. The callee owns `in` until it calls ops->release(in). */
typedef void (*keel__messaging_incoming_cb)(keel__messaging_listener_t *l, keel__messaging_incoming_t *in, void *data);

typedef void (*keel__messaging_listener_stop_cb)(keel__messaging_listener_t *l, void *data);

/** A (target, priority) pair of listen_for_notifications(). */
typedef struct keel__messaging_target_priority_s {
    const keel_messaging_target_t *target; /* exchange resolved */
    const char *priority;                  /* lower case: "info" */
} keel__messaging_target_priority_t;

typedef struct keel__messaging_driver_ops_s {
    const char *name;
    /** Makes the driver of transport t (t's url, opts and loop are set). */
    int (*open)(keel_messaging_transport_t *t, void **driver);
    /**
     * Closes: pending sends and calls finish with KEEL_ECANCELED, handles
     * close, then done(t) runs. No listener may remain.
     */
    void (*close)(void *driver, void (*done)(keel_messaging_transport_t *t));
    int (*send)(void *driver, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data);
    int (*send_notification)(void *driver, const keel__messaging_send_t *msg, keel__messaging_sent_cb cb, void *data);
    /** RPC: consume topic, topic.server and the topic's fanout. */
    int (*listen)(void *driver, const keel_messaging_target_t *target, keel__messaging_incoming_cb cb, void *data,
                  keel__messaging_listener_t **out);
    /** Notifications: consume N.P for every pair, or the pool's queue bound to them all. */
    int (*listen_for_notifications)(void *driver, const keel__messaging_target_priority_t *pairs, size_t n, const char *pool,
                                    keel__messaging_incoming_cb cb, void *data, keel__messaging_listener_t **out);
    /**
     * Stops consuming; done runs once no more messages will arrive.
     * Messages handed over already stay valid until released.
     */
    void (*listener_stop)(keel__messaging_listener_t *l, keel__messaging_listener_stop_cb done, void *data);
    /** Frees a stopped listener whose messages were all released. */
    void (*listener_free)(keel__messaging_listener_t *l);
    void (*ack)(keel__messaging_incoming_t *in);
    void (*requeue)(keel__messaging_incoming_t *in);
    /** Replies to a call (no-op for casts); ending false is a call-monitor heartbeat. Failures are logged. */
    void (*reply)(keel__messaging_incoming_t *in, json_t *result, const char *failure, bool ending);
    /** Gives the message back; one neither acked nor requeued is requeued. */
    void (*release)(keel__messaging_incoming_t *in);
} keel__messaging_driver_ops_t;

extern const keel__messaging_driver_ops_t keel__messaging_fake_driver;
extern const keel__messaging_driver_ops_t keel__messaging_rabbit_driver;

/* ---- transport.c: what drivers and the upper layer share ---- */

/** Work handed to the loop's thread; embedded in the struct it works on, so posting never allocates. */
typedef struct keel__messaging_task_s keel__messaging_task_t;
struct keel__messaging_task_s {
    void (*run)(keel__messaging_task_t *task);
    keel__messaging_task_t *next;
};

struct keel_messaging_transport_s {
    uv_loop_t *loop;
    uv_thread_t loop_thread;
    keel_messaging_url_t *url;
    keel__messaging_opts_t opts;
    char **allowed_exmods; /* NULL-terminated */
    const keel__messaging_driver_ops_t *ops;
    void *driver;
    keel_messaging_fake_broker_t *fake_broker; /* borrowed, for the fake driver */
    size_t servers;                            /* RPC servers and listeners made from it */
    /* Tasks posted from any thread, run by `async` on the loop's thread. */
    uv_async_t async;
    uv_mutex_t lock;
    keel__messaging_task_t *head, *tail;
    bool posts_closed; /* under lock: the async handle is closing */
    bool closing;
    keel_messaging_transport_close_cb close_cb;
    void *close_data;
};

/**
 * Runs task->run(task) on the loop's thread, soon, never inside this call.
 * Callable from any thread. Returns 0, or KEEL_ECANCELED once the
 * transport is closing its handles (the task will not run).
 */
int keel__messaging_post(keel_messaging_transport_t *t, keel__messaging_task_t *task);

/* ---- sync.c: the blocking wrappers' wait ---- */

/** A job a blocking wrapper runs on the loop's thread; embed it in the job. */
typedef struct keel__messaging_sync_s {
    keel__messaging_task_t task; /* the caller sets task.run; the job ends with keel__messaging_sync_done() */
    uv_mutex_t lock;
    uv_cond_t cond;
    bool done;
    int rc;
} keel__messaging_sync_t;

/**
 * Posts s->task to t's loop and waits until the job calls
 * keel__messaging_sync_done(); returns the rc it gave. KEEL_EINVAL on the
 * loop's own thread (the job could never run), KEEL_ENOMEM, or
 * KEEL_ECANCELED (transport closing) without running the job.
 */
int keel__messaging_sync_run(keel_messaging_transport_t *t, keel__messaging_sync_t *s);

/** Ends the job: wakes its keel__messaging_sync_run() with rc. Callable from the loop's thread. */
void keel__messaging_sync_done(keel__messaging_sync_t *s, int rc);

/** True on the thread that runs the transport's loop. */
bool keel__messaging_on_loop_thread(const keel_messaging_transport_t *t);

/** exchange of target, or the transport's control_exchange. */
const char *keel__messaging_exchange(const keel_messaging_transport_t *t, const keel_messaging_target_t *target);

/* ---- topology.c: what the rabbit driver declares (spec §4), for every driver that declares ---- */

typedef enum {
    KEEL__MESSAGING_QUEUE_TOPIC,  /* T and T.S */
    KEEL__MESSAGING_QUEUE_NOTIFY, /* N.P and pools */
    KEEL__MESSAGING_QUEUE_FANOUT, /* T_fanout_<hex32> */
    KEEL__MESSAGING_QUEUE_REPLY,  /* reply_<hex32> */
} keel__messaging_queue_kind_t;

/** The flags and x-arguments of a queue.declare. */
typedef struct keel__messaging_queue_spec_s {
    bool durable;
    bool auto_delete;
    int64_t x_expires_ms;                                        /* 0: none */
    bool ha;                                                     /* x-ha-policy: all */
    bool quorum;                                                 /* x-queue-type: quorum */
    int64_t delivery_limit, max_memory_length, max_memory_bytes; /* quorum only; 0: none */
} keel__messaging_queue_spec_t;

void keel__messaging_queue_spec(const keel__messaging_rabbit_opts_t *o, keel__messaging_queue_kind_t kind,
                                keel__messaging_queue_spec_t *out);
/** The flags of the topic exchange X (fanout exchanges are always non-durable, auto-delete). */
void keel__messaging_topic_exchange_spec(const keel__messaging_rabbit_opts_t *o, bool *durable, bool *auto_delete);

/* ---- waiter.c: calls waiting for their replies (spec §6.1) ---- */

typedef struct keel__messaging_waiter_s keel__messaging_waiter_t;

/** The calls of one reply queue, by _msg_id. */
typedef struct keel__messaging_waiters_s {
    uv_loop_t *loop;
    keel_map_t by_id;
    size_t live; /* waiters whose timer is not closed yet */
    void (*drained)(struct keel__messaging_waiters_s *w);
} keel__messaging_waiters_t;

void keel__messaging_waiters_init(keel__messaging_waiters_t *w, uv_loop_t *loop);

/**
 * Waits for the replies to msg_id: cb runs once with the final reply
 * (ending true), KEEL_ETIMEDOUT after timeout seconds, or after
 * call_monitor_timeout (> 0) seconds without a reply or heartbeat.
 */
int keel__messaging_waiters_add(keel__messaging_waiters_t *w, const char *msg_id, double timeout, double call_monitor_timeout,
                                keel__messaging_sent_cb cb, void *data);

/**
 * Hands a reply (an unpacked inner message: result, failure, ending,
 * _msg_id) to its waiter. Returns false when nobody waits for it (a late
 * reply: oslo logs and drops it).
 */
bool keel__messaging_waiters_reply(keel__messaging_waiters_t *w, const char *msg_id, json_t *reply);

/**
 * Ends the waiter of msg_id with status (non-zero: the request could not be
 * sent). Returns false when nobody waits for it (it already ended).
 */
bool keel__messaging_waiters_fail(keel__messaging_waiters_t *w, const char *msg_id, int status);

/** Ends every waiter with status; drained(w) runs (later) once all timers are closed. */
void keel__messaging_waiters_cancel_all(keel__messaging_waiters_t *w, int status, void (*drained)(keel__messaging_waiters_t *w));

#endif /* KEEL_MESSAGING_DRIVER_H */
