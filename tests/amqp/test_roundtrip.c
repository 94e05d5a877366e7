/* Round-trip property test of the whole codec: random valid methods,
 * content (header and body frames) and field tables from a seeded PRNG are
 * encoded, parsed back out of the byte stream, decoded, compared deeply with
 * what was generated, and re-encoded to the identical bytes.
 *
 * The seed is printed; KEEL_AMQP_SEED=<n> replays a run and
 * KEEL_AMQP_ROUNDS=<n> changes how many iterations each test does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "amqp_testlib.h"

static uint64_t seed = 20240601;
static unsigned rounds = 10000;

static void check_bytes_equal(const keel_buf_t *a, const keel_buf_t *b, const char *what, unsigned i)
{
    if (a->len != b->len || memcmp(a->base, b->base, a->len) != 0) {
        fprintf(stderr, "%s: round %u (seed %llu): re-encoding differs\n", what, i, (unsigned long long)seed);
        fail();
    }
}

static void test_roundtrip_methods(void **state)
{
    tl_rng_t rng = {seed};
    tl_scratch_t s;
    tl_scratch_init(&s);
    keel_buf_t wire, again;
    keel_buf_init(&wire);
    keel_buf_init(&again);
    for (unsigned i = 0; i < rounds; i++) {
        keel_amqp_method_t m;
        tl_method_random(&rng, &m, &s);
        uint16_t channel = (uint16_t)tl_next(&rng);
        keel_buf_reset(&wire);
        assert_int_equal(keel_amqp_method_encode(&wire, channel, &m), 0);

        keel_amqp_frame_t f;
        size_t used;
        assert_int_equal(keel_amqp_frame_parse((const uint8_t *)wire.base, wire.len, 0, &f, &used, NULL), 0);
        assert_int_equal(used, wire.len);
        assert_int_equal(f.type, KEEL_AMQP_FRAME_METHOD);
        assert_int_equal(f.channel, channel);
        keel_amqp_method_t back;
        keel_amqp_error_t err = {0};
        if (keel_amqp_method_decode(f.payload, f.size, &back, &err) != 0) {
            fprintf(stderr, "round %u (seed %llu): %s: %s\n", i, (unsigned long long)seed, keel_amqp_method_name(m.id), err.text);
            fail();
        }
        if (!tl_method_equal(&m, &back)) {
            fprintf(stderr, "round %u (seed %llu): %s decoded differently\n", i, (unsigned long long)seed,
                    keel_amqp_method_name(m.id));
            fail();
        }
        /* Tables: deep, value by value, against the generating tree. */
        const keel_amqp_method_info_t *info = keel_amqp_method_info(m.id);
        size_t t = 0;
        for (size_t k = 0; k < info->nfields; k++) {
            if (info->fields[k].type != KEEL_AMQP_TYPE_TABLE)
                continue;
            const keel_amqp_table_t *tab = (const keel_amqp_table_t *)(TL_CFIELDS(&back) + info->fields[k].offset);
            assert_true(tl_tree_equal(&s.trees[t++], tab->base, tab->len, false));
        }
        keel_buf_reset(&again);
        assert_int_equal(keel_amqp_method_encode(&again, channel, &back), 0);
        check_bytes_equal(&wire, &again, "methods", i);
        tl_scratch_reset(&s);
    }
    tl_scratch_free(&s);
    keel_buf_free(&wire);
    keel_buf_free(&again);
}

static void test_roundtrip_content(void **state)
{
    tl_rng_t rng = {seed ^ 0x5555};
    tl_scratch_t s;
    tl_scratch_init(&s);
    keel_buf_t wire, again, body;
    keel_buf_init(&wire);
    keel_buf_init(&again);
    keel_buf_init(&body);
    for (unsigned i = 0; i < rounds; i++) {
        keel_amqp_properties_t p;
        tl_props_random(&rng, &p, &s);
        size_t len = tl_below(&rng, 4) == 0 ? 0 : tl_below(&rng, 20000);
        keel_buf_reset(&body);
        assert_int_equal(keel_buf_reserve(&body, len), 0);
        for (size_t k = 0; k < len; k++)
            body.base[k] = (char)tl_next(&rng);
        body.len = len;
        uint32_t frame_max = tl_below(&rng, 3) == 0 ? 0 : 9 + tl_below(&rng, 9000);
        uint16_t channel = 1 + (uint16_t)tl_below(&rng, 65535);
        keel_buf_reset(&wire);
        assert_int_equal(keel_amqp_content_encode(&wire, channel, frame_max, &p, body.base, len), 0);

        const uint8_t *at = (const uint8_t *)wire.base;
        size_t left = wire.len, used, got = 0;
        keel_amqp_frame_t f;
        assert_int_equal(keel_amqp_frame_parse(at, left, 0, &f, &used, NULL), 0);
        assert_int_equal(f.type, KEEL_AMQP_FRAME_HEADER);
        keel_amqp_header_t h;
        assert_int_equal(keel_amqp_header_decode(f.payload, f.size, &h, NULL), 0);
        assert_int_equal(h.body_size, len);
        if (!tl_props_equal(&p, &h.props)) {
            fprintf(stderr, "round %u (seed %llu): properties decoded differently\n", i, (unsigned long long)seed);
            fail();
        }
        if (p.flags & KEEL_AMQP_PROP_HEADERS)
            assert_true(tl_tree_equal(&s.trees[0], h.props.headers.base, h.props.headers.len, false));
        keel_buf_reset(&again);
        assert_int_equal(keel_amqp_header_encode(&again, channel, h.body_size, &h.props), 0);
        assert_int_equal(again.len, used);
        assert_memory_equal(again.base, at, used);
        at += used, left -= used;
        while (left) {
            assert_int_equal(keel_amqp_frame_parse(at, left, frame_max, &f, &used, NULL), 0);
            assert_int_equal(f.type, KEEL_AMQP_FRAME_BODY);
            assert_int_equal(f.channel, channel);
            assert_true(f.size > 0 && got + f.size <= len);
            assert_memory_equal(f.payload, body.base + got, f.size);
            got += f.size;
            at += used, left -= used;
        }
        assert_int_equal(got, len);
        tl_scratch_reset(&s);
    }
    tl_scratch_free(&s);
    keel_buf_free(&wire);
    keel_buf_free(&again);
    keel_buf_free(&body);
}

/* Rebuilds a decoded table value by value from the iterator: the builder
 * fed with what the iterator yields must write the same octets. */
static void rebuild(keel_amqp_builder_t *b, const uint8_t *base, size_t len, bool array)
{
    keel_amqp_iter_t it;
    keel_amqp_str_t k;
    keel_amqp_value_t v;
    if (array)
        keel_amqp_array_iter(&it, (keel_amqp_array_t){base, len});
    else
        keel_amqp_table_iter(&it, (keel_amqp_table_t){base, len});
    while (keel_amqp_iter_next(&it, &k, &v)) {
        if (v.type == 'F' || v.type == 'A') {
            assert_int_equal(keel_amqp_build_begin(b, k, v.type), 0);
            rebuild(b, v.table.base, v.table.len, v.type == 'A');
            assert_int_equal(keel_amqp_build_end(b), 0);
        } else {
            assert_int_equal(keel_amqp_build_put(b, k, &v), 0);
        }
    }
}

static void test_roundtrip_tables(void **state)
{
    tl_rng_t rng = {seed ^ 0xAAAA};
    keel_buf_t wire, again;
    keel_buf_init(&wire);
    keel_buf_init(&again);
    for (unsigned i = 0; i < rounds; i++) {
        tl_node_t root;
        keel_buf_reset(&wire);
        /* Length-prefixed, as a method field carries it. */
        assert_int_equal(keel_buf_append(&wire, "\0\0\0\0", 4), 0);
        unsigned depth = tl_below(&rng, 8) == 0 ? KEEL_AMQP_MAX_DEPTH : 6;
        keel_amqp_table_t t = tl_table_random(&rng, &root, &wire, depth);
        keel__wr_u32((uint8_t *)wire.base, (uint32_t)t.len);
        keel_amqp_table_t back;
        size_t used;
        keel_amqp_error_t err = {0};
        if (keel_amqp_table_parse((const uint8_t *)wire.base, wire.len, &back, &used, &err) != 0) {
            fprintf(stderr, "round %u (seed %llu): %s\n", i, (unsigned long long)seed, err.text);
            fail();
        }
        assert_int_equal(used, wire.len);
        assert_true(tl_tree_equal(&root, back.base, back.len, false));
        keel_buf_reset(&again);
        keel_amqp_builder_t b;
        keel_amqp_builder_init(&b, &again);
        rebuild(&b, back.base, back.len, false);
        keel_amqp_table_t re;
        assert_int_equal(keel_amqp_builder_finish(&b, &re), 0);
        assert_int_equal(re.len, back.len);
        assert_memory_equal(re.base, back.base, re.len);
        tl_node_free(&root);
    }
    keel_buf_free(&wire);
    keel_buf_free(&again);
}

int main(void)
{
    const char *env = getenv("KEEL_AMQP_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 10);
    env = getenv("KEEL_AMQP_ROUNDS");
    if (env && *env)
        rounds = (unsigned)strtoul(env, NULL, 10);
    printf("amqp round-trip: seed %llu, %u rounds per test\n", (unsigned long long)seed, rounds);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_methods),
        cmocka_unit_test(test_roundtrip_content),
        cmocka_unit_test(test_roundtrip_tables),
    };
    return cmocka_run_group_tests_name("amqp/roundtrip", tests, NULL, NULL);
}
