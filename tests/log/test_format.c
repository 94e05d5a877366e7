/*
 * Tests for src/log/format.c: compiling Python %-format strings (what is
 * accepted, what is refused and why), rendering values with Python's
 * padding, precision and conversion rules, and repr()/str() of floats,
 * strings and lists. Expected strings were taken from Python 3.11.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log_int.h"

/* A record-like namespace for rendering: a few fixed values by key. */
static const char *const test_roles[] = {"admin", "it's", NULL};

static void lookup(void *data, int key, keel__log_val_t *out)
{
    switch (key) {
    case KEEL__LOG_K_NAME:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_STR, .s = "héllo", .len = strlen("héllo")};
        return;
    case KEEL__LOG_K_LINENO:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_INT, .i = *(int *)data};
        return;
    case KEEL__LOG_K_MSECS:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_FLOAT, .f = 123.0};
        return;
    case KEEL__LOG_K_CREATED:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_FLOAT, .f = 1700000000.25};
        return;
    case KEEL__LOG_K_USER_NAME:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_STRN, .s = NULL};
        return;
    case KEEL__LOG_K_IS_ADMIN:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_BOOL, .i = 1};
        return;
    case KEEL__LOG_K_ROLES:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_LIST, .list = test_roles};
        return;
    default:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_STR, .s = "v", .len = 1};
    }
}

/* Compiles and renders fmt with lineno = n; returns a static copy of the text. */
static const char *render_n(const char *fmt, int n)
{
    static char out[512];
    keel__log_fmt_t f;
    char err[256];
    int rc = keel__log_fmt_compile(&f, fmt, KEEL__LOG_NS_RECORD, err, sizeof(err));
    if (rc != 0)
        fail_msg("compile '%s': %s", fmt, err);
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__log_fmt_render(&f, lookup, &n, &b), 0);
    snprintf(out, sizeof(out), "%s", b.base ? b.base : "");
    keel_buf_free(&b);
    keel__log_fmt_free(&f);
    return out;
}

static const char *render(const char *fmt)
{
    return render_n(fmt, 42);
}

static int compile_error(const char *fmt, keel__log_ns_t ns, char *err, size_t len)
{
    keel__log_fmt_t f;
    int rc = keel__log_fmt_compile(&f, fmt, ns, err, len);
    if (rc == 0)
        keel__log_fmt_free(&f);
    return rc;
}

static void test_fmt_compile_accepts_oslo_defaults(void **state)
{
    const char *defaults[] = {
        ("%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s %(request_id)s "
         "%(user_identity)s] %(instance)s%(message)s"),
        "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(instance)s%(message)s",
        "%(funcName)s %(pathname)s:%(lineno)d",
        "%(asctime)s.%(msecs)03d %(process)d ERROR %(name)s %(instance)s",
    };
    char err[256];
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(compile_error(defaults[i], KEEL__LOG_NS_RECORD, err, sizeof(err)), 0);
    assert_int_equal(compile_error("%(user)s %(project)s %(domain)s %(system_scope)s %(user_domain)s %(project_domain)s",
                                   KEEL__LOG_NS_CONTEXT, err, sizeof(err)),
                     0);
    assert_int_equal(compile_error("[instance: %(uuid)s] ", KEEL__LOG_NS_UUID, err, sizeof(err)), 0);
}

static void test_fmt_compile_rejects_what_python_rejects(void **state)
{
    const char *bad[] = {"%(name)",   "%(name)s %", "%(name", "%(name)y", "%(name)5%",
                         "%(name)*d", "%(name).*s", "%s",     "%d",       "%(a(b)s"};
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(compile_error(bad[i], KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(compile_error("%(name)s %", KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
    assert_non_null(strstr(err, "incomplete format"));
    assert_int_equal(compile_error("%(name)y", KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
    assert_non_null(strstr(err, "unsupported format character 'y'"));
}

static void test_fmt_compile_rejects_unknown_keys_and_type_mismatches(void **state)
{
    char err[256];
    assert_int_equal(compile_error("%(nosuchkey)s", KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
    assert_non_null(strstr(err, "unknown key 'nosuchkey'"));
    assert_int_equal(compile_error("%(name)d", KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
    assert_int_equal(compile_error("%(created)x", KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
    assert_int_equal(compile_error("%(lineno)x %(created)d %(levelno)c", KEEL__LOG_NS_RECORD, err, sizeof(err)), 0);
    /* instance_uuid_format knows only %(uuid)s; the record formats do not know it. */
    assert_int_equal(compile_error("%(name)s", KEEL__LOG_NS_UUID, err, sizeof(err)), KEEL_EVALUE);
    assert_int_equal(compile_error("%(uuid)s", KEEL__LOG_NS_RECORD, err, sizeof(err)), KEEL_EVALUE);
    /* The user identity namespace takes any key (unknown ones print '-'), but not as a number. */
    assert_int_equal(compile_error("%(whatever)s", KEEL__LOG_NS_CONTEXT, err, sizeof(err)), 0);
    assert_int_equal(compile_error("%(whatever)d", KEEL__LOG_NS_CONTEXT, err, sizeof(err)), KEEL_EVALUE);
}

static void test_fmt_compile_records_keys_used(void **state)
{
    keel__log_fmt_t f;
    assert_int_equal(keel__log_fmt_compile(&f, "%(asctime)s %(message)s", KEEL__LOG_NS_RECORD, NULL, 0), 0);
    assert_true(KEEL__LOG_USES(&f, KEEL__LOG_K_ASCTIME));
    assert_true(KEEL__LOG_USES(&f, KEEL__LOG_K_MESSAGE));
    assert_false(KEEL__LOG_USES(&f, KEEL__LOG_K_ISOTIME));
    assert_false(f.has_error_summary_s);
    keel__log_fmt_free(&f);
    assert_int_equal(keel__log_fmt_compile(&f, "x %(error_summary)s", KEEL__LOG_NS_RECORD, NULL, 0), 0);
    assert_true(f.has_error_summary_s);
    keel__log_fmt_free(&f);
}

static void test_fmt_render_literals_and_percent(void **state)
{
    assert_string_equal(render(""), "");
    assert_string_equal(render("plain"), "plain");
    assert_string_equal(render("100%% %(name)s%%"), "100% héllo%");
    assert_string_equal(render("[%(name)s]"), "[héllo]");
}

static void test_fmt_render_strings_pad_by_code_points(void **state)
{
    /* Python: '%-8s|' % 'héllo' == 'héllo   |', '%.2s' % 'héllo' == 'hé', '%05s' ignores 0. */
    assert_string_equal(render("%(name)-8s|"), "héllo   |");
    assert_string_equal(render("%(name)8s|"), "   héllo|");
    assert_string_equal(render("%(name).2s|"), "hé|");
    assert_string_equal(render("%(name)07s|"), "  héllo|");
    assert_string_equal(render("%(name)r"), "'héllo'");
    assert_string_equal(render("%(name)a"), "'h\\xe9llo'");
}

static void test_fmt_render_integers_as_python(void **state)
{
    /* Expected values from Python 3.11 with the same specs. */
    assert_string_equal(render("%(lineno)d|%(lineno)5d|%(lineno)-5d|%(lineno)05d"), "42|   42|42   |00042");
    assert_string_equal(render("%(lineno)+d|%(lineno) d|%(lineno).4d|%(lineno)05.3d"), "+42| 42|0042|00042");
    assert_string_equal(render("%(lineno)x|%(lineno)X|%(lineno)o|%(lineno)#x|%(lineno)#o|%(lineno)#06x"),
                        "2a|2A|52|0x2a|0o52|0x002a");
    assert_string_equal(render_n("%(lineno)x|%(lineno)+05d|%(lineno)d", -255), "-ff|-0255|-255");
    assert_string_equal(render("%(lineno)ld %(lineno)hi %(lineno)Lu"), "42 42 42");
    assert_string_equal(render("%(lineno)c"), "*");
    assert_string_equal(render_n("%(lineno)c", 0xe9), "é");
    assert_string_equal(render("%(lineno)s %(lineno)r"), "42 42");
}

static void test_fmt_render_floats_as_python(void **state)
{
    assert_string_equal(render("%(msecs)03d|%(msecs)d|%(msecs)s|%(msecs)r"), "123|123|123.0|123.0");
    assert_string_equal(render("%(created)f|%(created).1f|%(created)s"), "1700000000.250000|1700000000.2|1700000000.25");
    assert_string_equal(render("%(msecs)e|%(msecs)G|%(msecs)+08.2f|%(msecs)-9.1f|"), "1.230000e+02|123|+0123.00|123.0    |");
    assert_string_equal(render("%(lineno)f %(lineno)g"), "42.000000 42");
}

static void test_fmt_render_none_bool_and_list(void **state)
{
    assert_string_equal(render("%(user_name)s %(user_name)r %(user_name)5s|"), "None None  None|");
    assert_string_equal(render("%(is_admin)s %(is_admin)d %(is_admin)r"), "True 1 True");
    assert_string_equal(render("%(roles)s"), "['admin', \"it's\"]");
}

static void ctx_lookup(void *data, int key, keel__log_val_t *out)
{
    keel__log_context_lookup(data, key, out);
}

static void test_fmt_render_context_namespace_replaces_falsy_values(void **state)
{
    static const char *const roles[] = {"r1", NULL};
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.user_id = "u";
    c.project_id = "";
    c.roles = roles;
    keel__log_fmt_t f;
    assert_int_equal(keel__log_fmt_compile(&f,
                                           "%(user)s %(project)s %(domain)s %(is_admin)s %(is_admin_project)s %(roles)s "
                                           "%(nope)s %(name)s",
                                           KEEL__LOG_NS_CONTEXT, NULL, 0),
                     0);
    keel_buf_t b;
    keel_buf_init(&b);
    /* Compiled for NS_CONTEXT, so the render applies _ReplaceFalseValue: None, "", False and [] print "-". */
    assert_int_equal(keel__log_fmt_render(&f, ctx_lookup, &c, &b), 0);
    assert_string_equal(b.base, "u - - - True ['r1'] - -");
    keel_buf_free(&b);
    keel__log_fmt_free(&f);
}

static const char *repr_of(double d)
{
    static char out[64];
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__log_float_repr(d, &b), 0);
    snprintf(out, sizeof(out), "%s", b.base);
    keel_buf_free(&b);
    return out;
}

static void test_float_repr_matches_python(void **state)
{
    assert_string_equal(repr_of(0.0), "0.0");
    assert_string_equal(repr_of(-0.0), "-0.0");
    assert_string_equal(repr_of(1.0), "1.0");
    assert_string_equal(repr_of(0.1), "0.1");
    assert_string_equal(repr_of(1.0 / 3), "0.3333333333333333");
    assert_string_equal(repr_of(1e16), "1e+16");
    assert_string_equal(repr_of(1234567890123456.0), "1234567890123456.0");
    assert_string_equal(repr_of(0.0001), "0.0001");
    assert_string_equal(repr_of(0.00001), "1e-05");
    assert_string_equal(repr_of(1.5e300), "1.5e+300");
    assert_string_equal(repr_of(-2.5e-300), "-2.5e-300");
    assert_string_equal(repr_of(1700000000.123), "1700000000.123");
    assert_string_equal(repr_of(NAN), "nan");
    assert_string_equal(repr_of(-INFINITY), "-inf");
}

static const char *str_repr(const char *s, bool ascii_only)
{
    static char out[128];
    keel_buf_t b;
    keel_buf_init(&b);
    assert_int_equal(keel__log_str_repr(s, strlen(s), ascii_only, &b), 0);
    snprintf(out, sizeof(out), "%s", b.base);
    keel_buf_free(&b);
    return out;
}

static void test_str_repr_matches_python(void **state)
{
    assert_string_equal(str_repr("abc", false), "'abc'");
    assert_string_equal(str_repr("it's", false), "\"it's\"");
    assert_string_equal(str_repr("a'b\"c", false), "'a\\'b\"c'");
    assert_string_equal(str_repr("t\tn\nr\r\\", false), "'t\\tn\\nr\\r\\\\'");
    assert_string_equal(str_repr("\x01\x7f", false), "'\\x01\\x7f'");
    assert_string_equal(str_repr("é\xc2\x85\xc2\xad☃", false), "'é\\x85\\xad☃'");
    assert_string_equal(str_repr("é☃\xf0\x9f\x98\x80", true), "'\\xe9\\u2603\\U0001f600'");
    /* A byte that is not UTF-8 shows as Python's surrogateescape would. */
    assert_string_equal(str_repr("a\xff", false), "'a\\udcff'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_compile_accepts_oslo_defaults),
        cmocka_unit_test(test_fmt_compile_rejects_what_python_rejects),
        cmocka_unit_test(test_fmt_compile_rejects_unknown_keys_and_type_mismatches),
        cmocka_unit_test(test_fmt_compile_records_keys_used),
        cmocka_unit_test(test_fmt_render_literals_and_percent),
        cmocka_unit_test(test_fmt_render_strings_pad_by_code_points),
        cmocka_unit_test(test_fmt_render_integers_as_python),
        cmocka_unit_test(test_fmt_render_floats_as_python),
        cmocka_unit_test(test_fmt_render_none_bool_and_list),
        cmocka_unit_test(test_fmt_render_context_namespace_replaces_falsy_values),
        cmocka_unit_test(test_float_repr_matches_python),
        cmocka_unit_test(test_str_repr_matches_python),
    };
    return cmocka_run_group_tests_name("log/format.c", tests, NULL, NULL);
}
