/*
 * Transports: the URL and options resolved once, the driver its scheme
 * names, and the one way work reaches the loop's thread from anywhere
 * (keel__messaging_post: an intrusive list under a mutex and a uv_async),
 * which the blocking wrappers, the threading executor and the drivers'
 * deferred callbacks all use.
 *
 * Closing goes driver first (its pending calls fail with KEEL_ECANCELED
 * and its handles close), then the tasks still queued run, then the async
 * handle closes and the user's callback runs.
 */
#include <string.h>

#include "driver.h"

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        keel__free(*p);
    keel__free(v);
}

static int copy_strv(const char *const *v, char ***out)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **c = keel__calloc(n + 1, sizeof(*c));
    if (c == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((c[i] = keel__strdup(v[i])) == NULL) {
            free_strv(c);
            return KEEL_ENOMEM;
        }
    *out = c;
    return 0;
}

/* Runs every task posted so far, in order; tasks posted meanwhile run on the next wakeup. */
static void run_tasks(keel_messaging_transport_t *t)
{
    uv_mutex_lock(&t->lock);
    keel__messaging_task_t *task = t->head;
    t->head = t->tail = NULL;
    uv_mutex_unlock(&t->lock);
    while (task != NULL) {
        keel__messaging_task_t *next = task->next;
        task->next = NULL;
        task->run(task); /* may free the task */
        task = next;
    }
}

static void on_async(uv_async_t *a)
{
    run_tasks(a->data);
}

int keel__messaging_post(keel_messaging_transport_t *t, keel__messaging_task_t *task)
{
    task->next = NULL;
    uv_mutex_lock(&t->lock);
    if (t->posts_closed) {
        uv_mutex_unlock(&t->lock);
        return KEEL_ECANCELED;
    }
    if (t->tail)
        t->tail->next = task;
    else
        t->head = task;
    t->tail = task;
    /* Sent under the lock so the handle cannot be closing meanwhile. */
    uv_async_send(&t->async);
    uv_mutex_unlock(&t->lock);
    return 0;
}

bool keel__messaging_on_loop_thread(const keel_messaging_transport_t *t)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &t->loop_thread) != 0;
}

const char *keel__messaging_exchange(const keel_messaging_transport_t *t, const keel_messaging_target_t *target)
{
    return target && target->exchange && *target->exchange ? target->exchange : t->opts.control_exchange;
}

static const keel__messaging_driver_ops_t *driver_for(const char *scheme)
{
    /* oslo loads url.transport.split('+')[0]: fake, and rabbit (kombu is its alias). */
    size_t n = strcspn(scheme, "+");
    if (n == 4 && strncmp(scheme, "fake", 4) == 0)
        return &keel__messaging_fake_driver;
    if ((n == 6 && strncmp(scheme, "rabbit", 6) == 0) || (n == 5 && strncmp(scheme, "kombu", 5) == 0))
        return &keel__messaging_rabbit_driver;
    return NULL;
}

static void free_transport(keel_messaging_transport_t *t)
{
    keel_messaging_url_free(t->url);
    keel__messaging_opts_clear(&t->opts);
    free_strv(t->allowed_exmods);
    uv_mutex_destroy(&t->lock);
    keel__free(t);
}

static void set_error(const keel_messaging_transport_opts_t *opts, const char *fmt, const char *a, const char *b)
{
    if (opts && opts->error)
        keel_buf_printf(opts->error, fmt, a ? a : "", b ? b : "");
}

static void on_async_closed_early(uv_handle_t *h)
{
    free_transport(h->data);
}

int keel_messaging_transport_new(keel_messaging_transport_t **out, uv_loop_t *loop, struct keel_conf_s *conf,
                                 const keel_messaging_transport_opts_t *opts)
{
    if (out == NULL || loop == NULL)
        return KEEL_EINVAL;
    keel_messaging_transport_t *t = keel__calloc(1, sizeof(*t));
    if (t == NULL)
        return KEEL_ENOMEM;
    t->loop = loop;
    t->loop_thread = uv_thread_self();
    int rc = uv_mutex_init(&t->lock);
    if (rc != 0) {
        keel__free(t);
        return rc;
    }
    /* Options first without the URL: the URL itself may come from them. */
    char *why = NULL;
    keel__messaging_opts_t base;
    rc = keel__messaging_opts_load(&base, conf, NULL, NULL);
    if (rc != 0)
        goto fail_opts;
    const char *text = opts && opts->url && *opts->url ? opts->url : NULL;
    if (text == NULL && opts && opts->notifications && base.notify_transport_url && *base.notify_transport_url)
        text = base.notify_transport_url;
    if (text == NULL)
        text = base.transport_url;
    const char *url_why = NULL;
    rc = keel_messaging_url_parse(text, &t->url, &url_why);
    if (rc != 0) {
        set_error(opts, "invalid transport URL: %s%s", url_why, NULL);
        keel__messaging_opts_clear(&base);
        goto fail_opts;
    }
    keel__messaging_opts_clear(&base);
    rc = keel__messaging_opts_load(&t->opts, conf, t->url, &why);
    if (rc != 0) {
        set_error(opts, "%s%s", why, NULL);
        keel__free(why);
        goto fail_opts;
    }
    if ((rc = copy_strv(opts ? opts->allowed_remote_exmods : NULL, &t->allowed_exmods)) != 0)
        goto fail_exmods;
    t->ops = driver_for(t->url->transport);
    if (t->ops == NULL) {
        rc = KEEL_MESSAGING_EDRIVER;
        set_error(opts, "Failed to load transport driver \"%s\"%s", t->url->transport, NULL);
        goto fail_exmods;
    }
    t->fake_broker = opts ? opts->fake_broker : NULL;
    if ((rc = uv_async_init(loop, &t->async, on_async)) != 0)
        goto fail_exmods;
    t->async.data = t;
    if ((rc = t->ops->open(t, &t->driver)) != 0) {
        set_error(opts, "transport driver %s: %s", t->url->transport, keel_messaging_strerror(rc));
        /* The async handle is live: free in its close callback. */
        uv_close((uv_handle_t *)&t->async, on_async_closed_early);
        return rc;
    }
    *out = t;
    return 0;

fail_exmods:
    keel__messaging_opts_clear(&t->opts);
fail_opts:
    keel_messaging_url_free(t->url);
    free_strv(t->allowed_exmods);
    uv_mutex_destroy(&t->lock);
    keel__free(t);
    return rc;
}

static void on_async_closed(uv_handle_t *h)
{
    keel_messaging_transport_t *t = h->data;
    /* Tasks posted between the last wakeup and posts_closed. */
    run_tasks(t);
    keel_messaging_transport_close_cb cb = t->close_cb;
    void *data = t->close_data;
    if (cb)
        cb(t, data);
    free_transport(t);
}

static void on_driver_closed(keel_messaging_transport_t *t)
{
    run_tasks(t);
    uv_mutex_lock(&t->lock);
    t->posts_closed = true;
    uv_mutex_unlock(&t->lock);
    uv_close((uv_handle_t *)&t->async, on_async_closed);
}

int keel_messaging_transport_close(keel_messaging_transport_t *t, keel_messaging_transport_close_cb cb, void *data)
{
    if (t == NULL || t->closing)
        return KEEL_EINVAL;
    if (t->servers > 0)
        return KEEL_EBUSY;
    t->closing = true;
    t->close_cb = cb;
    t->close_data = data;
    t->ops->close(t->driver, on_driver_closed);
    return 0;
}

const keel_messaging_url_t *keel_messaging_transport_url(const keel_messaging_transport_t *t)
{
    return t->url;
}

uv_loop_t *keel_messaging_transport_loop(const keel_messaging_transport_t *t)
{
    return t->loop;
}
