/*
 * The notification listener: oslo's NotificationServer with its
 * NotificationDispatcher and NotificationFilter, on the server base of
 * server.c. A notification goes to the endpoints that implement its
 * priority (the body's "priority", lower-cased — not the routing key), in
 * order, skipping those whose filter does not match, until one asks for a
 * requeue. Then the message is acknowledged, or put back when requeue is
 * allowed; an unknown priority is logged and acknowledged.
 *
 * Filters are Python regular expressions applied with re.match(), i.e.
 * anchored at the start only; PCRE2 with PCRE2_ANCHORED gives that, with
 * UTF and Unicode classes as Python's str patterns have. Compiled once;
 * each match gets its own match data, so threads can match at once.
 *
 * One deliberate difference from oslo: a duplicate _unique_id (a message
 * redelivered after it was handled and acknowledged) is acknowledged and
 * dropped, where oslo leaves it unacknowledged until the connection closes.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "server.h"

typedef struct kv_re_s {
    const char *key;
    pcre2_code *re;
} kv_re_t;

typedef struct compiled_filter_s {
    pcre2_code *publisher_id;
    pcre2_code *event_type;
    kv_re_t *context, *metadata, *payload; /* ended by a NULL key */
} compiled_filter_t;

struct keel_messaging_listener_s {
    keel__messaging_srv_t srv;
    keel_messaging_target_t *targets;
    size_t ntargets;
    const keel_messaging_notification_endpoint_t *eps;
    size_t neps;
    compiled_filter_t *filters; /* one per endpoint, all NULL without a filter */
    char *pool;
    bool allow_requeue;
    const keel_messaging_serializer_t *serializer;
    keel_messaging_listener_wait_cb wait_cb;
    void *wait_data;
};

typedef struct note_job_s {
    keel__messaging_job_t job;
    keel_messaging_listener_t *l;
    keel_messaging_notification_result_t result;
} note_job_t;

static keel_log_t *log_listener(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging.notify.dispatcher");
    return l;
}

/* ---- filters ---- */

static int compile_one(const char *pattern, pcre2_code **out, keel_buf_t *err)
{
    int code;
    PCRE2_SIZE offset;
    *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
    if (*out != NULL)
        return 0;
    if (code == PCRE2_ERROR_NOMEMORY)
        return KEEL_ENOMEM;
    if (err != NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        keel_buf_printf(err, "filter regex '%s': %s at offset %zu", pattern, (const char *)msg, (size_t)offset);
    }
    return KEEL_EVALUE;
}

static int compile_pairs(const char *const *pairs, kv_re_t **out, keel_buf_t *err)
{
    *out = NULL;
    if (pairs == NULL)
        return 0;
    size_t n = 0;
    while (pairs[2 * n] != NULL) {
        if (pairs[2 * n + 1] == NULL)
            return KEEL_EINVAL; /* a key without its regex */
        n++;
    }
    kv_re_t *list = keel__calloc(n + 1, sizeof(*list));
    if (list == NULL)
        return KEEL_ENOMEM;
    *out = list;
    for (size_t i = 0; i < n; i++) {
        int rc = compile_one(pairs[2 * i + 1], &list[i].re, err);
        if (rc != 0)
            return rc;
        list[i].key = pairs[2 * i];
    }
    return 0;
}

static void free_pairs(kv_re_t *list)
{
    /* A pattern that failed to compile left its entry, and the list, ended there. */
    for (kv_re_t *p = list; p && p->key; p++)
        pcre2_code_free(p->re);
    keel__free(list);
}

static void filter_clear(compiled_filter_t *f)
{
    pcre2_code_free(f->publisher_id);
    pcre2_code_free(f->event_type);
    free_pairs(f->context);
    free_pairs(f->metadata);
    free_pairs(f->payload);
    memset(f, 0, sizeof(*f));
}

static int filter_compile(const keel_messaging_filter_t *src, compiled_filter_t *f, keel_buf_t *err)
{
    memset(f, 0, sizeof(*f));
    if (src == NULL)
        return 0;
    int rc = src->publisher_id ? compile_one(src->publisher_id, &f->publisher_id, err) : 0;
    if (rc == 0 && src->event_type)
        rc = compile_one(src->event_type, &f->event_type, err);
    if (rc == 0)
        rc = compile_pairs(src->context, &f->context, err);
    if (rc == 0)
        rc = compile_pairs(src->metadata, &f->metadata, err);
    if (rc == 0)
        rc = compile_pairs(src->payload, &f->payload, err);
    return rc;
}

/* re.match(): anchored at the start. A value that is not a string never matches. */
static bool re_match(pcre2_code *re, json_t *v)
{
    if (!json_is_string(v))
        return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        return false;
    int rc = pcre2_match(re, (PCRE2_SPTR)json_string_value(v), json_string_length(v), 0, PCRE2_ANCHORED, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static bool pairs_match(const kv_re_t *list, json_t *data)
{
    for (const kv_re_t *p = list; p && p->key; p++) {
        json_t *v = json_is_object(data) ? json_object_get(data, p->key) : NULL;
        if (v == NULL || !re_match(p->re, v))
            return false;
    }
    return true;
}

/* NotificationFilter.match() */
static bool filter_match(const compiled_filter_t *f, const keel_messaging_notification_t *n, json_t *publisher, json_t *event)
{
    if (f->publisher_id && !re_match(f->publisher_id, publisher))
        return false;
    if (f->event_type && !re_match(f->event_type, event))
        return false;
    return pairs_match(f->context, n->ctxt) && pairs_match(f->metadata, n->metadata) && pairs_match(f->payload, n->payload);
}

/* ---- the server ---- */

static void note_invoke(keel__messaging_job_t *job)
{
    note_job_t *nj = (note_job_t *)job;
    keel_messaging_listener_t *l = nj->l;
    json_t *msg = job->in->u.message;
    nj->result = KEEL_MESSAGING_HANDLED;
    json_t *jp = json_object_get(msg, "priority");
    const char *pname = jp == NULL ? "" : json_string_value(jp);
    keel_messaging_priority_t prio;
    if (pname == NULL) {
        /* message.get('priority', '').lower() on a non-string raises: the listener requeues. */
        nj->result = KEEL_MESSAGING_REQUEUE;
        keel__messaging_srv_done(job);
        return;
    }
    if (keel_messaging_priority_parse(pname, &prio) != 0) {
        KEEL_LOG_WARNING(log_listener(), "Unknown priority \"%s\"", pname);
        keel__messaging_srv_done(job);
        return;
    }
    json_t *ctxt = NULL, *payload = NULL, *metadata = json_object();
    int rc = metadata ? keel__messaging_ser_context(l->serializer, true, job->in->u.ctxt, &ctxt) : KEEL_ENOMEM;
    if (rc == 0 && json_object_set_new(ctxt, "client_timeout", json_null()) != 0)
        rc = KEEL_ENOMEM;
    if (rc == 0)
        rc = keel__messaging_ser_entity(l->serializer, true, ctxt, json_object_get(msg, "payload"), &payload);
    json_t *mid = json_object_get(msg, "message_id"), *ts = json_object_get(msg, "timestamp");
    if (rc == 0 && (json_object_set_new(metadata, "message_id", mid ? json_incref(mid) : json_null()) != 0 ||
                    json_object_set_new(metadata, "timestamp", ts ? json_incref(ts) : json_null()) != 0))
        rc = KEEL_ENOMEM;
    if (rc != 0) {
        /* An exception in dispatch: NotificationServer requeues. */
        KEEL_LOG_ERROR(log_listener(), "Exception during message handling: %s", keel_messaging_strerror(rc));
        nj->result = KEEL_MESSAGING_REQUEUE;
    } else {
        json_t *publisher = json_object_get(msg, "publisher_id"), *event = json_object_get(msg, "event_type");
        keel_messaging_notification_t n = {
            .priority = prio,
            .ctxt = ctxt,
            .publisher_id = json_string_value(publisher),
            .event_type = json_string_value(event),
            .payload = payload,
            .metadata = metadata,
        };
        keel_messaging_context_apply_log(ctxt);
        for (size_t i = 0; i < l->neps; i++) {
            keel_messaging_notification_fn fn = l->eps[i].on[prio];
            if (fn == NULL || !filter_match(&l->filters[i], &n, publisher, event))
                continue;
            if (fn(&n, l->eps[i].data) == KEEL_MESSAGING_REQUEUE) {
                nj->result = KEEL_MESSAGING_REQUEUE;
                break;
            }
        }
        keel_log_context_clear();
    }
    json_decref(ctxt);
    json_decref(payload);
    json_decref(metadata);
    keel__messaging_srv_done(job);
}

static void note_finish(keel__messaging_job_t *job)
{
    note_job_t *nj = (note_job_t *)job;
    keel__messaging_incoming_t *in = job->in;
    const keel__messaging_driver_ops_t *ops = in->listener->ops;
    if (nj->result == KEEL_MESSAGING_REQUEUE && nj->l->allow_requeue) {
        ops->requeue(in);
    } else {
        ops->ack(in);
        /* Only what was acknowledged counts as seen: a requeued message comes back for real. */
        keel__messaging_dupcache_add(&nj->l->srv.dups, in->u.unique_id);
    }
    ops->release(in);
    keel__free(nj);
}

static void note_incoming(keel__messaging_srv_t *srv, keel__messaging_incoming_t *in)
{
    keel_messaging_listener_t *l = (keel_messaging_listener_t *)srv;
    const keel__messaging_driver_ops_t *ops = in->listener->ops;
    if (keel__messaging_dupcache_seen(&srv->dups, in->u.unique_id)) {
        KEEL_LOG_WARNING(log_listener(), "Found duplicate message(%s). Skipping it.", in->u.unique_id);
        ops->ack(in);
        ops->release(in);
        return;
    }
    note_job_t *nj = keel__calloc(1, sizeof(*nj));
    if (nj == NULL) {
        ops->release(in); /* requeued: it comes back */
        return;
    }
    nj->job.in = in;
    nj->l = l;
    keel__messaging_srv_submit(srv, &nj->job);
}

static int note_listen(keel__messaging_srv_t *srv, keel__messaging_incoming_cb cb, void *data, keel__messaging_listener_t **out)
{
    keel_messaging_listener_t *l = (keel_messaging_listener_t *)srv;
    bool used[KEEL_MESSAGING_PRIORITY_COUNT] = {0};
    size_t nprio = 0;
    for (size_t i = 0; i < l->neps; i++)
        for (int p = 0; p < KEEL_MESSAGING_PRIORITY_COUNT; p++)
            if (l->eps[i].on[p] && !used[p]) {
                used[p] = true;
                nprio++;
            }
    for (size_t i = 0; i < l->ntargets; i++)
        if (keel__messaging_target_check_send(&l->targets[i]) != 0)
            return KEEL_MESSAGING_ETARGET; /* 'A target must have topic specified' */
    size_t npairs = l->ntargets * nprio;
    keel__messaging_target_priority_t *pairs = keel__calloc(npairs ? npairs : 1, sizeof(*pairs));
    keel_messaging_target_t *resolved = keel__calloc(l->ntargets ? l->ntargets : 1, sizeof(*resolved));
    int rc = pairs && resolved ? 0 : KEEL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < l->ntargets; i++) {
        resolved[i] = l->targets[i];
        resolved[i].exchange = keel__messaging_exchange(srv->t, &l->targets[i]);
        for (int p = 0; p < KEEL_MESSAGING_PRIORITY_COUNT; p++)
            if (used[p])
                pairs[k++] =
                    (keel__messaging_target_priority_t){.target = &resolved[i], .priority = keel_messaging_priority_name(p)};
    }
    if (rc == 0)
        rc = srv->t->ops->listen_for_notifications(srv->t->driver, pairs, npairs, l->pool, cb, data, out);
    keel__free(pairs);
    keel__free(resolved);
    return rc;
}

static const keel__messaging_srv_ops_t note_ops = {
    .invoke = note_invoke,
    .finish = note_finish,
    .listen = note_listen,
    .incoming = note_incoming,
};

static void listener_free_parts(keel_messaging_listener_t *l)
{
    for (size_t i = 0; l->targets && i < l->ntargets; i++)
        keel__messaging_target_clear(&l->targets[i]);
    keel__free(l->targets);
    for (size_t i = 0; l->filters && i < l->neps; i++)
        filter_clear(&l->filters[i]);
    keel__free(l->filters);
    keel__free(l->pool);
    keel__free(l);
}

int keel_messaging_listener_new(keel_messaging_listener_t **out, keel_messaging_transport_t *t,
                                const keel_messaging_target_t *targets, size_t ntargets,
                                const keel_messaging_notification_endpoint_t *endpoints, size_t n,
                                const keel_messaging_listener_opts_t *opts)
{
    if (out == NULL || t == NULL || (ntargets > 0 && targets == NULL) || (n > 0 && endpoints == NULL) || t->closing)
        return KEEL_EINVAL;
    static const keel_messaging_listener_opts_t defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    keel_messaging_listener_t *l = keel__calloc(1, sizeof(*l));
    if (l == NULL)
        return KEEL_ENOMEM;
    l->targets = keel__calloc(ntargets ? ntargets : 1, sizeof(*l->targets));
    l->filters = keel__calloc(n ? n : 1, sizeof(*l->filters));
    l->eps = endpoints;
    l->neps = n;
    l->allow_requeue = opts->allow_requeue;
    l->serializer = opts->serializer;
    int rc = l->targets && l->filters ? 0 : KEEL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < ntargets; i++) {
        rc = keel__messaging_target_copy(&l->targets[i], &targets[i]);
        if (rc == 0)
            l->ntargets++;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = filter_compile(endpoints[i].filter, &l->filters[i], opts->error);
    if (rc == 0 && opts->pool && (l->pool = keel__strdup(opts->pool)) == NULL)
        rc = KEEL_ENOMEM;
    if (rc == 0)
        rc = keel__messaging_srv_init(&l->srv, t, &note_ops, opts->executor);
    if (rc != 0) {
        listener_free_parts(l);
        return rc;
    }
    *out = l;
    return 0;
}

int keel_messaging_listener_start(keel_messaging_listener_t *l)
{
    return l ? keel__messaging_srv_start(&l->srv) : KEEL_EINVAL;
}

void keel_messaging_listener_stop(keel_messaging_listener_t *l)
{
    if (l)
        keel__messaging_srv_stop(&l->srv);
}

static void on_note_wait(keel__messaging_srv_t *srv, void *data)
{
    keel_messaging_listener_t *l = (keel_messaging_listener_t *)srv;
    l->wait_cb(l, 0, l->wait_data);
}

int keel_messaging_listener_wait(keel_messaging_listener_t *l, keel_messaging_listener_wait_cb cb, void *data)
{
    if (l == NULL || cb == NULL)
        return KEEL_EINVAL;
    if (l->srv.waiting)
        return KEEL_EBUSY;
    l->wait_cb = cb;
    l->wait_data = data;
    return keel__messaging_srv_wait(&l->srv, on_note_wait, NULL);
}

int keel_messaging_listener_free(keel_messaging_listener_t *l)
{
    if (l == NULL)
        return 0;
    int rc = keel__messaging_srv_destroy(&l->srv);
    if (rc != 0)
        return rc;
    listener_free_parts(l);
    return 0;
}
