/*
 * Calls waiting for their replies, by _msg_id: oslo's ReplyWaiter.wait()
 * on a loop. Each waiter has one timer armed for the nearer of its two
 * deadlines — the call's timeout and, with a call monitor, the time by
 * which the next heartbeat must come. A reply whose result or failure is
 * not null becomes the answer; a reply with ending true finishes the call
 * with the last answer; one with neither is a heartbeat and moves the
 * call-monitor deadline (spec §6.1).
 */
#include <string.h>

#include "driver.h"
#include "keel/log.h"

struct keel__messaging_waiter_s {
    uv_timer_t timer;
    keel__messaging_waiters_t *owner;
    char msg_id[40];
    uint64_t deadline;    /* loop time, ms */
    uint64_t cm_deadline; /* 0 without a call monitor */
    uint64_t cm_ms;
    json_t *result;
    char *failure;
    keel__messaging_sent_cb cb;
    void *data;
    bool done;
};

static keel_log_t *log_amqp(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging._drivers.amqpdriver");
    return l;
}

void keel__messaging_waiters_init(keel__messaging_waiters_t *w, uv_loop_t *loop)
{
    memset(w, 0, sizeof(*w));
    w->loop = loop;
    keel_map_init(&w->by_id);
}

static void on_closed(uv_handle_t *h)
{
    keel__messaging_waiter_t *wt = h->data;
    keel__messaging_waiters_t *w = wt->owner;
    json_decref(wt->result);
    keel__free(wt->failure);
    keel__free(wt);
    if (--w->live == 0 && w->drained) {
        void (*drained)(keel__messaging_waiters_t *) = w->drained;
        w->drained = NULL;
        keel_map_free(&w->by_id);
        drained(w);
    }
}

/* Takes the waiter out of the map, runs its callback once, closes its timer. */
static void finish(keel__messaging_waiter_t *wt, int status)
{
    if (wt->done)
        return;
    wt->done = true;
    keel_map_remove(&wt->owner->by_id, wt->msg_id, strlen(wt->msg_id));
    uv_timer_stop(&wt->timer);
    wt->cb(wt->data, status, status == 0 ? (wt->result ? wt->result : json_null()) : NULL, status == 0 ? wt->failure : NULL);
    uv_close((uv_handle_t *)&wt->timer, on_closed);
}

static void on_timer(uv_timer_t *timer)
{
    keel__messaging_waiter_t *wt = timer->data;
    KEEL_LOG_INFO(log_amqp(), "Timed out waiting for a reply to message ID %s", wt->msg_id);
    finish(wt, KEEL_ETIMEDOUT);
}

static void rearm(keel__messaging_waiter_t *wt)
{
    uint64_t at = wt->deadline;
    if (wt->cm_deadline && wt->cm_deadline < at)
        at = wt->cm_deadline;
    uint64_t now = uv_now(wt->owner->loop);
    uv_timer_start(&wt->timer, on_timer, at > now ? at - now : 0, 0);
}

static uint64_t to_ms(double seconds)
{
    double ms = seconds * 1000.0;
    if (ms < 0)
        return 0;
    if (ms > 1e15)
        return (uint64_t)1e15;
    return (uint64_t)ms;
}

int keel__messaging_waiters_add(keel__messaging_waiters_t *w, const char *msg_id, double timeout, double call_monitor_timeout,
                                keel__messaging_sent_cb cb, void *data)
{
    if (strlen(msg_id) >= sizeof(((keel__messaging_waiter_t *)0)->msg_id))
        return KEEL_EINVAL;
    keel__messaging_waiter_t *wt = keel__calloc(1, sizeof(*wt));
    if (wt == NULL)
        return KEEL_ENOMEM;
    strcpy(wt->msg_id, msg_id);
    wt->owner = w;
    wt->cb = cb;
    wt->data = data;
    int rc = keel_map_put(&w->by_id, wt->msg_id, strlen(wt->msg_id), wt, NULL);
    if (rc != 0) {
        keel__free(wt);
        return rc;
    }
    uv_timer_init(w->loop, &wt->timer);
    wt->timer.data = wt;
    w->live++;
    uint64_t now = uv_now(w->loop);
    wt->deadline = now + to_ms(timeout);
    if (call_monitor_timeout > 0) {
        wt->cm_ms = to_ms(call_monitor_timeout);
        wt->cm_deadline = now + wt->cm_ms;
    }
    rearm(wt);
    return 0;
}

bool keel__messaging_waiters_reply(keel__messaging_waiters_t *w, const char *msg_id, json_t *reply)
{
    keel__messaging_waiter_t *wt = msg_id ? keel_map_get(&w->by_id, msg_id, strlen(msg_id)) : NULL;
    if (wt == NULL || wt->done)
        return false;
    json_t *failure = json_object_get(reply, "failure");
    json_t *result = json_object_get(reply, "result");
    bool ending = json_is_true(json_object_get(reply, "ending"));
    if (json_is_string(failure) && json_string_length(failure) > 0) {
        /* A failure is the answer; the call still ends only with ending. */
        char *text = keel__strndup(json_string_value(failure), json_string_length(failure));
        if (text == NULL) {
            finish(wt, KEEL_ENOMEM);
            return true;
        }
        keel__free(wt->failure);
        wt->failure = text;
        json_decref(wt->result);
        wt->result = NULL;
    } else if (result != NULL && !json_is_null(result)) {
        json_decref(wt->result);
        wt->result = json_incref(result);
        keel__free(wt->failure);
        wt->failure = NULL;
    } else if (!ending) {
        KEEL_LOG_DEBUG(log_amqp(), "Call monitor heartbeat received; renewing timeout timer");
        if (wt->cm_ms) {
            wt->cm_deadline = uv_now(w->loop) + wt->cm_ms;
            rearm(wt);
        }
    }
    if (ending)
        finish(wt, 0);
    return true;
}

bool keel__messaging_waiters_fail(keel__messaging_waiters_t *w, const char *msg_id, int status)
{
    keel__messaging_waiter_t *wt = keel_map_get(&w->by_id, msg_id, strlen(msg_id));
    if (wt == NULL || wt->done)
        return false;
    finish(wt, status);
    return true;
}

void keel__messaging_waiters_cancel_all(keel__messaging_waiters_t *w, int status, void (*drained)(keel__messaging_waiters_t *w))
{
    size_t pos = 0;
    const void *key;
    size_t len;
    void *value;
    /* finish() removes the entry just returned, which the walk allows. */
    while (keel_map_next(&w->by_id, &pos, &key, &len, &value))
        finish(value, status);
    if (w->live == 0) {
        keel_map_free(&w->by_id);
        if (drained)
            drained(w);
        return;
    }
    w->drained = drained;
}
