/* Tests for src/broker/store_mem.c (and msg.c): ordered ring-buffer queue store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/broker/store.h"

static keel__qentry_t entry(uint64_t seq)
{
    keel__msg_t *m = keel__msg_new("x", 1, "rk", 2, NULL, 0, 10);
    assert_non_null(m);
    return (keel__qentry_t){.msg = m, .seq = seq, .expires_at = INT64_MAX};
}

static void test_store_pops_in_push_order(void **state)
{
    keel__store_t *s = keel__store_mem_new();
    for (uint64_t i = 1; i <= 100; i++) {
        keel__qentry_t e = entry(i);
        assert_int_equal(s->ops->push(s, &e), 0);
    }
    assert_int_equal(s->ops->count(s), 100);
    assert_int_equal(s->ops->bytes(s), 1000);
    for (uint64_t i = 1; i <= 100; i++) {
        keel__qentry_t e;
        assert_int_equal(s->ops->head(s)->seq, i);
        s->ops->pop(s, &e);
        assert_int_equal(e.seq, i);
        keel__msg_unref(e.msg);
    }
    assert_null(s->ops->head(s));
    s->ops->destroy(s);
}

static void test_store_requeue_returns_to_original_position(void **state)
{
    keel__store_t *s = keel__store_mem_new();
    srand(3);
    /* Take messages out in a random pattern and put them back: the order
     * must always be the sequence order. */
    for (uint64_t i = 1; i <= 64; i++) {
        keel__qentry_t e = entry(i);
        assert_int_equal(s->ops->push(s, &e), 0);
    }
    uint64_t next = 65;
    for (int round = 0; round < 2000; round++) {
        keel__qentry_t out[8];
        int n = 0, want = rand() % 8;
        while (n < want && s->ops->count(s) > 0)
            s->ops->pop(s, &out[n++]);
        if (rand() % 2) {
            keel__qentry_t e = entry(next++);
            assert_int_equal(s->ops->push(s, &e), 0);
        }
        for (int k = n - 1; k >= 0; k--) /* returned in reverse order */
            assert_int_equal(s->ops->requeue(s, &out[k]), 0);
        /* check ascending */
        static keel__qentry_t drained[4096];
        size_t m = 0;
        while (s->ops->count(s) > 0)
            s->ops->pop(s, &drained[m++]);
        for (size_t k = 1; k < m; k++)
            assert_true(drained[k - 1].seq < drained[k].seq);
        for (size_t k = 0; k < m; k++)
            assert_int_equal(s->ops->requeue(s, &drained[k]), 0);
    }
    s->ops->destroy(s);
}

static void test_msg_block_holds_routing_props_and_body(void **state)
{
    const uint8_t props[] = {0x80, 0x00, 0x03, 'a', 'b', 'c'};
    keel__msg_t *m = keel__msg_new("amq.topic", 9, "a.b", 3, props, sizeof(props), 5);
    assert_non_null(m);
    assert_memory_equal(m->exchange, "amq.topic", 9);
    assert_memory_equal(m->rkey, "a.b", 3);
    assert_memory_equal(m->props, props, sizeof(props));
    memcpy(m->body, "hello", 5);
    keel__msg_ref(m);
    keel__msg_unref(m);
    assert_int_equal(m->refs, 1);
    keel__msg_unref(m);
    assert_null(keel__msg_new("x", 300, "", 0, NULL, 0, 0)); /* names are shortstr */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_pops_in_push_order),
        cmocka_unit_test(test_store_requeue_returns_to_original_position),
        cmocka_unit_test(test_msg_block_holds_routing_props_and_body),
    };
    return cmocka_run_group_tests_name("broker/store_mem.c", tests, NULL, NULL);
}
