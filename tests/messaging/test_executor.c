/*
 * Tests for src/messaging/executor.c: the thread pool starts threads only
 * as work needs them, never more than its size, runs everything it was
 * given in order per thread, and its destroy waits for queued work.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "server.h"

typedef struct item_s {
    keel__messaging_work_t work;
    int *counter;
    int *active, *max_active;
    uv_mutex_t *lock;
    int sleep_ms;
} item_t;

static void run_item(keel__messaging_work_t *w)
{
    item_t *it = (item_t *)w;
    uv_mutex_lock(it->lock);
    (*it->active)++;
    if (*it->active > *it->max_active)
        *it->max_active = *it->active;
    uv_mutex_unlock(it->lock);
    uv_sleep((unsigned)it->sleep_ms);
    uv_mutex_lock(it->lock);
    (*it->active)--;
    (*it->counter)++;
    uv_mutex_unlock(it->lock);
}

static void test_pool_runs_everything_with_at_most_max_threads(void **state)
{
    keel__messaging_pool_t p;
    assert_int_equal(keel__messaging_pool_init(&p, 3), 0);
    assert_int_equal(p.nthreads, 0); /* none until there is work */
    uv_mutex_t lock;
    uv_mutex_init(&lock);
    int counter = 0, active = 0, max_active = 0;
    item_t items[10];
    for (int i = 0; i < 10; i++) {
        items[i] = (item_t){
            .work.run = run_item, .counter = &counter, .active = &active, .max_active = &max_active, .lock = &lock, .sleep_ms = 20};
        assert_int_equal(keel__messaging_pool_submit(&p, &items[i].work), 0);
    }
    uv_mutex_lock(&p.lock);
    assert_true(p.nthreads <= 3);
    uv_mutex_unlock(&p.lock);
    keel__messaging_pool_destroy(&p); /* waits for the queue to drain */
    assert_int_equal(counter, 10);
    assert_int_equal(max_active, 3);
    uv_mutex_destroy(&lock);
}

static void test_pool_reuses_an_idle_thread(void **state)
{
    keel__messaging_pool_t p;
    assert_int_equal(keel__messaging_pool_init(&p, 8), 0);
    uv_mutex_t lock;
    uv_mutex_init(&lock);
    int counter = 0, active = 0, max_active = 0;
    item_t items[4];
    for (int i = 0; i < 4; i++) {
        items[i] = (item_t){.work.run = run_item, .counter = &counter, .active = &active, .max_active = &max_active, .lock = &lock};
        assert_int_equal(keel__messaging_pool_submit(&p, &items[i].work), 0);
        /* Let it finish and go idle before the next one comes. */
        for (int spin = 0; spin < 1000; spin++) {
            uv_mutex_lock(&lock);
            bool done = counter == i + 1;
            uv_mutex_unlock(&lock);
            uv_mutex_lock(&p.lock);
            done = done && p.idle == 1;
            uv_mutex_unlock(&p.lock);
            if (done)
                break;
            uv_sleep(1);
        }
    }
    uv_mutex_lock(&p.lock);
    size_t nthreads = p.nthreads;
    uv_mutex_unlock(&p.lock);
    assert_int_equal(nthreads, 1);
    keel__messaging_pool_destroy(&p);
    assert_int_equal(counter, 4);
    uv_mutex_destroy(&lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_everything_with_at_most_max_threads),
        cmocka_unit_test(test_pool_reuses_an_idle_thread),
    };
    return cmocka_run_group_tests_name("messaging/executor.c", tests, NULL, NULL);
}
