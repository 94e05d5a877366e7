/*
 * server.h — internal to src/messaging; never installed.
 *
 * What the RPC server (server.c) and the notification listener
 * (listener.c) share: oslo's MessageHandlingServer — a driver listener, an
 * executor that runs each message's work where the user asked (a thread
 * pool, or the loop's thread one at a time or all at once), the way the
 * finished work comes back to the loop, and start/stop/wait — plus the
 * executor's thread pool (executor.c), the dispatcher's endpoint search
 * (dispatcher.c) and the duplicate-message check.
 */
#ifndef KEEL_MESSAGING_SERVER_H
#define KEEL_MESSAGING_SERVER_H

#include "driver.h"
#include "keel/log.h"

/* ---- executor.c: ThreadPoolExecutor ---- */

typedef struct keel__messaging_work_s keel__messaging_work_t;
struct keel__messaging_work_s {
    void (*run)(keel__messaging_work_t *work);
    keel__messaging_work_t *next;
};

/**
 * Up to max threads, started as work arrives and no thread is idle, as
 * concurrent.futures.ThreadPoolExecutor does. Threads are named
 * "ThreadPoolExecutor-<id>_<n>" for the log.
 */
typedef struct keel__messaging_pool_s {
    uv_mutex_t lock;
    uv_cond_t cond;
    uv_thread_t *threads;
    size_t nthreads, max, idle;
    unsigned id;
    keel__messaging_work_t *head, *tail;
    bool stopping;
} keel__messaging_pool_t;

int keel__messaging_pool_init(keel__messaging_pool_t *p, size_t max);
/** Queues work; returns 0, or the error of starting the first thread. */
int keel__messaging_pool_submit(keel__messaging_pool_t *p, keel__messaging_work_t *work);
/** Lets queued work finish, then joins every thread (shutdown(wait=True)). */
void keel__messaging_pool_destroy(keel__messaging_pool_t *p);

/* ---- dispatcher.c: RPCDispatcher's search (spec §8) ---- */

/**
 * Finds the endpoint and method for a request. namespace_ NULL is the null
 * namespace (ns_valid false: a namespace no endpoint can accept); version
 * NULL is None. Returns 0 with *ep and *m, or a failure in *failure (to
 * free) with KEEL_MESSAGING_ENOSUCHMETHOD, KEEL_MESSAGING_EUNSUPPORTEDVERSION,
 * KEEL_EVALUE (a version part oslo cannot read: its ValueError), or
 * KEEL_ENOMEM.
 */
int keel__messaging_dispatch_find(const keel_messaging_endpoint_t *eps, size_t n, keel_messaging_access_policy_t policy,
                                  const char *method, const char *namespace_, bool ns_valid, const char *version,
                                  const keel_messaging_endpoint_t **ep, const keel_messaging_method_t **m,
                                  keel_messaging_error_t **failure);

/* ---- the duplicate check: the last 16 _unique_ids (oslo's _MsgIdCache) ---- */

#define KEEL__MESSAGING_DUP_CHECK_SIZE 16

typedef struct keel__messaging_dupcache_s {
    char *ids[KEEL__MESSAGING_DUP_CHECK_SIZE];
    size_t next;
} keel__messaging_dupcache_t;

bool keel__messaging_dupcache_seen(const keel__messaging_dupcache_t *c, const char *id);
/** Remembers id (copied), forgetting the oldest; out of memory it forgets nothing new. */
void keel__messaging_dupcache_add(keel__messaging_dupcache_t *c, const char *id);
void keel__messaging_dupcache_clear(keel__messaging_dupcache_t *c);

/* ---- server.c: MessageHandlingServer ---- */

typedef struct keel__messaging_srv_s keel__messaging_srv_t;
typedef struct keel__messaging_job_s keel__messaging_job_t;

/** One message's work; embedded first in the request of each kind of server. */
struct keel__messaging_job_s {
    keel__messaging_work_t work; /* on a pool thread */
    keel__messaging_task_t task; /* back on the loop */
    keel__messaging_srv_t *srv;
    keel__messaging_incoming_t *in;
    keel__messaging_job_t *next; /* the blocking executor's backlog */
};

typedef struct keel__messaging_srv_ops_s {
    /** Runs where the executor says; the job ends with keel__messaging_srv_done(), now or later. */
    void (*invoke)(keel__messaging_job_t *job);
    /** On the loop, after done: acknowledge or reply, release the message, free the job. */
    void (*finish)(keel__messaging_job_t *job);
    /** Starts the driver listener (cb and data go to the driver). */
    int (*listen)(keel__messaging_srv_t *srv, keel__messaging_incoming_cb cb, void *data, keel__messaging_listener_t **out);
    /** The driver handed over a message. */
    void (*incoming)(keel__messaging_srv_t *srv, keel__messaging_incoming_t *in);
} keel__messaging_srv_ops_t;

typedef void (*keel__messaging_srv_wait_cb)(keel__messaging_srv_t *srv, void *data);

struct keel__messaging_srv_s {
    keel_messaging_transport_t *t;
    const keel__messaging_srv_ops_t *ops;
    keel_messaging_executor_t executor;
    keel__messaging_pool_t pool;
    bool pool_ready;
    keel__messaging_listener_t *listener;
    enum { KEEL__SRV_NEW, KEEL__SRV_RUNNING, KEEL__SRV_STOPPING, KEEL__SRV_STOPPED } state;
    size_t inflight;
    bool busy; /* blocking executor: a job is running */
    keel__messaging_job_t *backlog, *backlog_tail;
    bool waiting;
    keel__messaging_srv_wait_cb wait_cb;
    void *wait_data;
    keel__messaging_task_t wait_task;
    bool wait_task_posted;
    keel__messaging_dupcache_t dups;
};

int keel__messaging_srv_init(keel__messaging_srv_t *srv, keel_messaging_transport_t *t, const keel__messaging_srv_ops_t *ops,
                             keel_messaging_executor_t executor);
int keel__messaging_srv_start(keel__messaging_srv_t *srv);
void keel__messaging_srv_stop(keel__messaging_srv_t *srv);
int keel__messaging_srv_wait(keel__messaging_srv_t *srv, keel__messaging_srv_wait_cb cb, void *data);
/** KEEL_EBUSY unless never started or stopped with nothing in flight and no wait pending. */
int keel__messaging_srv_destroy(keel__messaging_srv_t *srv);
/** Hands a job to the executor (on the loop). */
void keel__messaging_srv_submit(keel__messaging_srv_t *srv, keel__messaging_job_t *job);
/** The job's work is over (any thread): finish() will run on the loop. */
void keel__messaging_srv_done(keel__messaging_job_t *job);

#endif /* KEEL_MESSAGING_SERVER_H */
