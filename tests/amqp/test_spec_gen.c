/* Tests for src/amqp/spec_gen.c, the code generated from spec.json: its
 * metadata is consistent, and every method and property encodes to the
 * size its field types say and decodes back to what was encoded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "amqp_testlib.h"

/* Wire octets of a field by type, strings and tables counted by length. */
static size_t field_size(const keel_amqp_field_info_t *f, const char *base)
{
    const char *p = base + f->offset;
    switch (f->type) {
    case KEEL_AMQP_TYPE_OCTET:
        return 1;
    case KEEL_AMQP_TYPE_SHORT:
        return 2;
    case KEEL_AMQP_TYPE_LONG:
        return 4;
    case KEEL_AMQP_TYPE_LONGLONG:
    case KEEL_AMQP_TYPE_TIMESTAMP:
        return 8;
    case KEEL_AMQP_TYPE_SHORTSTR:
        return 1 + ((const keel_amqp_str_t *)p)->len;
    case KEEL_AMQP_TYPE_LONGSTR:
        return 4 + ((const keel_amqp_str_t *)p)->len;
    case KEEL_AMQP_TYPE_TABLE:
        return 4 + ((const keel_amqp_table_t *)p)->len;
    default:
        return 0; /* bits are counted by group */
    }
}

static void test_method_table_is_sorted_unique_and_named(void **state)
{
    size_t content = 0, rabbitmq = 0;
    for (size_t i = 0; i < KEEL_AMQP_METHOD_COUNT; i++) {
        const keel_amqp_method_info_t *m = &keel__amqp_method_table[i];
        if (i > 0)
            assert_true(keel__amqp_method_table[i - 1].id < m->id);
        assert_ptr_equal(keel_amqp_method_info(m->id), m);
        assert_non_null(strchr(m->name, '.'));
        assert_true((m->flags & KEEL_AMQP_METHOD_SYNC) ? m->nreplies > 0 : m->nreplies == 0);
        assert_true(m->flags & (KEEL_AMQP_METHOD_TO_SERVER | KEEL_AMQP_METHOD_TO_CLIENT));
        for (size_t r = 0; r < m->nreplies; r++) {
            const keel_amqp_method_info_t *reply = keel_amqp_method_info(m->replies[r]);
            assert_non_null(reply);
            assert_int_equal(reply->id >> 16, m->id >> 16);
        }
        content += (m->flags & KEEL_AMQP_METHOD_CONTENT) != 0;
        rabbitmq += (m->flags & KEEL_AMQP_METHOD_RABBITMQ) != 0;
    }
    assert_int_equal(KEEL_AMQP_METHOD_COUNT, 66);
    assert_int_equal(content, 4); /* publish, return, deliver, get-ok */
    /* nack, exchange.bind/-ok, unbind/-ok, confirm.select/-ok, blocked,
     * unblocked, update-secret/-ok */
    assert_int_equal(rabbitmq, 11);
}

static void test_field_offsets_lie_inside_the_union(void **state)
{
    keel_amqp_method_t m;
    size_t room = sizeof(m) - offsetof(keel_amqp_method_t, basic_publish);
    for (size_t i = 0; i < KEEL_AMQP_METHOD_COUNT; i++) {
        const keel_amqp_method_info_t *info = &keel__amqp_method_table[i];
        for (size_t f = 0; f < info->nfields; f++) {
            assert_true(info->fields[f].offset < room);
            assert_true(info->fields[f].type >= KEEL_AMQP_TYPE_OCTET && info->fields[f].type <= KEEL_AMQP_TYPE_TABLE);
            assert_int_equal(info->fields[f].flag, 0);
        }
    }
    const keel_amqp_field_info_t *p = keel_amqp_properties_info();
    for (size_t i = 0; i < KEEL_AMQP_PROP_COUNT; i++)
        assert_int_equal(p[i].flag, 1u << (15 - i));
    assert_string_equal(p[2].name, "headers");
    assert_string_equal(p[13].name, "cluster-id");
}

static void test_every_method_encodes_to_its_field_sizes_and_back(void **state)
{
    tl_rng_t rng = {42};
    tl_scratch_t s;
    tl_scratch_init(&s);
    keel_buf_t b;
    keel_buf_init(&b);
    for (size_t i = 0; i < KEEL_AMQP_METHOD_COUNT; i++) {
        const keel_amqp_method_info_t *info = &keel__amqp_method_table[i];
        for (int round = 0; round < 20; round++) {
            keel_amqp_method_t m = {.id = info->id};
            size_t nstr = 0, want = 4;
            bool in_bits = false;
            unsigned bits = 0;
            for (size_t f = 0; f < info->nfields; f++) {
                tl_field_random(&rng, &info->fields[f], TL_FIELDS(&m), &s, &nstr, !(info->flags & KEEL_AMQP_METHOD_CONTENT));
                if (info->fields[f].type == KEEL_AMQP_TYPE_BIT) {
                    if (!in_bits || bits == 8)
                        want++, bits = 0;
                    in_bits = true, bits++;
                } else {
                    in_bits = false;
                    want += field_size(&info->fields[f], TL_FIELDS(&m));
                }
            }
            keel_buf_reset(&b);
            assert_int_equal(keel_amqp_method_encode(&b, 1, &m), 0);
            assert_int_equal(b.len, want + 8);
            keel_amqp_method_t back;
            assert_int_equal(keel_amqp_method_decode((const uint8_t *)b.base + 7, want, &back, NULL), 0);
            assert_true(tl_method_equal(&m, &back));
            tl_scratch_reset(&s);
        }
    }
    tl_scratch_free(&s);
    keel_buf_free(&b);
}

static void test_every_property_encodes_alone_and_back(void **state)
{
    tl_rng_t rng = {7};
    tl_scratch_t s;
    tl_scratch_init(&s);
    keel_buf_t b;
    keel_buf_init(&b);
    const keel_amqp_field_info_t *info = keel_amqp_properties_info();
    for (size_t i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        keel_amqp_properties_t p = {.flags = info[i].flag};
        size_t nstr = 0;
        tl_field_random(&rng, &info[i], (char *)&p, &s, &nstr, false);
        keel_buf_reset(&b);
        assert_int_equal(keel_amqp_header_encode(&b, 1, 0, &p), 0);
        assert_int_equal(b.len, 8 + 14 + field_size(&info[i], (const char *)&p));
        keel_amqp_header_t h;
        assert_int_equal(keel_amqp_header_decode((const uint8_t *)b.base + 7, b.len - 8, &h, NULL), 0);
        assert_true(tl_props_equal(&p, &h.props));
        tl_scratch_reset(&s);
    }
    tl_scratch_free(&s);
    keel_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_table_is_sorted_unique_and_named),
        cmocka_unit_test(test_field_offsets_lie_inside_the_union),
        cmocka_unit_test(test_every_method_encodes_to_its_field_sizes_and_back),
        cmocka_unit_test(test_every_property_encodes_alone_and_back),
    };
    return cmocka_run_group_tests_name("amqp/spec_gen.c", tests, NULL, NULL);
}
