/*
 * The Notifier (oslo_messaging.notify.notifier) and its drivers:
 * messagingv2 and messaging send through the transport's driver to
 * "<topic>.<priority>" on control_exchange, in the 2.0 envelope or as the
 * bare 1.0 dict; log writes the notification as one JSON line on logger
 * oslo.messaging.notification.<event_type>; noop does nothing. Like an RPC
 * client a notifier is immutable and reference counted, so prepare() copies
 * share nothing mutable and a freed notifier lives until its sends finish.
 *
 * The context is cut to oslo's whitelist before the serializer sees it
 * (_sanitize_context: auth tokens and custom keys never leave the service).
 */
#include <string.h>
#include <strings.h>

#include "driver.h"
#include "keel/log.h"

typedef enum { DRV_MESSAGING_V1, DRV_MESSAGING_V2, DRV_LOG, DRV_NOOP } drv_t;

struct keel_messaging_notifier_s {
    keel_messaging_transport_t *t;
    char *publisher_id;
    drv_t *drivers;
    size_t ndrivers;
    bool only_noop;
    char **topics;
    size_t ntopics;
    int retry;
    const keel_messaging_serializer_t *serializer;
    int refs;
};

/* One notify(): its sends complete one by one; the last reports. */
typedef struct notify_op_s {
    keel__messaging_task_t task; /* when nothing was sent: the callback still comes later */
    keel_messaging_notifier_t *n;
    keel_messaging_notify_cb cb;
    void *data;
    size_t pending;
    int status;
} notify_op_t;

static const char *const prio_lower[] = {
#define KEEL_MESSAGING_PRIORITY_LOWER_(name, lower, upper) lower,
    KEEL_MESSAGING_PRIORITY_MAP(KEEL_MESSAGING_PRIORITY_LOWER_)
#undef KEEL_MESSAGING_PRIORITY_LOWER_
};

static const char *const prio_upper[] = {
#define KEEL_MESSAGING_PRIORITY_UPPER_(name, lower, upper) upper,
    KEEL_MESSAGING_PRIORITY_MAP(KEEL_MESSAGING_PRIORITY_UPPER_)
#undef KEEL_MESSAGING_PRIORITY_UPPER_
};

/* notifier._sanitize_context()'s whitelist (Debian 14.0.3-0+deb12u1). */
static const char *const safe_keys[] = {
    "user_id",
    "project_id",
    "domain_id",
    "user_domain_id",
    "project_domain_id",
    "is_admin",
    "request_id",
    "roles",
    "user_name",
    "project_name",
    "domain_name",
    "user_domain_name",
    "project_domain_name",
    "service_user_id",
    "service_user_domain_id",
    "service_user_domain_name",
    "service_project_id",
    "service_project_name",
    "service_project_domain_id",
    "service_project_domain_name",
    "service_roles",
    "global_request_id",
    "system_scope",
    "user",
    "domain",
    "user_domain",
    "project_domain",
    NULL,
};

/* oslo_utils.strutils._SANITIZE_KEYS, for the log driver's mask_dict_password(). */
static const char *const secret_keys[] = {
    "adminpass",   "admin_pass", "password", "admin_password", "auth_token",  "new_pass",     "auth_password",
    "secret_uuid", "secret",     "sys_pswd", "token",          "configdrive", "chappassword", "encrypted_key",
    "private_key", "fernetkey",  "sslkey",   "passphrase",     NULL,
};

static keel_log_t *log_notifier(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging.notify.notifier");
    return l;
}

const char *keel_messaging_priority_name(keel_messaging_priority_t p)
{
    return (unsigned)p < KEEL_MESSAGING_PRIORITY_COUNT ? prio_lower[p] : NULL;
}

int keel_messaging_priority_parse(const char *name, keel_messaging_priority_t *out)
{
    for (int i = 0; name && i < KEEL_MESSAGING_PRIORITY_COUNT; i++)
        if (strcasecmp(name, prio_lower[i]) == 0) {
            *out = (keel_messaging_priority_t)i;
            return 0;
        }
    return KEEL_EINVAL;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        keel__free(v[i]);
    keel__free(v);
}

static void notifier_unref(keel_messaging_notifier_t *n)
{
    if (__atomic_sub_fetch(&n->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    keel__free(n->publisher_id);
    keel__free(n->drivers);
    free_strv(n->topics, n->ntopics);
    keel__free(n);
}

void keel_messaging_notifier_free(keel_messaging_notifier_t *n)
{
    if (n)
        notifier_unref(n);
}

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static int set_drivers(keel_messaging_notifier_t *n, const char *const *names)
{
    size_t count = strv_len(names);
    n->drivers = keel__calloc(count ? count : 1, sizeof(*n->drivers));
    if (n->drivers == NULL)
        return KEEL_ENOMEM;
    n->only_noop = count == 1 && strcmp(names[0], "noop") == 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], "messagingv2") == 0)
            n->drivers[n->ndrivers++] = DRV_MESSAGING_V2;
        else if (strcmp(names[i], "messaging") == 0)
            n->drivers[n->ndrivers++] = DRV_MESSAGING_V1;
        else if (strcmp(names[i], "log") == 0)
            n->drivers[n->ndrivers++] = DRV_LOG;
        else if (strcmp(names[i], "noop") == 0)
            n->drivers[n->ndrivers++] = DRV_NOOP;
        else
            KEEL_LOG_WARNING(log_notifier(), "Notification driver %s is not available in keel; skipped", names[i]);
    }
    return 0;
}

static int set_topics(keel_messaging_notifier_t *n, const char *const *topics)
{
    size_t count = strv_len(topics);
    n->topics = keel__calloc(count + 1, sizeof(*n->topics)); /* NULL-terminated: prepare() copies it as a list */
    if (n->topics == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        if ((n->topics[i] = keel__strdup(topics[i])) == NULL)
            return KEEL_ENOMEM;
        n->ntopics++;
    }
    return 0;
}

int keel_messaging_notifier_new(keel_messaging_notifier_t **out, keel_messaging_transport_t *t,
                                const keel_messaging_notifier_opts_t *opts)
{
    if (out == NULL || t == NULL)
        return KEEL_EINVAL;
    static const keel_messaging_notifier_opts_t defaults = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    if (opts == NULL)
        opts = &defaults;
    keel_messaging_notifier_t *n = keel__calloc(1, sizeof(*n));
    if (n == NULL)
        return KEEL_ENOMEM;
    n->t = t;
    n->refs = 1;
    n->serializer = opts->serializer;
    n->retry = opts->retry == KEEL_MESSAGING_RETRY_CONF ? (int)t->opts.notify_retry : opts->retry;
    int rc = 0;
    if (opts->publisher_id && (n->publisher_id = keel__strdup(opts->publisher_id)) == NULL)
        rc = KEEL_ENOMEM;
    if (rc == 0)
        rc = set_drivers(n, opts->drivers ? opts->drivers : (const char *const *)t->opts.notify_drivers);
    if (rc == 0)
        rc = set_topics(n, opts->topics ? opts->topics : (const char *const *)t->opts.notify_topics);
    if (rc != 0) {
        notifier_unref(n);
        return rc;
    }
    *out = n;
    return 0;
}

int keel_messaging_notifier_prepare(const keel_messaging_notifier_t *base, const keel_messaging_prepare_t *changes,
                                    keel_messaging_notifier_t **out)
{
    if (base == NULL || changes == NULL || out == NULL)
        return KEEL_EINVAL;
    keel_messaging_notifier_t *n = keel__calloc(1, sizeof(*n));
    if (n == NULL)
        return KEEL_ENOMEM;
    *n = *base;
    n->refs = 1;
    n->publisher_id = NULL;
    n->topics = NULL;
    n->ntopics = 0;
    n->drivers = keel__calloc(base->ndrivers ? base->ndrivers : 1, sizeof(*n->drivers));
    int rc = n->drivers ? 0 : KEEL_ENOMEM;
    if (rc == 0)
        memcpy(n->drivers, base->drivers, base->ndrivers * sizeof(*n->drivers));
    if (rc == 0)
        rc = set_topics(n, (const char *const *)base->topics);
    const char *pub = changes->set & KEEL_MESSAGING_PREPARE_PUBLISHER_ID ? changes->publisher_id : base->publisher_id;
    if (rc == 0 && pub && (n->publisher_id = keel__strdup(pub)) == NULL)
        rc = KEEL_ENOMEM;
    if (changes->set & KEEL_MESSAGING_PREPARE_RETRY)
        n->retry = changes->retry;
    if (rc != 0) {
        notifier_unref(n);
        return rc;
    }
    *out = n;
    return 0;
}

bool keel_messaging_notifier_is_enabled(const keel_messaging_notifier_t *n)
{
    return !n->only_noop;
}

static bool in_list(const char *key, const char *const *list)
{
    for (const char *const *p = list; *p; p++)
        if (strcmp(*p, key) == 0)
            return true;
    return false;
}

static int sanitize_context(json_t *ctxt, json_t **out)
{
    json_t *safe = json_object();
    if (safe == NULL)
        return KEEL_ENOMEM;
    const char *key;
    json_t *v;
    if (ctxt != NULL)
        json_object_foreach(ctxt, key, v)
        {
            if (in_list(key, safe_keys) && json_object_set(safe, key, v) != 0) {
                json_decref(safe);
                return KEEL_ENOMEM;
            }
        }
    *out = safe;
    return 0;
}

static bool is_secret_key(const char *key)
{
    char lower[64];
    size_t i;
    for (i = 0; key[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
    lower[i] = '\0';
    for (const char *const *p = secret_keys; *p; p++)
        if (strstr(lower, *p) != NULL)
            return true;
    return false;
}

/* mask_dict_password(), for the keys only: secret-looking keys become "***", recursively. */
static json_t *masked_copy(json_t *v)
{
    if (!json_is_object(v))
        return json_incref(v);
    json_t *o = json_object();
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        json_t *m = is_secret_key(key) ? json_string("***") : masked_copy(item);
        if (o == NULL || m == NULL || json_object_set_new(o, key, m) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The log driver: LogDriver.notify() — warn, error, ... as logger methods; audit and sample have none. */
static void log_notification(json_t *msg, keel_messaging_priority_t p)
{
    static const int level[] = {[KEEL_MESSAGING_DEBUG] = KEEL_LOG_LEVEL_DEBUG,
                                [KEEL_MESSAGING_INFO] = KEEL_LOG_LEVEL_INFO,
                                [KEEL_MESSAGING_WARN] = KEEL_LOG_LEVEL_WARNING,
                                [KEEL_MESSAGING_ERROR] = KEEL_LOG_LEVEL_ERROR,
                                [KEEL_MESSAGING_CRITICAL] = KEEL_LOG_LEVEL_CRITICAL};
    if (level[p] == 0) {
        KEEL_LOG_WARNING(log_notifier(), "Unable to log message as notify cannot find a logger with the priority specified %s",
                         prio_lower[p]);
        return;
    }
    keel_buf_t name;
    keel_buf_init(&name);
    const char *event = json_string_value(json_object_get(msg, "event_type"));
    if (keel_buf_printf(&name, "oslo.messaging.notification.%s", event ? event : "None") != 0) {
        keel_buf_free(&name);
        return;
    }
    keel_log_t *lg = keel_log_get(name.base);
    keel_buf_free(&name);
    if (!keel_log_enabled(lg, level[p]))
        return;
    json_t *masked = masked_copy(msg);
    keel_buf_t text;
    keel_buf_init(&text);
    if (masked && keel__messaging_json_dump(&text, masked) == 0)
        keel_log_emit(lg, level[p], __FILE__, __LINE__, __func__, "%s", text.base);
    keel_buf_free(&text);
    json_decref(masked);
}

static void op_finish(notify_op_t *op)
{
    if (op->cb)
        op->cb(op->n, op->status, op->data);
    notifier_unref(op->n);
    keel__free(op);
}

static void on_sent(void *data, int status, json_t *result, const char *failure)
{
    notify_op_t *op = data;
    if (status != 0) {
        KEEL_LOG_ERROR(log_notifier(), "Could not send notification: %s", keel_messaging_strerror(status));
        if (op->status == 0)
            op->status = status;
    }
    if (--op->pending == 0)
        op_finish(op);
}

static void run_op(keel__messaging_task_t *task)
{
    op_finish(keel_container_of(task, notify_op_t, task));
}

int keel_messaging_notify(keel_messaging_notifier_t *n, json_t *ctxt, keel_messaging_priority_t priority, const char *event_type,
                          json_t *payload, keel_messaging_notify_cb cb, void *data)
{
    int rc = 0;
    json_t *msg = NULL, *ser_payload = NULL, *safe = NULL, *sctxt = NULL;
    notify_op_t *op = NULL;
    if (n == NULL || (unsigned)priority >= KEEL_MESSAGING_PRIORITY_COUNT || (ctxt != NULL && !json_is_object(ctxt))) {
        rc = KEEL_EINVAL;
        goto out;
    }
    if (n->t->closing) {
        rc = KEEL_ECANCELED;
        goto out;
    }
    if ((rc = keel__messaging_ser_entity(n->serializer, false, ctxt, payload, &ser_payload)) != 0)
        goto out;
    if ((rc = sanitize_context(ctxt, &safe)) != 0 || (rc = keel__messaging_ser_context(n->serializer, false, safe, &sctxt)) != 0)
        goto out;
    char message_id[37], ts[32];
    if ((rc = keel__messaging_uuid_str(message_id)) != 0)
        goto out;
    keel__messaging_timestamp(ts);
    msg = json_object();
    if (msg == NULL || json_object_set_new(msg, "message_id", json_string(message_id)) != 0 ||
        json_object_set_new(msg, "publisher_id", n->publisher_id ? json_string(n->publisher_id) : json_null()) != 0 ||
        json_object_set_new(msg, "event_type", event_type ? json_string(event_type) : json_null()) != 0 ||
        json_object_set_new(msg, "priority", json_string(prio_upper[priority])) != 0 ||
        json_object_set(msg, "payload", ser_payload) != 0 || json_object_set_new(msg, "timestamp", json_string(ts)) != 0) {
        rc = KEEL_ENOMEM;
        goto out;
    }
    if ((op = keel__calloc(1, sizeof(*op))) == NULL) {
        rc = KEEL_ENOMEM;
        goto out;
    }
    op->n = n;
    op->cb = cb;
    op->data = data;
    op->pending = 1; /* this call's own hold, dropped below */
    __atomic_add_fetch(&n->refs, 1, __ATOMIC_RELAXED);
    keel_buf_t topic;
    keel_buf_init(&topic);
    for (size_t d = 0; d < n->ndrivers; d++) {
        if (n->drivers[d] == DRV_LOG) {
            log_notification(msg, priority);
            continue;
        }
        if (n->drivers[d] == DRV_NOOP)
            continue;
        for (size_t i = 0; i < n->ntopics; i++) {
            keel_buf_reset(&topic);
            if (keel_buf_printf(&topic, "%s.%s", n->topics[i], prio_lower[priority]) != 0) {
                if (op->status == 0)
                    op->status = KEEL_ENOMEM;
                continue;
            }
            /* The Notifier's target never has an exchange: control_exchange it is. */
            keel_messaging_target_t tg = {.topic = topic.base, .exchange = n->t->opts.control_exchange};
            keel__messaging_send_t send = {.target = &tg,
                                           .ctxt = sctxt,
                                           .message = msg,
                                           .retry = n->retry,
                                           .notify_version = n->drivers[d] == DRV_MESSAGING_V1 ? 1 : 2};
            op->pending++;
            int src = n->t->ops->send_notification(n->t->driver, &send, on_sent, op);
            if (src != 0) {
                KEEL_LOG_ERROR(log_notifier(), "Could not send notification to %s: %s", topic.base, keel_messaging_strerror(src));
                op->pending--;
                if (op->status == 0)
                    op->status = src;
            }
        }
    }
    keel_buf_free(&topic);
    if (--op->pending == 0) {
        /* Nothing in flight (no driver, log or noop only): report on a later turn all the same. */
        op->task.run = run_op;
        if (keel__messaging_post(n->t, &op->task) != 0) {
            notifier_unref(n);
            keel__free(op);
            rc = KEEL_ECANCELED;
        }
    }
out:
    json_decref(payload);
    json_decref(ser_payload);
    json_decref(safe);
    json_decref(sctxt);
    json_decref(msg);
    return rc;
}

/* ---- blocking wrapper ---- */

typedef struct notify_job_s {
    keel__messaging_sync_t sync;
    keel_messaging_notifier_t *n;
    json_t *ctxt;
    json_t *payload; /* NULL once handed to the notifier */
    keel_messaging_priority_t priority;
    const char *event_type;
} notify_job_t;

static void on_job_notified(keel_messaging_notifier_t *n, int status, void *data)
{
    notify_job_t *job = data;
    keel__messaging_sync_done(&job->sync, status);
}

static void run_job(keel__messaging_task_t *task)
{
    notify_job_t *job = keel_container_of(task, notify_job_t, sync.task);
    json_t *payload = job->payload;
    job->payload = NULL;
    int rc = keel_messaging_notify(job->n, job->ctxt, job->priority, job->event_type, payload, on_job_notified, job);
    if (rc != 0)
        keel__messaging_sync_done(&job->sync, rc);
}

int keel_messaging_notify_sync(keel_messaging_notifier_t *n, json_t *ctxt, keel_messaging_priority_t priority,
                               const char *event_type, json_t *payload)
{
    if (n == NULL) {
        json_decref(payload);
        return KEEL_EINVAL;
    }
    notify_job_t job = {.n = n, .ctxt = ctxt, .payload = payload, .priority = priority, .event_type = event_type};
    job.sync.task.run = run_job;
    int rc = keel__messaging_sync_run(n->t, &job.sync);
    json_decref(job.payload); /* still ours when the job never ran */
    return rc;
}
