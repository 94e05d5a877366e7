/*
 * The threading executor's pool: concurrent.futures.ThreadPoolExecutor in
 * C. Threads start only when work arrives and no thread is idle, up to
 * executor_thread_pool_size, and live until the server is freed; work is
 * taken in order. The pool knows nothing of messages: a work item is a
 * function pointer embedded in the job it runs.
 */
#include <stdio.h>

#include "server.h"

static unsigned next_pool_id;

static void worker(void *arg)
{
    keel__messaging_pool_t *p = arg;
    char name[48];
    uv_mutex_lock(&p->lock);
    snprintf(name, sizeof(name), "ThreadPoolExecutor-%u_%zu", p->id, p->nthreads - 1);
    uv_mutex_unlock(&p->lock);
    keel_log_thread_name_set(name);
    uv_mutex_lock(&p->lock);
    for (;;) {
        while (p->head == NULL && !p->stopping) {
            p->idle++;
            uv_cond_wait(&p->cond, &p->lock);
            p->idle--;
        }
        keel__messaging_work_t *w = p->head;
        if (w == NULL)
            break; /* stopping and nothing left */
        p->head = w->next;
        if (p->head == NULL)
            p->tail = NULL;
        uv_mutex_unlock(&p->lock);
        w->run(w); /* may free w */
        uv_mutex_lock(&p->lock);
    }
    uv_mutex_unlock(&p->lock);
}

int keel__messaging_pool_init(keel__messaging_pool_t *p, size_t max)
{
    *p = (keel__messaging_pool_t){.max = max ? max : 1};
    p->threads = keel__calloc(p->max, sizeof(*p->threads));
    if (p->threads == NULL)
        return KEEL_ENOMEM;
    int rc = uv_mutex_init(&p->lock);
    if (rc == 0 && (rc = uv_cond_init(&p->cond)) != 0)
        uv_mutex_destroy(&p->lock);
    if (rc != 0) {
        keel__free(p->threads);
        return rc;
    }
    p->id = __atomic_fetch_add(&next_pool_id, 1, __ATOMIC_RELAXED);
    return 0;
}

int keel__messaging_pool_submit(keel__messaging_pool_t *p, keel__messaging_work_t *work)
{
    work->next = NULL;
    uv_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = work;
    else
        p->head = work;
    p->tail = work;
    int rc = 0;
    if (p->idle == 0 && p->nthreads < p->max) {
        p->nthreads++;
        rc = uv_thread_create(&p->threads[p->nthreads - 1], worker, p);
        if (rc != 0) {
            p->nthreads--;
            /* With threads left the work still runs; with none it would wait forever. */
            if (p->nthreads == 0) {
                p->head = work->next;
                if (p->tail == work)
                    p->tail = NULL;
            } else {
                rc = 0;
            }
        }
    } else {
        uv_cond_signal(&p->cond);
    }
    uv_mutex_unlock(&p->lock);
    return rc;
}

void keel__messaging_pool_destroy(keel__messaging_pool_t *p)
{
    uv_mutex_lock(&p->lock);
    p->stopping = true;
    uv_cond_broadcast(&p->cond);
    size_t n = p->nthreads;
    uv_mutex_unlock(&p->lock);
    for (size_t i = 0; i < n; i++)
        uv_thread_join(&p->threads[i]);
    uv_cond_destroy(&p->cond);
    uv_mutex_destroy(&p->lock);
    keel__free(p->threads);
    p->threads = NULL;
}
