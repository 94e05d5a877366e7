/*
 * sync.c — the wait behind the blocking wrappers (keel_messaging_rpc_call_sync,
 * _cast_sync, keel_messaging_notify_sync): post a job to the transport's loop
 * and sleep on a condition until the job's callback says it is done.
 */
#include "driver.h"

int keel__messaging_sync_run(keel_messaging_transport_t *t, keel__messaging_sync_t *s)
{
    if (keel__messaging_on_loop_thread(t))
        return KEEL_EINVAL; /* nothing would ever run the job: refuse rather than hang */
    s->done = false;
    if (uv_mutex_init(&s->lock) != 0)
        return KEEL_ENOMEM;
    if (uv_cond_init(&s->cond) != 0) {
        uv_mutex_destroy(&s->lock);
        return KEEL_ENOMEM;
    }
    int rc = keel__messaging_post(t, &s->task);
    if (rc == 0) {
        uv_mutex_lock(&s->lock);
        while (!s->done)
            uv_cond_wait(&s->cond, &s->lock);
        uv_mutex_unlock(&s->lock);
        rc = s->rc;
    }
    uv_cond_destroy(&s->cond);
    uv_mutex_destroy(&s->lock);
    return rc;
}

void keel__messaging_sync_done(keel__messaging_sync_t *s, int rc)
{
    uv_mutex_lock(&s->lock);
    s->rc = rc;
    s->done = true;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->lock);
}
