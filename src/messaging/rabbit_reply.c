/*
 * Replies of rabbit:// RPC servers (spec §6.1 step 5 and "Reply-queue-
 * missing handling"): one message to the default exchange with the
 * caller's reply queue as routing key, mandatory (direct_mandatory_flag),
 * on the confirm-mode send channel.
 *
 * As oslo, a reply the broker returns (NO_ROUTE: the reply queue is gone,
 * or not declared again yet after a broker restart) is published again
 * every RETRY_MS until kombu_missing_consumer_retry_timeout has passed,
 * then abandoned with oslo's log line. keel also retries, on the same
 * terms, a reply made while the connection is down or lost before its
 * confirm, so a call made just before a broker restart can still get its
 * answer. Waiting replies sit on one list scanned by one timer of the
 * driver; the list and the timer go when the driver closes. oslo's memory
 * of dead reply queues (replies to them dropped for 60 s) is not kept.
 */
#include <stdio.h>
#include <string.h>

#include "rabbit_int.h"

#define RETRY_MS 250

struct keel__rabbit_reply_s {
    keel__rabbit_driver_t *d;
    keel__rabbit_reply_t *prev, *next; /* d->replies */
    char *reply_q;
    char msg_id[40];
    keel_buf_t body;
    uint64_t started, deadline; /* loop time, ms */
    bool inflight, returned, missing;
};

static void reply_free(keel__rabbit_reply_t *r)
{
    keel__rabbit_driver_t *d = r->d;
    if (r->prev)
        r->prev->next = r->next;
    else
        d->replies = r->next;
    if (r->next)
        r->next->prev = r->prev;
    keel__free(r->reply_q);
    keel_buf_free(&r->body);
    keel__free(r);
}

static void on_reply_tick(uv_timer_t *timer);

static void wait_retry(keel__rabbit_reply_t *r)
{
    keel__rabbit_driver_t *d = r->d;
    if (uv_now(d->t->loop) >= r->deadline) {
        if (r->missing)
            KEEL_LOG_ERROR(keel__rabbit_log(),
                           "The reply %s failed to send after %llu seconds due to a missing queue (%s). Abandoning...",
                           r->msg_id, (unsigned long long)((uv_now(d->t->loop) - r->started) / 1000), r->reply_q);
        else
            KEEL_LOG_ERROR(keel__rabbit_log(), "Can not send reply for message %s: the broker is unreachable", r->msg_id);
        reply_free(r);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&d->reply_timer))
        uv_timer_start(&d->reply_timer, on_reply_tick, RETRY_MS, RETRY_MS);
}

static void on_reply_confirm(keel_client_channel_t *ch, int status, void *data)
{
    keel__rabbit_reply_t *r = data;
    (void)ch;
    r->inflight = false;
    if (r->d->closing || status == KEEL_ECANCELED) {
        reply_free(r);
        return;
    }
    if (status == 0 && !r->returned) {
        reply_free(r); /* delivered to the reply queue */
        return;
    }
    if (status == 0 || status == KEEL_ECONNRESET) {
        if (r->returned && !r->missing)
            KEEL_LOG_INFO(keel__rabbit_log(), "The reply %s cannot be delivered to %s: the queue is missing; retrying", r->msg_id,
                          r->reply_q);
        r->missing = r->missing || r->returned;
        r->returned = false;
        wait_retry(r);
        return;
    }
    KEEL_LOG_ERROR(keel__rabbit_log(), "Can not send reply for message %s: %s", r->msg_id, keel_messaging_strerror(status));
    reply_free(r);
}

static void attempt(keel__rabbit_reply_t *r)
{
    keel__rabbit_driver_t *d = r->d;
    if (!keel_client_is_connected(d->client)) {
        wait_retry(r);
        return;
    }
    keel_amqp_properties_t props = {
        .flags = KEEL_AMQP_PROP_CONTENT_TYPE | KEEL_AMQP_PROP_CONTENT_ENCODING | KEEL_AMQP_PROP_HEADERS |
                 KEEL_AMQP_PROP_DELIVERY_MODE | KEEL_AMQP_PROP_PRIORITY,
        .content_type = {.base = "application/json", .len = 16},
        .content_encoding = {.base = "utf-8", .len = 5},
        .delivery_mode = 2,
    };
    keel_client_publish_t p = {.exchange = "",
                               .routing_key = r->reply_q,
                               .mandatory = d->t->opts.rabbit.direct_mandatory_flag,
                               .props = &props,
                               .body = r->body.base,
                               .body_len = r->body.len};
    int rc = keel_client_publish(d->send_ch, &p, on_reply_confirm, r);
    if (rc == 0) {
        r->inflight = true;
    } else if (rc == KEEL_ECONNRESET || rc == KEEL_EAGAIN) {
        wait_retry(r);
    } else {
        KEEL_LOG_ERROR(keel__rabbit_log(), "Can not send reply for message %s: %s", r->msg_id, keel_messaging_strerror(rc));
        reply_free(r);
    }
}

static void on_reply_tick(uv_timer_t *timer)
{
    keel__rabbit_driver_t *d = timer->data;
    bool waiting = false;
    for (keel__rabbit_reply_t *r = d->replies, *next; r; r = next) {
        next = r->next;
        if (r->inflight)
            continue;
        attempt(r); /* may free r, or leave it waiting */
    }
    for (keel__rabbit_reply_t *r = d->replies; r; r = r->next)
        waiting = waiting || !r->inflight;
    if (!waiting)
        uv_timer_stop(timer);
}

void keel__rabbit_publish_reply(keel__rabbit_driver_t *d, const char *reply_q, const char *msg_id, json_t *result,
                                const char *failure, bool ending)
{
    char unique[33];
    json_t *reply = NULL;
    keel__rabbit_reply_t *r = keel__calloc(1, sizeof(*r));
    int rc = r ? 0 : KEEL_ENOMEM;
    if (rc == 0) {
        keel_buf_init(&r->body);
        r->d = d;
        snprintf(r->msg_id, sizeof(r->msg_id), "%s", msg_id);
        rc = (r->reply_q = keel__strdup(reply_q)) ? 0 : KEEL_ENOMEM;
    }
    if (rc == 0)
        rc = keel__messaging_uuid_hex(unique);
    if (rc == 0)
        rc = keel__messaging_pack_reply(result, failure, ending, msg_id, unique, &reply);
    if (rc == 0)
        rc = keel__messaging_serialize_msg(reply, 2, &r->body);
    json_decref(reply);
    if (rc != 0) {
        KEEL_LOG_ERROR(keel__rabbit_log(), "Can not send reply for message %s: %s", msg_id, keel_messaging_strerror(rc));
        if (r) {
            keel__free(r->reply_q);
            keel_buf_free(&r->body);
            keel__free(r);
        }
        return;
    }
    r->started = uv_now(d->t->loop);
    r->deadline = r->started + (uint64_t)(d->t->opts.rabbit.kombu_missing_consumer_retry_timeout > 0
                                              ? d->t->opts.rabbit.kombu_missing_consumer_retry_timeout * 1000
                                              : 0);
    r->next = d->replies;
    if (d->replies)
        d->replies->prev = r;
    d->replies = r;
    attempt(r);
}

bool keel__rabbit_reply_returned(keel__rabbit_driver_t *d, const keel_client_message_t *m)
{
    for (keel__rabbit_reply_t *r = d->replies; r; r = r->next) {
        if (!r->inflight || r->returned || m->body_len != r->body.len || memcmp(m->body, r->body.base, r->body.len) != 0)
            continue;
        r->returned = true;
        return true;
    }
    return false;
}

void keel__rabbit_replies_close(keel__rabbit_driver_t *d)
{
    /* Those in flight go with their confirm callbacks (KEEL_ECANCELED). */
    for (keel__rabbit_reply_t *r = d->replies, *next; r; r = next) {
        next = r->next;
        if (!r->inflight)
            reply_free(r);
    }
    uv_timer_stop(&d->reply_timer);
}
