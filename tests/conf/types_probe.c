/*
 * types_probe.c — runs keel__conf_convert over JSON lines from stdin, one
 * conversion per line, for tests/interop/conf_types_diff.py to compare with
 * oslo_config.types. Input:
 *
 *   {"type":"list","item_type":"int","min":1,"max":10,"choices":[1,2],
 *    "bounds":true,"ip_version":4,"schemes":["http"],"max_length":5,
 *    "regex":"^a","ignore_case":true,"quotes":true,"text":"..."}
 *
 * (every key but type and text optional). Output, one line per input:
 *
 *   {"ok":true,"value":<keel_conf_value_to_json>,"json":"<same, as text>",
 *    "pystr":"<keel_conf_value_to_pystr>"}
 *   {"ok":false,"why":"<reason>"}          text rejected (KEEL_EVALUE)
 *   {"ok":false,"error":"ENOMEM","why":""}  anything else
 *
 * The value is also given as text so the script can compare the exact
 * bytes with json.dumps(); keel writes NaN/Infinity as Python does, which
 * Python's json.loads reads back.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/conf.h"
#include "types.h"

/* Strings the row points at, owned by the probe for one line. */
typedef struct {
    char *items[64];
    size_t n;
} strings_t;

static const char *keep(strings_t *st, const char *s)
{
    if (st->n == sizeof(st->items) / sizeof(st->items[0]))
        return NULL;
    st->items[st->n] = strdup(s);
    return st->items[st->n++];
}

/* A JSON array of strings or integers as a NULL-terminated C array. */
static const char *const *string_list(strings_t *st, json_t *arr, const char **slots, size_t cap)
{
    size_t i, k = 0;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char num[32];
        const char *s = NULL;
        if (json_is_string(v)) {
            s = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            s = num;
        }
        if (s != NULL && k + 1 < cap)
            slots[k++] = keep(st, s);
    }
    slots[k] = NULL;
    return slots;
}

static void print_string_field(const char *key, const char *s, size_t len)
{
    json_t *j = json_stringn_nocheck(s, len);
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    printf(",\"%s\":%s", key, text ? text : "\"\"");
    free(text);
    json_decref(j);
}

static void probe_line(const char *line)
{
    json_error_t err;
    json_t *in = json_loads(line, JSON_ALLOW_NUL, &err);
    if (!json_is_object(in)) {
        printf("{\"ok\":false,\"error\":\"bad input line\",\"why\":\"\"}\n");
        json_decref(in);
        return;
    }
    strings_t st = {.n = 0};
    const char *choices[64], *schemes[64];
    keel_conf_opt_t opt = {.name = "probe"};
    keel_conf_type_t type = KEEL_CONF_STRING;
    json_t *v;
    if ((v = json_object_get(in, "type")) && keel_conf_type_from_name(json_string_value(v), &type) != 0)
        type = KEEL_CONF_TYPE_COUNT_;
    if ((v = json_object_get(in, "item_type")) && keel_conf_type_from_name(json_string_value(v), &opt.item_type) != 0)
        opt.item_type = KEEL_CONF_TYPE_COUNT_;
    if ((v = json_object_get(in, "min")) && json_is_number(v)) {
        opt.min = json_number_value(v);
        opt.flags |= KEEL_CONF_HAS_MIN;
    }
    if ((v = json_object_get(in, "max")) && json_is_number(v)) {
        opt.max = json_number_value(v);
        opt.flags |= KEEL_CONF_HAS_MAX;
    }
    if ((v = json_object_get(in, "choices")) && json_is_array(v))
        opt.choices = string_list(&st, v, choices, 64);
    if ((v = json_object_get(in, "schemes")) && json_is_array(v))
        opt.schemes = string_list(&st, v, schemes, 64);
    if ((v = json_object_get(in, "regex")) && json_is_string(v))
        opt.regex = keep(&st, json_string_value(v));
    if ((v = json_object_get(in, "max_length")) && json_is_integer(v))
        opt.max_length = (size_t)json_integer_value(v);
    if ((v = json_object_get(in, "ip_version")) && json_is_integer(v))
        opt.ip_version = (int)json_integer_value(v);
    if (json_is_true(json_object_get(in, "bounds")))
        opt.flags |= KEEL_CONF_BOUNDS;
    if (json_is_true(json_object_get(in, "ignore_case")))
        opt.flags |= KEEL_CONF_IGNORE_CASE;
    if (json_is_true(json_object_get(in, "quotes")))
        opt.flags |= KEEL_CONF_QUOTES;
    json_t *text = json_object_get(in, "text");

    keel_buf_t why, out;
    keel_buf_init(&why);
    keel_buf_init(&out);
    keel_conf_value_t value;
    int rc = keel__conf_convert(&opt, type, json_string_value(text), json_string_length(text), &value, &why);
    if (rc == 0) {
        int jrc = keel_conf_value_to_json(&value, &out);
        printf("{\"ok\":true,\"value\":%s", jrc == 0 ? out.base ? out.base : "" : "null");
        print_string_field("json", out.base ? out.base : "", out.len);
        keel_buf_reset(&out);
        jrc = keel_conf_value_to_pystr(&value, &out);
        print_string_field("pystr", jrc == 0 && out.base ? out.base : "", jrc == 0 ? out.len : 0);
        printf("}\n");
    } else {
        printf("{\"ok\":false");
        if (rc != KEEL_EVALUE)
            printf(",\"error\":\"%s\"", keel_err_name(rc));
        print_string_field("why", why.base ? why.base : "", why.len);
        printf("}\n");
    }
    keel__conf_value_clear(&value);
    keel_buf_free(&why);
    keel_buf_free(&out);
    for (size_t i = 0; i < st.n; i++)
        free(st.items[i]);
    json_decref(in);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0)
        probe_line(line);
    free(line);
    return fflush(stdout) == 0 ? 0 : 1;
}
