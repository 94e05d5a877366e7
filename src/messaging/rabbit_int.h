/*
 * rabbit_int.h — internal to src/messaging; never installed.
 *
 * What the two halves of the rabbit:// driver share: rabbit.c (the
 * connection, sends, the reply queue, close) and rabbit_listen.c (RPC and
 * notification listeners, acks and replies).
 */
#ifndef KEEL_MESSAGING_RABBIT_INT_H
#define KEEL_MESSAGING_RABBIT_INT_H

#include "driver.h"
#include "keel/client.h"
#include "keel/log.h"

typedef struct rabbit_send_s rabbit_send_t;
typedef struct keel__rabbit_reply_s keel__rabbit_reply_t;

typedef enum { RABBIT_REPLY_NONE, RABBIT_REPLY_DECLARING, RABBIT_REPLY_DECLARED } rabbit_reply_state_t;

typedef struct keel__rabbit_driver_s {
    keel_messaging_transport_t *t;
    keel_client_t *client;
    keel_client_host_t *hosts; /* as given to the client (shuffled); names borrowed from the URL */
    size_t nhosts;
    /* Calls, casts, notifications and replies: confirm mode, as oslo's send connections. */
    keel_client_channel_t *send_ch;
    /* Consumes the reply queue. */
    keel_client_channel_t *reply_ch;
    char reply_q[48];
    rabbit_reply_state_t reply_state;
    bool reply_consuming;
    /* What send_ch declared, by name (key and value: one keel__strdup'd string). */
    keel_map_t exchanges;
    keel_map_t notify_queues;
    struct declare_ctx_s *refused; /* rabbit.c: a declaration the broker just refused */
    int refused_status;
    keel__messaging_waiters_t waiters;
    rabbit_send_t *parked; /* sends waiting for a connection */
    rabbit_send_t *returnable; /* mandatory sends whose confirm is due: basic.return names one */
    keel_buf_t scratch;    /* x-argument tables */
    keel__rabbit_reply_t *replies; /* rabbit_reply.c: replies in flight or waiting to be sent again */
    uv_timer_t reply_timer;        /* retries the waiting ones */
    int failed;            /* the client gave up for good: its status */
    bool closing, client_closed, waiters_drained, reply_timer_closed;
    void (*close_done)(keel_messaging_transport_t *t);
} keel__rabbit_driver_t;

keel_log_t *keel__rabbit_log(void);

/**
 * The queue.declare arguments of spec into d->scratch (reset first).
 * *out views d->scratch: valid until its next use. Returns 0 or KEEL_ENOMEM.
 */
int keel__rabbit_queue_args(keel__rabbit_driver_t *d, const keel__messaging_queue_spec_t *spec, keel_amqp_table_t *out);

/**
 * Checks a delivery's properties and decodes its body as oslo's consumer
 * does (content_type application/json, no compression). Returns 0 with
 * *u filled, or an error after logging why (the caller rejects the message
 * without requeue, as kombu does).
 */
int keel__rabbit_decode(const keel_client_message_t *m, keel__messaging_unpacked_t *u);

/**
 * Publishes a reply to a call on d's send channel (spec §6.1 step 5), and
 * again while its queue is missing or the broker away, for up to
 * kombu_missing_consumer_retry_timeout. Borrows everything.
 */
void keel__rabbit_publish_reply(keel__rabbit_driver_t *d, const char *reply_q, const char *msg_id, json_t *result,
                                const char *failure, bool ending);
/** A basic.return on the send channel: true if it is one of d's replies (then retried). */
bool keel__rabbit_reply_returned(keel__rabbit_driver_t *d, const keel_client_message_t *m);
/** Driver closing: drops the replies waiting to be sent again and stops d->reply_timer (not closed). */
void keel__rabbit_replies_close(keel__rabbit_driver_t *d);

int keel__rabbit_listen(void *driver, const keel_messaging_target_t *target, keel__messaging_incoming_cb cb, void *data,
                        keel__messaging_listener_t **out);
int keel__rabbit_listen_for_notifications(void *driver, const keel__messaging_target_priority_t *pairs, size_t n,
                                          const char *pool, keel__messaging_incoming_cb cb, void *data,
                                          keel__messaging_listener_t **out);
void keel__rabbit_listener_stop(keel__messaging_listener_t *l, keel__messaging_listener_stop_cb done, void *data);
void keel__rabbit_listener_free(keel__messaging_listener_t *l);
void keel__rabbit_ack(keel__messaging_incoming_t *in);
void keel__rabbit_requeue(keel__messaging_incoming_t *in);
void keel__rabbit_reply(keel__messaging_incoming_t *in, json_t *result, const char *failure, bool ending);
void keel__rabbit_release(keel__messaging_incoming_t *in);

#endif /* KEEL_MESSAGING_RABBIT_INT_H */
