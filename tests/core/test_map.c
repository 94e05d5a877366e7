/* Tests for src/core/map.c: the SipHash-keyed hash table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keel/core.h"

static void test_siphash_matches_reference_vector(void **state)
{
    /* SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e */
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(keel_siphash(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg, 15) == 0xa129ca6149be45e5ULL);
}

static void test_map_put_get_replace_remove(void **state)
{
    keel_map_t m;
    keel_map_init(&m);
    int a = 1, b = 2;
    void *old = &a;
    assert_null(keel_map_get(&m, "x", 1));
    assert_int_equal(keel_map_put(&m, "x", 1, &a, &old), 0);
    assert_null(old);
    assert_ptr_equal(keel_map_get(&m, "x", 1), &a);
    assert_int_equal(keel_map_put(&m, "x", 1, &b, &old), 0);
    assert_ptr_equal(old, &a);
    assert_int_equal(m.len, 1);
    /* keys are bytes, not C strings */
    assert_int_equal(keel_map_put(&m, "x\0y", 3, &a, NULL), 0);
    assert_ptr_equal(keel_map_get(&m, "x\0y", 3), &a);
    assert_ptr_equal(keel_map_remove(&m, "x", 1), &b);
    assert_null(keel_map_get(&m, "x", 1));
    assert_null(keel_map_remove(&m, "x", 1));
    assert_int_equal(m.len, 1);
    keel_map_free(&m);
}

/* Random operations checked against a plain array of 512 possible keys. */
static void test_map_agrees_with_reference_under_churn(void **state)
{
    keel_map_t m;
    keel_map_init(&m);
    static char names[512][16];
    static void *ref[512];
    memset(ref, 0, sizeof(ref));
    for (int i = 0; i < 512; i++)
        snprintf(names[i], sizeof(names[i]), "queue.%d", i);
    srand(7);
    for (int step = 0; step < 200000; step++) {
        int k = rand() % 512;
        size_t len = strlen(names[k]);
        if (rand() % 3 == 0) {
            assert_ptr_equal(keel_map_remove(&m, names[k], len), ref[k]);
            ref[k] = NULL;
        } else {
            void *v = (void *)(uintptr_t)(step + 1);
            assert_int_equal(keel_map_put(&m, names[k], len, v, NULL), 0);
            ref[k] = v;
        }
        if (step % 1000 == 0) {
            size_t live = 0;
            for (int i = 0; i < 512; i++) {
                live += ref[i] != NULL;
                assert_ptr_equal(keel_map_get(&m, names[i], strlen(names[i])), ref[i]);
            }
            assert_int_equal(m.len, live);
        }
    }
    size_t pos = 0, seen = 0;
    const void *key;
    size_t len;
    void *value;
    while (keel_map_next(&m, &pos, &key, &len, &value)) {
        seen++;
        int k = atoi((const char *)key + 6);
        assert_ptr_equal(ref[k], value);
    }
    assert_int_equal(seen, m.len);
    keel_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_matches_reference_vector),
        cmocka_unit_test(test_map_put_get_replace_remove),
        cmocka_unit_test(test_map_agrees_with_reference_under_churn),
    };
    return cmocka_run_group_tests_name("core/map.c", tests, NULL, NULL);
}
