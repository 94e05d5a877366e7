/* Tests for src/broker/topic.c: topic routing against a word-by-word reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/broker/topic.h"

typedef struct {
    void *seen[64];
    int n;
} hits_t;

static int collect(void *data, void *dest)
{
    hits_t *h = data;
    for (int i = 0; i < h->n; i++)
        if (h->seen[i] == dest)
            return 0;
    h->seen[h->n++] = dest;
    return 0;
}

static bool hit(keel__topic_t *t, const char *rkey, void *dest)
{
    hits_t h = {.n = 0};
    assert_int_equal(keel__topic_match(t, rkey, strlen(rkey), collect, &h), 0);
    for (int i = 0; i < h.n; i++)
        if (h.seen[i] == dest)
            return true;
    return false;
}

static void test_topic_star_matches_exactly_one_word(void **state)
{
    keel__topic_t t;
    keel__topic_init(&t);
    int q;
    assert_int_equal(keel__topic_bind(&t, "a.*.c", 5, &q), 0);
    assert_true(hit(&t, "a.b.c", &q));
    assert_true(hit(&t, "a..c", &q));
    assert_false(hit(&t, "a.c", &q));
    assert_false(hit(&t, "a.b.b.c", &q));
    keel__topic_free(&t);
}

static void test_topic_hash_matches_zero_or_more_words(void **state)
{
    keel__topic_t t;
    keel__topic_init(&t);
    int q1, q2, q3;
    assert_int_equal(keel__topic_bind(&t, "a.#", 3, &q1), 0);
    assert_int_equal(keel__topic_bind(&t, "#", 1, &q2), 0);
    assert_int_equal(keel__topic_bind(&t, "#.z.#", 5, &q3), 0);
    assert_true(hit(&t, "a", &q1));
    assert_true(hit(&t, "a.b.c", &q1));
    assert_false(hit(&t, "b.a", &q1));
    assert_true(hit(&t, "", &q2));
    assert_true(hit(&t, "anything.at.all", &q2));
    assert_true(hit(&t, "z", &q3));
    assert_true(hit(&t, "x.z.y", &q3));
    assert_false(hit(&t, "x.zz.y", &q3));
    keel__topic_free(&t);
}

static void test_topic_empty_words_are_words_but_empty_key_is_none(void **state)
{
    keel__topic_t t;
    keel__topic_init(&t);
    int q, e, h;
    assert_int_equal(keel__topic_bind(&t, "*", 1, &q), 0);
    assert_int_equal(keel__topic_bind(&t, "", 0, &e), 0);
    assert_int_equal(keel__topic_bind(&t, "#", 1, &h), 0);
    assert_false(hit(&t, "", &q)); /* RabbitMQ: "" has no words for '*' to take */
    assert_true(hit(&t, "", &e));
    assert_true(hit(&t, "", &h));
    assert_false(hit(&t, "a", &e));
    assert_true(hit(&t, ".", &h));
    assert_false(hit(&t, ".", &q)); /* two empty words */
    keel__topic_free(&t);
}

static void test_topic_unbind_prunes_and_reports_missing(void **state)
{
    keel__topic_t t;
    keel__topic_init(&t);
    int q1, q2;
    assert_int_equal(keel__topic_bind(&t, "a.b", 3, &q1), 0);
    assert_int_equal(keel__topic_bind(&t, "a.b", 3, &q1), 0); /* same pair: no-op */
    assert_int_equal(keel__topic_bind(&t, "a.b", 3, &q2), 0);
    assert_int_equal(t.bindings, 2);
    assert_int_equal(keel__topic_unbind(&t, "a.b", 3, &q1), 0);
    assert_false(hit(&t, "a.b", &q1));
    assert_true(hit(&t, "a.b", &q2));
    assert_int_equal(keel__topic_unbind(&t, "a.b", 3, &q1), KEEL_ENOENT);
    assert_int_equal(keel__topic_unbind(&t, "a.b", 3, &q2), 0);
    assert_null(t.root);
    keel__topic_free(&t);
}

/* Reference: match binding words against routing words recursively. */
static bool ref_match(char **b, int nb, char **r, int nr)
{
    if (nb == 0)
        return nr == 0;
    if (strcmp(b[0], "#") == 0) {
        for (int k = 0; k <= nr; k++)
            if (ref_match(b + 1, nb - 1, r + k, nr - k))
                return true;
        return false;
    }
    if (nr == 0)
        return false;
    if (strcmp(b[0], "*") == 0 || strcmp(b[0], r[0]) == 0)
        return ref_match(b + 1, nb - 1, r + 1, nr - 1);
    return false;
}

static int split(char *s, char **words)
{
    int n = 0;
    if (*s == '\0')
        return 0;
    words[n++] = s;
    for (char *p = s; *p; p++)
        if (*p == '.') {
            *p = '\0';
            words[n++] = p + 1;
        }
    return n;
}

static void random_key(char *out, bool pattern)
{
    static const char *vocab[] = {"a", "b", "c", "", "*", "#"};
    int n = 1 + rand() % 4;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, ".");
        strcat(out, vocab[rand() % (pattern ? 6 : 4)]);
    }
}

static void test_topic_agrees_with_reference_matcher(void **state)
{
    srand(11);
    for (int round = 0; round < 200; round++) {
        keel__topic_t t;
        keel__topic_init(&t);
        char keys[16][64];
        int dests[16];
        for (int i = 0; i < 16; i++) {
            random_key(keys[i], true);
            assert_int_equal(keel__topic_bind(&t, keys[i], strlen(keys[i]), &dests[i]), 0);
        }
        for (int probe = 0; probe < 50; probe++) {
            char rkey[64], rcopy[64];
            random_key(rkey, false);
            hits_t h = {.n = 0};
            assert_int_equal(keel__topic_match(&t, rkey, strlen(rkey), collect, &h), 0);
            for (int i = 0; i < 16; i++) {
                char bcopy[64];
                char *bw[16], *rw[16];
                strcpy(bcopy, keys[i]);
                strcpy(rcopy, rkey);
                int nb = split(bcopy, bw), nr = split(rcopy, rw);
                bool want = ref_match(bw, nb, rw, nr);
                bool got = false;
                for (int k = 0; k < h.n; k++)
                    got = got || h.seen[k] == &dests[i];
                /* a dest bound under several keys may be hit through another */
                bool other = false;
                for (int j = 0; j < 16; j++)
                    other = other || (j != i && &dests[j] == &dests[i]);
                if (!other && want != got)
                    fail_msg("binding '%s' vs key '%s': want %d got %d", keys[i], rkey, want, got);
            }
        }
        keel__topic_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_star_matches_exactly_one_word), cmocka_unit_test(test_topic_hash_matches_zero_or_more_words),
        cmocka_unit_test(test_topic_empty_words_are_words_but_empty_key_is_none),         cmocka_unit_test(test_topic_unbind_prunes_and_reports_missing),
        cmocka_unit_test(test_topic_agrees_with_reference_matcher),
    };
    return cmocka_run_group_tests_name("broker/topic.c", tests, NULL, NULL);
}
