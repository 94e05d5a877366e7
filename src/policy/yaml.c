/*
 * yaml.c — policy.yaml through libyaml into jansson values, with the types
 * PyYAML's safe_load() gives (YAML 1.1 resolution of plain scalars: yes/no
 * and on/off are booleans, 0o17 is a string but 017 is 15, 1:30 is 90,
 * ~ is None, ...), because oslo.policy decides what a rule is from the
 * Python type: a str is the rule language, a false value means "always",
 * a list is the list-of-lists form, a true scalar fails the load.
 *
 * Design: libyaml's event parser feeds a small recursive composer that
 * resolves each scalar as PyYAML's Resolver + SafeConstructor would and
 * builds the jansson tree directly; anchors map to the already-built value
 * (shared by reference, as PyYAML shares the Python object), merge keys
 * ("<<") are flattened as SafeConstructor.flatten_mapping does.
 *
 * Known differences, all in values no policy file holds: timestamps and
 * .inf/.nan become true (jansson has no datetime or non-finite numbers;
 * like them, true is a true value that is not iterable, so rules behave the
 * same, but str() of a list holding one differs), and !!binary, !!set,
 * !!omap, !!pairs and !!timestamp tags are refused.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy_int.h"

#define MAX_YAML_DEPTH 200

typedef struct {
    yaml_parser_t parser;
    keel_buf_t *err;
    json_t *anchors; /* name -> value */
    int depth;
} composer_t;

static int perr(composer_t *c, const yaml_mark_t *m, const char *msg)
{
    keel_buf_reset(c->err);
    if (m)
        keel_buf_printf(c->err, "line %zu, column %zu: %s", m->line + 1, m->column + 1, msg);
    else
        keel_buf_puts(c->err, msg);
    return KEEL_EPARSE;
}

static int next_event(composer_t *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev)) {
        keel_buf_reset(c->err);
        keel_buf_printf(c->err, "line %zu, column %zu: %s%s%s", c->parser.problem_mark.line + 1, c->parser.problem_mark.column + 1,
                        c->parser.problem ? c->parser.problem : "invalid YAML", c->parser.context ? " " : "",
                        c->parser.context ? c->parser.context : "");
        return c->parser.error == YAML_MEMORY_ERROR ? KEEL_ENOMEM : KEEL_EPARSE;
    }
    return 0;
}

static bool all_match(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]) || s[i] == '\0')
            return false;
    return true;
}

static bool is_one_of(const char *s, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

static const char *const bool_true[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL};
static const char *const bool_false[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL};

/* [-+]? prefix */
static size_t sign_len(const char *s)
{
    return (s[0] == '-' || s[0] == '+') ? 1 : 0;
}

/* [0-9][0-9_]*(:[0-5]?[0-9])+ starting at s, up to end; *rest = after */
static bool sexagesimal_tail(const char *s, const char **rest)
{
    const char *p = s;
    bool any = false;
    while (*p == ':') {
        p++;
        if (p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9')
            p += 2;
        else if (p[0] >= '0' && p[0] <= '9')
            p += 1;
        else
            return false;
        any = true;
    }
    *rest = p;
    return any;
}

static bool re_int(const char *s)
{
    const char *p = s + sign_len(s);
    size_t n = strlen(p);
    if (p[0] == '0' && p[1] == 'b')
        return n > 2 && all_match(p + 2, n - 2, "01_");
    if (p[0] == '0' && p[1] == 'x')
        return n > 2 && all_match(p + 2, n - 2, "0123456789abcdefABCDEF_");
    if (p[0] == '0')
        return n == 1 || all_match(p + 1, n - 1, "01234567_");
    if (p[0] < '1' || p[0] > '9')
        return false;
    const char *q = p + 1;
    while ((*q >= '0' && *q <= '9') || *q == '_')
        q++;
    if (*q == '\0')
        return true;
    const char *rest;
    return sexagesimal_tail(q, &rest) && *rest == '\0';
}

static bool digits_us(const char **p)
{
    const char *q = *p;
    while ((*q >= '0' && *q <= '9') || *q == '_')
        q++;
    bool any = q != *p;
    *p = q;
    return any;
}

static bool exponent_ok(const char *q)
{
    if (*q == '\0')
        return true;
    if (*q != 'e' && *q != 'E')
        return false;
    q++;
    if (*q != '-' && *q != '+')
        return false;
    q++;
    if (*q < '0' || *q > '9')
        return false;
    while (*q >= '0' && *q <= '9')
        q++;
    return *q == '\0';
}

static bool re_float(const char *s)
{
    if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)
        return true;
    const char *p = s + sign_len(s);
    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0)
        return true;
    if (s[0] == '.') {
        /* \.[0-9][0-9_]*(?:[eE][-+][0-9]+)? with no sign */
        const char *q = s + 1;
        if (*q < '0' || *q > '9')
            return false;
        digits_us(&q);
        return exponent_ok(q);
    }
    if (*p < '0' || *p > '9')
        return false;
    const char *q = p;
    digits_us(&q);
    if (*q == '.') {
        q++;
        digits_us(&q);
        return exponent_ok(q);
    }
    const char *rest;
    if (sexagesimal_tail(q, &rest) && *rest == '.') {
        rest++;
        digits_us(&rest);
        return *rest == '\0';
    }
    return false;
}

static bool re_null(const char *s)
{
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* One or two digits at *p; returns -1 if none. */
static int num12(const char **p)
{
    if (!digits(*p, 1))
        return -1;
    int n = digits(*p + 1, 1) ? 2 : 1;
    int v = num(*p, n);
    *p += n;
    return v;
}

static bool valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    int max = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d <= max;
}

/* PyYAML's timestamp resolver. Returns 0 (not a timestamp), 1 (a valid
 * one: a datetime) or -1 (matches but datetime() would raise). */
static int timestamp_kind(const char *s)
{
    if (!digits(s, 4) || s[4] != '-')
        return 0;
    int y = num(s, 4);
    if (strlen(s) == 10 && digits(s + 5, 2) && s[7] == '-' && digits(s + 8, 2))
        return valid_date(y, num(s + 5, 2), num(s + 8, 2)) ? 1 : -1;
    const char *p = s + 5;
    int mo = num12(&p);
    if (mo < 0 || *p++ != '-')
        return 0;
    int d = num12(&p);
    if (d < 0)
        return 0;
    if (*p == 'T' || *p == 't')
        p++;
    else if (*p == ' ' || *p == '\t')
        while (*p == ' ' || *p == '\t')
            p++;
    else
        return 0;
    int h = num12(&p);
    if (h < 0 || p[0] != ':' || !digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2))
        return 0;
    int mi = num(p + 1, 2), se = num(p + 4, 2);
    p += 6;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    const char *q = p;
    while (*q == ' ' || *q == '\t')
        q++;
    if (*q == 'Z') {
        q++;
    } else if (*q == '-' || *q == '+') {
        q++;
        if (num12(&q) < 0)
            return 0;
        if (*q == ':') {
            if (!digits(q + 1, 2))
                return 0;
            q += 3;
        }
    } else {
        q = p;
    }
    if (*q != '\0')
        return 0;
    return (valid_date(y, mo, d) && h < 24 && mi < 60 && se < 60) ? 1 : -1;
}

/* SafeConstructor.construct_yaml_int */
static json_t *make_int(const char *text)
{
    char buf[128];
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < sizeof(buf); p++)
        if (*p != '_')
            buf[o++] = *p;
    buf[o] = '\0';
    int sign = buf[0] == '-' ? -1 : 1;
    const char *v = buf + sign_len(buf);
    double mag;
    if (strcmp(v, "0") == 0)
        return json_integer(0);
    if (v[0] == '0' && v[1] == 'b')
        mag = (double)strtoull(v + 2, NULL, 2);
    else if (v[0] == '0' && v[1] == 'x')
        mag = (double)strtoull(v + 2, NULL, 16);
    else if (v[0] == '0')
        mag = (double)strtoull(v, NULL, 8);
    else if (strchr(v, ':')) {
        mag = 0;
        for (const char *p = v; *p;) {
            mag = mag * 60 + strtod(p, NULL);
            p = strchr(p, ':');
            if (p == NULL)
                break;
            p++;
        }
    } else {
        mag = strtod(v, NULL);
    }
    if (mag < 9.0e18)
        return json_integer((json_int_t)mag * sign);
    return json_real(mag * sign);
}

static json_t *make_float(const char *text)
{
    char buf[128];
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < sizeof(buf); p++)
        if (*p != '_')
            buf[o++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
    buf[o] = '\0';
    double sign = buf[0] == '-' ? -1 : 1;
    const char *v = buf + sign_len(buf);
    double x;
    if (strcmp(v, ".inf") == 0 || strcmp(v, ".nan") == 0)
        return json_true(); /* jansson has no non-finite numbers; still a true non-iterable */
    if (strchr(v, ':')) {
        x = 0;
        for (const char *p = v; *p;) {
            x = x * 60 + strtod(p, NULL);
            p = strchr(p, ':');
            if (p == NULL)
                break;
            p++;
        }
    } else {
        x = strtod(v, NULL);
    }
    x *= sign;
    return isfinite(x) ? json_real(x) : json_true();
}

static int compose(composer_t *c, yaml_event_t *ev, json_t **out);

static int compose_scalar(composer_t *c, yaml_event_t *ev, json_t **out)
{
    const char *val = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    json_t *v = NULL;
    if (tag == NULL || strcmp(tag, "!") == 0) {
        if (tag == NULL && ev->data.scalar.plain_implicit && memchr(val, '\0', len) == NULL) {
            if (is_one_of(val, bool_true))
                v = json_true();
            else if (is_one_of(val, bool_false))
                v = json_false();
            else if (strchr("-+0123456789.", val[0]) && val[0] && re_float(val))
                v = make_float(val);
            else if (strchr("-+0123456789", val[0]) && val[0] && re_int(val))
                v = make_int(val);
            else if (re_null(val))
                v = json_null();
            else if (strcmp(val, "=") == 0)
                return perr(c, &ev->start_mark, "could not determine a constructor for the tag 'tag:yaml.org,2002:value'");
            else if (val[0] >= '0' && val[0] <= '9' && timestamp_kind(val) != 0) {
                if (timestamp_kind(val) < 0)
                    return perr(c, &ev->start_mark, "invalid timestamp");
                v = json_true(); /* a datetime: true, not iterable, not a str */
            }
        }
        if (v == NULL)
            v = json_stringn_nocheck(val, len);
    } else if (strcmp(tag, YAML_STR_TAG) == 0) {
        v = json_stringn_nocheck(val, len);
    } else if (strcmp(tag, YAML_INT_TAG) == 0) {
        if (!re_int(val))
            return perr(c, &ev->start_mark, "invalid literal for int()");
        v = make_int(val);
    } else if (strcmp(tag, YAML_FLOAT_TAG) == 0) {
        if (!re_float(val) && !re_int(val))
            return perr(c, &ev->start_mark, "could not convert string to float");
        v = make_float(val);
    } else if (strcmp(tag, YAML_BOOL_TAG) == 0) {
        char low[8];
        size_t n = len < sizeof(low) - 1 ? len : sizeof(low) - 1;
        for (size_t i = 0; i < n; i++)
            low[i] = (val[i] >= 'A' && val[i] <= 'Z') ? (char)(val[i] + 32) : val[i];
        low[n] = '\0';
        if (is_one_of(low, bool_true))
            v = json_true();
        else if (is_one_of(low, bool_false))
            v = json_false();
        else
            return perr(c, &ev->start_mark, "invalid boolean");
    } else if (strcmp(tag, YAML_NULL_TAG) == 0) {
        v = json_null();
    } else {
        return perr(c, &ev->start_mark, "could not determine a constructor for this tag");
    }
    if (v == NULL)
        return KEEL_ENOMEM;
    *out = v;
    return 0;
}

static int remember_anchor(composer_t *c, const yaml_char_t *anchor, json_t *v)
{
    if (anchor == NULL)
        return 0;
    return json_object_set(c->anchors, (const char *)anchor, v) == 0 ? 0 : KEEL_ENOMEM;
}

/*
 * A mapping key that is not a str (None, a bool, a number) cannot be named
 * by enforce() in Python, yet it is part of the Rules dict and json.dumps()
 * prints it as null/true/false/digits. It becomes KEEL__POL_NONSTR_KEY
 * followed by that text: a byte no UTF-8 name can start with.
 */
static int key_text(json_t *k, keel_buf_t *out)
{
    int rc = keel_buf_putc(out, KEEL__POL_NONSTR_KEY);
    if (rc != 0)
        return rc;
    if (json_is_null(k))
        return keel_buf_puts(out, "null");
    if (json_is_true(k))
        return keel_buf_puts(out, "true");
    if (json_is_false(k))
        return keel_buf_puts(out, "false");
    char st[64];
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, st, sizeof(st));
    rc = keel__pol_json_text(&b, k, KEEL__PY_STR);
    if (rc == 0)
        rc = keel_buf_append(out, b.base ? b.base : "", b.len);
    keel__pol_sbuf_free(&b);
    return rc;
}

/* Python's hash identity of a scalar key: equal numbers are one key. */
static void canonical_key(const json_t *k, char *out, size_t cap)
{
    if (json_is_null(k)) {
        snprintf(out, cap, "None");
        return;
    }
    double x = json_is_true(k) ? 1 : json_is_false(k) ? 0 : json_is_integer(k) ? (double)json_integer_value(k) : json_real_value(k);
    if (json_is_integer(k))
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
    else if (fabs(x) < 9e18 && x == (double)(long long)x)
        snprintf(out, cap, "%lld", (long long)x);
    else
        snprintf(out, cap, "%.17g", x);
}

static int merge_into(composer_t *c, json_t *merged, json_t *src, const yaml_mark_t *m)
{
    if (!json_is_object(src))
        return perr(c, m, "expected a mapping or list of mappings for merging");
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach(src, k, kl, v)
    {
        if (json_object_getn(merged, k, kl) == NULL && json_object_setn_nocheck(merged, k, kl, v) != 0)
            return KEEL_ENOMEM;
    }
    return 0;
}

static int compose_mapping(composer_t *c, yaml_event_t *start, json_t **out)
{
    const char *tag = (const char *)start->data.mapping_start.tag;
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, YAML_MAP_TAG) != 0)
        return perr(c, &start->start_mark, "could not determine a constructor for this tag");
    json_t *own = json_object(), *merged = json_object(), *ids = json_object();
    keel_buf_t kb;
    keel_buf_init(&kb);
    int rc = (own && merged && ids) ? 0 : KEEL_ENOMEM;
    while (rc == 0) {
        yaml_event_t kev;
        if ((rc = next_event(c, &kev)) != 0)
            break;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            break;
        }
        bool is_merge = kev.type == YAML_SCALAR_EVENT && kev.data.scalar.tag == NULL && kev.data.scalar.plain_implicit &&
                        strcmp((const char *)kev.data.scalar.value, "<<") == 0;
        yaml_mark_t km = kev.start_mark;
        json_t *key = NULL, *val = NULL;
        rc = compose(c, &kev, &key);
        yaml_event_delete(&kev);
        if (rc != 0)
            break;
        yaml_event_t vev;
        if ((rc = next_event(c, &vev)) != 0) {
            json_decref(key);
            break;
        }
        rc = compose(c, &vev, &val);
        yaml_event_delete(&vev);
        if (rc != 0) {
            json_decref(key);
            break;
        }
        if (is_merge) {
            /* flatten_mapping: one mapping, or a list of them (earlier wins). */
            if (json_is_array(val)) {
                for (size_t i = 0; i < json_array_size(val) && rc == 0; i++)
                    rc = merge_into(c, merged, json_array_get(val, i), &km);
            } else {
                rc = merge_into(c, merged, val, &km);
            }
        } else if (json_is_array(key) || json_is_object(key)) {
            rc = perr(c, &km, "found unhashable key");
        } else {
            keel_buf_reset(&kb);
            if (json_is_string(key)) {
                rc = keel_buf_append(&kb, json_string_value(key), json_string_length(key));
            } else {
                /* 1, 1.0 and True are one dict key in Python; the first
                 * spelling stays. */
                char canon[64];
                canonical_key(key, canon, sizeof(canon));
                json_t *seen = json_object_get(ids, canon);
                if (seen)
                    rc = keel_buf_append(&kb, json_string_value(seen), json_string_length(seen));
                else {
                    rc = key_text(key, &kb);
                    if (rc == 0 && json_object_set_new(ids, canon, json_stringn_nocheck(kb.base, kb.len)) != 0)
                        rc = KEEL_ENOMEM;
                }
            }
            if (rc == 0 && json_object_setn_nocheck(own, kb.base ? kb.base : "", kb.len, val) != 0)
                rc = KEEL_ENOMEM;
        }
        json_decref(key);
        json_decref(val);
    }
    keel_buf_free(&kb);
    json_decref(ids);
    if (rc == 0) {
        /* Merged keys first, the mapping's own keys override them. */
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach(own, k, kl, v)
        {
            if (rc == 0 && json_object_setn_nocheck(merged, k, kl, v) != 0)
                rc = KEEL_ENOMEM;
        }
    }
    json_decref(own);
    if (rc != 0) {
        json_decref(merged);
        return rc;
    }
    rc = remember_anchor(c, start->data.mapping_start.anchor, merged);
    if (rc != 0) {
        json_decref(merged);
        return rc;
    }
    *out = merged;
    return 0;
}

static int compose_sequence(composer_t *c, yaml_event_t *start, json_t **out)
{
    const char *tag = (const char *)start->data.sequence_start.tag;
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, YAML_SEQ_TAG) != 0)
        return perr(c, &start->start_mark, "could not determine a constructor for this tag");
    json_t *arr = json_array();
    int rc = arr ? 0 : KEEL_ENOMEM;
    while (rc == 0) {
        yaml_event_t ev;
        if ((rc = next_event(c, &ev)) != 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        json_t *item = NULL;
        rc = compose(c, &ev, &item);
        yaml_event_delete(&ev);
        if (rc == 0 && json_array_append_new(arr, item) != 0)
            rc = KEEL_ENOMEM;
    }
    if (rc == 0)
        rc = remember_anchor(c, start->data.sequence_start.anchor, arr);
    if (rc != 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static int compose(composer_t *c, yaml_event_t *ev, json_t **out)
{
    int rc;
    if (++c->depth > MAX_YAML_DEPTH) {
        c->depth--;
        return perr(c, &ev->start_mark, "nested too deeply");
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = compose_scalar(c, ev, out);
        if (rc == 0)
            rc = remember_anchor(c, ev->data.scalar.anchor, *out);
        break;
    case YAML_SEQUENCE_START_EVENT:
        rc = compose_sequence(c, ev, out);
        break;
    case YAML_MAPPING_START_EVENT:
        rc = compose_mapping(c, ev, out);
        break;
    case YAML_ALIAS_EVENT: {
        json_t *v = json_object_get(c->anchors, (const char *)ev->data.alias.anchor);
        if (v == NULL) {
            rc = perr(c, &ev->start_mark, "found undefined alias");
            break;
        }
        *out = json_incref(v);
        rc = 0;
        break;
    }
    default:
        rc = perr(c, &ev->start_mark, "unexpected YAML event");
    }
    c->depth--;
    return rc;
}

int keel__pol_yaml_load(const char *data, size_t len, json_t **out, keel_buf_t *err)
{
    composer_t c = {0};
    c.err = err;
    *out = NULL;
    if (!yaml_parser_initialize(&c.parser))
        return KEEL_ENOMEM;
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)data, len);
    c.anchors = json_object();
    int rc = c.anchors ? 0 : KEEL_ENOMEM;
    json_t *doc = NULL;
    bool in_doc = false, done = false;
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if ((rc = next_event(&c, &ev)) != 0)
            break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (in_doc)
                rc = perr(&c, &ev.start_mark, "expected a single document in the stream");
            in_doc = true;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            rc = compose(&c, &ev, &doc);
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&c.parser);
    json_decref(c.anchors);
    if (rc != 0) {
        json_decref(doc);
        return rc;
    }
    *out = doc ? doc : json_null();
    return 0;
}

/*
 * Python's json accepts NaN, Infinity and numbers of any size, which
 * jansson refuses. Each such number is a true value that is neither a str
 * nor iterable, which is all a policy file's loader asks of it, so they are
 * replaced by `true` and the text is parsed again. Returns NULL when the
 * text is not JSON for another reason.
 */
static json_t *json_with_python_numbers(const char *data, size_t len)
{
    keel_buf_t b;
    keel_buf_init(&b);
    bool changed = false;
    for (size_t i = 0; i < len;) {
        char ch = data[i];
        if (ch == '"') {
            size_t j = i + 1;
            while (j < len && data[j] != '"')
                j += data[j] == '\\' ? 2 : 1;
            j = j < len ? j + 1 : len;
            if (keel_buf_append(&b, data + i, j - i) != 0)
                goto fail;
            i = j;
            continue;
        }
        static const char *const words[] = {"-Infinity", "Infinity", "NaN"};
        bool hit = false;
        for (int w = 0; w < 3 && !hit; w++) {
            size_t wl = strlen(words[w]);
            if (len - i >= wl && memcmp(data + i, words[w], wl) == 0) {
                if (keel_buf_puts(&b, "true") != 0)
                    goto fail;
                i += wl;
                hit = changed = true;
            }
        }
        if (hit)
            continue;
        if (ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t j = i + 1;
            bool real = false;
            while (j < len && strchr("0123456789.eE+-", data[j])) {
                real |= data[j] == '.' || data[j] == 'e' || data[j] == 'E';
                j++;
            }
            char tmp[64];
            bool huge = false;
            if (j - i >= sizeof(tmp)) {
                huge = true;
            } else {
                memcpy(tmp, data + i, j - i);
                tmp[j - i] = '\0';
                errno = 0;
                if (real)
                    huge = isinf(strtod(tmp, NULL));
                else
                    (void)strtoll(tmp, NULL, 10), huge = errno == ERANGE;
            }
            if (keel_buf_append(&b, huge ? "true" : data + i, huge ? 4 : j - i) != 0)
                goto fail;
            changed |= huge;
            i = j;
            continue;
        }
        if (keel_buf_putc(&b, ch) != 0)
            goto fail;
        i++;
    }
    json_t *doc = changed ? json_loadb(b.base, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    keel_buf_free(&b);
    return doc;
fail:
    keel_buf_free(&b);
    return NULL;
}

int keel__pol_parse_document(const char *data, size_t len, json_t **out, keel_buf_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (doc == NULL)
        doc = json_with_python_numbers(data, len);
    if (doc == NULL) {
        int rc = keel__pol_yaml_load(data, len, &doc, err);
        if (rc != 0)
            return rc;
    }
    if (!keel__pol_truthy(doc)) {
        json_decref(doc);
        doc = json_object();
        if (doc == NULL)
            return KEEL_ENOMEM;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        keel_buf_reset(err);
        keel_buf_puts(err, "the policy is not a mapping of rule names to rules");
        return KEEL_EPARSE;
    }
    *out = doc;
    return 0;
}

int keel__pol_ruleset_load_doc(keel__pol_ruleset_t *rs, const json_t *doc, bool overwrite, keel_buf_t *err)
{
    /* Parse everything first: a rule oslo.policy refuses fails the whole
     * load and leaves the rules as they were. */
    size_t n = json_object_size(doc), i = 0;
    keel_policy_rule_t **parsed = keel__calloc(n ? n : 1, sizeof(*parsed));
    if (parsed == NULL)
        return KEEL_ENOMEM;
    int rc = 0;
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach((json_t *)doc, k, kl, v)
    {
        if (rc != 0)
            break;
        const char *why = NULL;
        rc = keel_policy_rule_from_json(v, &parsed[i], &why);
        if (rc == KEEL_EINVAL) {
            bool nonstr = kl > 0 && k[0] == KEEL__POL_NONSTR_KEY;
            keel_buf_reset(err);
            keel_buf_printf(err, "rule \"%.*s\": %s", (int)(kl - nonstr), k + nonstr, why ? why : "nested too deeply");
        }
        i++;
    }
    if (rc == 0) {
        if (overwrite)
            keel__pol_ruleset_clear(rs);
        i = 0;
        json_object_keylen_foreach((json_t *)doc, k, kl, v)
        {
            if (rc == 0)
                rc = keel__pol_ruleset_set(rs, k, kl, parsed[i]);
            i++;
        }
    }
    for (size_t j = 0; j < n; j++)
        keel_policy_rule_free(parsed[j]);
    keel__free(parsed);
    return rc;
}
