/*
 * The RPC client: oslo's RPCClient and _CallContext. A client is an
 * immutable value (target, timeout, version cap, retry, serializer) that
 * prepare() copies with changes, so it can be shared by the loop's thread
 * and by threads using the blocking wrappers. Its reference count is
 * atomic: each call in flight holds one, so a client freed while its calls
 * run lives until their callbacks returned.
 *
 * A call builds the message as _make_message() does (each argument through
 * serialize_entity, namespace and version only when the target has them),
 * serializes the context, checks the version cap, and hands it to the
 * driver; the reply's failure becomes an error object, its result goes
 * through deserialize_entity with the caller's own context.
 */
#include <string.h>

#include "driver.h"
#include "keel/log.h"

struct keel_messaging_rpc_client_s {
    keel_messaging_transport_t *t;
    keel_messaging_target_t target;
    double timeout;
    char *version_cap;
    int retry;
    double cm_timeout;
    bool at_least_once;
    const keel_messaging_serializer_t *serializer;
    int refs;
};

typedef struct call_s {
    keel_messaging_rpc_client_t *c;
    json_t *ctxt; /* the caller's, for deserialize_entity */
    keel_messaging_call_cb cb;
    keel_messaging_cast_cb cast_cb;
    void *data;
    bool is_call;
} call_t;

static keel_log_t *log_client(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging.rpc.client");
    return l;
}

static void client_ref(keel_messaging_rpc_client_t *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

static void client_unref(keel_messaging_rpc_client_t *c)
{
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    keel__messaging_target_clear(&c->target);
    keel__free(c->version_cap);
    keel__free(c);
}

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    return s == NULL || (*out = keel__strdup(s)) != NULL ? 0 : KEEL_ENOMEM;
}

int keel_messaging_rpc_client_new(keel_messaging_rpc_client_t **out, keel_messaging_transport_t *t,
                                  const keel_messaging_target_t *target, const keel_messaging_rpc_client_opts_t *opts)
{
    if (out == NULL || t == NULL || target == NULL)
        return KEEL_EINVAL;
    static const keel_messaging_rpc_client_opts_t defaults = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    if (opts == NULL)
        opts = &defaults;
    keel_messaging_rpc_client_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return KEEL_ENOMEM;
    int rc = keel__messaging_target_copy(&c->target, target);
    if (rc == 0)
        rc = dup_opt(opts->version_cap, &c->version_cap);
    if (rc != 0) {
        keel__messaging_target_clear(&c->target);
        keel__free(c);
        return rc;
    }
    c->t = t;
    c->timeout = opts->timeout;
    c->retry = opts->retry;
    c->cm_timeout = opts->call_monitor_timeout;
    c->at_least_once = opts->at_least_once;
    c->serializer = opts->serializer;
    c->refs = 1;
    *out = c;
    return 0;
}

void keel_messaging_rpc_client_free(keel_messaging_rpc_client_t *c)
{
    if (c != NULL)
        client_unref(c);
}

const keel_messaging_target_t *keel_messaging_rpc_client_target(const keel_messaging_rpc_client_t *c)
{
    return &c->target;
}

int keel_messaging_rpc_client_prepare(const keel_messaging_rpc_client_t *base, const keel_messaging_prepare_t *changes,
                                      keel_messaging_rpc_client_t **out)
{
    if (base == NULL || changes == NULL || out == NULL)
        return KEEL_EINVAL;
    unsigned set = changes->set;
    if (set & KEEL_MESSAGING_PREPARE_VERSION) {
        /* _check_version(): version_is_compatible(version, version) must be able to read it. */
        bool ok;
        if (keel_messaging_version_is_compatible(changes->version, changes->version, &ok) != 0)
            return KEEL_EVALUE;
    }
    keel_messaging_target_t tg = base->target;
    if (set & KEEL_MESSAGING_PREPARE_EXCHANGE)
        tg.exchange = changes->exchange;
    if (set & KEEL_MESSAGING_PREPARE_TOPIC)
        tg.topic = changes->topic;
    if (set & KEEL_MESSAGING_PREPARE_NAMESPACE)
        tg.namespace_ = changes->namespace_;
    if (set & KEEL_MESSAGING_PREPARE_VERSION)
        tg.version = changes->version;
    if (set & KEEL_MESSAGING_PREPARE_SERVER)
        tg.server = changes->server;
    if (set & KEEL_MESSAGING_PREPARE_FANOUT)
        tg.fanout = changes->fanout;
    keel_messaging_rpc_client_opts_t o = {
        .timeout = set & KEEL_MESSAGING_PREPARE_TIMEOUT ? changes->timeout : base->timeout,
        .version_cap = set & KEEL_MESSAGING_PREPARE_VERSION_CAP ? changes->version_cap : base->version_cap,
        .retry = set & KEEL_MESSAGING_PREPARE_RETRY ? changes->retry : base->retry,
        .call_monitor_timeout =
            set & KEEL_MESSAGING_PREPARE_CALL_MONITOR_TIMEOUT ? changes->call_monitor_timeout : base->cm_timeout,
        .at_least_once = base->at_least_once,
        .serializer = base->serializer,
    };
    return keel_messaging_rpc_client_new(out, base->t, &tg, &o);
}

bool keel_messaging_rpc_client_can_send_version(const keel_messaging_rpc_client_t *c, const char *version)
{
    bool ok = false;
    if (keel_messaging_version_is_compatible(c->version_cap, version ? version : c->target.version, &ok) != 0)
        return false;
    return ok;
}

/* _make_message(): {"method", "args", ["namespace"], ["version"]}, arguments serialized one by one. */
static int make_message(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args, json_t **out)
{
    json_t *msg = json_object(), *margs = json_object();
    int rc = msg && margs ? 0 : KEEL_ENOMEM;
    const char *key;
    json_t *v;
    if (rc == 0 && args != NULL) {
        json_object_foreach(args, key, v)
        {
            json_t *ser = NULL;
            if ((rc = keel__messaging_ser_entity(c->serializer, false, ctxt, v, &ser)) != 0)
                break;
            if (json_object_set_new(margs, key, ser) != 0) {
                rc = KEEL_ENOMEM;
                break;
            }
        }
    }
    if (rc == 0 && json_object_set_new(msg, "method", json_string(method)) != 0)
        rc = KEEL_ENOMEM;
    if (rc == 0) {
        rc = json_object_set(msg, "args", margs) == 0 ? 0 : KEEL_ENOMEM;
    }
    if (rc == 0 && c->target.namespace_ && json_object_set_new(msg, "namespace", json_string(c->target.namespace_)) != 0)
        rc = KEEL_ENOMEM;
    if (rc == 0 && c->target.version && json_object_set_new(msg, "version", json_string(c->target.version)) != 0)
        rc = KEEL_ENOMEM;
    json_decref(margs);
    if (rc != 0) {
        json_decref(msg);
        return rc;
    }
    *out = msg;
    return 0;
}

static void call_free(call_t *call)
{
    json_decref(call->ctxt);
    client_unref(call->c);
    keel__free(call);
}

static void on_sent(void *data, int status, json_t *result, const char *failure)
{
    call_t *call = data;
    keel_messaging_rpc_client_t *c = call->c;
    if (!call->is_call) {
        if (call->cast_cb)
            call->cast_cb(c, status, call->data);
        else if (status != 0)
            KEEL_LOG_ERROR(log_client(), "Failed to send cast to topic %s: %s", c->target.topic, keel_messaging_strerror(status));
        call_free(call);
        return;
    }
    keel_messaging_error_t *err = NULL;
    json_t *out = NULL;
    if (status == 0 && failure != NULL) {
        status = keel_messaging_error_deserialize(failure, strlen(failure), (const char *const *)c->t->allowed_exmods, &err);
        if (status == KEEL_EPARSE) {
            /* A failure that is not JSON: oslo would fail to read it too; report what came. */
            status = keel_messaging_error_new(&err, "RemoteError", "oslo_messaging.rpc.client", "%s", failure);
        }
        if (status == 0)
            status = KEEL_MESSAGING_EREMOTE;
    } else if (status == 0) {
        status = keel__messaging_ser_entity(c->serializer, true, call->ctxt, result, &out);
    }
    call->cb(c, status, status == 0 ? out : NULL, err, call->data);
    json_decref(out);
    keel_messaging_error_free(err);
    call_free(call);
}

static int send_msg(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args, bool is_call,
                    keel_messaging_call_cb cb, keel_messaging_cast_cb cast_cb, void *data)
{
    int rc = 0;
    json_t *msg = NULL, *sctxt = NULL;
    call_t *call = NULL;
    if (method == NULL || (is_call && cb == NULL) || (args != NULL && !json_is_object(args)) ||
        (ctxt != NULL && !json_is_object(ctxt))) {
        rc = KEEL_EINVAL;
        goto out;
    }
    if (c->t->closing) {
        rc = KEEL_ECANCELED;
        goto out;
    }
    if ((rc = keel__messaging_target_check_send(&c->target)) != 0)
        goto out;
    if (is_call && c->target.fanout) {
        /* InvalidTarget('A call cannot be used with fanout') */
        rc = KEEL_MESSAGING_ETARGET;
        goto out;
    }
    if ((rc = make_message(c, ctxt, method, args, &msg)) != 0)
        goto out;
    if ((rc = keel__messaging_ser_context(c->serializer, false, ctxt, &sctxt)) != 0)
        goto out;
    bool ok = false;
    rc = keel_messaging_version_is_compatible(c->version_cap, c->target.version, &ok);
    if (rc == 0 && !ok) {
        KEEL_LOG_DEBUG(log_client(),
                       "Requested message version, %s is incompatible. It needs to be equal in major version and "
                       "less than or equal in minor version as the specified version cap %s.",
                       c->target.version ? c->target.version : "None", c->version_cap);
        rc = KEEL_MESSAGING_EVERSIONCAP;
    }
    if (rc != 0)
        goto out;
    if ((call = keel__calloc(1, sizeof(*call))) == NULL) {
        rc = KEEL_ENOMEM;
        goto out;
    }
    call->c = c;
    call->ctxt = ctxt ? json_incref(ctxt) : NULL;
    call->cb = cb;
    call->cast_cb = cast_cb;
    call->data = data;
    call->is_call = is_call;
    keel_messaging_target_t tg = c->target;
    tg.exchange = keel__messaging_exchange(c->t, &c->target);
    keel__messaging_send_t send = {
        .target = &tg,
        .ctxt = sctxt,
        .message = msg,
        .wait_for_reply = is_call,
        .timeout = c->timeout > 0 ? c->timeout : (double)c->t->opts.rpc_response_timeout,
        .call_monitor_timeout = c->cm_timeout,
        .retry = c->retry,
        .mandatory = c->at_least_once,
    };
    client_ref(c);
    rc = c->t->ops->send(c->t->driver, &send, on_sent, call);
    if (rc != 0) {
        call_free(call);
        call = NULL;
    }
out:
    json_decref(args);
    json_decref(msg);
    json_decref(sctxt);
    return rc;
}

int keel_messaging_rpc_call(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args,
                            keel_messaging_call_cb cb, void *data)
{
    if (c == NULL) {
        json_decref(args);
        return KEEL_EINVAL;
    }
    return send_msg(c, ctxt, method, args, true, cb, NULL, data);
}

int keel_messaging_rpc_cast(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args,
                            keel_messaging_cast_cb cb, void *data)
{
    if (c == NULL) {
        json_decref(args);
        return KEEL_EINVAL;
    }
    return send_msg(c, ctxt, method, args, false, NULL, cb, data);
}

/* ---- blocking wrappers: post the call to the loop, wait on a condition ---- */

typedef struct sync_job_s {
    keel__messaging_sync_t sync;
    keel_messaging_rpc_client_t *c;
    json_t *ctxt;
    const char *method;
    json_t *args; /* NULL once handed to the call */
    bool is_call;
    json_t *result;
    keel_messaging_error_t *error;
} sync_job_t;

static void sync_call_cb(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error,
                         void *data)
{
    sync_job_t *job = data;
    if (status == 0)
        job->result = json_incref(result);
    else if (error != NULL && keel_messaging_error_copy(error, &job->error) != 0)
        job->error = NULL;
    keel__messaging_sync_done(&job->sync, status);
}

static void sync_cast_cb(keel_messaging_rpc_client_t *c, int status, void *data)
{
    sync_job_t *job = data;
    keel__messaging_sync_done(&job->sync, status);
}

static void sync_run(keel__messaging_task_t *task)
{
    sync_job_t *job = keel_container_of(task, sync_job_t, sync.task);
    json_t *args = job->args;
    job->args = NULL;
    int rc = job->is_call ? keel_messaging_rpc_call(job->c, job->ctxt, job->method, args, sync_call_cb, job)
                          : keel_messaging_rpc_cast(job->c, job->ctxt, job->method, args, sync_cast_cb, job);
    if (rc != 0)
        keel__messaging_sync_done(&job->sync, rc);
}

static int run_sync(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args, bool is_call, json_t **result,
                    keel_messaging_error_t **error)
{
    if (result)
        *result = NULL;
    if (error)
        *error = NULL;
    if (c == NULL) {
        json_decref(args);
        return KEEL_EINVAL;
    }
    sync_job_t job = {.c = c, .ctxt = ctxt, .method = method, .args = args, .is_call = is_call};
    job.sync.task.run = sync_run;
    int rc = keel__messaging_sync_run(c->t, &job.sync);
    json_decref(job.args); /* still ours when the job never ran */
    if (result)
        *result = job.result;
    else
        json_decref(job.result);
    if (error)
        *error = job.error;
    else
        keel_messaging_error_free(job.error);
    return rc;
}

int keel_messaging_rpc_call_sync(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args, json_t **result,
                                 keel_messaging_error_t **error)
{
    return run_sync(c, ctxt, method, args, true, result, error);
}

int keel_messaging_rpc_cast_sync(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args)
{
    return run_sync(c, ctxt, method, args, false, NULL, NULL);
}
